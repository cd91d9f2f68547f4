package data

import (
	"fmt"
	"math/rand/v2"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Source is a dataset held in host memory that builds batches of its examples.
type Source interface {
	// Len is the number of examples.
	Len() int
	// Fill builds the batch of examples idx. rng drives augmentation and masking; train says
	// whether to augment.
	Fill(idx []int, rng *rand.Rand, train bool) HostBatch
}

// First serves the first n examples of src (all of them when n ≤ 0 or n ≥ its length).
func First(src Source, n int) Source {
	if n <= 0 || n >= src.Len() {
		return src
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return Subset{src, idx}
}

// HostBatch is a batch in Go memory: inputs X (float32) or XInt (int64 tokens), labels Y.
type HostBatch struct {
	X      []float32
	XInt   []int64
	XShape []int64
	Y      []int64
	YShape []int64
	// ChannelsLast: X holds images of XShape (N, C, H, W) in (N, H, W, C) order, and Tensors
	// makes a channels_last tensor of them.
	ChannelsLast bool
}

// InLayout returns the batch with its images in (N, H, W, C) order and ChannelsLast set when
// channelsLast is (a batch of another layout, or of tokens, is returned as it is otherwise).
// Sources that know the layout write it directly (Images.ChannelsLast); this is for batches made
// elsewhere, such as benchmarks'.
func (h HostBatch) InLayout(channelsLast bool) HostBatch {
	if !channelsLast || h.ChannelsLast || h.X == nil || len(h.XShape) != 4 {
		return h
	}
	n, c, hh, w := int(h.XShape[0]), int(h.XShape[1]), int(h.XShape[2]), int(h.XShape[3])
	out := make([]float32, len(h.X))
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < hh*w; p++ {
				out[(i*hh*w+p)*c+ch] = h.X[(i*c+ch)*hh*w+p]
			}
		}
	}
	h.X, h.ChannelsLast = out, true
	return h
}

// Size is the number of examples.
func (h HostBatch) Size() int { return int(h.XShape[0]) }

// Batch is one mini-batch as tensors: X (B, ...) float32 or int64, Y int64 labels.
type Batch struct{ X, Y *ts.Tensor }

// Drop frees the batch's tensors.
func (b Batch) Drop() {
	b.X.MustDrop()
	b.Y.MustDrop()
}

// Tensors copies the batch into tensors on device. Call it on the thread that runs the model.
func (h HostBatch) Tensors(device gotch.Device) (Batch, error) {
	var x *ts.Tensor
	var err error
	switch {
	case h.XInt != nil:
		x, err = TensorOf(h.XInt, h.XShape)
	case h.ChannelsLast:
		x, err = channelsLastOf(h.X, h.XShape)
	default:
		x, err = TensorOf(h.X, h.XShape)
	}
	if err != nil {
		return Batch{}, err
	}
	y, err := TensorOf(h.Y, h.YShape)
	if err != nil {
		x.MustDrop()
		return Batch{}, err
	}
	if device.Name != "" && device != gotch.CPU {
		if x, err = x.To(device, true); err != nil {
			y.MustDrop()
			return Batch{}, err
		}
		if y, err = y.To(device, true); err != nil {
			x.MustDrop()
			return Batch{}, err
		}
	}
	return Batch{X: x, Y: y}, nil
}

// channelsLastOf makes the (N, C, H, W) tensor whose values data holds in (N, H, W, C) order:
// one copy into an (N, H, W, C) tensor, whose permutation to (N, C, H, W) is a channels_last view.
func channelsLastOf(data []float32, shape []int64) (*ts.Tensor, error) {
	if len(shape) != 4 {
		return nil, fmt.Errorf("a channels_last batch needs 4 dimensions (N, C, H, W), not %v", shape)
	}
	nhwc, err := TensorOf(data, []int64{shape[0], shape[2], shape[3], shape[1]})
	if err != nil {
		return nil, err
	}
	return nhwc.Permute([]int64{0, 3, 1, 2}, true)
}

