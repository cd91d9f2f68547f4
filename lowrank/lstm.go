package lowrank

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// LSTMImpl selects how a factorized LSTM runs.
type LSTMImpl int

const (
	// Reconstructed forms W = U·V once per call and runs libtorch's fused LSTM.
	Reconstructed LSTMImpl = iota
	// Factored runs (x·Vᵀ)·Uᵀ per step: fewer FLOPs when r is small, more kernel launches.
	Factored
)

func (i LSTMImpl) String() string {
	switch i {
	case Reconstructed:
		return "reconstructed"
	case Factored:
		return "factored"
	}
	return fmt.Sprintf("LSTMImpl(%d)", int(i))
}

// ParseLSTMImpl parses "reconstructed" or "factored".
func ParseLSTMImpl(s string) (LSTMImpl, error) {
	switch s {
	case "reconstructed", "":
		return Reconstructed, nil
	case "factored":
		return Factored, nil
	}
	return 0, fmt.Errorf("lstm implementation %q: want reconstructed or factored", s)
}

// LSTMRankRule selects how an LSTM's ranks follow from the ratio.
type LSTMRankRule int

const (
	// LSTMRankMin applies Rank to each gate matrix: floor(ratio·min(4h, n)). It reduces
	// parameters.
	LSTMRankMin LSTMRankRule = iota
	// LSTMRankReference is the reference's r = floor(4h·ratio) for both matrices, unbounded by
	// their size; at ratio 0.2, hidden 256 it gives more parameters than the dense LSTM.
	LSTMRankReference
)

func (r LSTMRankRule) String() string {
	if r == LSTMRankReference {
		return "reference"
	}
	return "min"
}

// LSTMConfig configures a factorized LSTM. The zero value: one layer, ratio 0.2 by the min
// rule, reconstructed implementation, sequence-first input, no dropout.
type LSTMConfig struct {
	Rank       Rank
	RankRule   LSTMRankRule
	Impl       LSTMImpl
	NumLayers  int64   // 0 means 1
	BatchFirst bool    // input (B, T, in) instead of (T, B, in)
	Dropout    float64 // dropout between layers while training
}

// LSTMLayer holds one layer's factors. Gate order is PyTorch's: input, forget, cell, output.
//
// Names (as the reference's LSTMCell_low_rank under "layers.<i>.cell"): weight_ih_U (4h×r_ih),
// weight_ih_VT (r_ih×in), weight_hh_U (4h×r_hh), weight_hh_VT (r_hh×h), bias_ih, bias_hh (4h).
type LSTMLayer struct {
	IhU, IhV, HhU, HhV *ts.Tensor
	BiasIH, BiasHH     *ts.Tensor
	In, Hidden         int64
	RIh, RHh           int64
}

// LSTM is a stacked LSTM whose gate matrices are factorized.
type LSTM struct {
	Layers     []*LSTMLayer
	Hidden     int64
	Impl       LSTMImpl
	BatchFirst bool
	Dropout    float64
}

// LSTMState is the recurrent state: H and C are (layers, B, h).
type LSTMState struct{ H, C *ts.Tensor }

// Drop frees the state's tensors.
func (s LSTMState) Drop() { drop(s.H, s.C) }

// lstmRank returns the rank of a 4h×n gate matrix.
func lstmRank(cfg LSTMConfig, name string, hidden, n int64) (int64, error) {
	if cfg.RankRule != LSTMRankReference {
		return cfg.Rank.For(name, 4*hidden, n)
	}
	ratio := cfg.Rank.Ratio
	if ratio == 0 {
		ratio = DefaultRatio
	}
	r := int64(float64(4*hidden) * ratio)
	if r < 1 {
		return 0, fmt.Errorf("layer %s: rank %d from the reference LSTM rule is below 1", name, r)
	}
	return r, nil
}

// NewLSTM registers a factorized LSTM from in features to hidden units under p. Biases are
// drawn as PyTorch's nn.LSTM, U(-1/√h, 1/√h); each factor from a uniform distribution whose
// product U·V has that same variance.
func NewLSTM(p *nn.Path, in, hidden int64, cfg LSTMConfig) (*LSTM, error) {
	if in < 1 || hidden < 1 {
		return nil, fmt.Errorf("layer %s: LSTM in=%d hidden=%d must be positive", PathName(p), in, hidden)
	}
	n := max(cfg.NumLayers, 1)
	m := &LSTM{Hidden: hidden, Impl: cfg.Impl, BatchFirst: cfg.BatchFirst, Dropout: cfg.Dropout}
	k := 1 / math.Sqrt(float64(hidden))
	for i := int64(0); i < n; i++ {
		lp := p.Sub("layers").Sub(strconv.FormatInt(i, 10)).Sub("cell")
		lin := in
		if i > 0 {
			lin = hidden
		}
		l := &LSTMLayer{In: lin, Hidden: hidden}
		var err error
		if l.RIh, err = lstmRank(cfg, PathName(lp)+".weight_ih", hidden, lin); err != nil {
			return nil, err
		}
		if l.RHh, err = lstmRank(cfg, PathName(lp)+".weight_hh", hidden, hidden); err != nil {
			return nil, err
		}
		fb := func(r int64) float64 { return math.Sqrt(3 * (k / math.Sqrt(3)) / math.Sqrt(float64(r))) }
		// Drawn U before V^T; registered as the reference's cell registers them (V^T, U).
		if err := uniformParams([]uniformSpec{
			{&l.IhU, lp, "weight_ih_U", []int64{4 * hidden, l.RIh}, fb(l.RIh)},
			{&l.IhV, lp, "weight_ih_VT", []int64{l.RIh, lin}, fb(l.RIh)},
			{&l.HhU, lp, "weight_hh_U", []int64{4 * hidden, l.RHh}, fb(l.RHh)},
			{&l.HhV, lp, "weight_hh_VT", []int64{l.RHh, hidden}, fb(l.RHh)},
			{&l.BiasIH, lp, "bias_ih", []int64{4 * hidden}, k},
			{&l.BiasHH, lp, "bias_hh", []int64{4 * hidden}, k},
		}, []int{1, 0, 3, 2, 4, 5}); err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, l)
	}
	return m, nil
}

