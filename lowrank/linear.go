package lowrank

import (
	"fmt"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// LinearConfig configures a factorized Linear. The zero value is the reference's layer: rank
// floor(0.2·min(in, out)) and a bias on each factor.
type LinearConfig struct {
	Rank   Rank
	NoBias bool // no bias on either factor; default false (a bias on each, as the reference)
	Names  LinearNames
}

// LinearNames selects the parameter names of a factorized Linear.
type LinearNames int

const (
	// SequentialNames: "linear.0.*" (V) and "linear.1.*" (U), the reference's FactorizedLinear.
	SequentialNames LinearNames = iota
	// VTUNames: "linear_VT.*" (V) and "linear_U.*" (U), the reference LSTM's LowRankLinear.
	VTUNames
)

// Linear is a factorized linear layer y = U(Vx + b_V) + b_U with V (r×in) and U (out×r).
//
// Parameter names follow the reference's FactorizedLinear: "linear.0.weight" (V),
// "linear.0.bias" (b_V), "linear.1.weight" (U), "linear.1.bias" (b_U).
type Linear struct {
	V, VBias *ts.Tensor // r×in, r (VBias nil without bias)
	U, Bias  *ts.Tensor // out×r, out (Bias nil without bias)
	In, Out  int64
	R        int64
}

var _ ts.ModuleT = (*Linear)(nil)

// NewLinear registers a factorized linear layer from in to out features under p, initialized as
// two PyTorch nn.Linear layers (U(-1/√fan_in, 1/√fan_in) weights and biases).
func NewLinear(p *nn.Path, in, out int64, cfg LinearConfig) (*Linear, error) {
	name := PathName(p)
	r, err := cfg.Rank.For(name, out, in)
	if err != nil {
		return nil, err
	}
	l := &Linear{In: in, Out: out, R: r}
	first, second := p.Sub("linear").Sub("0"), p.Sub("linear").Sub("1")
	if cfg.Names == VTUNames {
		first, second = p.Sub("linear_VT"), p.Sub("linear_U")
	}
	specs := []uniformSpec{
		{&l.V, first, "weight", []int64{r, in}, FanInBound(in)},
		{&l.U, second, "weight", []int64{out, r}, FanInBound(r)},
		{&l.VBias, first, "bias", []int64{r}, FanInBound(in)},
		{&l.Bias, second, "bias", []int64{out}, FanInBound(r)},
	}
	// Drawn V, U, b_V, b_U; registered as nn.Sequential(nn.Linear, nn.Linear) registers them.
	register := []int{0, 2, 1, 3}
	if cfg.NoBias {
		specs, register = specs[:2], []int{0, 1}
	}
	if err := uniformParams(specs, register); err != nil {
		return nil, err
	}
	return l, nil
}

// Forward maps x (..., in) to (..., out). The result belongs to the caller.
func (l *Linear) Forward(x *ts.Tensor) (*ts.Tensor, error) {
	if x.Dim() > 2 {
		shape := x.MustSize()
		// (..., in) runs as one (N, in) matrix through both factors and is reshaped once at the
		// end: libtorch's linear would fold and unfold the leading dimensions around each factor.
		flat, err := x.Reshape([]int64{-1, shape[len(shape)-1]}, false)
		if err != nil {
			return nil, err
		}
		y, err := l.Forward(flat)
		flat.MustDrop()
		if err != nil {
			return nil, err
		}
		out := append(append([]int64{}, shape[:len(shape)-1]...), l.Out)
		return y.Reshape(out, true)
	}
	h, err := ts.Linear(x, l.V, orNone(l.VBias))
	if err != nil {
		return nil, fmt.Errorf("lowrank.Linear: input %v, want (..., %d): %w", x.MustSize(), l.In, err)
	}
	y, err := ts.Linear(h, l.U, orNone(l.Bias))
	h.MustDrop()
	return y, err
}

// ForwardT implements ts.ModuleT; it panics on a shape mismatch (use Forward for an error).
func (l *Linear) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	y, err := l.Forward(x)
	if err != nil {
		panic(err)
	}
	return y
}

// Pairs returns the factors as one matrix pair: U (out×r) and V (r×in). Views share storage and
// gradients with the parameters.
func (l *Linear) Pairs() ([]Pair, error) {
	return []Pair{{U: l.U.MustShallowClone(), V: l.V.MustShallowClone()}}, nil
}

// Merge returns the dense weight U·V (out×in) and bias U·b_V + b_U (out), or a nil bias
// without biases. Both belong to the caller.
func (l *Linear) Merge() (w, b *ts.Tensor, err error) {
	if w, err = l.U.Matmul(l.V, false); err != nil {
		return nil, nil, err
	}
	if l.Bias == nil {
		return w, nil, nil
	}
	if b, err = l.Bias.Addmv(l.U, l.VBias, false); err != nil {
		w.MustDrop()
		return nil, nil, err
	}
	return w, b, nil
}

// Cost is the layer's parameter count and forward FLOPs for `tokens` input vectors.
func (l *Linear) Cost(tokens int64) Cost {
	c := Cost{Params: l.R*l.In + l.Out*l.R, FLOPs: tokens * (l.R*l.In + l.Out*l.R)}
	if l.Bias != nil {
		c.Params += l.R + l.Out
	}
	return c
}

// PathName is a path's dotted name ("features.3"), as its variables are named; "(root)" for the
// root path.
func PathName(p *nn.Path) string {
	name := ""
	for i, s := range p.Paths() {
		if i > 0 {
			name += "."
		}
		name += s
	}
	if name == "" {
		return "(root)"
	}
	return name
}
