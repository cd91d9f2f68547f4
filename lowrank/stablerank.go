package lowrank

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

// StableRank returns ‖W‖²_F/‖W‖²_2 = Σ s_i² / max s_i² of a matrix W (m×n), a smooth lower bound
// of its rank that Cuttlefish tracks during full-rank warm-up. A zero matrix has stable rank 0.
func StableRank(w *ts.Tensor) (float64, error) {
	size := w.MustSize()
	if len(size) != 2 {
		return 0, fmt.Errorf("StableRank: want a matrix, got shape %v", size)
	}
	var s *ts.Tensor
	var err error
	backend.NoGrad(func() {
		w64, e := w.Totype(gotch.Double, false)
		if e != nil {
			err = e
			return
		}
		var u, v *ts.Tensor
		u, s, v, err = w64.Svd(true, false, true)
		drop(u, v)
	})
	if err != nil {
		return 0, fmt.Errorf("StableRank: %w", err)
	}
	sv := s.Float64Values(true)
	var sum, top float64
	for _, x := range sv {
		sum += x * x
		top = math.Max(top, x*x)
	}
	if top == 0 {
		return 0, nil
	}
	return sum / top, nil
}

// ScaledRank is Cuttlefish's rank choice: the stable rank (truncated to an integer, as
// Cuttlefish) scaled by full/stable-rank-at-initialization, rounded up and capped at full rank.
func ScaledRank(stable, scale float64, full int64) int64 {
	r := int64(math.Ceil(math.Floor(stable) * scale))
	return max(1, min(r, full))
}

// BreakEven reports whether rank r saves parameters and multiply-adds for an m×n matrix:
// r·(m+n) < m·n. Layers at or above the break-even rank stay dense.
func BreakEven(r, m, n int64) bool { return r*(m+n) < m*n }

// SwitchDetector decides when every tracked layer's stable rank has settled, following
// Cuttlefish: each layer's history is smoothed by an exponential moving average over Window
// points; the layer is stable once the mean absolute gradient of the smoothed curve over its last
// Tail values is at most the threshold, and no layer is judged before Window epochs. The
// threshold is Threshold, ×Scaler when two unstable layers remain and ×2·Scaler for the last one.
// The zero value takes Cuttlefish's constants (written on the fields).
type SwitchDetector struct {
	Window    int     // 15
	Tail      int     // 11
	Threshold float64 // 0.1
	Scaler    float64 // 2.5 (Cuttlefish's value for ResNet-18 and VGG-19; 1 otherwise)

	history [][]float64
	stable  []bool
}

func (d *SwitchDetector) defaults() {
	if d.Window == 0 {
		d.Window = 15
	}
	if d.Tail == 0 {
		d.Tail = 11
	}
	if d.Threshold == 0 {
		d.Threshold = 0.1
	}
	if d.Scaler == 0 {
		d.Scaler = 2.5
	}
}

// Observe records one epoch's stable ranks (one per layer, in a fixed order; epochs count from
// 1) and reports whether every layer is now stable.
func (d *SwitchDetector) Observe(epoch int, ranks []float64) bool {
	d.defaults()
	if d.history == nil {
		d.history = make([][]float64, len(ranks))
		d.stable = make([]bool, len(ranks))
	}
	remain := 0
	for _, s := range d.stable {
		if !s {
			remain++
		}
	}
	threshold := d.Threshold
	switch remain {
	case 2:
		threshold *= d.Scaler
	case 1:
		threshold *= 2 * d.Scaler
	}
	all := true
	for i, r := range ranks {
		d.history[i] = append(d.history[i], math.Floor(r))
		if !d.stable[i] && epoch >= d.Window {
			d.stable[i] = meanAbsGradient(ema(d.history[i], d.Window), d.Tail) <= threshold
		}
		all = all && d.stable[i]
	}
	return all
}

// Stable reports which layers are stable so far.
func (d *SwitchDetector) Stable() []bool { return append([]bool(nil), d.stable...) }

// ema smooths xs with an exponential moving average of span points (α = 2/(points+1)).
func ema(xs []float64, points int) []float64 {
	alpha := 2 / float64(points+1)
	out := make([]float64, len(xs))
	for i, x := range xs {
		if i == 0 {
			out[i] = x
			continue
		}
		out[i] = alpha*x + (1-alpha)*out[i-1]
	}
	return out
}

// meanAbsGradient is the mean of |np.gradient(ys)| over its last tail values: central
// differences inside, one-sided at the ends.
func meanAbsGradient(ys []float64, tail int) float64 {
	n := len(ys)
	if n < 2 {
		return math.Inf(1)
	}
	g := make([]float64, n)
	g[0], g[n-1] = ys[1]-ys[0], ys[n-1]-ys[n-2]
	for i := 1; i < n-1; i++ {
		g[i] = (ys[i+1] - ys[i-1]) / 2
	}
	if tail > n {
		tail = n
	}
	var s float64
	for _, x := range g[n-tail:] {
		s += math.Abs(x)
	}
	return s / float64(tail)
}
