package lowrank_test

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

// setup pins the test to one OS thread, seeds libtorch and returns a fresh CPU VarStore.
func setup(t testing.TB, seed int64) *nn.VarStore {
	t.Helper()
	unlock := backend.LockThread()
	t.Cleanup(unlock)
	backend.ManualSeed(seed)
	return nn.NewVarStore(gotch.CPU)
}

func randn(t testing.TB, shape ...int64) *ts.Tensor {
	t.Helper()
	x, err := ts.Randn(shape, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// relErr is ‖a−b‖/‖b‖ over all elements, in float64.
func relErr(t testing.TB, a, b *ts.Tensor) float64 {
	t.Helper()
	av, bv := a.Float64Values(), b.Float64Values()
	if len(av) != len(bv) {
		t.Fatalf("sizes differ: %v vs %v", a.MustSize(), b.MustSize())
	}
	var num, den float64
	for i := range av {
		d := av[i] - bv[i]
		num += d * d
		den += bv[i] * bv[i]
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// gradNorm is the Frobenius norm of t's gradient (0 when it has none).
func gradNorm(t testing.TB, p *ts.Tensor) float64 {
	t.Helper()
	g, err := p.Grad(false)
	if err != nil || !g.MustDefined() {
		return 0
	}
	var s float64
	for _, v := range g.Float64Values() {
		s += v * v
	}
	return math.Sqrt(s)
}

// backwardSum runs backward from the sum of y.
func backwardSum(t testing.TB, y *ts.Tensor) {
	t.Helper()
	s := must[*ts.Tensor](t)(y.Sum(y.DType(), false))
	if err := s.Backward(); err != nil {
		t.Fatal(err)
	}
	s.MustDrop()
}

// pin keeps a (sub)test's goroutine on one OS thread: libtorch's grad mode and gotch's error
// slot are per thread, and t.Run starts every subtest on a new goroutine.
func pin(t testing.TB) {
	unlock := backend.LockThread()
	t.Cleanup(unlock)
}
