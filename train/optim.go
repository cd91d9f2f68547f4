package train

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch/fused"
	"github.com/sugarme/gotch/layout"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

// optimizer implements PyTorch's SGD, Adam, AdamW and RMSprop update rules over a VarStore's
// trainable variables, with its state held as named tensors so that checkpoints can save and
// restore it exactly (gotch's optimizers keep theirs inside libtorch, out of reach). For a
// parameter p with gradient g at step t:
//
//	sgd      d = g + wd·p; b = μ·b + d (b = d at t = 1); p -= lr·b        (μ = 0: p -= lr·d)
//	adam     d = g + wd·p; m = β₁m + (1−β₁)d; v = β₂v + (1−β₂)d²;
//	         p -= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)
//	adamw    p *= 1 − lr·wd, then adam with wd = 0
//	rmsprop  d = g + wd·p; s = αs + (1−α)d²; a = √s + ε; b = μ·b + d/a; p -= lr·b  (μ = 0: p -= lr·d/a)
type optimizer struct {
	kind                     string
	lr, momentum, wd         float64
	beta1, beta2, eps, alpha float64
	names                    []string
	params                   []*ts.Tensor
	state                    map[string]*ts.Tensor   // "<param>.<buffer>"
	slices                   map[string][]*ts.Tensor // buffer name → its tensors in params order
	step                     int64
}

func newOptimizer(o Optimizer, vs *nn.VarStore, lr float64) (*optimizer, error) {
	kind := o.Name
	if kind == "" {
		kind = "sgd"
	}
	switch kind {
	case "sgd", "adam", "adamw", "rmsprop":
	default:
		return nil, fmt.Errorf("optimizer %q: want sgd, adam, adamw or rmsprop", o.Name)
	}
	opt := &optimizer{kind: kind, lr: lr, momentum: o.Momentum, wd: o.WeightDecay,
		beta1: 0.9, beta2: 0.999, eps: 1e-8, alpha: 0.99, state: map[string]*ts.Tensor{}}
	if kind == "adam" || kind == "adamw" {
		opt.momentum = 0
	}
	vars := vs.NamedVariables()
	for name := range vars {
		if vs.IsTrainable(name) {
			opt.names = append(opt.names, name)
		}
	}
	sort.Strings(opt.names)
	for _, n := range opt.names {
		opt.params = append(opt.params, vars[n])
	}
	return opt, nil
}

// SetLR sets the learning rate of the next steps.
func (o *optimizer) SetLR(lr float64) { o.lr = lr }

// BackwardStep runs backward from loss, then between (when set: a distributed run's gradient
// all-reduce; its error skips the update), then applies one update and zeroes the gradients.
func (o *optimizer) BackwardStep(loss *ts.Tensor, between func() error) error {
	if err := loss.Backward(); err != nil {
		return err
	}
	var err error
	if between != nil {
		backend.NoGrad(func() { err = between() })
		if err != nil {
			return err
		}
	}
	backend.NoGrad(func() { err = o.update() })
	return err
}

// update applies one step to every parameter with a gradient, in one call into libtorch
// (gotch's fused package, installed by tools/gotchprep), and zeroes the gradients.
func (o *optimizer) update() error {
	o.step++
	var err error
	switch o.kind {
	case "sgd":
		var bufs []*ts.Tensor
		if o.momentum != 0 {
			if bufs, err = o.buffers("momentum_buffer"); err != nil {
				return err
			}
		}
		err = fused.SGD(o.params, bufs, o.lr, o.momentum, o.wd)
	case "adam", "adamw":
		var m, v []*ts.Tensor
		if m, err = o.buffers("exp_avg"); err != nil {
			return err
		}
		if v, err = o.buffers("exp_avg_sq"); err != nil {
			return err
		}
		err = fused.Adam(o.params, m, v, o.lr, o.beta1, o.beta2, o.eps, o.wd, o.kind == "adamw", o.step)
	default: // rmsprop
		var sq, bufs []*ts.Tensor
		if sq, err = o.buffers("square_avg"); err != nil {
			return err
		}
		if o.momentum != 0 {
			if bufs, err = o.buffers("momentum_buffer"); err != nil {
				return err
			}
		}
		err = fused.RMSprop(o.params, sq, bufs, o.lr, o.alpha, o.eps, o.momentum, o.wd)
	}
	if err != nil {
		return fmt.Errorf("optimizer %s, step %d: %w", o.kind, o.step, err)
	}
	return nil
}

// buffers returns every parameter's state buffer named buf ("<param>.<buf>" in the state),
// creating missing ones as zeros. The slice is kept for the next steps; LoadState drops it.
func (o *optimizer) buffers(buf string) ([]*ts.Tensor, error) {
	if out, ok := o.slices[buf]; ok {
		return out, nil
	}
	out := make([]*ts.Tensor, len(o.params))
	for i, p := range o.params {
		key := o.names[i] + "." + buf
		t, ok := o.state[key]
		if !ok {
			var err error
			if t, err = p.ZerosLike(false); err != nil {
				return nil, err
			}
			o.state[key] = t
		}
		out[i] = t
	}
	if o.slices == nil {
		o.slices = map[string][]*ts.Tensor{}
	}
	o.slices[buf] = out
	return out, nil
}

// State returns the optimizer's state as named tensors (its own, not copies): every buffer as
// "state.<param>.<buffer>" and the step count as "step".
func (o *optimizer) State() (map[string]*ts.Tensor, error) {
	out := make(map[string]*ts.Tensor, len(o.state)+1)
	for k, v := range o.state {
		out["state."+k] = v
	}
	step, err := ts.NewTensorFromData([]int64{o.step}, []int64{1})
	if err != nil {
		return nil, err
	}
	out["step"] = step
	return out, nil
}

// LoadState restores what State returned, checking every buffer's parameter and shape first.
func (o *optimizer) LoadState(st map[string]*ts.Tensor) error {
	step, ok := st["step"]
	if !ok {
		return fmt.Errorf("optimizer state has no step count")
	}
	params := map[string]*ts.Tensor{}
	for i, n := range o.names {
		params[n] = o.params[i]
	}
	var problems []string
	for k, v := range st {
		if k == "step" {
			continue
		}
		rest, ok := strings.CutPrefix(k, "state.")
		dot := strings.LastIndexByte(rest, '.')
		if !ok || dot < 0 {
			problems = append(problems, "unexpected "+k)
			continue
		}
		p, ok := params[rest[:dot]]
		if !ok {
			problems = append(problems, "state for unknown parameter "+rest[:dot])
		} else if fmt.Sprint(p.MustSize()) != fmt.Sprint(v.MustSize()) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, its parameter %v", k, v.MustSize(), p.MustSize()))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("optimizer state does not fit the model: %s", strings.Join(problems, "; "))
	}
	o.state, o.slices = map[string]*ts.Tensor{}, nil
	for k, v := range st {
		if k == "step" {
			continue
		}
		name := strings.TrimPrefix(k, "state.")
		dev, err := params[name[:strings.LastIndexByte(name, '.')]].Device()
		if err != nil {
			return err
		}
		if v, err = v.To(dev, false); err != nil {
			return err
		}
		// A buffer takes its parameter's layout (checkpoints hold them contiguous), as a fresh
		// one made by ZerosLike would: the fused update then runs over matching strides.
		if layout.IsChannelsLast(params[name[:strings.LastIndexByte(name, '.')]]) {
			if err := layout.Set([]*ts.Tensor{v}, true); err != nil {
				return err
			}
		}
		o.state[name] = v
	}
	o.step = step.Int64Values()[0]
	return nil
}
