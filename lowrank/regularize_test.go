package lowrank_test

import (
	"math"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// direct computes the regularizers from their definitions on leaf copies of the factors.
func directPenalty(t *testing.T, r lowrank.Regularizer, u, v *ts.Tensor) *ts.Tensor {
	t.Helper()
	m := must[*ts.Tensor](t)
	w := m(u.Matmul(v, false))
	fd := m(m(w.Square(true)).Sum(u.DType(), true))
	nu := m(m(u.Square(false)).Sum(u.DType(), true))
	nv := m(m(v.Square(false)).Sum(v.DType(), true))
	kd := m(nu.Mul(nv, false))
	l2 := m(nu.Add(nv, false))
	total := m(fd.MulScalar(ts.FloatScalar(r.Frobenius), true))
	total = m(total.Add(m(kd.MulScalar(ts.FloatScalar(r.Kronecker), true)), true))
	return m(total.Add(m(l2.MulScalar(ts.FloatScalar(r.L2), true)), true))
}

func leafCopy(t *testing.T, x *ts.Tensor) *ts.Tensor {
	t.Helper()
	var c *ts.Tensor
	var err error
	backend.NoGrad(func() { c, err = x.DetachCopy(false) })
	if err != nil {
		t.Fatal(err)
	}
	return must[*ts.Tensor](t)(c.SetRequiresGrad(true, true))
}

func TestRegularizersEqualDirectFormulas(t *testing.T) {
	for _, tc := range []struct {
		name string
		reg  lowrank.Regularizer
	}{
		{"frobenius", lowrank.Regularizer{Frobenius: 1e-2}},
		{"kronecker", lowrank.Regularizer{Kronecker: 3e-3}},
		{"l2", lowrank.Regularizer{L2: 5e-4}},
		{"l2-fd", lowrank.Regularizer{L2: 5e-4, Frobenius: 1e-2}},
		{"l2-kd", lowrank.Regularizer{L2: 5e-4, Kronecker: 1e-3}},
		{"fd-kd", lowrank.Regularizer{Frobenius: 1e-2, Kronecker: 1e-3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := setup(t, 10)
			l := must[*lowrank.Linear](t)(lowrank.NewLinear(vs.Root().Sub("fc"), 30, 20, lowrank.LinearConfig{Rank: lowrank.Rank{Ratio: 0.3}}))
			c := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root().Sub("conv"), 4, 6, 3, lowrank.ConvConfig{Rank: lowrank.Rank{Ratio: 0.5}}))
			layers := []lowrank.Factorized{l, c}
			got := must[*ts.Tensor](t)(tc.reg.Penalty(layers))
			if err := got.Backward(); err != nil {
				t.Fatal(err)
			}
			var want float64
			for _, layer := range layers {
				pairs := must[[]lowrank.Pair](t)(layer.Pairs())
				for _, p := range pairs {
					u, v := leafCopy(t, p.U), leafCopy(t, p.V)
					d := directPenalty(t, tc.reg, u, v)
					want += d.Float64Values()[0]
					if err := d.Backward(); err != nil {
						t.Fatal(err)
					}
					// The factor in matrix form is a view of the parameter, so compare the
					// direct gradient with the parameter's gradient laid out the same way.
					if layer == lowrank.Factorized(l) {
						gu := must[*ts.Tensor](t)(u.Grad(false))
						pu := must[*ts.Tensor](t)(l.U.Grad(false))
						if e := relErr(t, pu, gu); e > 1e-5 {
							t.Errorf("dU relative error %g", e)
						}
						gv := must[*ts.Tensor](t)(v.Grad(false))
						pv := must[*ts.Tensor](t)(l.V.Grad(false))
						if e := relErr(t, pv, gv); e > 1e-5 {
							t.Errorf("dV relative error %g", e)
						}
					}
				}
			}
			if g := got.Float64Values()[0]; math.Abs(g-want) > 1e-5*math.Abs(want) {
				t.Errorf("penalty %g, direct %g", g, want)
			}
		})
	}
	t.Run("zero adds nothing", func(t *testing.T) {
		p, err := lowrank.Regularizer{}.Penalty(nil)
		if p != nil || err != nil {
			t.Fatalf("zero regularizer = %v, %v", p, err)
		}
	})
}

func TestFrobeniusDecayWithoutProduct(t *testing.T) {
	setup(t, 11)
	u, v := randn(t, 50, 4), randn(t, 4, 70)
	got := must[*ts.Tensor](t)(lowrank.FrobeniusDecay(u, v)).Float64Values()[0]
	w := must[*ts.Tensor](t)(u.Matmul(v, false))
	var want float64
	for _, x := range w.Float64Values() {
		want += x * x
	}
	if math.Abs(got-want) > 1e-5*want {
		t.Fatalf("⟨UᵀU, VVᵀ⟩ = %g, ‖UV‖² = %g", got, want)
	}
}
