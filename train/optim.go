package train

import (
	"fmt"
	"math"
	"sort"
	"strings"

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
	state                    map[string]*ts.Tensor // "<param>.<buffer>"
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

// buffer returns the named state buffer of parameter i, creating it as zeros.
func (o *optimizer) buffer(i int, buf string) (*ts.Tensor, bool, error) {
	key := o.names[i] + "." + buf
	if t, ok := o.state[key]; ok {
		return t, false, nil
	}
	t, err := o.params[i].ZerosLike(false)
	if err != nil {
		return nil, false, err
	}
	o.state[key] = t
	return t, true, nil
}

// BackwardStep runs backward from loss, applies one update and zeroes the gradients.
func (o *optimizer) BackwardStep(loss *ts.Tensor) error {
	if err := loss.Backward(); err != nil {
		return err
	}
	var err error
	backend.NoGrad(func() { err = o.update() })
	o.zeroGrad()
	return err
}

func (o *optimizer) zeroGrad() {
	for _, p := range o.params {
		p.ZeroGrad()
	}
}

func (o *optimizer) update() error {
	o.step++
	for i, p := range o.params {
		g, err := p.Grad(false)
		if err != nil {
			return err
		}
		if !g.MustDefined() {
			g.MustDrop()
			continue // a parameter the loss does not reach
		}
		err = o.updateOne(i, p, g)
		g.MustDrop()
		if err != nil {
			return fmt.Errorf("optimizer %s, parameter %s: %w", o.kind, o.names[i], err)
		}
	}
	return nil
}

// scaled returns a·x as a new tensor.
func scaled(x *ts.Tensor, a float64) (*ts.Tensor, error) {
	return x.MulScalar(ts.FloatScalar(a), false)
}

func (o *optimizer) updateOne(i int, p, g *ts.Tensor) error {
	d := g
	wd := o.wd
	if o.kind == "adamw" {
		if err := p.MulScalar_(ts.FloatScalar(1 - o.lr*o.wd)); err != nil {
			return err
		}
		wd = 0
	}
	if wd != 0 {
		w, err := scaled(p, wd)
		if err != nil {
			return err
		}
		d, err = g.Add(w, false)
		w.MustDrop()
		if err != nil {
			return err
		}
		defer d.MustDrop()
	}
	switch o.kind {
	case "sgd":
		upd := d
		if o.momentum != 0 {
			b, fresh, err := o.buffer(i, "momentum_buffer")
			if err != nil {
				return err
			}
			if !fresh {
				if err := b.MulScalar_(ts.FloatScalar(o.momentum)); err != nil {
					return err
				}
			}
			if err := b.Add_(d); err != nil {
				return err
			}
			upd = b
		}
		return axpy(p, -o.lr, upd)
	case "adam", "adamw":
		m, _, err := o.buffer(i, "exp_avg")
		if err != nil {
			return err
		}
		v, _, err := o.buffer(i, "exp_avg_sq")
		if err != nil {
			return err
		}
		if err := ema(m, d, o.beta1); err != nil {
			return err
		}
		sq, err := d.Square(false)
		if err != nil {
			return err
		}
		err = ema(v, sq, o.beta2)
		sq.MustDrop()
		if err != nil {
			return err
		}
		bc1 := 1 - math.Pow(o.beta1, float64(o.step))
		bc2 := 1 - math.Pow(o.beta2, float64(o.step))
		denom, err := v.Sqrt(false)
		if err != nil {
			return err
		}
		defer denom.MustDrop()
		if err := denom.DivScalar_(ts.FloatScalar(math.Sqrt(bc2))); err != nil {
			return err
		}
		if err := denom.AddScalar_(ts.FloatScalar(o.eps)); err != nil {
			return err
		}
		ratio, err := m.Div(denom, false)
		if err != nil {
			return err
		}
		defer ratio.MustDrop()
		return axpy(p, -o.lr/bc1, ratio)
	default: // rmsprop
		s, _, err := o.buffer(i, "square_avg")
		if err != nil {
			return err
		}
		sq, err := d.Square(false)
		if err != nil {
			return err
		}
		err = ema(s, sq, o.alpha)
		sq.MustDrop()
		if err != nil {
			return err
		}
		avg, err := s.Sqrt(false)
		if err != nil {
			return err
		}
		defer avg.MustDrop()
		if err := avg.AddScalar_(ts.FloatScalar(o.eps)); err != nil {
			return err
		}
		q, err := d.Div(avg, false)
		if err != nil {
			return err
		}
		defer q.MustDrop()
		if o.momentum == 0 {
			return axpy(p, -o.lr, q)
		}
		b, _, err := o.buffer(i, "momentum_buffer")
		if err != nil {
			return err
		}
		if err := b.MulScalar_(ts.FloatScalar(o.momentum)); err != nil {
			return err
		}
		if err := b.Add_(q); err != nil {
			return err
		}
		return axpy(p, -o.lr, b)
	}
}

// axpy sets y += a·x.
func axpy(y *ts.Tensor, a float64, x *ts.Tensor) error {
	ax, err := scaled(x, a)
	if err != nil {
		return err
	}
	defer ax.MustDrop()
	return y.Add_(ax)
}

// ema sets avg = β·avg + (1−β)·x.
func ema(avg, x *ts.Tensor, beta float64) error {
	if err := avg.MulScalar_(ts.FloatScalar(beta)); err != nil {
		return err
	}
	return axpy(avg, 1-beta, x)
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
	o.state = map[string]*ts.Tensor{}
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
		o.state[name] = v
	}
	o.step = step.Int64Values()[0]
	return nil
}
