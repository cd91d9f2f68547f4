package lowrank

import (
	"fmt"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// ConvScheme selects how a k×k convolution is factorized.
type ConvScheme int

const (
	// Spatial: a 1×k conv to r channels, then a k×1 conv to out (the reference, Khodak et al.).
	Spatial ConvScheme = iota
	// Channel: a k×k conv to r channels, then a 1×1 conv to out (Pufferfish, Cuttlefish).
	Channel
)

func (s ConvScheme) String() string {
	switch s {
	case Spatial:
		return "spatial"
	case Channel:
		return "channel"
	}
	return fmt.Sprintf("ConvScheme(%d)", int(s))
}

// ParseConvScheme parses "spatial" or "channel".
func ParseConvScheme(s string) (ConvScheme, error) {
	switch s {
	case "spatial", "":
		return Spatial, nil
	case "channel":
		return Channel, nil
	}
	return 0, fmt.Errorf("conv scheme %q: want spatial or channel", s)
}

// ConvConfig configures a factorized Conv2d. The zero value is the reference's layer: spatial
// scheme, ratio 0.2, stride 1, no padding, dilation 1, no bias.
type ConvConfig struct {
	Rank     Rank
	Scheme   ConvScheme
	Stride   int64 // 0 means 1
	Padding  int64 // default 0
	Dilation int64 // 0 means 1
	Bias     bool  // a bias on the last factor (the dense layer's bias); default false
	// FactorBias puts a bias on each factor, as the reference's FactorizedConv(bias=True). With
	// the spatial scheme and padding, a non-zero first-factor bias makes the layer differ from any
	// dense convolution near the borders (the padded rows carry it), so Merge cannot be exact.
	FactorBias bool
}

func (c ConvConfig) stride() int64   { return max(c.Stride, 1) }
func (c ConvConfig) dilation() int64 { return max(c.Dilation, 1) }

// Conv2d is a factorized k×k convolution from In to Out channels; see the package doc for the
// two schemes. Parameter names follow the reference's FactorizedConv: "conv.0.weight" (V) and
// "conv.1.weight" (U), with "conv.1.bias" when Bias is set and "conv.0.bias" too with FactorBias.
//
// Shapes: Spatial V (r, in, 1, k), U (out, r, k, 1); Channel V (r, in, k, k), U (out, r, 1, 1).
type Conv2d struct {
	V, VBias *ts.Tensor
	U, Bias  *ts.Tensor
	In, Out  int64
	K, R     int64
	Scheme   ConvScheme
	Stride   int64
	Padding  int64
	Dilation int64
}

var _ ts.ModuleT = (*Conv2d)(nil)

// ConvMatrixShape is the m×n matrix form of a k×k convolution's weight under a scheme, the
// shape whose rank the rank rule bounds.
func ConvMatrixShape(scheme ConvScheme, in, out, k int64) (m, n int64) {
	if scheme == Channel {
		return out, in * k * k
	}
	return out * k, in * k
}

// NewConv2d registers a factorized convolution under p, each factor initialized as PyTorch's
// nn.Conv2d (U(-1/√fan_in, 1/√fan_in)).
func NewConv2d(p *nn.Path, in, out, k int64, cfg ConvConfig) (*Conv2d, error) {
	name := PathName(p)
	if in < 1 || out < 1 || k < 1 {
		return nil, fmt.Errorf("layer %s: conv in=%d out=%d kernel=%d must all be positive", name, in, out, k)
	}
	if cfg.Padding < 0 || cfg.Stride < 0 || cfg.Dilation < 0 {
		return nil, fmt.Errorf("layer %s: negative stride, padding or dilation", name)
	}
	m, n := ConvMatrixShape(cfg.Scheme, in, out, k)
	r, err := cfg.Rank.For(name, m, n)
	if err != nil {
		return nil, err
	}
	c := &Conv2d{In: in, Out: out, K: k, R: r, Scheme: cfg.Scheme,
		Stride: cfg.stride(), Padding: cfg.Padding, Dilation: cfg.dilation()}
	vShape, uShape := []int64{r, in, 1, k}, []int64{out, r, k, 1}
	vFan, uFan := in*k, r*k
	if cfg.Scheme == Channel {
		vShape, uShape = []int64{r, in, k, k}, []int64{out, r, 1, 1}
		vFan, uFan = in*k*k, r
	}
	first, second := p.Sub("conv").Sub("0"), p.Sub("conv").Sub("1")
	// Drawn V, U, then the biases; registered as nn.Sequential(nn.Conv2d, nn.Conv2d) registers
	// them (each factor's weight, then its bias).
	specs := []uniformSpec{{&c.V, first, "weight", vShape, FanInBound(vFan)}, {&c.U, second, "weight", uShape, FanInBound(uFan)}}
	register := []int{0}
	if cfg.FactorBias {
		specs = append(specs, uniformSpec{&c.VBias, first, "bias", []int64{r}, FanInBound(vFan)})
		register = append(register, len(specs)-1)
	}
	register = append(register, 1)
	if cfg.Bias || cfg.FactorBias {
		specs = append(specs, uniformSpec{&c.Bias, second, "bias", []int64{out}, FanInBound(uFan)})
		register = append(register, len(specs)-1)
	}
	if err := uniformParams(specs, register); err != nil {
		return nil, err
	}
	return c, nil
}

// geometry returns stride, padding and dilation of the first and second factor.
func (c *Conv2d) geometry() (s1, p1, d1, s2, p2, d2 []int64) {
	s, p, d := c.Stride, c.Padding, c.Dilation
	if c.Scheme == Channel {
		return []int64{s, s}, []int64{p, p}, []int64{d, d}, []int64{1, 1}, []int64{0, 0}, []int64{1, 1}
	}
	return []int64{1, s}, []int64{0, p}, []int64{1, d}, []int64{s, 1}, []int64{p, 0}, []int64{d, 1}
}

// Forward maps x (N, in, H, W) to (N, out, H', W') with H' = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1.
func (c *Conv2d) Forward(x *ts.Tensor) (*ts.Tensor, error) {
	s1, p1, d1, s2, p2, d2 := c.geometry()
	h, err := ts.Conv2d(x, c.V, orNone(c.VBias), s1, p1, d1, 1)
	if err != nil {
		return nil, fmt.Errorf("lowrank.Conv2d: input %v, want (N, %d, H, W): %w", x.MustSize(), c.In, err)
	}
	y, err := ts.Conv2d(h, c.U, orNone(c.Bias), s2, p2, d2, 1)
	h.MustDrop()
	return y, err
}

// ForwardT implements ts.ModuleT; it panics on a shape mismatch (use Forward for an error).
func (c *Conv2d) ForwardT(x *ts.Tensor, train bool) *ts.Tensor {
	y, err := c.Forward(x)
	if err != nil {
		panic(err)
	}
	return y
}

// Pairs returns the factors in matrix form, U (m×r) and V (r×n) with m×n = ConvMatrixShape.
func (c *Conv2d) Pairs() ([]Pair, error) {
	var u, v *ts.Tensor
	var err error
	if c.Scheme == Channel {
		if u, err = c.U.Reshape([]int64{c.Out, c.R}, false); err != nil {
			return nil, err
		}
		v, err = c.V.Reshape([]int64{c.R, c.In * c.K * c.K}, false)
	} else {
		// U (out, r, k, 1) → (out, k, r) → (out·k, r); V (r, in, 1, k) → (r, in·k).
		pu, e := c.U.Permute([]int64{0, 2, 1, 3}, false)
		if e != nil {
			return nil, e
		}
		u, err = pu.Reshape([]int64{c.Out * c.K, c.R}, true)
		if err != nil {
			return nil, err
		}
		v, err = c.V.Reshape([]int64{c.R, c.In * c.K}, false)
	}
	if err != nil {
		drop(u)
		return nil, err
	}
	return []Pair{{U: u, V: v}}, nil
}

// Merge returns the dense (out, in, k, k) weight whose convolution, with this layer's stride,
// padding and dilation, equals the factorized one, and its bias (nil without biases). With the
// spatial scheme, a non-zero first-factor bias (FactorBias) has no exact dense form when padding
// is positive (the padded rows would carry it), which is an error.
func (c *Conv2d) Merge() (w, b *ts.Tensor, err error) {
	pairs, err := c.Pairs()
	if err != nil {
		return nil, nil, err
	}
	pu, pv := pairs[0].U, pairs[0].V
	defer drop(pu, pv)
	wm, err := pu.Matmul(pv, false)
	if err != nil {
		return nil, nil, err
	}
	if c.Scheme == Channel {
		w, err = wm.Reshape([]int64{c.Out, c.In, c.K, c.K}, true)
	} else {
		// (out·k_h, in·k_w) → (out, k_h, in, k_w) → (out, in, k_h, k_w)
		r4, e := wm.Reshape([]int64{c.Out, c.K, c.In, c.K}, true)
		if e != nil {
			return nil, nil, e
		}
		w, err = r4.Permute([]int64{0, 2, 1, 3}, true)
		if err == nil {
			w, err = w.Contiguous(true)
		}
	}
	if err != nil || c.Bias == nil {
		return w, nil, err
	}
	if c.VBias == nil {
		return w, c.Bias.MustShallowClone(), nil
	}
	if c.Scheme == Spatial && c.Padding > 0 && !allZero(c.VBias) {
		w.MustDrop()
		return nil, nil, fmt.Errorf("lowrank.Conv2d.Merge: spatial scheme with a first-factor bias and padding %d has no exact dense form", c.Padding)
	}
	// Each output channel gets b_U + Σ_{r,a} U[o,r,a]·b_V[r].
	us, err := c.U.SumDimIntlist([]int64{2, 3}, false, c.U.DType(), false)
	if err != nil {
		w.MustDrop()
		return nil, nil, err
	}
	b, err = c.Bias.Addmv(us, c.VBias, false)
	us.MustDrop()
	if err != nil {
		w.MustDrop()
		return nil, nil, err
	}
	return w, b, nil
}

// Cost is the layer's parameter count and forward FLOPs for one (in, h, w) input.
func (c *Conv2d) Cost(h, w int64) Cost {
	oh, ow := ConvOutSize(h, c.K, c.Stride, c.Padding, c.Dilation), ConvOutSize(w, c.K, c.Stride, c.Padding, c.Dilation)
	var cost Cost
	if c.Scheme == Channel {
		cost = Cost{Params: c.R*c.In*c.K*c.K + c.Out*c.R, FLOPs: oh * ow * (c.R*c.In*c.K*c.K + c.Out*c.R)}
	} else {
		// The 1×k factor keeps all h rows and produces ow columns; the k×1 factor produces oh×ow.
		cost = Cost{Params: c.R*c.In*c.K + c.Out*c.R*c.K, FLOPs: h*ow*c.R*c.In*c.K + oh*ow*c.Out*c.R*c.K}
	}
	if c.VBias != nil {
		cost.Params += c.R
	}
	if c.Bias != nil {
		cost.Params += c.Out
	}
	return cost
}

func allZero(t *ts.Tensor) bool {
	for _, v := range t.Float64Values() {
		if v != 0 {
			return false
		}
	}
	return true
}

// ConvOutSize is a convolution's output length along one axis.
func ConvOutSize(size, k, stride, padding, dilation int64) int64 {
	return (size+2*padding-dilation*(k-1)-1)/stride + 1
}