// Pairs returns each layer's input-to-hidden and hidden-to-hidden factor pairs.
func (m *LSTM) Pairs() ([]Pair, error) {
	var ps []Pair
	for _, l := range m.Layers {
		ps = append(ps, Pair{U: l.IhU.MustShallowClone(), V: l.IhV.MustShallowClone()},
			Pair{U: l.HhU.MustShallowClone(), V: l.HhV.MustShallowClone()})
	}
	return ps, nil
}

// Merge returns each layer's dense [W_ih, W_hh, b_ih, b_hh], the parameters of a dense
// nn.LSTM layer; W_ih and W_hh are new tensors, the biases are the layer's own.
func (m *LSTM) Merge() ([][4]*ts.Tensor, error) {
	out := make([][4]*ts.Tensor, 0, len(m.Layers))
	for _, l := range m.Layers {
		wih, err := l.IhU.Matmul(l.IhV, false)
		if err != nil {
			return nil, err
		}
		whh, err := l.HhU.Matmul(l.HhV, false)
		if err != nil {
			wih.MustDrop()
			return nil, err
		}
		out = append(out, [4]*ts.Tensor{wih, whh, l.BiasIH, l.BiasHH})
	}
	return out, nil
}

// Decompose sets every layer's factors from dense per-layer weights [W_ih, W_hh, b_ih, b_hh]
// by truncated SVD and returns the energy kept per gate matrix (ih, hh per layer).
func (m *LSTM) Decompose(dense [][4]*ts.Tensor) ([]float64, error) {
	if len(dense) != len(m.Layers) {
		return nil, fmt.Errorf("lowrank.LSTM.Decompose: %d dense layers for %d factorized", len(dense), len(m.Layers))
	}
	var energies []float64
	for i, l := range m.Layers {
		for _, g := range []struct {
			w      *ts.Tensor
			u, v   *ts.Tensor
			r, col int64
		}{{dense[i][0], l.IhU, l.IhV, l.RIh, l.In}, {dense[i][1], l.HhU, l.HhV, l.RHh, l.Hidden}} {
			if !equalShapes(g.w.MustSize(), []int64{4 * l.Hidden, g.col}) {
				return nil, fmt.Errorf("lowrank.LSTM.Decompose: layer %d weight %v, want [%d %d]", i, g.w.MustSize(), 4*l.Hidden, g.col)
			}
			if g.r > min(4*l.Hidden, g.col) {
				return nil, fmt.Errorf("lowrank.LSTM.Decompose: layer %d rank %d exceeds full rank %d (the reference rank rule); use the min rule", i, g.r, min(4*l.Hidden, g.col))
			}
			u, v, e, err := SVDFactors(g.w, g.r)
			if err != nil {
				return nil, err
			}
			err = copyInto(g.u, u)
			if err == nil {
				err = copyInto(g.v, v)
			}
			drop(u, v)
			if err != nil {
				return nil, err
			}
			energies = append(energies, e)
		}
		if err := copyInto(l.BiasIH, dense[i][2]); err != nil {
			return nil, err
		}
		if err := copyInto(l.BiasHH, dense[i][3]); err != nil {
			return nil, err
		}
	}
	return energies, nil
}

// Forward runs the LSTM over x, (T, B, in) or (B, T, in) with BatchFirst, from state (zeros
// when state.H is nil). It returns the top layer's outputs, (T, B, h) or (B, T, h), and the final
// state. All returned tensors belong to the caller; x and state are not dropped.
func (m *LSTM) Forward(x *ts.Tensor, state LSTMState, train bool) (*ts.Tensor, LSTMState, error) {
	size := x.MustSize()
	if len(size) != 3 || size[2] != m.Layers[0].In {
		return nil, LSTMState{}, fmt.Errorf("lowrank.LSTM: input %v, want (T, B, %d) or (B, T, %d)", size, m.Layers[0].In, m.Layers[0].In)
	}
	batch := size[1]
	if m.BatchFirst {
		batch = size[0]
	}
	h0, c0 := state.H, state.C
	if h0 == nil {
		z, err := ts.Zeros([]int64{int64(len(m.Layers)), batch, m.Hidden}, x.DType(), x.MustDevice())
		if err != nil {
			return nil, LSTMState{}, err
		}
		defer z.MustDrop()
		h0, c0 = z, z
	}
	if m.Impl == Factored {
		return m.forwardFactored(x, h0, c0, train)
	}
	return m.forwardReconstructed(x, h0, c0, train)
}

func (m *LSTM) forwardReconstructed(x, h0, c0 *ts.Tensor, train bool) (*ts.Tensor, LSTMState, error) {
	merged, err := m.Merge()
	if err != nil {
		return nil, LSTMState{}, err
	}
	params := make([]*ts.Tensor, 0, 4*len(merged))
	for _, p := range merged {
		params = append(params, p[:]...)
		defer drop(p[0], p[1])
	}
	out, h, c, err := ts.Lstm(x, []*ts.Tensor{h0, c0}, params, true, int64(len(m.Layers)), m.Dropout, train, false, m.BatchFirst)
	if err != nil {
		return nil, LSTMState{}, fmt.Errorf("lowrank.LSTM: %w", err)
	}
	return out, LSTMState{H: h, C: c}, nil
}
