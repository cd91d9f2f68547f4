package models

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// ViTConfig sizes the vision Transformer; zero values take the reference's CIFAR settings
// written on the fields.
type ViTConfig struct {
	Image, Patch, Channels int64   // default 32, 4, 3
	Dim, Depth, Heads      int64   // default 512, 6, 8
	DimHead, MLPDim        int64   // default 64, 512
	Dropout, EmbedDropout  float64 // default 0.1 and 0.1; negative means none
}

func (c ViTConfig) withDefaults() ViTConfig {
	d := func(v *int64, def int64) {
		if *v == 0 {
			*v = def
		}
	}
	d(&c.Image, 32)
	d(&c.Patch, 4)
	d(&c.Channels, 3)
	d(&c.Dim, 512)
	d(&c.Depth, 6)
	d(&c.Heads, 8)
	d(&c.DimHead, 64)
	d(&c.MLPDim, 512)
	for _, p := range []*float64{&c.Dropout, &c.EmbedDropout} {
		if *p == 0 {
			*p = 0.1
		} else if *p < 0 {
			*p = 0
		}
	}
	return c
}

// ViT is the reference's vision Transformer (after lucidrains' vit-pytorch): patches flattened
// as (p1 p2 c) and embedded linearly, a class token and learned positions, pre-norm layers of
// multi-head attention (a bias-free qkv projection) and a GELU MLP, and a LayerNorm-Linear head
// on the class token. Input (B, C, H, W); output (B, classes).
//
// With LowRank, layers from HybridStart on factorize qkv, the output projection and both MLP
// layers; the patch embedding and the head stay dense. Names follow the reference:
// "to_patch_embedding.1", "pos_embedding", "cls_token", "transformer.layers.<i>.0.{norm,
// fn.to_qkv, fn.to_out.0}", "transformer.layers.<i>.1.{norm, fn.net.0, fn.net.3}", "mlp_head.{0,1}".
type ViT struct {
	base
	cfg            ViTConfig
	patch          *linear
	pos, cls       *ts.Tensor
	layers         []*vitLayer
	headNorm       *layerNorm
	head           *linear
	inner, patches int64
}

type vitLayer struct {
	norm1, norm2 *layerNorm
	qkv, out     *linear
	ff1, ff2     *linear
}

var _ Model = (*ViT)(nil)

