package models

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// LayerInfo describes one layer of a model for summaries: FLOPs are for one example at the
// model's input size, one multiply-add counted as one FLOP (fvcore's convention); normalization
// layers count 5 FLOPs per element, as fvcore does for batch and layer norm in training mode.
type LayerInfo struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Shape  string `json:"shape"`
	Rank   int64  `json:"rank,omitempty"`
	Params int64  `json:"params"`
	FLOPs  int64  `json:"flops"`
}

// normFLOPs is fvcore's count for an affine batch or layer norm over n elements.
func normFLOPs(n int64) int64 { return 5 * n }

// base collects what every model reports: its layers, factorized layers and total cost.
type base struct {
	layers     []LayerInfo
	factorized []lowrank.Factorized
	denseNames []string            // per factorized layer: the dense model's name for it
	lowPaths   []string            // per factorized layer: its own path
	rename     func(string) string // low-rank parameter name → dense name; nil is identity
	ranks      map[string]int64    // Config.Ranks
}

// layerRank applies Config.Ranks to a layer about to be built under name: whether to
// factorize it and with which rank rule.
func (b *base) layerRank(name string, factorize bool, rank lowrank.Rank) (bool, lowrank.Rank) {
	r, ok := b.ranks[b.DenseName(name)]
	if !factorize || !ok {
		return factorize, rank
	}
	if r <= 0 {
		return false, rank
	}
	return true, lowrank.Rank{Rule: lowrank.FixedRank, Rank: r}
}

// addFactorized records a factorized layer registered under path.
func (b *base) addFactorized(f lowrank.Factorized, path string) {
	b.factorized = append(b.factorized, f)
	b.denseNames = append(b.denseNames, b.DenseName(path))
	b.lowPaths = append(b.lowPaths, path)
}

// factorPaths gives, for each of Factorized(), the path its parameters live under.
func (b *base) factorPaths() []string { return b.lowPaths }

// DenseNames gives, for each of Factorized(), the name of the same layer in the model built
// with method original (its parameters are <name>.weight and <name>.bias).
func (b *base) DenseNames() []string { return b.denseNames }

// DenseName maps a parameter or layer name of this model to the original model's name for it.
func (b *base) DenseName(name string) string {
	if b.rename == nil {
		return name
	}
	return b.rename(name)
}

func (b *base) record(name, typ, shape string, rank int64, c lowrank.Cost) {
	b.layers = append(b.layers, LayerInfo{Name: name, Type: typ, Shape: shape, Rank: rank, Params: c.Params, FLOPs: c.FLOPs})
}

// Layers lists the model's layers in forward order.
func (b *base) Layers() []LayerInfo { return b.layers }

// Factorized lists the model's factorized layers.
func (b *base) Factorized() []lowrank.Factorized { return b.factorized }

// Cost is the parameter count and FLOPs for one example, summed over Layers.
func (b *base) Cost() lowrank.Cost {
	var c lowrank.Cost
	for _, l := range b.layers {
		c = c.Add(lowrank.Cost{Params: l.Params, FLOPs: l.FLOPs})
	}
	return c
}

// param registers a trainable tensor filled by init, or a buffer when trainable is false.
func param(p *nn.Path, name string, dims []int64, trainable bool, init func(*ts.Tensor) error) (*ts.Tensor, error) {
	t, err := ts.Zeros(dims, gotch.Float, p.Device())
	if err != nil {
		return nil, err
	}
	defer t.MustDrop()
	if init != nil {
		if err := init(t); err != nil {
			return nil, err
		}
	}
	v, err := p.Add(name, t, trainable)
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", name, err)
	}
	return v, nil
}

func uniformInit(bound float64) func(*ts.Tensor) error {
	return func(t *ts.Tensor) error { return t.Uniform_(-bound, bound) }
}

func normalInit(std float64) func(*ts.Tensor) error {
	return func(t *ts.Tensor) error { return t.Normal_(0, std) }
}

func fillInit(v float64) func(*ts.Tensor) error {
	return func(t *ts.Tensor) error { return t.Fill_(ts.FloatScalar(v)) }
}

// linear is a dense or factorized linear layer.
type linear struct {
	w, b *ts.Tensor      // dense: weight (out×in), bias (out) or nil
	f    *lowrank.Linear // factorized
}

