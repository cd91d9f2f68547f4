package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// HoldOut splits src into a training part and a validation part of ⌊fraction·n + ½⌋ examples,
// chosen by a permutation drawn from seed alone: the same seed holds out the same examples on
// every run, every process and every resume. Both parts keep src's order and batching (they
// are views, nothing is copied). An empty part is an error.
func HoldOut(src Source, fraction float64, seed uint64) (train, val Source, err error) {
	n := src.Len()
	k := int(math.Round(fraction * float64(n)))
	if fraction <= 0 || fraction >= 1 || k < 1 || k >= n {
		return nil, nil, fmt.Errorf("data.val_split %g of %d training examples holds out %d: want at least one example in each part", fraction, n, k)
	}
	perm := rand.New(rand.NewPCG(seed, 0x76616c)).Perm(n) // "val": a stream of its own
	held := make([]bool, n)
	for _, i := range perm[:k] {
		held[i] = true
	}
	var tr, va []int
	for i := 0; i < n; i++ {
		if held[i] {
			va = append(va, i)
		} else {
			tr = append(tr, i)
		}
	}
	return Subset{src, tr}, Subset{src, va}, nil
}

// Subset is the examples Index of Source, in that order.
type Subset struct {
	Source Source
	Index  []int
}

var _ Source = Subset{}

// Len is the number of examples.
func (s Subset) Len() int { return len(s.Index) }

// Fill builds the batch of the subset's examples idx.
func (s Subset) Fill(idx []int, rng *rand.Rand, train bool) HostBatch {
	orig := make([]int, len(idx))
	for i, j := range idx {
		orig[i] = s.Index[j]
	}
	return s.Source.Fill(orig, rng, train)
}
