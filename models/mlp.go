package models

import (
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// MLP flattens its input and applies Linear-ReLU layers of widths Hidden and a dense classifier.
// With LowRank, hidden layers from cfg.HybridStart on are factorized; the classifier stays dense.
//
// Parameter names: "layers.<i>.weight"/"bias" (dense) or "layers.<i>.linear.{0,1}.*"
// (factorized), and "classifier.weight"/"classifier.bias".
type MLP struct {
	base
	steps []step
}

var _ Model = (*MLP)(nil)

// DefaultMLPHidden are the MLP's hidden widths.
var DefaultMLPHidden = []int64{512, 256}

// NewMLP builds an MLP from in features under p.
func NewMLP(p *nn.Path, in int64, hidden []int64, cfg Config) (*MLP, error) {
	if len(hidden) == 0 {
		hidden = DefaultMLPHidden
	}
	m := &MLP{steps: []step{flattenStep}}
	m.ranks = cfg.Ranks
	prev := in
	for i, h := range hidden {
		l, err := m.addLinear(p.Sub("layers").Sub(strconv.Itoa(i)), prev, h, 1, cfg.Method == LowRank && i >= cfg.HybridStart, cfg.Rank, true)
		if err != nil {
			return nil, err
		}
		m.steps = append(m.steps, linearStep(l), reluStep)
		prev = h
	}
	c, err := m.addLinear(p.Sub("classifier"), prev, cfg.classes(), 1, false, cfg.Rank, true)
	if err != nil {
		return nil, err
	}
	m.steps = append(m.steps, linearStep(c))
	return m, nil
}

// Forward maps x (B, ...) to logits (B, classes).
func (m *MLP) Forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	return runSteps(x, train, m.steps)
}

// mlpSpec registers the reference's MLP on 28×28 images.
var mlpSpec = Spec{Name: "mlp", Accepts: grey28, Bench: benchGrey28,
	Build: func(p *nn.Path, in Input, cfg Config) (Model, error) {
		return NewMLP(p, in.Channels*in.Size*in.Size, nil, cfg)
	}}