// newDenseLinear registers nn.Linear's "weight" and "bias" with PyTorch's default init,
// U(-1/√in, 1/√in) (gotch's default init draws a standard normal instead).
func newDenseLinear(p *nn.Path, in, out int64, bias bool) (*linear, error) {
	bound := 1 / math.Sqrt(float64(in))
	w, err := param(p, "weight", []int64{out, in}, true, uniformInit(bound))
	if err != nil {
		return nil, err
	}
	l := &linear{w: w}
	if bias {
		if l.b, err = param(p, "bias", []int64{out}, true, uniformInit(bound)); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// addLinear builds a dense or factorized linear layer under p and records it; tokens is how many
// vectors it maps per example.
func (b *base) addLinear(p *nn.Path, in, out, tokens int64, factorize bool, rank lowrank.Rank, bias bool) (*linear, error) {
	name := pathName(p)
	factorize, rank = b.layerRank(name, factorize, rank)
	if !factorize {
		l, err := newDenseLinear(p, in, out, bias)
		if err != nil {
			return nil, err
		}
		b.record(name, "Linear", fmt.Sprintf("%d→%d", in, out), 0, lowrank.DenseLinearCost(in, out, tokens, bias))
		return l, nil
	}
	f, err := lowrank.NewLinear(p, in, out, lowrank.LinearConfig{Rank: rank, NoBias: !bias})
	if err != nil {
		return nil, err
	}
	b.addFactorized(f, name)
	b.record(name, "LowRankLinear", fmt.Sprintf("%d→%d", in, out), f.R, f.Cost(tokens))
	return &linear{f: f}, nil
}

// weights are the layer's weight tensors: both factors when factorized.
func (l *linear) weights() []*ts.Tensor {
	if l.f != nil {
		return []*ts.Tensor{l.f.V, l.f.U}
	}
	return []*ts.Tensor{l.w}
}

// biases are the layer's bias tensors, if any.
func (l *linear) biases() []*ts.Tensor {
	var bs []*ts.Tensor
	for _, b := range []*ts.Tensor{l.b, l.factorBias(0), l.factorBias(1)} {
		if b != nil {
			bs = append(bs, b)
		}
	}
	return bs
}

func (l *linear) factorBias(i int) *ts.Tensor {
	if l.f == nil {
		return nil
	}
	if i == 0 {
		return l.f.VBias
	}
	return l.f.Bias
}

// zeroBiases sets every bias of the layers to zero.
func zeroBiases(ls ...*linear) error {
	return noGrad(func() error {
		for _, l := range ls {
			for _, b := range l.biases() {
				if err := b.Zero_(); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// noGrad runs f without recording gradients.
func noGrad(f func() error) error {
	var err error
	backend.NoGrad(func() { err = f() })
	return err
}

func (l *linear) forward(x *ts.Tensor) (*ts.Tensor, error) {
	if l.f != nil {
		return l.f.Forward(x)
	}
	return ts.Linear(x, l.w, orNone(l.b))
}

// conv is a dense or factorized k×k convolution.
type conv struct {
	w, b                      *ts.Tensor
	f                         *lowrank.Conv2d
	stride, padding, dilation int64
}

// convSpec describes a convolution and the input it sees.
type convSpec struct {
	in, out, k, stride, padding int64
	h, w                        int64 // input size, for FLOPs
	bias                        bool
}

// addConv builds a dense conv (initialized by wInit, bias zero) or a factorized one under p.
func (b *base) addConv(p *nn.Path, s convSpec, factorize bool, cfg lowrank.ConvConfig, wInit func(out, kh, kw int64) func(*ts.Tensor) error) (*conv, error) {
	name := pathName(p)
	factorize, cfg.Rank = b.layerRank(name, factorize, cfg.Rank)
	s.stride = max(s.stride, 1)
	shape := fmt.Sprintf("%d→%d k%d s%d", s.in, s.out, s.k, s.stride)
	if !factorize {
		w, err := param(p, "weight", []int64{s.out, s.in, s.k, s.k}, true, wInit(s.out, s.k, s.k))
		if err != nil {
			return nil, err
		}
		c := &conv{w: w, stride: s.stride, padding: s.padding, dilation: 1}
		if s.bias {
			if c.b, err = param(p, "bias", []int64{s.out}, true, nil); err != nil {
				return nil, err
			}
		}
		b.record(name, "Conv2d", shape, 0, lowrank.DenseConvCost(s.in, s.out, s.k, s.h, s.w, s.stride, s.padding, 1, s.bias))
		return c, nil
	}
	cfg.Stride, cfg.Padding, cfg.Bias = s.stride, s.padding, s.bias
	cfg.FactorBias = cfg.FactorBias && s.bias
	f, err := lowrank.NewConv2d(p, s.in, s.out, s.k, cfg)
	if err != nil {
		return nil, err
	}
	// Re-draw each factor as the architecture initializes its convolutions.
	for _, t := range []*ts.Tensor{f.V, f.U} {
		sz := t.MustSize()
		var err error
		backend.NoGrad(func() { err = wInit(sz[0], sz[2], sz[3])(t) })
		if err != nil {
			return nil, err
		}
	}
	for _, t := range []*ts.Tensor{f.VBias, f.Bias} {
		if t != nil {
			var err error
			backend.NoGrad(func() { err = t.Zero_() })
			if err != nil {
				return nil, err
			}
		}
	}
	b.addFactorized(f, name)
	b.record(name, "LowRankConv2d/"+cfg.Scheme.String(), shape, f.R, f.Cost(s.h, s.w))
	return &conv{f: f}, nil
}

func (c *conv) forward(x *ts.Tensor) (*ts.Tensor, error) {
	if c.f != nil {
		return c.f.Forward(x)
	}
	st, pd, dl := []int64{c.stride, c.stride}, []int64{c.padding, c.padding}, []int64{c.dilation, c.dilation}
	return ts.Conv2d(x, c.w, orNone(c.b), st, pd, dl, 1)
}

// batchNorm is nn.BatchNorm2d: "weight" (1), "bias" (0) and, when it tracks running statistics,
// the buffers "running_mean", "running_var" and "num_batches_tracked".
type batchNorm struct {
	w, b, mean, vr, count *ts.Tensor
	momentum              float64
}

// addBatchNorm registers a batch norm over c channels of an h×w map. Without tracking (the
// reference's ResNets), batch statistics are used in evaluation too.
func (b *base) addBatchNorm(p *nn.Path, c, h, w int64, track bool, momentum float64) (*batchNorm, error) {
	bn := &batchNorm{momentum: momentum}
	var err error
	if bn.w, err = param(p, "weight", []int64{c}, true, fillInit(1)); err != nil {
		return nil, err
	}
	if bn.b, err = param(p, "bias", []int64{c}, true, nil); err != nil {
		return nil, err
	}
	if track {
		if bn.mean, err = param(p, "running_mean", []int64{c}, false, nil); err != nil {
			return nil, err
		}
		if bn.vr, err = param(p, "running_var", []int64{c}, false, fillInit(1)); err != nil {
			return nil, err
		}
		// A 0-dim int64 counter, as PyTorch's; gotch cannot take an empty shape, so squeeze [1].
		one, err := ts.Zeros([]int64{1}, gotch.Int64, p.Device())
		if err != nil {
			return nil, err
		}
		cnt, err := one.Squeeze(true)
		if err != nil {
			return nil, err
		}
		bn.count, err = p.Add("num_batches_tracked", cnt, false)
		cnt.MustDrop()
		if err != nil {
			return nil, err
		}
	}
	b.record(pathName(p), "BatchNorm2d", fmt.Sprint(c), 0, lowrank.Cost{Params: 2 * c, FLOPs: normFLOPs(c * h * w)})
	return bn, nil
}

func (bn *batchNorm) forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	if bn.mean == nil {
		return ts.BatchNorm(x, bn.w, bn.b, ts.None, ts.None, true, bn.momentum, 1e-5, false)
	}
	if train {
		// num_batches_tracked needs no gradient, so no grad-mode switch either.
		if err := bn.count.AddScalar_(ts.IntScalar(1)); err != nil {
			return nil, err
		}
	}
	return ts.BatchNorm(x, bn.w, bn.b, bn.mean, bn.vr, train, bn.momentum, 1e-5, false)
}

// layerNorm is nn.LayerNorm over the last dimension: "weight" (1) and "bias" (0).
type layerNorm struct {
	w, b *ts.Tensor
	dim  int64
}

func (b *base) addLayerNorm(p *nn.Path, dim, tokens int64) (*layerNorm, error) {
	w, err := param(p, "weight", []int64{dim}, true, fillInit(1))
	if err != nil {
		return nil, err
	}
	bb, err := param(p, "bias", []int64{dim}, true, nil)
	if err != nil {
		return nil, err
	}
	b.record(pathName(p), "LayerNorm", fmt.Sprint(dim), 0, lowrank.Cost{Params: 2 * dim, FLOPs: normFLOPs(dim * tokens)})
	return &layerNorm{w: w, b: bb, dim: dim}, nil
}

func (l *layerNorm) forward(x *ts.Tensor) (*ts.Tensor, error) {
	return ts.LayerNorm(x, []int64{l.dim}, l.w, l.b, 1e-5, false)
}

// dropout applies inverted dropout with probability p while training.
func dropout(x *ts.Tensor, p float64, train bool) (*ts.Tensor, error) {
	if !train || p == 0 {
		return x.ShallowClone()
	}
	return ts.Dropout(x, p, train)
}

// orNone turns a nil optional tensor into gotch's undefined tensor.
func orNone(t *ts.Tensor) *ts.Tensor {
	if t == nil {
		return ts.None
	}
	return t
}

// pathName is a path's dotted name.
func pathName(p *nn.Path) string { return lowrank.PathName(p) }
