package experiment_test

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// Every registered model, dense and low-rank, trains one step (forward, cross-entropy, backward)
// on a small random batch shaped like every registered dataset it accepts, with the built-in
// rank rule of the cifar10 configs for the convolutional ones, and gives a finite loss.
func TestEveryModelTrainsOnEveryDataset(t *testing.T) {
	defer backend.LockThread()()
	for _, name := range models.Names() {
		ms, _ := models.Lookup(name)
		for _, dataset := range experiment.Datasets(ms) {
			for _, method := range []string{"original", "low_rank"} {
				t.Run(name+"/"+dataset+"/"+method, func(t *testing.T) {
					c := config.Default()
					c.Model.Name, c.Model.Method, c.Data.Dataset = name, method, dataset
					if ms.Convolutional {
						c.LowRank.ConvScheme, c.LowRank.RankRule, c.LowRank.Budget = "channel", "budget", 0.4
					}
					e, err := experiment.New(c)
					if err != nil {
						t.Fatal(err)
					}
					backend.ManualSeed(1)
					vs := nn.NewVarStore(gotch.CPU)
					m, err := e.Build(vs.Root(), "")
					if err != nil {
						t.Fatal(err)
					}
					if low := len(m.Factorized()) > 0; low != (method == "low_rank") {
						t.Errorf("%d factorized layers for method %s", len(m.Factorized()), method)
					}
					b, err := train.BenchBatch(dataset, 2, 1).InLayout(e.ChannelsLast()).Tensors(gotch.CPU)
					if err != nil {
						t.Fatal(err)
					}
					defer b.Drop()
					logits, err := m.Forward(b.X, true)
					if err != nil {
						t.Fatal(err)
					}
					loss, err := logits.CrossEntropyLoss(b.Y, ts.None, 1, -100, 0, false)
					if err != nil {
						t.Fatal(err)
					}
					if err := loss.Backward(); err != nil {
						t.Fatal(err)
					}
					if l := loss.Float64Values()[0]; math.IsNaN(l) || math.IsInf(l, 0) || l <= 0 {
						t.Errorf("loss %g", l)
					}
					logits.MustDrop()
					loss.MustDrop()
					vs.Destroy()
				})
			}
		}
	}
}
