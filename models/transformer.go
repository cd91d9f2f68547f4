package models

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// TransformerConfig sizes the text Transformer; zero values take the reference's WikiText-2
// settings written on the fields.
type TransformerConfig struct {
	Vocab   int64   // default 33279; the embedding has one more row, the mask token
	Embed   int64   // default 128
	Heads   int64   // default 8
	Hidden  int64   // feed-forward width, default 2048
	Layers  int     // default 3
	SeqLen  int64   // default 64 (the reference's bptt); the positional table's size
	Dropout float64 // default 0.1; negative means none
}

func (c TransformerConfig) withDefaults() TransformerConfig {
	d := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	d(&c.Vocab, 33279)
	d(&c.Embed, 128)
	d(&c.Heads, 8)
	d(&c.Hidden, 2048)
	d(&c.SeqLen, 64)
	if c.Layers == 0 {
		c.Layers = 3
	}
	if c.Dropout == 0 {
		c.Dropout = 0.1
	} else if c.Dropout < 0 {
		c.Dropout = 0
	}
	return c
}

// Transformer is the reference's fill-mask text Transformer: token plus learned positional
// embeddings with layer norm, post-norm encoder layers (multi-head attention with the
// reference's causal mask, GELU feed-forward) and a decoder Linear-GELU-LayerNorm-Linear.
// Input (B, S) token indices, S ≤ SeqLen, masked tokens set to Vocab; output (B, Vocab, S).
//
// With LowRank, encoder layers from HybridStart on factorize their four attention projections
// and both feed-forward layers, and the decoder factorizes its first layer; the last layer stays
// dense. The reference never passes the ratio to attention (Compat Reference uses 0.2 there).
//
// Names follow the reference: "transformer_embedding.{embedding, positional_embedding.
// positional_embedding, norm}", encoder layers "transformer_encoder.layers.<i>" (original, a
// torch TransformerEncoder) or "transformer_encoder.<i>" (low-rank, a Sequential) with
// "mha.linear_{q,k,v,o}", "norm1", "linear1", "linear2", "norm2", and "decoder.{linear1, norm1,
// linear2}".
type Transformer struct {
	base
	cfg        TransformerConfig
	tok, pos   *ts.Tensor
	embNorm    *layerNorm
	layers     []*encoderLayer
	dec1, dec2 *linear
	decNorm    *layerNorm
	causal     *ts.Tensor // (SeqLen, SeqLen): 0 on and below the diagonal, -inf above
}

type encoderLayer struct {
	q, k, v, o       *linear
	norm1, norm2     *layerNorm
	linear1, linear2 *linear
}

var _ Model = (*Transformer)(nil)

