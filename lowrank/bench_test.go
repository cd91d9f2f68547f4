package lowrank_test

import (
	"fmt"
	"testing"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// benchStep times forward + backward of f, dropping every per-step tensor.
func benchStep(b *testing.B, params []*ts.Tensor, f func() (*ts.Tensor, error)) {
	b.Helper()
	for i := 0; i < b.N; i++ {
		y, err := f()
		if err != nil {
			b.Fatal(err)
		}
		s, _ := y.Sum(y.DType(), true)
		if err := s.Backward(); err != nil {
			b.Fatal(err)
		}
		s.MustDrop()
		for _, p := range params {
			p.ZeroGrad()
		}
	}
}

func BenchmarkLinear(b *testing.B) {
	for _, sz := range []struct{ batch, in, out int64 }{{128, 512, 512}, {128, 2048, 2048}} {
		b.Run(fmt.Sprintf("dense/%dx%d", sz.out, sz.in), func(b *testing.B) {
			vs := setup(b, 1)
			l := nn.NewLinear(vs.Root(), sz.in, sz.out, nn.DefaultLinearConfig())
			x := randn(b, sz.batch, sz.in)
			benchStep(b, vs.TrainableVariables(), func() (*ts.Tensor, error) { return l.ForwardT(x, true), nil })
		})
		b.Run(fmt.Sprintf("lowrank0.2/%dx%d", sz.out, sz.in), func(b *testing.B) {
			vs := setup(b, 1)
			l, _ := lowrank.NewLinear(vs.Root(), sz.in, sz.out, lowrank.LinearConfig{})
			x := randn(b, sz.batch, sz.in)
			benchStep(b, vs.TrainableVariables(), func() (*ts.Tensor, error) { return l.Forward(x) })
		})
	}
}

func BenchmarkConv2d(b *testing.B) {
	// A VGG-style 3×3 layer on CIFAR-sized maps, batch 32.
	for _, sz := range []struct{ in, out, hw int64 }{{64, 128, 16}, {256, 256, 8}} {
		name := fmt.Sprintf("%d-%d@%d", sz.in, sz.out, sz.hw)
		b.Run("dense/"+name, func(b *testing.B) {
			vs := setup(b, 1)
			cfg := nn.DefaultConv2DConfig()
			cfg.Padding = []int64{1, 1}
			c := nn.NewConv2D(vs.Root(), sz.in, sz.out, 3, cfg)
			x := randn(b, 32, sz.in, sz.hw, sz.hw)
			benchStep(b, vs.TrainableVariables(), func() (*ts.Tensor, error) { return c.ForwardT(x, true), nil })
		})
		for _, scheme := range []lowrank.ConvScheme{lowrank.Spatial, lowrank.Channel} {
			b.Run(fmt.Sprintf("%v0.2/%s", scheme, name), func(b *testing.B) {
				vs := setup(b, 1)
				c, _ := lowrank.NewConv2d(vs.Root(), sz.in, sz.out, 3, lowrank.ConvConfig{Scheme: scheme, Padding: 1})
				x := randn(b, 32, sz.in, sz.hw, sz.hw)
				benchStep(b, vs.TrainableVariables(), func() (*ts.Tensor, error) { return c.Forward(x) })
			})
		}
	}
}

func BenchmarkLSTM(b *testing.B) {
	// The reference's Shakespeare LSTM: 80 steps, batch 32, embedding 8, hidden 256, 2 layers.
	const steps, batch, in, hidden = 80, 32, 8, 256
	b.Run("dense", func(b *testing.B) {
		vs := setup(b, 1)
		m, _ := lowrank.NewLSTM(vs.Root(), in, hidden, lowrank.LSTMConfig{NumLayers: 2, Rank: lowrank.Rank{Ratio: 1}})
		merged, _ := m.Merge()
		var params []*ts.Tensor
		for _, p := range merged {
			for _, t := range p {
				var d *ts.Tensor
				backend.NoGrad(func() { d, _ = t.DetachCopy(false) })
				r, _ := d.SetRequiresGrad(true, true)
				params = append(params, r)
			}
		}
		x := randn(b, steps, batch, in)
		hc := randn(b, 2, batch, hidden)
		benchStep(b, params, func() (*ts.Tensor, error) {
			y, h, c, err := ts.Lstm(x, []*ts.Tensor{hc, hc}, params, true, 2, 0, true, false, false)
			drop2(h, c)
			return y, err
		})
	})
	for _, impl := range []lowrank.LSTMImpl{lowrank.Reconstructed, lowrank.Factored} {
		b.Run(impl.String()+"0.2", func(b *testing.B) {
			vs := setup(b, 1)
			m, _ := lowrank.NewLSTM(vs.Root(), in, hidden, lowrank.LSTMConfig{NumLayers: 2, Impl: impl, Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 8}})
			x := randn(b, steps, batch, in)
			benchStep(b, vs.TrainableVariables(), func() (*ts.Tensor, error) {
				y, st, err := m.Forward(x, lowrank.LSTMState{}, true)
				st.Drop()
				return y, err
			})
		})
	}
}

func drop2(a, b *ts.Tensor) {
	if a != nil {
		a.MustDrop()
	}
	if b != nil {
		b.MustDrop()
	}
}
