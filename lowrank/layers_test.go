package lowrank_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/lowrank"
)

func TestRankFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rank    lowrank.Rank
		m, n    int64
		want    int64
		wantErr string
	}{
		{"reference ratio", lowrank.Rank{}, 128, 64, 12, ""},
		{"ratio 0.5", lowrank.Rank{Ratio: 0.5}, 10, 30, 5, ""},
		{"conv 3x3 spatial 64->128", lowrank.Rank{}, 128 * 3, 64 * 3, 38, ""},
		{"fixed", lowrank.Rank{Rule: lowrank.FixedRank, Rank: 7}, 20, 30, 7, ""},
		{"budget half", lowrank.Rank{Rule: lowrank.BudgetRule, Budget: 0.5}, 100, 100, 25, ""},
		{"ratio too small", lowrank.Rank{Ratio: 0.01}, 10, 10, 0, "below 1"},
		{"fixed above full", lowrank.Rank{Rule: lowrank.FixedRank, Rank: 11}, 10, 20, 0, "above full rank 10"},
		{"fixed zero", lowrank.Rank{Rule: lowrank.FixedRank}, 10, 20, 0, "below 1"},
		{"ratio above 1", lowrank.Rank{Ratio: 1.5}, 10, 20, 0, "outside (0, 1]"},
		{"bad budget", lowrank.Rank{Rule: lowrank.BudgetRule, Budget: 2}, 10, 20, 0, "budget"},
		{"empty", lowrank.Rank{}, 0, 20, 0, "empty dimension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rank.For("features.3", tc.m, tc.n)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "features.3") {
					t.Fatalf("err = %v, want one naming the layer and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("For(%d, %d) = %d, %v; want %d", tc.m, tc.n, got, err, tc.want)
			}
		})
	}
}

func TestLinearEqualsMergedDense(t *testing.T) {
	for _, tc := range []struct {
		in, out int64
		rank    lowrank.Rank
		noBias  bool
		batch   []int64
	}{
		{32, 16, lowrank.Rank{}, false, []int64{5}},
		{100, 10, lowrank.Rank{Ratio: 0.5}, false, []int64{3, 7}},
		{64, 64, lowrank.Rank{Rule: lowrank.FixedRank, Rank: 64}, true, []int64{4}},
		{7, 300, lowrank.Rank{Rule: lowrank.FixedRank, Rank: 3}, false, []int64{2, 2, 2}},
	} {
		t.Run(fmt.Sprintf("%dx%d", tc.out, tc.in), func(t *testing.T) {
			vs := setup(t, 1)
			l := must[*lowrank.Linear](t)(lowrank.NewLinear(vs.Root().Sub("fc"), tc.in, tc.out, lowrank.LinearConfig{Rank: tc.rank, NoBias: tc.noBias}))
			x := randn(t, append(tc.batch, tc.in)...)
			y := must[*ts.Tensor](t)(l.Forward(x))
			w, b, err := l.Merge()
			if err != nil {
				t.Fatal(err)
			}
			if b == nil {
				b = ts.None
			}
			dense := must[*ts.Tensor](t)(ts.Linear(x, w, b))
			if e := relErr(t, y, dense); e > 1e-5 {
				t.Errorf("factorized vs merged dense: relative error %g", e)
			}
			if got, want := y.MustSize(), append(tc.batch, tc.out); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("output shape %v, want %v", got, want)
			}
			backwardSum(t, y)
			if gradNorm(t, l.U) == 0 || gradNorm(t, l.V) == 0 {
				t.Errorf("gradients do not reach both factors")
			}
		})
	}
}

