package data

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestShardAndSplit(t *testing.T) {
	order := []int{7, 3, 9, 0, 5, 1, 8}
	cases := []struct {
		rank, world  int
		shard, split []int
	}{
		{0, 1, order, order},
		{0, 2, []int{7, 9, 5, 8}, []int{7, 9, 5, 8}},
		{1, 2, []int{3, 0, 1, 7}, []int{3, 0, 1}}, // padded with the order's start, as DistributedSampler
		{2, 3, []int{9, 1, 3}, []int{9, 1}},
		{0, 10, []int{7}, []int{7}},
		{9, 10, []int{9}, nil}, // padded: 7 3 9 0 5 1 8 7 3 9
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d/%d", c.rank, c.world), func(t *testing.T) {
			if got := Shard(order, c.rank, c.world); !slices.Equal(got, c.shard) {
				t.Errorf("Shard = %v, want %v", got, c.shard)
			}
			if got := Split(order, c.rank, c.world); !slices.Equal(got, c.split) {
				t.Errorf("Split = %v, want %v", got, c.split)
			}
		})
	}
}

// The ranks' batch b together are one process's batch b at world× the batch size.
func TestShardsMakeTheDoubleBatch(t *testing.T) {
	order := Order(1000, 3, 2, true)
	const world, batch = 4, 10
	for b := 0; b*batch*world < len(order); b++ {
		var union []int
		for r := 0; r < world; r++ {
			s := Shard(order, r, world)
			union = append(union, s[b*batch:min((b+1)*batch, len(s))]...)
		}
		want := slices.Clone(order[b*batch*world : min((b+1)*batch*world, len(order))])
		slices.Sort(union)
		slices.Sort(want)
		if !slices.Equal(union, want) {
			t.Fatalf("batch %d: ranks hold %v, one process %v", b, union, want)
		}
	}
}

// A loader's Len and NumBatches count the rank's part.
func TestLoaderRankLen(t *testing.T) {
	src := First(fakeSource(103), 0)
	for _, c := range []struct {
		train       bool
		rank, world int
		n           int
	}{{true, 0, 1, 103}, {true, 1, 2, 52}, {false, 0, 2, 52}, {false, 1, 2, 51}, {false, 3, 4, 25}} {
		l := &Loader{Source: src, BatchSize: 10, Train: c.train, Rank: c.rank, World: c.world}
		if l.Len() != c.n || len(l.order(1)) != c.n || l.NumBatches() != (c.n+9)/10 {
			t.Errorf("%+v: Len %d, order %d, batches %d; want %d", c, l.Len(), len(l.order(1)), l.NumBatches(), c.n)
		}
	}
}

// fakeSource is n examples of one value each.
type fakeSource int

func (f fakeSource) Len() int { return int(f) }

func (f fakeSource) Fill(idx []int, _ *rand.Rand, _ bool) HostBatch {
	x := make([]float32, len(idx))
	y := make([]int64, len(idx))
	for i, j := range idx {
		x[i], y[i] = float32(j), int64(j)
	}
	return HostBatch{X: x, XShape: []int64{int64(len(idx)), 1}, Y: y, YShape: []int64{int64(len(idx))}}
}
