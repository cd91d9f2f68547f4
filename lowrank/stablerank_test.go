package lowrank_test

import (
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/lowrank"
)

func TestStableRankClosedForms(t *testing.T) {
	setup(t, 1)
	eye, _ := ts.Eye(7, gotch.Float, gotch.CPU)
	u, v := randn(t, 9, 1), randn(t, 1, 6)
	rankOne, _ := u.Matmul(v, false)
	zero, _ := ts.Zeros([]int64{3, 4}, gotch.Float, gotch.CPU)
	for _, tc := range []struct {
		name string
		w    *ts.Tensor
		want float64
	}{
		{"identity 7", eye, 7},
		{"rank one", rankOne, 1},
		{"spectrum 4,2,1", knownSpectrum(t, 6, 5, []float64{4, 2, 1}), (16 + 4 + 1) / 16.0},
		{"spectrum 3,3,3,3", knownSpectrum(t, 8, 4, []float64{3, 3, 3, 3}), 4},
		{"zero", zero, 0},
	} {
		got, err := lowrank.StableRank(tc.w)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-tc.want) > 1e-4 {
			t.Errorf("%s: stable rank %g, want %g", tc.name, got, tc.want)
		}
	}
	if _, err := lowrank.StableRank(randn(t, 2, 3, 4)); err == nil {
		t.Error("a 3-D tensor must be an error")
	}
}

func TestScaledRankAndBreakEven(t *testing.T) {
	for _, tc := range []struct {
		stable, scale float64
		full, want    int64
	}{
		{10.7, 2.5, 64, 25}, // floor(10.7)·2.5 = 25
		{10.2, 2.3, 64, 23}, // ceil(23.0)
		{10.2, 2.35, 64, 24},
		{40, 3, 64, 64}, // capped at full rank
		{0.3, 5, 64, 1}, // at least 1
	} {
		if got := lowrank.ScaledRank(tc.stable, tc.scale, tc.full); got != tc.want {
			t.Errorf("ScaledRank(%g, %g, %d) = %d, want %d", tc.stable, tc.scale, tc.full, got, tc.want)
		}
	}
	// 100×100: factorizing saves only below r = 50.
	if !lowrank.BreakEven(49, 100, 100) || lowrank.BreakEven(50, 100, 100) || lowrank.BreakEven(60, 100, 100) {
		t.Error("break-even at r(m+n) = mn")
	}
}

// The detector against the same rule written with NumPy (np.gradient, EMA span 15).
func TestSwitchDetectorMatchesNumPy(t *testing.T) {
	torchref.Require(t)
	curves := map[string]string{
		"flat":     "lambda e: 20.0",
		"falling":  "lambda e: 60 - 2*e",
		"settling": "lambda e: 20 + 40*math.exp(-e/3)",
		"late":     "lambda e: 30 if e < 20 else 10",
	}
	eval := map[string]func(e int) float64{
		"flat":     func(e int) float64 { return 20 },
		"falling":  func(e int) float64 { return 60 - 2*float64(e) },
		"settling": func(e int) float64 { return 20 + 40*math.Exp(-float64(e)/3) },
		"late": func(e int) float64 {
			if e < 20 {
				return 30
			}
			return 10
		},
	}
	for _, pair := range [][2]string{{"flat", "flat"}, {"flat", "falling"}, {"settling", "flat"}, {"late", "settling"}} {
		script := `
import math, numpy as np
def ema(xs, points):
    a = 2/(points+1); out = []
    for i, x in enumerate(xs):
        out.append(x if i == 0 else a*x + (1-a)*out[-1])
    return np.array(out)
curves = [` + curves[pair[0]] + `, ` + curves[pair[1]] + `]
hist = [[], []]; stable = [False, False]; switch = 0
for e in range(1, 41):
    remain = sum(1 for s in stable if not s)
    th = 0.1 * (2.5 if remain == 2 else (5 if remain == 1 else 1))
    for i, c in enumerate(curves):
        hist[i].append(math.floor(c(e)))
        if not stable[i] and e >= 15:
            stable[i] = np.mean(np.abs(np.gradient(ema(hist[i], 15)))[-11:]) <= th
    if all(stable):
        switch = e; break
print(switch)`
		out, err := exec.Command(torchref.Python, "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		want, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		var d lowrank.SwitchDetector
		got := 0
		for e := 1; e <= 40 && got == 0; e++ {
			if d.Observe(e, []float64{eval[pair[0]](e), eval[pair[1]](e)}) {
				got = e
			}
		}
		if got != want {
			t.Errorf("%v: switch at epoch %d, NumPy %d", pair, got, want)
		}
	}
}
