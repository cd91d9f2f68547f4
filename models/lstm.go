package models

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// LSTMConfig sizes the next-character LSTM; zero values take the reference's Shakespeare
// settings written on the fields.
type LSTMConfig struct {
	Vocab  int64 // default 100 (Python's string.printable)
	Embed  int64 // default 8
	Hidden int64 // default 256
	Layers int64 // default 2
	SeqLen int64 // default 80, for FLOPs
}

func (c LSTMConfig) withDefaults() LSTMConfig {
	d := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	d(&c.Vocab, 100)
	d(&c.Embed, 8)
	d(&c.Hidden, 256)
	d(&c.Layers, 2)
	d(&c.SeqLen, 80)
	return c
}

// CharLSTM is the reference's next-character model: an embedding, a stacked LSTM and a linear
// decoder predicting the next character at every position. Input (B, T) int64 character
// indices; output (B, vocab, T) logits.
//
// Original: "encoder.weight", "rnn.{weight,bias}_{ih,hh}_l<k>" (nn.LSTM), "decoder.weight/bias".
// LowRank: "rnn.layers.<k>.cell.{weight_ih_U, weight_ih_VT, weight_hh_U, weight_hh_VT, bias_ih,
// bias_hh}" and a factorized decoder "decoder.linear_VT.*", "decoder.linear_U.*" with
// r = floor(ratio·vocab). With Compat Reference the LSTM rank is 4h·ratio (more parameters than
// the dense LSTM), otherwise floor(ratio·min(4h, n)).
type CharLSTM struct {
	base
	embed   *ts.Tensor
	dense   []*ts.Tensor // nn.LSTM parameters, 4 per layer
	lr      *lowrank.LSTM
	decoder *linear
	cfg     LSTMConfig
}

var _ Model = (*CharLSTM)(nil)

// NewCharLSTM builds the next-character LSTM under p.
func NewCharLSTM(p *nn.Path, lc LSTMConfig, cfg Config) (*CharLSTM, error) {
	lc = lc.withDefaults()
	m := &CharLSTM{cfg: lc}
	m.ranks = cfg.Ranks
	var err error
	if m.embed, err = param(p.Sub("encoder"), "weight", []int64{lc.Vocab, lc.Embed}, true, normalInit(1)); err != nil {
		return nil, err
	}
	m.record("encoder", "Embedding", fmt.Sprintf("%d×%d", lc.Vocab, lc.Embed), 0, lowrank.Cost{Params: lc.Vocab * lc.Embed})
	bound := 1 / math.Sqrt(float64(lc.Hidden))
	rnn := p.Sub("rnn")
	shape := fmt.Sprintf("%d→%d ×%d", lc.Embed, lc.Hidden, lc.Layers)
	if cfg.Method == LowRank {
		rule := lowrank.LSTMRankMin
		if cfg.Compat == Reference {
			rule = lowrank.LSTMRankReference
		}
		m.lr, err = lowrank.NewLSTM(rnn, lc.Embed, lc.Hidden, lowrank.LSTMConfig{Rank: cfg.Rank, RankRule: rule,
			Impl: cfg.LSTMImpl, NumLayers: lc.Layers, BatchFirst: true})
		if err != nil {
			return nil, err
		}
		m.addFactorized(m.lr, "rnn")
		m.record("rnn", "LowRankLSTM/"+cfg.LSTMImpl.String(), shape, m.lr.Layers[len(m.lr.Layers)-1].RHh, m.lr.Cost(lc.SeqLen))
	} else {
		for k := int64(0); k < lc.Layers; k++ {
			in := lc.Embed
			if k > 0 {
				in = lc.Hidden
			}
			sfx := "_l" + strconv.FormatInt(k, 10)
			for _, spec := range []struct {
				name  string
				shape []int64
			}{{"weight_ih" + sfx, []int64{4 * lc.Hidden, in}}, {"weight_hh" + sfx, []int64{4 * lc.Hidden, lc.Hidden}},
				{"bias_ih" + sfx, []int64{4 * lc.Hidden}}, {"bias_hh" + sfx, []int64{4 * lc.Hidden}}} {
				t, err := param(rnn, spec.name, spec.shape, true, uniformInit(bound))
				if err != nil {
					return nil, err
				}
				m.dense = append(m.dense, t)
			}
		}
		m.record("rnn", "LSTM", shape, 0, lowrank.DenseLSTMCost(lc.Embed, lc.Hidden, lc.Layers, lc.SeqLen))
	}
	dp := p.Sub("decoder")
	if cfg.Method == LowRank {
		// The reference's LowRankLinear: r = floor(ratio·out) with its own parameter names.
		ratio := cfg.Rank.Ratio
		if ratio == 0 {
			ratio = lowrank.DefaultRatio
		}
		r := int64(float64(lc.Vocab) * ratio)
		f, err := lowrank.NewLinear(dp, lc.Hidden, lc.Vocab, lowrank.LinearConfig{Names: lowrank.VTUNames,
			Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: r}})
		if err != nil {
			return nil, fmt.Errorf("decoder: %w", err)
		}
		m.addFactorized(f, "decoder")
		m.record("decoder", "LowRankLinear", fmt.Sprintf("%d→%d", lc.Hidden, lc.Vocab), r, f.Cost(lc.SeqLen))
		m.decoder = &linear{f: f}
	} else if m.decoder, err = m.addLinear(dp, lc.Hidden, lc.Vocab, lc.SeqLen, false, cfg.Rank, true); err != nil {
		return nil, err
	}
	return m, nil
}

// Forward maps characters x (B, T) to logits (B, vocab, T).
func (m *CharLSTM) Forward(x *ts.Tensor, train bool) (out *ts.Tensor, err error) {
	err = scope.Run(func(s *scope.Scope) {
		e := s.Keep(ts.Embedding(m.embed, x, -1, false, false)) // (B, T, E)
		var h *ts.Tensor
		if m.lr != nil {
			y, st, err := m.lr.Forward(e, lowrank.LSTMState{}, train)
			s.Check(err)
			st.Drop()
			h = s.Keep(y, nil)
		} else {
			b := x.MustSize()[0]
			z := s.Keep(ts.Zeros([]int64{m.cfg.Layers, b, m.cfg.Hidden}, e.DType(), e.MustDevice()))
			y, hn, cn, err := ts.Lstm(e, []*ts.Tensor{z, z}, m.dense, true, m.cfg.Layers, 0, train, false, true)
			s.Check(err)
			hn.MustDrop()
			cn.MustDrop()
			h = s.Keep(y, nil)
		}
		logits := s.Keep(m.decoder.forward(h))                           // (B, T, vocab)
		out = s.Release(s.Keep(logits.Permute([]int64{0, 2, 1}, false))) // a view: cross-entropy reads it as is
	})
	return out, err
}

// lstmSpec registers the character LSTM, for next-character prediction.
var lstmSpec = Spec{Name: "lstm", Bench: Input{Text: true, Vocab: 100, SeqLen: 80, Classes: 100},
	Accepts: func(in Input) error {
		if !in.Text || in.FillMask {
			return fmt.Errorf("characters to predict the next of")
		}
		return nil
	},
	Build: func(p *nn.Path, in Input, cfg Config) (Model, error) {
		return NewCharLSTM(p, LSTMConfig{Vocab: in.Vocab, SeqLen: in.SeqLen}, cfg)
	}}
