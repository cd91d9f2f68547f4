package models

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

// LayerReport describes one factorized layer after a conversion.
type LayerReport struct {
	Name   string  `json:"name"`
	Rank   int64   `json:"rank"`
	Energy float64 `json:"energy_kept"` // Σ_{i<r} s_i² / Σ s_i² of the dense weight (LSTM: the lowest of its gate matrices)
}

// Decompose sets a low-rank model's parameters from a dense model's: each factorized layer
// from the truncated SVD of its dense weight (the best approximation at its rank; the dense bias
// goes to the last factor), and every other parameter and buffer copied. dense is keyed by the
// original model's names: a VarStore's NamedVariables or a loaded state dict. Every tensor is
// checked before any is written, so an error, which lists every problem, leaves low unchanged.
func Decompose(low Model, lowVars, dense map[string]*ts.Tensor) ([]LayerReport, error) {
	plan, err := planConversion(low, lowVars, dense)
	if err != nil {
		return nil, err
	}
	var reports []LayerReport
	err = noGrad(func() error {
		for _, c := range plan.copies {
			c.low.Copy_(c.dense)
		}
		for i, f := range low.Factorized() {
			name := low.DenseNames()[i]
			e, err := f.FromDense(denseOf(name, plan.shapes[i], dense))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			reports = append(reports, LayerReport{Name: name, Rank: f.Rank(), Energy: e})
		}
		return nil
	})
	return reports, err
}

// Merge writes a low-rank model into a dense model's tensors (keyed by the original model's
// names): each factorized layer multiplied back into its dense weight and bias, exactly, and
// every other parameter and buffer copied. Everything is checked first, as Decompose.
func Merge(low Model, lowVars, dense map[string]*ts.Tensor) error {
	plan, err := planConversion(low, lowVars, dense)
	if err != nil {
		return err
	}
	return noGrad(func() error {
		for _, c := range plan.copies {
			c.dense.Copy_(c.low)
		}
		for i, f := range low.Factorized() {
			name := low.DenseNames()[i]
			merged, err := f.IntoDense()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			for k, t := range merged {
				dense[name+"."+k].Copy_(t)
				t.MustDrop()
			}
		}
		return nil
	})
}

type copyPair struct{ low, dense *ts.Tensor }

// conversionPlan is what planConversion checked: the tensors copied as they are, and each
// factorized layer's dense tensors (DenseShapes).
type conversionPlan struct {
	copies []copyPair
	shapes []map[string][]int64
}

// denseOf is the dense layer name's tensors of dense, keyed by their names within the layer.
func denseOf(name string, shapes map[string][]int64, dense map[string]*ts.Tensor) map[string]*ts.Tensor {
	out := make(map[string]*ts.Tensor, len(shapes))
	for k := range shapes {
		out[k] = dense[name+"."+k]
	}
	return out
}

// planConversion pairs every tensor of low with its dense counterpart and checks names and
// shapes, returning one error that lists every problem.
func planConversion(low Model, lowVars, dense map[string]*ts.Tensor) (*conversionPlan, error) {
	var problems []string
	used := map[string]bool{}
	need := func(name string, shape []int64) {
		used[name] = true
		t, ok := dense[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s %v", name, shape))
		case shape != nil && !sameShape(t.MustSize(), shape):
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", name, t.MustSize(), shape))
		}
	}
	owned := func(name string) bool {
		for _, p := range low.factorPaths() {
			if strings.HasPrefix(name, p+".") {
				return true
			}
		}
		return false
	}
	plan := &conversionPlan{}
	for i, f := range low.Factorized() {
		name := low.DenseNames()[i]
		shapes, err := f.DenseShapes()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %v", name, err))
		}
		keys := make([]string, 0, len(shapes))
		for k := range shapes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			need(name+"."+k, shapes[k])
		}
		plan.shapes = append(plan.shapes, shapes)
	}
	names := make([]string, 0, len(lowVars))
	for n := range lowVars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if owned(n) {
			continue
		}
		dn := low.DenseName(n)
		need(dn, lowVars[n].MustSize())
		if t, ok := dense[dn]; ok {
			plan.copies = append(plan.copies, copyPair{low: lowVars[n], dense: t})
		}
	}
	for n := range dense {
		if !used[n] {
			problems = append(problems, "unexpected "+n)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("the dense and low-rank models do not correspond (%d problems):\n  %s",
			len(problems), strings.Join(problems, "\n  "))
	}
	return plan, nil
}

func sameShape(a, b []int64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// SpectralInit initializes a low-rank model as Khodak et al.: build the dense model (build
// must construct the same architecture with method original), initialize it as usual, and
// decompose it into the low-rank model.
func SpectralInit(low Model, lowVS *nn.VarStore, build func(p *nn.Path) (Model, error)) ([]LayerReport, error) {
	dvs := nn.NewVarStore(lowVS.Device())
	defer dvs.Destroy()
	if _, err := build(dvs.Root()); err != nil {
		return nil, fmt.Errorf("spectral init: building the dense model: %w", err)
	}
	if len(low.Factorized()) == 0 {
		return nil, errors.New("spectral init: the model has no factorized layers (method original?)")
	}
	var reports []LayerReport
	var err error
	backend.NoGrad(func() { reports, err = Decompose(low, lowVS.NamedVariables(), dvs.NamedVariables()) })
	return reports, err
}
