package models_test

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/models"
)

// benchTrainStep times one SGD step (forward, backward, update) of a model at batch 128 on
// CIFAR-shaped input.
func benchTrainStep(b *testing.B, build func(p *nn.Path) (models.Model, error)) {
	defer backend.LockThread()()
	backend.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	m, err := build(vs.Root())
	if err != nil {
		b.Fatal(err)
	}
	opt, err := nn.DefaultSGDConfig().Build(vs, 1e-3)
	if err != nil {
		b.Fatal(err)
	}
	x, _ := ts.Randn([]int64{128, 3, 32, 32}, gotch.Float, gotch.CPU)
	y, _ := ts.Randint(10, []int64{128}, gotch.Int64, gotch.CPU)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		logits, err := m.Forward(x, true)
		if err != nil {
			b.Fatal(err)
		}
		loss, err := logits.CrossEntropyLoss(y, ts.None, 1, -100, 0, true)
		if err != nil {
			b.Fatal(err)
		}
		if err := opt.BackwardStep(loss); err != nil {
			b.Fatal(err)
		}
		loss.MustDrop()
	}
}

func BenchmarkVGG11LowRankStep(b *testing.B) {
	benchTrainStep(b, func(p *nn.Path) (models.Model, error) {
		return models.NewVGG(p, 11, models.Config{Method: models.LowRank})
	})
}