// NewTransformer builds the text Transformer under p.
func NewTransformer(p *nn.Path, tc TransformerConfig, cfg Config) (*Transformer, error) {
	tc = tc.withDefaults()
	if tc.Embed%tc.Heads != 0 {
		return nil, fmt.Errorf("transformer: embedding %d is not divisible by %d heads", tc.Embed, tc.Heads)
	}
	m := &Transformer{cfg: tc}
	m.ranks = cfg.Ranks
	if cfg.Method == LowRank {
		// The reference's low-rank encoder is a Sequential ("transformer_encoder.<i>"), its
		// original a TransformerEncoder ("transformer_encoder.layers.<i>").
		m.rename = func(name string) string {
			if rest, ok := strings.CutPrefix(name, "transformer_encoder."); ok {
				return "transformer_encoder.layers." + rest
			}
			return name
		}
	}
	S, E := tc.SeqLen, tc.Embed
	emb := p.Sub("transformer_embedding")
	var err error
	if m.tok, err = param(emb.Sub("embedding"), "weight", []int64{tc.Vocab + 1, E}, true, normalInit(1)); err != nil {
		return nil, err
	}
	m.record("transformer_embedding.embedding", "Embedding", fmt.Sprintf("%d×%d", tc.Vocab+1, E), 0, lowrank.Cost{Params: (tc.Vocab + 1) * E})
	if m.pos, err = param(emb.Sub("positional_embedding").Sub("positional_embedding"), "weight", []int64{S, E}, true, normalInit(1)); err != nil {
		return nil, err
	}
	m.record("transformer_embedding.positional_embedding", "Embedding", fmt.Sprintf("%d×%d", S, E), 0, lowrank.Cost{Params: S * E})
	if m.embNorm, err = m.addLayerNorm(emb.Sub("norm"), E, S); err != nil {
		return nil, err
	}
	lowRank := cfg.Method == LowRank
	enc := p.Sub("transformer_encoder")
	if !lowRank {
		enc = enc.Sub("layers")
	}
	for i := 0; i < tc.Layers; i++ {
		lp := enc.Sub(strconv.Itoa(i))
		f := lowRank && i >= cfg.HybridStart
		l := &encoderLayer{}
		for _, proj := range []struct {
			dst  **linear
			name string
		}{{&l.q, "linear_q"}, {&l.k, "linear_k"}, {&l.v, "linear_v"}, {&l.o, "linear_o"}} {
			if *proj.dst, err = m.addLinear(lp.Sub("mha").Sub(proj.name), E, E, S, f, cfg.referenceRank(), true); err != nil {
				return nil, err
			}
		}
		// q·kᵀ and attention·v: 2·S·S·E multiply-adds over all heads.
		m.record(pathName(lp.Sub("mha"))+".attention", "ScaledDotProduct", fmt.Sprintf("%d heads", tc.Heads), 0, lowrank.Cost{FLOPs: 2 * S * S * E})
		if l.norm1, err = m.addLayerNorm(lp.Sub("norm1"), E, S); err != nil {
			return nil, err
		}
		if l.linear1, err = m.addLinear(lp.Sub("linear1"), E, tc.Hidden, S, f, cfg.Rank, true); err != nil {
			return nil, err
		}
		if l.linear2, err = m.addLinear(lp.Sub("linear2"), tc.Hidden, E, S, f, cfg.Rank, true); err != nil {
			return nil, err
		}
		if l.norm2, err = m.addLayerNorm(lp.Sub("norm2"), E, S); err != nil {
			return nil, err
		}
		if err := initTransformerLayer(l); err != nil {
			return nil, err
		}
		m.layers = append(m.layers, l)
	}
	dec := p.Sub("decoder")
	if m.dec1, err = m.addLinear(dec.Sub("linear1"), E, E, S, lowRank && cfg.HybridStart <= tc.Layers, cfg.Rank, true); err != nil {
		return nil, err
	}
	if m.decNorm, err = m.addLayerNorm(dec.Sub("norm1"), E, S); err != nil {
		return nil, err
	}
	if m.dec2, err = m.addLinear(dec.Sub("linear2"), E, tc.Vocab, S, false, cfg.Rank, true); err != nil {
		return nil, err
	}
	if err := zeroBiases(m.dec1, m.dec2); err != nil {
		return nil, err
	}
	if m.causal, err = causalMask(S, p.Device()); err != nil {
		return nil, err
	}
	return m, nil
}