func TestConvEqualsMergedDense(t *testing.T) {
	type geom struct{ k, stride, pad, dil int64 }
	geoms := []geom{{3, 1, 1, 1}, {3, 2, 1, 1}, {3, 1, 0, 1}, {5, 1, 2, 1}, {3, 1, 2, 2}, {5, 2, 3, 2}, {1, 1, 0, 1}, {1, 2, 0, 1}}
	for _, scheme := range []lowrank.ConvScheme{lowrank.Spatial, lowrank.Channel} {
		for _, g := range geoms {
			for _, bias := range []bool{false, true} {
				name := fmt.Sprintf("%v/k%d_s%d_p%d_d%d_bias%v", scheme, g.k, g.stride, g.pad, g.dil, bias)
				t.Run(name, func(t *testing.T) {
					vs := setup(t, 2)
					cfg := lowrank.ConvConfig{Scheme: scheme, Stride: g.stride, Padding: g.pad, Dilation: g.dil, Bias: bias, Rank: lowrank.Rank{Ratio: 0.5}}
					c := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root().Sub("conv1"), 6, 8, g.k, cfg))
					x := randn(t, 2, 6, 11, 13)
					y := must[*ts.Tensor](t)(c.Forward(x))
					w, b, err := c.Merge()
					if err != nil {
						t.Fatal(err)
					}
					if b == nil {
						b = ts.None
					}
					s, p, d := []int64{g.stride, g.stride}, []int64{g.pad, g.pad}, []int64{g.dil, g.dil}
					dense := must[*ts.Tensor](t)(ts.Conv2d(x, w, b, s, p, d, 1))
					if fmt.Sprint(y.MustSize()) != fmt.Sprint(dense.MustSize()) {
						t.Fatalf("shape %v, dense %v", y.MustSize(), dense.MustSize())
					}
					if e := relErr(t, y, dense); e > 1e-5 {
						t.Errorf("factorized vs merged dense: relative error %g", e)
					}
					backwardSum(t, y)
					if gradNorm(t, c.U) == 0 || gradNorm(t, c.V) == 0 {
						t.Errorf("gradients do not reach both factors")
					}
				})
			}
		}
	}
	t.Run("spatial factor bias with padding has no dense form", func(t *testing.T) {
		vs := setup(t, 2)
		c := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root(), 4, 4, 3, lowrank.ConvConfig{Padding: 1, FactorBias: true, Rank: lowrank.Rank{Ratio: 0.5}}))
		if _, _, err := c.Merge(); err == nil {
			t.Fatal("want an error")
		}
		// A zero first-factor bias (as Decompose leaves it) merges exactly.
		if _, err := c.Decompose(randn(t, 4, 4, 3, 3), randn(t, 4)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Merge(); err != nil {
			t.Fatalf("merge after decompose: %v", err)
		}
	})
}

func TestLSTMImplementationsEqualDense(t *testing.T) {
	for _, batchFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("batchFirst=%v", batchFirst), func(t *testing.T) {
			vs := setup(t, 3)
			cfg := lowrank.LSTMConfig{NumLayers: 2, BatchFirst: batchFirst, Rank: lowrank.Rank{Ratio: 0.5}}
			m := must[*lowrank.LSTM](t)(lowrank.NewLSTM(vs.Root().Sub("lstm"), 5, 8, cfg))
			x := randn(t, 4, 3, 5) // (T, B, in) or (B, T, in)
			batch := int64(3)
			if batchFirst {
				batch = 4
			}
			h0, c0 := randn(t, 2, batch, 8), randn(t, 2, batch, 8)
			state := lowrank.LSTMState{H: h0, C: c0}

			m.Impl = lowrank.Reconstructed
			yr, sr, err := m.Forward(x, state, false)
			if err != nil {
				t.Fatal(err)
			}
			m.Impl = lowrank.Factored
			yf, sf, err := m.Forward(x, state, false)
			if err != nil {
				t.Fatal(err)
			}
			merged := must[[][4]*ts.Tensor](t)(m.Merge())
			var params []*ts.Tensor
			for _, p := range merged {
				params = append(params, p[:]...)
			}
			yd, hd, cd, err := ts.Lstm(x, []*ts.Tensor{h0, c0}, params, true, 2, 0, false, false, batchFirst)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				got, want *ts.Tensor
			}{{"reconstructed out", yr, yd}, {"factored out", yf, yd}, {"reconstructed h", sr.H, hd},
				{"factored h", sf.H, hd}, {"reconstructed c", sr.C, cd}, {"factored c", sf.C, cd}} {
				if e := relErr(t, c.got, c.want); e > 1e-5 {
					t.Errorf("%s vs dense LSTM: relative error %g", c.name, e)
				}
			}
			for _, impl := range []lowrank.LSTMImpl{lowrank.Reconstructed, lowrank.Factored} {
				for _, v := range vs.TrainableVariables() {
					v.ZeroGrad()
				}
				m.Impl = impl
				y, _, err := m.Forward(x, lowrank.LSTMState{}, true)
				if err != nil {
					t.Fatal(err)
				}
				backwardSum(t, y)
				for i, l := range m.Layers {
					for _, p := range []*ts.Tensor{l.IhU, l.IhV, l.HhU, l.HhV} {
						if gradNorm(t, p) == 0 {
							t.Errorf("%v: layer %d: a factor has no gradient", impl, i)
						}
					}
				}
			}
		})
	}
}

