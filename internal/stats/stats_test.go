package stats

import (
	"math"
	"testing"
)

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		xs          []float64
		lo, med, hi float64
	}{
		{[]float64{3, 1, 2}, 1, 2, 3},
		{[]float64{4, 1, 3, 2}, 1, 2.5, 4},
		{[]float64{7}, 7, 7, 7},
	} {
		in := append([]float64(nil), tc.xs...)
		lo, med, hi := Summary(tc.xs)
		if lo != tc.lo || med != tc.med || hi != tc.hi {
			t.Errorf("Summary(%v) = %g, %g, %g; want %g, %g, %g", in, lo, med, hi, tc.lo, tc.med, tc.hi)
		}
		for i := range in {
			if in[i] != tc.xs[i] {
				t.Errorf("Summary reordered its input: %v", tc.xs)
			}
		}
	}
	if m := Median(nil); !math.IsNaN(m) {
		t.Errorf("Median(nil) = %g", m)
	}
}