// initTransformerLayer applies the reference's init: feed-forward weights N(0, 0.02) (each
// factor, when factorized) and every linear bias zero.
func initTransformerLayer(l *encoderLayer) error {
	err := noGrad(func() error {
		for _, ln := range []*linear{l.linear1, l.linear2} {
			for _, w := range ln.weights() {
				if err := w.Normal_(0, 0.02); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return zeroBiases(l.q, l.k, l.v, l.o, l.linear1, l.linear2)
}

// causalMask is the reference's attention mask as an additive (S, S) tensor.
func causalMask(s int64, dev gotch.Device) (*ts.Tensor, error) {
	vals := make([]float32, s*s)
	for i := int64(0); i < s; i++ {
		for j := i + 1; j < s; j++ {
			vals[i*s+j] = float32(math.Inf(-1))
		}
	}
	m, err := ts.NewTensorFromData(vals, []int64{s, s})
	if err != nil || dev == gotch.CPU {
		return m, err
	}
	return m.To(dev, true)
}

// attention computes softmax(q·kᵀ/√d + mask)·v over heads: q, k, v (B, S, E) → (B, S, E).
func attention(s *scope.Scope, q, k, v, mask *ts.Tensor, heads int64) *ts.Tensor {
	sz := q.MustSize()
	b, n, e := sz[0], sz[1], sz[2]
	d := e / heads
	split := func(t *ts.Tensor) *ts.Tensor { // (B, S, E) → (B, H, S, d)
		return s.Keep(s.Keep(t.View([]int64{b, n, heads, d}, false)).Permute([]int64{0, 2, 1, 3}, false))
	}
	qh, kh, vh := split(q), split(k), split(v)
	scores := s.Keep(qh.Matmul(s.Keep(kh.Transpose(-2, -1, false)), false))
	scores = s.Keep(scores.DivScalar(ts.FloatScalar(math.Sqrt(float64(d))), false))
	if mask != nil {
		sub := s.Keep(s.Keep(mask.Narrow(0, 0, n, false)).Narrow(1, 0, n, false))
		scores = s.Keep(scores.Add(sub, false))
	}
	attn := s.Keep(scores.Softmax(-1, gotch.Float, false))
	out := s.Keep(attn.Matmul(vh, false)) // (B, H, S, d)
	return s.Keep(s.Keep(s.Keep(out.Permute([]int64{0, 2, 1, 3}, false)).Contiguous(false)).View([]int64{b, n, e}, false))
}

// Forward maps tokens (B, S) to logits (B, Vocab, S).
func (m *Transformer) Forward(x *ts.Tensor, train bool) (out *ts.Tensor, err error) {
	p := m.cfg.Dropout
	err = scope.Run(func(s *scope.Scope) {
		n := x.MustSize()[1]
		if n > m.cfg.SeqLen {
			s.Check(fmt.Errorf("transformer: sequence length %d exceeds the positional table's %d", n, m.cfg.SeqLen))
		}
		h := s.Keep(ts.Embedding(m.tok, x, -1, false, false))
		pos := s.Keep(m.pos.Narrow(0, 0, n, false))
		h = s.Keep(h.Add(pos, false))
		h = s.Keep(dropout(s.Keep(m.embNorm.forward(h)), p, train))
		for _, l := range m.layers {
			a := attention(s, s.Keep(l.q.forward(h)), s.Keep(l.k.forward(h)), s.Keep(l.v.forward(h)), m.causal, m.cfg.Heads)
			a = s.Keep(l.o.forward(a))
			h = s.Keep(l.norm1.forward(s.Keep(h.Add(s.Keep(dropout(a, p, train)), false))))
			f := s.Keep(dropout(s.Keep(s.Keep(l.linear1.forward(h)).Gelu("none", false)), p, train))
			f = s.Keep(dropout(s.Keep(l.linear2.forward(f)), p, train))
			h = s.Keep(l.norm2.forward(s.Keep(h.Add(f, false))))
		}
		d := s.Keep(s.Keep(m.dec1.forward(h)).Gelu("none", false))
		d = s.Keep(m.dec2.forward(s.Keep(m.decNorm.forward(d))))
		out = s.Release(s.Keep(d.Permute([]int64{0, 2, 1}, false))) // a view: cross-entropy reads it as is
	})
	return out, err
}

// transformerSpec registers the reference's Transformer, for fill-mask or next-token tasks.
var transformerSpec = Spec{Name: "transformer", Bench: Input{Text: true, FillMask: true, Vocab: 33279, SeqLen: 64, Classes: 33279},
	Accepts: func(in Input) error {
		if !in.Text {
			return fmt.Errorf("token windows")
		}
		return nil
	},
	Build: func(p *nn.Path, in Input, cfg Config) (Model, error) {
		return NewTransformer(p, TransformerConfig{Vocab: in.Vocab, SeqLen: in.SeqLen}, cfg)
	}}
