package models_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/models"
)

// twins are the models testdata/torch_models.py builds in PyTorch, by its names, with an input.
var twins = func() []struct {
	name  string
	build func(p *nn.Path) (models.Model, error)
	input func(t *testing.T) *ts.Tensor
} {
	lowRef := models.Config{Method: models.LowRank, Compat: models.Reference}
	return []struct {
		name  string
		build func(p *nn.Path) (models.Model, error)
		input func(t *testing.T) *ts.Tensor
	}{
		{"vgg11_low_rank_reference", func(p *nn.Path) (models.Model, error) { return models.NewVGG(p, 11, lowRef) }, images(3, 32)},
		{"resnet18_low_rank_reference", func(p *nn.Path) (models.Model, error) { return models.NewResNet(p, 18, lowRef) }, images(3, 32)},
		{"transformer_original", func(p *nn.Path) (models.Model, error) {
			return models.NewTransformer(p, models.TransformerConfig{Vocab: 500}, models.Config{})
		}, tokens(501, 16)}, // 500 is the mask token
		{"lstm_original", func(p *nn.Path) (models.Model, error) {
			return models.NewCharLSTM(p, models.LSTMConfig{}, models.Config{})
		}, tokens(100, 20)},
		{"lstm_low_rank_reference", func(p *nn.Path) (models.Model, error) {
			return models.NewCharLSTM(p, models.LSTMConfig{}, lowRef)
		}, tokens(100, 20)},
	}
}()

// The same weights give the same outputs in Go and in PyTorch modules built like the reference's
// (testdata/torch_models.py); load_state_dict(strict=True) there also checks that every
// parameter name equals the reference module's state_dict key.
func TestMatchesPyTorch(t *testing.T) {
	torchref.Require(t)
	for _, tc := range twins {
		t.Run(tc.name, func(t *testing.T) {
			unlock := backend.LockThread()
			defer unlock()
			backend.ManualSeed(7)
			vs := nn.NewVarStore(gotch.CPU)
			m, err := tc.build(vs.Root())
			if err != nil {
				t.Fatal(err)
			}
			x := tc.input(t)
			// Two training passes move batch-norm running statistics away from 0 and 1.
			for i := 0; i < 2; i++ {
				y, err := m.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				y.MustDrop()
			}
			var got *ts.Tensor
			backend.NoGrad(func() { got, err = m.Forward(x, false) })
			if err != nil {
				t.Fatal(err)
			}
			want, shape := torchref.Run(t, "testdata/torch_models.py", []string{tc.name}, vs.NamedVariables(), x)
			if fmt.Sprint(shape) != fmt.Sprint(got.MustSize()) {
				t.Fatalf("PyTorch output shape %v, Go %v", shape, got.MustSize())
			}
			diff, scale := torchref.MaxDiff(got.Float64Values(), want)
			if diff > 1e-4*max(1, scale) {
				t.Errorf("max |Go − PyTorch| = %g (outputs up to %g)", diff, scale)
			}
			t.Logf("max |Go − PyTorch| = %.3g, outputs up to %.3g", diff, scale)
		})
	}
}

// With compat reference, a low-rank ResNet's checkpoint carries the reference's second names
// (common.*, personalized.*) for the same storages, as torch.save of the reference's class
// writes them: a module registered like it loads the file with strict=True (it refused the
// file without them), and the file loads back here.
func TestReferenceAliasesLoadStrictly(t *testing.T) {
	torchref.Require(t)
	defer backend.LockThread()()
	backend.ManualSeed(2)
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewResNet(vs.Root(), 18, models.Config{Method: models.LowRank, Compat: models.Reference})
	if err != nil {
		t.Fatal(err)
	}
	vars := models.WithAliases(m, vs.NamedVariables())
	if len(vars) <= len(vs.NamedVariables()) || vars["personalized.5.weight"] != vars["tail.weight"] || vars["common.0.0.weight"] != vars["head.0.weight"] {
		t.Fatalf("aliases missing: %d keys for %d variables", len(vars), len(vs.NamedVariables()))
	}
	path := filepath.Join(t.TempDir(), "model.pt")
	if err := checkpoint.Save(path, vars); err != nil {
		t.Fatal(err)
	}
	// The second names share the first names' storages, as torch.save writes them.
	loaded, aliases, err := checkpoint.LoadAliased(path)
	if err != nil {
		t.Fatal(err)
	}
	defer checkpoint.Drop(loaded)
	if aliases["head.0.weight"] != "common.0.0.weight" { // each alias maps to its group's first key
		t.Errorf("head.0.weight and common.0.0.weight do not share a storage: aliases %v", aliases)
	}
	if err := checkpoint.Apply(vs.NamedVariables(), loaded, aliases); err != nil {
		t.Errorf("loading back: %v", err)
	}
	x := images(3, 32)(t)
	var got *ts.Tensor
	backend.NoGrad(func() { got, err = m.Forward(x, false) })
	if err != nil {
		t.Fatal(err)
	}
	want, _ := torchref.RunCheckpoint(t, "testdata/torch_models.py", []string{"resnet18_low_rank_reference_aliased"}, path, x)
	if diff, scale := torchref.MaxDiff(got.Float64Values(), want); diff > 1e-4*max(1, scale) {
		t.Errorf("PyTorch outputs differ from Go's by %g (scale %g)", diff, scale)
	}
}