// NewViT builds the vision Transformer under p.
func NewViT(p *nn.Path, vc ViTConfig, cfg Config) (*ViT, error) {
	vc = vc.withDefaults()
	if vc.Image%vc.Patch != 0 {
		return nil, fmt.Errorf("vit: image size %d is not divisible by patch size %d", vc.Image, vc.Patch)
	}
	n := (vc.Image / vc.Patch) * (vc.Image / vc.Patch)
	tokens := n + 1
	m := &ViT{cfg: vc, inner: vc.Heads * vc.DimHead, patches: n}
	m.ranks = cfg.Ranks
	var err error
	pd := vc.Channels * vc.Patch * vc.Patch
	if m.patch, err = m.addLinear(p.Sub("to_patch_embedding").Sub("1"), pd, vc.Dim, n, false, cfg.Rank, true); err != nil {
		return nil, err
	}
	if m.pos, err = param(p, "pos_embedding", []int64{1, tokens, vc.Dim}, true, normalInit(1)); err != nil {
		return nil, err
	}
	if m.cls, err = param(p, "cls_token", []int64{1, 1, vc.Dim}, true, normalInit(1)); err != nil {
		return nil, err
	}
	m.record("pos_embedding+cls_token", "Parameter", fmt.Sprintf("%d×%d", tokens+1, vc.Dim), 0, lowrank.Cost{Params: (tokens + 1) * vc.Dim})
	for i := int64(0); i < vc.Depth; i++ {
		lp := p.Sub("transformer").Sub("layers").Sub(strconv.FormatInt(i, 10))
		f := cfg.Method == LowRank && int(i) >= cfg.HybridStart
		l := &vitLayer{}
		a, ff := lp.Sub("0"), lp.Sub("1")
		if l.norm1, err = m.addLayerNorm(a.Sub("norm"), vc.Dim, tokens); err != nil {
			return nil, err
		}
		if l.qkv, err = m.addLinear(a.Sub("fn").Sub("to_qkv"), vc.Dim, 3*m.inner, tokens, f, cfg.Rank, false); err != nil {
			return nil, err
		}
		m.record(pathName(a.Sub("fn"))+".attend", "Attention", fmt.Sprintf("%d heads", vc.Heads), 0, lowrank.Cost{FLOPs: 2 * tokens * tokens * m.inner})
		if l.out, err = m.addLinear(a.Sub("fn").Sub("to_out").Sub("0"), m.inner, vc.Dim, tokens, f, cfg.Rank, true); err != nil {
			return nil, err
		}
		if l.norm2, err = m.addLayerNorm(ff.Sub("norm"), vc.Dim, tokens); err != nil {
			return nil, err
		}
		if l.ff1, err = m.addLinear(ff.Sub("fn").Sub("net").Sub("0"), vc.Dim, vc.MLPDim, tokens, f, cfg.Rank, true); err != nil {
			return nil, err
		}
		if l.ff2, err = m.addLinear(ff.Sub("fn").Sub("net").Sub("3"), vc.MLPDim, vc.Dim, tokens, f, cfg.Rank, true); err != nil {
			return nil, err
		}
		if f { // the reference draws its factorized MLP weights from N(0, 0.02)
			err := noGrad(func() error {
				for _, w := range append(l.ff1.weights(), l.ff2.weights()...) {
					if err := w.Normal_(0, 0.02); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		m.layers = append(m.layers, l)
	}
	hp := p.Sub("mlp_head")
	if m.headNorm, err = m.addLayerNorm(hp.Sub("0"), vc.Dim, 1); err != nil {
		return nil, err
	}
	if m.head, err = m.addLinear(hp.Sub("1"), vc.Dim, cfg.classes(), 1, false, cfg.Rank, true); err != nil {
		return nil, err
	}
	return m, nil
}

// Forward maps images (B, C, H, W) to logits (B, classes).
func (m *ViT) Forward(x *ts.Tensor, train bool) (out *ts.Tensor, err error) {
	c := m.cfg
	err = scope.Run(func(s *scope.Scope) {
		sz := x.MustSize()
		if len(sz) != 4 || sz[1] != c.Channels || sz[2] != c.Image || sz[3] != c.Image {
			s.Check(fmt.Errorf("vit: input %v, want (B, %d, %d, %d)", sz, c.Channels, c.Image, c.Image))
		}
		b, g := sz[0], c.Image/c.Patch
		// b c (h p1) (w p2) -> b (h w) (p1 p2 c)
		v := s.Keep(x.View([]int64{b, c.Channels, g, c.Patch, g, c.Patch}, false))
		v = s.Keep(s.Keep(v.Permute([]int64{0, 2, 4, 3, 5, 1}, false)).Contiguous(false))
		v = s.Keep(v.View([]int64{b, m.patches, c.Patch * c.Patch * c.Channels}, false))
		h := s.Keep(m.patch.forward(v))
		cls := s.Keep(m.cls.Expand([]int64{b, 1, c.Dim}, false, false))
		h = s.Keep(ts.Cat([]*ts.Tensor{cls, h}, 1))
		h = s.Keep(h.Add(m.pos, false))
		h = s.Keep(dropout(h, c.EmbedDropout, train))
		for _, l := range m.layers {
			a := m.attend(s, s.Keep(l.norm1.forward(h)), l, train)
			h = s.Keep(h.Add(a, false))
			f := s.Keep(s.Keep(l.ff1.forward(s.Keep(l.norm2.forward(h)))).Gelu("none", false))
			f = s.Keep(dropout(f, c.Dropout, train))
			f = s.Keep(dropout(s.Keep(l.ff2.forward(f)), c.Dropout, train))
			h = s.Keep(h.Add(f, false))
		}
		first := s.Keep(h.Select(1, 0, false))
		out = s.Release(s.Keep(m.head.forward(s.Keep(m.headNorm.forward(first)))))
	})
	return out, err
}

// attend is the attention sub-layer on normalized tokens x (B, N, dim).
func (m *ViT) attend(s *scope.Scope, x *ts.Tensor, l *vitLayer, train bool) *ts.Tensor {
	qkv := s.Keep(l.qkv.forward(x))
	q := s.Keep(qkv.Narrow(-1, 0, m.inner, false))
	k := s.Keep(qkv.Narrow(-1, m.inner, m.inner, false))
	v := s.Keep(qkv.Narrow(-1, 2*m.inner, m.inner, false))
	a := attentionHeads(s, q, k, v, m.cfg.Heads, m.cfg.DimHead)
	return s.Keep(dropout(s.Keep(l.out.forward(a)), m.cfg.Dropout, train))
}

// attentionHeads is softmax(q·kᵀ/√d)·v per head for q, k, v (B, N, H·d), without a mask.
func attentionHeads(s *scope.Scope, q, k, v *ts.Tensor, heads, d int64) *ts.Tensor {
	sz := q.MustSize()
	b, n := sz[0], sz[1]
	split := func(t *ts.Tensor) *ts.Tensor {
		return s.Keep(s.Keep(s.Keep(t.Contiguous(false)).View([]int64{b, n, heads, d}, false)).Permute([]int64{0, 2, 1, 3}, false))
	}
	qh, kh, vh := split(q), split(k), split(v)
	dots := s.Keep(qh.Matmul(s.Keep(kh.Transpose(-1, -2, false)), false))
	dots = s.Keep(dots.MulScalar(ts.FloatScalar(1/math.Sqrt(float64(d))), false))
	attn := s.Keep(dots.Softmax(-1, gotch.Float, false))
	o := s.Keep(attn.Matmul(vh, false))
	return s.Keep(s.Keep(s.Keep(o.Permute([]int64{0, 2, 1, 3}, false)).Contiguous(false)).View([]int64{b, n, heads * d}, false))
}

// vitSpec registers the ViT on CIFAR's 32×32 colour images.
var vitSpec = Spec{Name: "vit", Accepts: colour32, Bench: benchColour32,
	Build: func(p *nn.Path, _ Input, cfg Config) (Model, error) { return NewViT(p, ViTConfig{}, cfg) }}
