package models

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// vggPool marks a 2×2 max-pooling in a VGG layer list.
const vggPool = -1

// VGG layer lists (channels, or vggPool), configurations A (VGG11) and D (VGG16).
var vggLayers = map[int][]int64{
	11: {64, vggPool, 128, vggPool, 256, 256, vggPool, 512, 512, vggPool, 512, 512, vggPool},
	16: {64, 64, vggPool, 128, 128, vggPool, 256, 256, 256, vggPool, 512, 512, 512, vggPool, 512, 512, 512, vggPool},
}

// VGG is the reference's CIFAR VGG: 3×3 convolutions with bias, each followed by batch norm and
// ReLU, 2×2 max-pooling, then Dropout-Linear(512,512)-ReLU twice and a last Linear. Input
// (B, 3, 32, 32) by default; Config.InChannels, InSize and Width adapt it to other images (a
// 1-channel 28×28 input is zero-padded to 32×32) and narrow it (channels and hidden width
// times Width).
//
// With LowRank, every convolution and the first two linear layers from layer cfg.HybridStart
// on (counting convolutions and linear layers from 1) are factorized, the 3-channel input
// convolution included; the last linear layer stays dense. Convolutions (dense and factor) are
// initialized N(0, 2/(k_h·k_w·out)) with zero bias, as the reference.
//
// Parameter names follow the reference: "feature_layers.<i>.*" (conv, BatchNorm2d, ReLU and
// MaxPool2d each take an index) and "classifier.<i>.*" (Dropout, Linear, ReLU, ..., Linear).
type VGG struct {
	base
	steps []step
}

var _ Model = (*VGG)(nil)

// vggConvInit is the reference's N(0, 2/(k_h·k_w·out)).
func vggConvInit(out, kh, kw int64) func(*ts.Tensor) error {
	return normalInit(math.Sqrt(2 / float64(kh*kw*out)))
}

// NewVGG builds VGG11 (depth 11) or VGG16 (depth 16) under p.
func NewVGG(p *nn.Path, depth int, cfg Config) (*VGG, error) {
	layers, ok := vggLayers[depth]
	if !ok {
		return nil, fmt.Errorf("VGG depth %d: want 11 or 16", depth)
	}
	hidden := cfg.scaled(512)
	m := &VGG{}
	m.ranks = cfg.Ranks
	feat, cls := p.Sub("feature_layers"), p.Sub("classifier")
	in, size, pad := cfg.vggInput()
	if pad > 0 {
		m.steps = append(m.steps, padStep(pad))
	}
	idx, layer := 0, 0
	lowRank := cfg.Method == LowRank
	for _, v := range layers {
		if v == vggPool {
			m.steps = append(m.steps, maxPoolStep(2))
			size /= 2
			idx++
			continue
		}
		layer++
		v = cfg.scaled(v)
		sp := convSpec{in: in, out: v, k: 3, padding: 1, h: size, w: size, bias: true}
		c, err := m.addConv(feat.Sub(strconv.Itoa(idx)), sp, lowRank && layer >= cfg.HybridStart,
			convConfig(cfg, cfg.referenceRank()), vggConvInit)
		if err != nil {
			return nil, err
		}
		bn, err := m.addBatchNorm(feat.Sub(strconv.Itoa(idx+1)), v, size, size, true, 0.1)
		if err != nil {
			return nil, err
		}
		m.steps = append(m.steps, convStep(c), bnStep(bn), reluStep)
		idx += 3
		in = v
	}
	m.steps = append(m.steps, flattenStep)
	for i := 0; i < 2; i++ {
		layer++
		l, err := m.addLinear(cls.Sub(strconv.Itoa(3*i+1)), hidden, hidden, 1, lowRank && layer >= cfg.HybridStart, cfg.Rank, true)
		if err != nil {
			return nil, err
		}
		m.steps = append(m.steps, dropoutStep(0.5), linearStep(l), reluStep)
	}
	out := cfg.classes()
	if lowRank && cfg.Compat == Reference {
		out = hidden // the reference's low-rank VGG builds its last layer as Linear(512, 512)
	}
	last, err := m.addLinear(cls.Sub("6"), hidden, out, 1, false, cfg.Rank, true)
	if err != nil {
		return nil, err
	}
	m.steps = append(m.steps, linearStep(last))
	return m, nil
}

// Forward maps x (B, C, S, S) to logits (B, classes); C and S are Config.InChannels and
// InSize (default 3 and 32).
func (m *VGG) Forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	return runSteps(x, train, m.steps)
}

// vgg11Spec and vgg16Spec register the VGGs, on images of any size (padded to a multiple of 32).
var (
	vgg11Spec = Spec{Name: "vgg11", Accepts: images, Bench: benchColour32, Convolutional: true, DenseContiguous: true, Widthable: true,
		Build: func(p *nn.Path, _ Input, cfg Config) (Model, error) { return NewVGG(p, 11, cfg) }}
	vgg16Spec = Spec{Name: "vgg16", Accepts: images, Bench: benchColour32, Convolutional: true, DenseContiguous: true, Widthable: true,
		Build: func(p *nn.Path, _ Input, cfg Config) (Model, error) { return NewVGG(p, 16, cfg) }}
)
