package data

import (
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Batch is one mini-batch: X (B, C, H, W) float32 normalized, Y (B) int64 class indices.
type Batch struct{ X, Y *ts.Tensor }

// Drop frees the batch's tensors.
func (b Batch) Drop() {
	b.X.MustDrop()
	b.Y.MustDrop()
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

// MakeBatch builds the batch of examples idx, normalized as (x/255 − mean)/std per channel.
func (d *Images) MakeBatch(idx []int, device gotch.Device) (Batch, error) {
	per := int(d.C * d.H * d.W)
	plane := int(d.H * d.W)
	xs := make([]float32, len(idx)*per)
	ys := make([]int64, len(idx))
	for bi, ex := range idx {
		src := d.Pixels[ex*per : (ex+1)*per]
		dst := xs[bi*per : (bi+1)*per]
		for c := 0; c < int(d.C); c++ {
			m, s := d.Mean[c], d.Std[c]
			for i := c * plane; i < (c+1)*plane; i++ {
				dst[i] = (float32(src[i])/255 - m) / s
			}
		}
		ys[bi] = d.Labels[ex]
	}
	x, err := ts.NewTensorFromData(xs, []int64{int64(len(idx)), d.C, d.H, d.W})
	if err != nil {
		return Batch{}, err
	}
	y, err := ts.NewTensorFromData(ys, []int64{int64(len(idx))})
	if err != nil {
		x.MustDrop()
		return Batch{}, err
	}
	if device != gotch.CPU {
		if x, err = x.To(device, true); err != nil {
			return Batch{}, err
		}
		if y, err = y.To(device, true); err != nil {
			return Batch{}, err
		}
	}
	return Batch{X: x, Y: y}, nil
}
