package lowrank

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
)

// forwardFactored runs each layer step by step with factored products. The input projection
// (x·V_ihᵀ)·U_ihᵀ + b_ih + b_hh is computed for all steps at once; each step then adds
// (h·V_hhᵀ)·U_hhᵀ and applies the gates:
//
//	i, f, g, o = σ(z_i), σ(z_f), tanh(z_g), σ(z_o);  c' = f⊙c + i⊙g;  h' = o⊙tanh(c')
func (m *LSTM) forwardFactored(x, h0, c0 *ts.Tensor, train bool) (out *ts.Tensor, st LSTMState, err error) {
	err = scope.Run(func(s *scope.Scope) {
		inp := x
		if m.BatchFirst {
			inp = s.Keep(x.Transpose(0, 1, false))
		}
		steps := inp.MustSize()[0]
		hs, cs := make([]*ts.Tensor, len(m.Layers)), make([]*ts.Tensor, len(m.Layers))
		hid := m.Hidden
		for li, l := range m.Layers {
			bias := s.Keep(l.BiasIH.Add(l.BiasHH, false))
			xp := s.Keep(ts.Linear(s.Keep(ts.Linear(inp, l.IhV, ts.None)), l.IhU, bias))
			h := s.Keep(h0.Select(0, int64(li), false))
			c := s.Keep(c0.Select(0, int64(li), false))
			outs := make([]*ts.Tensor, steps)
			for t := int64(0); t < steps; t++ {
				hv := s.Keep(ts.Linear(h, l.HhV, ts.None))
				z := s.Keep(ts.Linear(hv, l.HhU, s.Keep(xp.Select(0, t, false))))
				ig := s.Keep(s.Keep(z.Narrow(1, 0, hid, false)).Sigmoid(false))
				fg := s.Keep(s.Keep(z.Narrow(1, hid, hid, false)).Sigmoid(false))
				gg := s.Keep(s.Keep(z.Narrow(1, 2*hid, hid, false)).Tanh(false))
				og := s.Keep(s.Keep(z.Narrow(1, 3*hid, hid, false)).Sigmoid(false))
				c = s.Keep(s.Keep(fg.Mul(c, false)).Add(s.Keep(ig.Mul(gg, false)), false))
				h = s.Keep(og.Mul(s.Keep(c.Tanh(false)), false))
				outs[t] = h
			}
			hs[li], cs[li] = h, c
			inp = s.Keep(ts.Stack(outs, 0))
			if train && m.Dropout > 0 && li < len(m.Layers)-1 {
				inp = s.Keep(ts.Dropout(inp, m.Dropout, train))
			}
		}
		if m.BatchFirst {
			inp = s.Keep(inp.Transpose(0, 1, false))
		}
		out = s.Release(s.Keep(inp.Contiguous(false)))
		st.H = s.Release(s.Keep(ts.Stack(hs, 0)))
		st.C = s.Release(s.Keep(ts.Stack(cs, 0)))
	})
	if err != nil {
		return nil, LSTMState{}, fmt.Errorf("lowrank.LSTM (factored): %w", err)
	}
	return out, st, nil
}

// Cost is the LSTM's parameter count and forward FLOPs for `tokens` input vectors (T·B): the
// gate matrix products, one multiply-add per FLOP. Reconstructed runs dense products (4h·(in+h)
// per token per layer) plus forming U·V once per call (not counted: it does not grow with
// tokens); Factored runs r_ih·(in+4h) + r_hh·(h+4h).
func (m *LSTM) Cost(tokens int64) Cost {
	var c Cost
	for _, l := range m.Layers {
		c.Params += l.RIh*(l.In+4*l.Hidden) + l.RHh*(l.Hidden+4*l.Hidden) + 8*l.Hidden
		if m.Impl == Factored {
			c.FLOPs += tokens * (l.RIh*(l.In+4*l.Hidden) + l.RHh*(5*l.Hidden))
		} else {
			c.FLOPs += tokens * 4 * l.Hidden * (l.In + l.Hidden)
		}
	}
	return c
}

// DenseLSTMCost is the cost of a dense stacked LSTM.
func DenseLSTMCost(in, hidden, layers, tokens int64) Cost {
	var c Cost
	for i := int64(0); i < layers; i++ {
		n := in
		if i > 0 {
			n = hidden
		}
		c.Params += 4*hidden*(n+hidden) + 8*hidden
		c.FLOPs += tokens * 4 * hidden * (n + hidden)
	}
	return c
}
