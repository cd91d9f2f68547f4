package models

import (
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// CNN is a small network for 28×28 grayscale images (MNIST, Fashion-MNIST): conv 5×5 (1→32) -
// ReLU - max-pool 2, conv 5×5 (32→64) - ReLU - max-pool 2, Linear(3136, 512) - ReLU,
// Linear(512, classes). The reference names such a model but ships none, so this one is ours.
//
// With LowRank, layers from HybridStart on are factorized, counting conv1 = 0, conv2 = 1,
// fc1 = 2; the classifier stays dense. Names: "conv1", "conv2", "fc1", "fc2".
type CNN struct {
	base
	steps []step
}

var _ Model = (*CNN)(nil)

// NewCNN builds the CNN under p.
func NewCNN(p *nn.Path, cfg Config) (*CNN, error) {
	m := &CNN{}
	m.ranks = cfg.Ranks
	f := func(i int) bool { return cfg.Method == LowRank && i >= cfg.HybridStart }
	cc := convConfig(cfg, cfg.Rank)
	c1, err := m.addConv(p.Sub("conv1"), convSpec{in: 1, out: 32, k: 5, padding: 2, h: 28, w: 28, bias: true}, f(0), cc, kaimingUniformConv)
	if err != nil {
		return nil, err
	}
	c2, err := m.addConv(p.Sub("conv2"), convSpec{in: 32, out: 64, k: 5, padding: 2, h: 14, w: 14, bias: true}, f(1), cc, kaimingUniformConv)
	if err != nil {
		return nil, err
	}
	fc1, err := m.addLinear(p.Sub("fc1"), 64*7*7, 512, 1, f(2), cfg.Rank, true)
	if err != nil {
		return nil, err
	}
	fc2, err := m.addLinear(p.Sub("fc2"), 512, cfg.classes(), 1, false, cfg.Rank, true)
	if err != nil {
		return nil, err
	}
	m.steps = []step{convStep(c1), reluStep, maxPoolStep(2), convStep(c2), reluStep, maxPoolStep(2),
		flattenStep, linearStep(fc1), reluStep, linearStep(fc2)}
	return m, nil
}

// kaimingUniformConv is PyTorch's default conv weight init, U(-1/√fan_in, 1/√fan_in) with
// fan_in = in·k_h·k_w (the tensor's size over its first dimension).
func kaimingUniformConv(out, kh, kw int64) func(*ts.Tensor) error {
	return func(t *ts.Tensor) error {
		return t.Uniform_(-lowrankBound(t), lowrankBound(t))
	}
}

func lowrankBound(t *ts.Tensor) float64 {
	sz := t.MustSize()
	fan := int64(1)
	for _, d := range sz[1:] {
		fan *= d
	}
	return lowrank.FanInBound(fan)
}

// Forward maps images (B, 1, 28, 28) to logits (B, classes).
func (m *CNN) Forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	return runSteps(x, train, m.steps)
}

// cnnSpec registers the reference's CNN on 28×28 grey images.
var cnnSpec = Spec{Name: "cnn", Accepts: grey28, Bench: benchGrey28, Convolutional: true,
	Build: func(p *nn.Path, _ Input, cfg Config) (Model, error) { return NewCNN(p, cfg) }}