func TestLSTMRankRules(t *testing.T) {
	vs := setup(t, 4)
	// The reference's Shakespeare LSTM: embedding 8, hidden 256, 2 layers, ratio 0.2.
	dense := lowrank.DenseLSTMCost(8, 256, 2, 1)
	if dense.Params != 798720 {
		t.Fatalf("dense LSTM params %d, want 798720", dense.Params)
	}
	ref := must[*lowrank.LSTM](t)(lowrank.NewLSTM(vs.Root().Sub("ref"), 8, 256, lowrank.LSTMConfig{NumLayers: 2, RankRule: lowrank.LSTMRankReference}))
	minr := must[*lowrank.LSTM](t)(lowrank.NewLSTM(vs.Root().Sub("min"), 8, 256, lowrank.LSTMConfig{NumLayers: 2}))
	if ref.Layers[0].RIh != 204 || ref.Layers[0].RHh != 204 {
		t.Errorf("reference rule ranks %d, %d; want 204 (= int(4·256·0.2))", ref.Layers[0].RIh, ref.Layers[0].RHh)
	}
	// Closed form: r_ih(in+4h) + r_hh(h+4h) + 8h per layer.
	wantRef := int64(204*(8+1024)+204*(256+1024)+2048) + int64(204*(256+1024)+204*(256+1024)+2048)
	if got := ref.Cost(1).Params; got != wantRef || got <= dense.Params {
		t.Errorf("reference-rule params %d, want %d (> dense %d)", got, wantRef, dense.Params)
	}
	// min rule: layer 0 ih rank floor(0.2·8) = 1, hh floor(0.2·256) = 51; layer 1 both 51.
	if minr.Layers[0].RIh != 1 || minr.Layers[0].RHh != 51 || minr.Layers[1].RIh != 51 {
		t.Errorf("min rule ranks %d, %d, %d", minr.Layers[0].RIh, minr.Layers[0].RHh, minr.Layers[1].RIh)
	}
	if got := minr.Cost(1).Params; got >= dense.Params {
		t.Errorf("min-rule params %d not below dense %d", got, dense.Params)
	}
}

func TestBadInputsAreErrors(t *testing.T) {
	vs := setup(t, 5)
	if _, err := lowrank.NewLinear(vs.Root().Sub("tiny"), 3, 3, lowrank.LinearConfig{}); err == nil || !strings.Contains(err.Error(), "tiny") {
		t.Errorf("rank 0 Linear: err = %v, want one naming the layer", err)
	}
	if _, err := lowrank.NewConv2d(vs.Root().Sub("c"), 0, 3, 3, lowrank.ConvConfig{}); err == nil {
		t.Error("conv with 0 input channels: want an error")
	}
	if _, err := lowrank.NewLSTM(vs.Root().Sub("l"), 4, 0, lowrank.LSTMConfig{}); err == nil {
		t.Error("LSTM with 0 hidden units: want an error")
	}
	l := must[*lowrank.Linear](t)(lowrank.NewLinear(vs.Root().Sub("fc"), 10, 10, lowrank.LinearConfig{}))
	if _, err := l.Forward(randn(t, 2, 7)); err == nil || !strings.Contains(err.Error(), "want (..., 10)") {
		t.Errorf("Linear on a wrong width: err = %v", err)
	}
	c := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root().Sub("conv"), 3, 8, 3, lowrank.ConvConfig{}))
	if _, err := c.Forward(randn(t, 1, 4, 8, 8)); err == nil {
		t.Error("conv on the wrong channel count: want an error")
	}
	m := must[*lowrank.LSTM](t)(lowrank.NewLSTM(vs.Root().Sub("lstm"), 10, 8, lowrank.LSTMConfig{}))
	if _, _, err := m.Forward(randn(t, 3, 2, 5), lowrank.LSTMState{}, false); err == nil {
		t.Error("LSTM on the wrong feature count: want an error")
	}
	if _, err := l.Decompose(randn(t, 3, 3), nil); err == nil {
		t.Error("Decompose with a mismatched weight: want an error")
	}
	if _, _, _, err := lowrank.SVDFactors(randn(t, 4, 5), 5); err == nil {
		t.Error("SVDFactors above full rank: want an error")
	}
}
