package models_test

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// pair builds the dense and the low-rank variant of an architecture on separate stores.
func pair(t *testing.T, z zooEntry, low models.Config) (models.Model, *nn.VarStore, models.Model, *nn.VarStore) {
	t.Helper()
	backend.ManualSeed(11)
	dvs, lvs := nn.NewVarStore(gotch.CPU), nn.NewVarStore(gotch.CPU)
	dense, err := z.build(dvs.Root(), models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	low.Method = models.LowRank
	lm, err := z.build(lvs.Root(), low)
	if err != nil {
		t.Fatal(err)
	}
	return dense, dvs, lm, lvs
}

func evalForward(t *testing.T, m models.Model, x *ts.Tensor) []float64 {
	t.Helper()
	var y *ts.Tensor
	var err error
	backend.NoGrad(func() { y, err = m.Forward(x, false) })
	if err != nil {
		t.Fatal(err)
	}
	return y.Float64Values()
}

// At full rank, decomposing a dense model gives a low-rank model with the same outputs, and
// merging it back reproduces the dense weights.
func TestDecomposeMergeFullRank(t *testing.T) {
	full := models.Config{Rank: lowrank.Rank{Ratio: 1}}
	for _, z := range zoo {
		if z.name == "vgg16" || z.name == "resnet101" {
			continue // same code paths as vgg11 and resnet18
		}
		t.Run(z.name, func(t *testing.T) {
			defer backend.LockThread()()
			dense, dvs, low, lvs := pair(t, z, full)
			reports, err := models.Decompose(low, lvs.NamedVariables(), dvs.NamedVariables())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range reports {
				if r.Energy < 1-1e-6 {
					t.Errorf("%s: energy kept %g at full rank", r.Name, r.Energy)
				}
			}
			x := z.input(t)
			want, got := evalForward(t, dense, x), evalForward(t, low, x)
			diff, scale := torchref.MaxDiff(got, want)
			if diff > 1e-4*max(1, scale) {
				t.Errorf("decomposed model differs from the dense one by %g (outputs up to %g)", diff, scale)
			}
			// Merge into a second dense model: every tensor equals the original's.
			backend.ManualSeed(99)
			dvs2 := nn.NewVarStore(gotch.CPU)
			if _, err := z.build(dvs2.Root(), models.Config{}); err != nil {
				t.Fatal(err)
			}
			if err := models.Merge(low, lvs.NamedVariables(), dvs2.NamedVariables()); err != nil {
				t.Fatal(err)
			}
			orig := dvs.NamedVariables()
			for name, v := range dvs2.NamedVariables() {
				d, s := torchref.MaxDiff(v.Float64Values(), orig[name].Float64Values())
				if d > 1e-5*max(1, s) {
					t.Errorf("merged %s differs by %g", name, d)
				}
			}
		})
	}
}

func TestDecomposeMismatchLeavesModelUntouched(t *testing.T) {
	defer backend.LockThread()()
	backend.ManualSeed(5)
	dvs, lvs := nn.NewVarStore(gotch.CPU), nn.NewVarStore(gotch.CPU)
	if _, err := models.NewMLP(dvs.Root(), 784, []int64{300}, models.Config{Classes: 7}); err != nil {
		t.Fatal(err)
	}
	low, err := models.NewMLP(lvs.Root(), 784, nil, models.Config{Method: models.LowRank})
	if err != nil {
		t.Fatal(err)
	}
	before := map[string][]float64{}
	for n, v := range lvs.NamedVariables() {
		before[n] = v.Float64Values()
	}
	_, err = models.Decompose(low, lvs.NamedVariables(), dvs.NamedVariables())
	if err == nil {
		t.Fatal("want an error for mismatched models")
	}
	for _, want := range []string{"layers.0.weight has shape [300 784], want [512 784]", "missing layers.1.weight", "classifier.weight has shape [7 300], want [10 256]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for n, v := range lvs.NamedVariables() {
		if d, _ := torchref.MaxDiff(v.Float64Values(), before[n]); d != 0 {
			t.Errorf("%s changed although the conversion failed", n)
		}
	}
}

func TestSpectralInit(t *testing.T) {
	defer backend.LockThread()()
	backend.ManualSeed(2)
	vs := nn.NewVarStore(gotch.CPU)
	cfg := models.Config{Method: models.LowRank}
	m, err := models.NewVGG(vs.Root(), 11, cfg)
	if err != nil {
		t.Fatal(err)
	}
	reports, err := models.SpectralInit(m, vs, func(p *nn.Path) (models.Model, error) {
		return models.NewVGG(p, 11, models.Config{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != len(m.Factorized()) {
		t.Fatalf("%d reports for %d factorized layers", len(reports), len(m.Factorized()))
	}
	for _, r := range reports {
		if r.Energy <= 0 || r.Energy >= 1 || r.Rank < 1 {
			t.Errorf("%s: rank %d, energy %g", r.Name, r.Rank, r.Energy)
		}
	}
}
