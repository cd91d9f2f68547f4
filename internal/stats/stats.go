// Package stats summarizes repeated measurements.
package stats

import (
	"math"
	"sort"
)

// Summary returns the minimum, median (the mean of the middle two for an even count) and
// maximum of xs; NaNs for none.
func Summary(xs []float64) (lo, med, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
}

// Median is Summary's median.
func Median(xs []float64) float64 {
	_, m, _ := Summary(xs)
	return m
}

// MeanSD returns the mean of xs and their sample standard deviation (n − 1 in the denominator;
// 0 for fewer than two values).
func MeanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(xs)-1))
}
