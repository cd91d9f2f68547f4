package lowrank_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// A matrix with a known spectrum: W = Q1 diag(s) Q2ᵀ with orthonormal Q1, Q2.
func knownSpectrum(t *testing.T, m, n int64, s []float64) *ts.Tensor {
	t.Helper()
	q1, _, _ := must[*ts.Tensor](t)(ts.Randn([]int64{m, m}, gotch.Double, gotch.CPU)).MustSvd(true, true, true)
	q2, _, _ := must[*ts.Tensor](t)(ts.Randn([]int64{n, n}, gotch.Double, gotch.CPU)).MustSvd(true, true, true)
	k := int64(len(s))
	d := must[*ts.Tensor](t)(ts.OfSlice(s))
	d = must[*ts.Tensor](t)(d.Totype(gotch.Double, true))
	a := must[*ts.Tensor](t)(q1.Narrow(1, 0, k, false))
	a = must[*ts.Tensor](t)(a.Mul(d, true))
	b := must[*ts.Tensor](t)(q2.Narrow(1, 0, k, false))
	w := must[*ts.Tensor](t)(a.Matmul(must[*ts.Tensor](t)(b.T(false)), true))
	return must[*ts.Tensor](t)(w.Totype(gotch.Float, true))
}

func TestSVDFactorsBestRankR(t *testing.T) {
	setup(t, 6)
	s := []float64{9, 7, 5, 3, 2, 1, 0.5, 0.25}
	w := knownSpectrum(t, 12, 8, s)
	for _, r := range []int64{1, 3, 5, 8} {
		t.Run(fmt.Sprint("r=", r), func(t *testing.T) {
			pin(t)
			u, v, energy, err := lowrank.SVDFactors(w, r)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.MustSize(); got[0] != 12 || got[1] != r {
				t.Fatalf("U shape %v", got)
			}
			approx := must[*ts.Tensor](t)(u.Matmul(v, false))
			diff := must[*ts.Tensor](t)(w.Sub(approx, false))
			var errNorm, dropped, total float64
			for _, x := range diff.Float64Values() {
				errNorm += x * x
			}
			for i, x := range s {
				total += x * x
				if int64(i) >= r {
					dropped += x * x
				}
			}
			// Eckart–Young: the error of the best rank-r approximation is the norm of the dropped values.
			if got, want := math.Sqrt(errNorm), math.Sqrt(dropped); math.Abs(got-want) > 1e-4*math.Max(1, want) {
				t.Errorf("‖W − UV‖ = %g, want %g", got, want)
			}
			if want := 1 - dropped/total; math.Abs(energy-want) > 1e-6 {
				t.Errorf("energy %g, want %g", energy, want)
			}
			if r == 8 {
				if e := relErr(t, approx, w); e > 1e-5 {
					t.Errorf("full rank reproduces W with relative error %g", e)
				}
			}
		})
	}
}

func TestDecomposeThenMergeAtFullRank(t *testing.T) {
	full := func(m, n int64) lowrank.Rank { return lowrank.Rank{Rule: lowrank.FixedRank, Rank: min(m, n)} }
	t.Run("linear", func(t *testing.T) {
		vs := setup(t, 7)
		l := must[*lowrank.Linear](t)(lowrank.NewLinear(vs.Root(), 20, 12, lowrank.LinearConfig{Rank: full(12, 20)}))
		w, b := randn(t, 12, 20), randn(t, 12)
		if _, err := l.Decompose(w, b); err != nil {
			t.Fatal(err)
		}
		mw, mb, err := l.Merge()
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(t, mw, w); e > 1e-5 {
			t.Errorf("weight relative error %g", e)
		}
		if e := relErr(t, mb, b); e > 1e-6 {
			t.Errorf("bias relative error %g", e)
		}
	})
	for _, scheme := range []lowrank.ConvScheme{lowrank.Spatial, lowrank.Channel} {
		for _, k := range []int64{1, 3, 5} {
			t.Run(fmt.Sprintf("conv %v k=%d", scheme, k), func(t *testing.T) {
				vs := setup(t, 8)
				m, n := lowrank.ConvMatrixShape(scheme, 4, 6, k)
				c := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root(), 4, 6, k, lowrank.ConvConfig{Scheme: scheme, Rank: full(m, n), Padding: k / 2}))
				w := randn(t, 6, 4, k, k)
				if _, err := c.Decompose(w, nil); err != nil {
					t.Fatal(err)
				}
				mw, _, err := c.Merge()
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(t, mw, w); e > 1e-5 {
					t.Errorf("weight relative error %g", e)
				}
			})
		}
	}
	t.Run("lstm", func(t *testing.T) {
		vs := setup(t, 9)
		cfg := lowrank.LSTMConfig{NumLayers: 2, Rank: lowrank.Rank{Ratio: 1}}
		m := must[*lowrank.LSTM](t)(lowrank.NewLSTM(vs.Root(), 6, 5, cfg))
		dense := [][4]*ts.Tensor{{randn(t, 20, 6), randn(t, 20, 5), randn(t, 20), randn(t, 20)},
			{randn(t, 20, 5), randn(t, 20, 5), randn(t, 20), randn(t, 20)}}
		if _, err := m.Decompose(dense); err != nil {
			t.Fatal(err)
		}
		merged := must[[][4]*ts.Tensor](t)(m.Merge())
		for i := range dense {
			for j := 0; j < 4; j++ {
				if e := relErr(t, merged[i][j], dense[i][j]); e > 1e-5 {
					t.Errorf("layer %d tensor %d: relative error %g", i, j, e)
				}
			}
		}
	})
}
