package data_test

import (
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/lowrank-dev/lowrank/data"
)

// BenchmarkCIFARBatches measures delivering augmented CIFAR-shaped batches of 128 through the
// prefetching Loader, host preparation and the copy into tensors included. Compare with
// models' BenchmarkVGG11LowRankStep, the training step that consumes them.
func BenchmarkCIFARBatches(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	d := &data.Images{C: 3, H: 32, W: 32, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std, Augment: data.CIFARAugment}
	const n = 10000
	d.Pixels = make([]byte, n*3072)
	for i := range d.Pixels {
		d.Pixels[i] = byte(r.IntN(256))
	}
	d.Labels = make([]int64, n)
	l := &data.Loader{Source: d, BatchSize: 128, Train: true, Seed: 1}
	b.ResetTimer()
	epoch, it := 0, l.Epoch(0, 0)
	for i := 0; i < b.N; i++ {
		hb, ok := it.Next()
		if !ok {
			epoch++
			it = l.Epoch(epoch, 0)
			hb, _ = it.Next()
		}
		batch, err := hb.Tensors(gotch.CPU)
		if err != nil {
			b.Fatal(err)
		}
		batch.Drop()
	}
	it.Close()
}