// TensorOf copies data into a new CPU tensor of the given shape, in one copy straight from the
// slice (gotch's NewTensorFromData reflects over the data and copies it three times).
func TensorOf[T float32 | int64](data []T, shape []int64) (*ts.Tensor, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	if n != int64(len(data)) || len(shape) == 0 {
		return nil, fmt.Errorf("tensor of %d values cannot have shape %v", len(data), shape)
	}
	if n == 0 {
		return nil, fmt.Errorf("tensor of shape %v is empty", shape)
	}
	var zero T
	kind := gotch.Float
	if _, ok := any(zero).(int64); ok {
		kind = gotch.Int64
	}
	// The C side copies the values before returning and keeps no pointer to them.
	c := lib.AtTensorOfData(unsafe.Pointer(&data[0]), shape, uint(len(shape)), uint(unsafe.Sizeof(zero)), int(kind.CKind()))
	if err := ts.TorchErr(); err != nil {
		return nil, err
	}
	return ts.New(c), nil
}

// Order returns the example order of an epoch: a permutation drawn from (seed, epoch) when
// shuffle is set, the identity otherwise. The same seed and epoch give the same order.
func Order(n int, seed uint64, epoch int, shuffle bool) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if shuffle {
		r := rand.New(rand.NewPCG(seed, uint64(epoch)))
		r.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	return idx
}

// Loader serves the batches of a Source for one epoch at a time, shuffled (with Train) and
// augmented from a seed, preparing the next batches in a background goroutine while the current
// one trains. Batch b of epoch e draws its randomness from (Seed, e, b) alone, so results do not
// depend on timing.
type Loader struct {
	Source    Source
	BatchSize int
	Train     bool   // shuffle and augment
	Seed      uint64 // data order and augmentation
	Prefetch  int    // batches prepared ahead; 0 means 2 (double buffering)
	// Rank of World processes of a distributed run serves its part of each epoch: Shard's
	// (padded, every rank the same length) with Train, Split's (each example once) without.
	Rank, World int
}

// order is the examples the loader serves in epoch, in order.
func (l *Loader) order(epoch int) []int {
	o := Order(l.Source.Len(), l.Seed, epoch, l.Train)
	if l.World <= 1 {
		return o
	}
	if l.Train {
		return Shard(o, l.Rank, l.World)
	}
	return Split(o, l.Rank, l.World)
}

// Len is the number of examples per epoch (this rank's part in a distributed run).
func (l *Loader) Len() int {
	n := l.Source.Len()
	switch {
	case l.World <= 1:
		return n
	case l.Train:
		return (n + l.World - 1) / l.World
	default:
		return (n - l.Rank + l.World - 1) / l.World
	}
}

// NumBatches is the number of batches per epoch (the last one may be smaller).
func (l *Loader) NumBatches() int { return (l.Len() + l.BatchSize - 1) / l.BatchSize }

// Iter yields one epoch's batches.
type Iter struct {
	ch   chan HostBatch
	stop chan struct{}
}

// Epoch starts preparing epoch's batches, from batch skip on (to resume mid-epoch).
func (l *Loader) Epoch(epoch, skip int) *Iter {
	depth := l.Prefetch
	if depth <= 0 {
		depth = 2
	}
	it := &Iter{ch: make(chan HostBatch, depth-1), stop: make(chan struct{})}
	order := l.order(epoch)
	// Rank 0 draws what a single process draws; other ranks their own streams.
	seed := l.Seed ^ 0x9e3779b97f4a7c15 ^ uint64(l.Rank)<<40
	go func() {
		defer close(it.ch)
		for b := skip; b*l.BatchSize < len(order); b++ {
			lo := b * l.BatchSize
			idx := order[lo:min(lo+l.BatchSize, len(order))]
			rng := rand.New(rand.NewPCG(seed, uint64(epoch)<<32|uint64(b)))
			hb := l.Source.Fill(idx, rng, l.Train)
			select {
			case it.ch <- hb:
			case <-it.stop:
				return
			}
		}
	}()
	return it
}

// Next returns the next batch, or false at the end of the epoch.
func (it *Iter) Next() (HostBatch, bool) {
	hb, ok := <-it.ch
	return hb, ok
}

// Close stops the producer; call it when leaving an epoch early.
func (it *Iter) Close() {
	select {
	case <-it.stop:
	default:
		close(it.stop)
	}
	for range it.ch {
	}
}
