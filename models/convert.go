package models

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/lowrank"
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
			r := LayerReport{Name: name}
			switch l := f.(type) {
			case *lowrank.Linear:
				e, err := l.Decompose(dense[name+".weight"], dense[name+".bias"])
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				r.Rank, r.Energy = l.R, e
			case *lowrank.Conv2d:
				e, err := l.Decompose(dense[name+".weight"], dense[name+".bias"])
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				r.Rank, r.Energy = l.R, e
			case *lowrank.LSTM:
				es, err := l.Decompose(lstmDense(name, len(l.Layers), dense))
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				r.Rank, r.Energy = l.Layers[0].RHh, 1
				for _, e := range es {
					r.Energy = min(r.Energy, e)
				}
			}
			reports = append(reports, r)
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
			var w, b *ts.Tensor
			var err error
			switch l := f.(type) {
			case *lowrank.Linear:
				w, b, err = l.Merge()
			case *lowrank.Conv2d:
				w, b, err = l.Merge()
			case *lowrank.LSTM:
				merged, err := l.Merge()
				if err != nil {
					return err
				}
				for k, m := range merged {
					for j, part := range lstmParts {
						dense[fmt.Sprintf("%s.%s_l%d", name, part, k)].Copy_(m[j])
					}
					m[0].MustDrop()
					m[1].MustDrop()
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			dense[name+".weight"].Copy_(w)
			w.MustDrop()
			if b != nil {
				dense[name+".bias"].Copy_(b)
				b.MustDrop()
			}
		}
		return nil
	})
}

type copyPair struct{ low, dense *ts.Tensor }

type conversionPlan struct{ copies []copyPair }

var lstmParts = [4]string{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}

func lstmDense(name string, layers int, dense map[string]*ts.Tensor) [][4]*ts.Tensor {
	out := make([][4]*ts.Tensor, layers)
	for k := range out {
		for j, part := range lstmParts {
			out[k][j] = dense[fmt.Sprintf("%s.%s_l%d", name, part, k)]
		}
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
	for i, f := range low.Factorized() {
		name := low.DenseNames()[i]
		switch l := f.(type) {
		case *lowrank.Linear:
			need(name+".weight", []int64{l.Out, l.In})
			if l.Bias != nil {
				need(name+".bias", []int64{l.Out})
			}
		case *lowrank.Conv2d:
			need(name+".weight", []int64{l.Out, l.In, l.K, l.K})
			if l.Bias != nil {
				need(name+".bias", []int64{l.Out})
			}
		case *lowrank.LSTM:
			for k, ll := range l.Layers {
				if ll.RIh > min(4*ll.Hidden, ll.In) || ll.RHh > 4*ll.Hidden {
					problems = append(problems, fmt.Sprintf("%s layer %d: rank %d/%d exceeds its gate matrices' full rank (the reference LSTM rank rule); use the min rule to convert", name, k, ll.RIh, ll.RHh))
				}
				sfx := "_l" + strconv.Itoa(k)
				need(name+".weight_ih"+sfx, []int64{4 * ll.Hidden, ll.In})
				need(name+".weight_hh"+sfx, []int64{4 * ll.Hidden, ll.Hidden})
				need(name+".bias_ih"+sfx, []int64{4 * ll.Hidden})
				need(name+".bias_hh"+sfx, []int64{4 * ll.Hidden})
			}
		}
	}
	plan := &conversionPlan{}
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
