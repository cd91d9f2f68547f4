package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each epoch (counted from 0), as the reference's
// schedulers stepped once per epoch:
//
//	none       lr
//	sqrt       lr/√t (lr at t = 0)
//	linear     lr/t (lr at t = 0)
//	cosine     min + (lr − min)(1 + cos(πt/T))/2
//	multistep  lr·factor^k, k the number of milestones T/2 and 3T/4 (integer division) ≤ t
//
// With Warmup W > 0, epochs t < W use lr·t/W (gradual warm-up, multiplier 1) and the schedule
// then runs from t − W.
type Schedule struct {
	Name   string
	LR     float64
	MinLR  float64
	Factor float64
	Epochs int // T
	Warmup int // W
}

// At returns the learning rate of epoch t.
func (s Schedule) At(t int) float64 {
	if s.Warmup > 0 {
		if t < s.Warmup {
			return s.LR * float64(t) / float64(s.Warmup)
		}
		t -= s.Warmup
	}
	switch s.Name {
	case "sqrt":
		if t > 0 {
			return s.LR / math.Sqrt(float64(t))
		}
	case "linear":
		if t > 0 {
			return s.LR / float64(t)
		}
	case "cosine":
		return s.MinLR + (s.LR-s.MinLR)*(1+math.Cos(math.Pi*float64(t)/float64(s.Epochs)))/2
	case "multistep":
		lr := s.LR
		for _, m := range []int{s.Epochs / 2, 3 * (s.Epochs / 4)} {
			if t >= m {
				lr *= s.Factor
			}
		}
		return lr
	}
	return s.LR
}

// Validate checks the schedule's name.
func (s Schedule) Validate() error {
	switch s.Name {
	case "none", "sqrt", "linear", "cosine", "multistep":
		return nil
	}
	return fmt.Errorf("scheduler %q: want none, sqrt, linear, cosine or multistep", s.Name)
}
