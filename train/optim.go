package train

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/internal/fused"
	"github.com/lowrank-dev/lowrank/internal/layout"
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
//	galore-adamw  GaLore's AdamW (fused.cpp): a matrix whose smaller side exceeds the rank steps
//	         in its gradient's top-r subspace, the moments r-dimensional; other parameters unprojected
type optimizer struct {
	kind                     string
	lr, momentum, wd         float64
	beta1, beta2, eps, alpha float64
	clip                     float64     // the gradients' global L2 norm bound (0: none)
	galore                   Optimizer   // galore-adamw's rank, refresh interval and scale
	relora                   *ReLoRA     // lowrank.schedule relora: weights trained through factors
	reloraOf                 map[int]int // parameter index → its ReLoRA layer
	names                    []string
	params                   []*ts.Tensor
	state                    map[string]*ts.Tensor   // "<param>.<buffer>"
	slices                   map[string][]*ts.Tensor // buffer name → its tensors in params order
	split                    *reloraSplit            // the ReLoRA phase's tensors, kept like slices
	step                     int64
}

// reloraSplit is what a ReLoRA step passes to C++: the factored weights with their factors and
// moments, and the other parameters with their Adam moments.
type reloraSplit struct {
	factors            fused.ReLoRAFactors
	rest, restM, restV []*ts.Tensor
}

func newOptimizer(o Optimizer, vs *nn.VarStore, lr float64) (*optimizer, error) {
	kind := o.Name
	if kind == "" {
		kind = "sgd"
	}
	switch kind {
	case "sgd", "adam", "adamw", "rmsprop", "galore-adamw":
	default:
		return nil, fmt.Errorf("optimizer %q: want sgd, adam, adamw, rmsprop or galore-adamw", o.Name)
	}
	opt := &optimizer{kind: kind, lr: lr, momentum: o.Momentum, wd: o.WeightDecay, clip: o.ClipGradNorm,
		beta1: 0.9, beta2: 0.999, eps: 1e-8, alpha: 0.99, state: map[string]*ts.Tensor{}}
	if kind == "adam" || kind == "adamw" || kind == "galore-adamw" {
		opt.momentum = 0
	}
	if kind == "galore-adamw" {
		opt.eps = 1e-6 // GaLore's AdamW default
		opt.galore = o
		if opt.galore.GaloreRank == 0 {
			opt.galore.GaloreRank = 128
		}
		if opt.galore.GaloreEvery == 0 {
			opt.galore.GaloreEvery = 200
		}
		if opt.galore.GaloreScale == 0 {
			opt.galore.GaloreScale = 0.25
		}
	}
	if o.ReLoRA != nil {
		if kind != "adam" && kind != "adamw" {
			return nil, fmt.Errorf("lowrank.schedule relora trains its factors with Adam: set optimizer.name adam or adamw, not %s", kind)
		}
		opt.relora = o.ReLoRA
	}
	// The model's registration order, as model.parameters() lists a PyTorch module's: the
	// parameter numbers of a torch.optim state_dict.
	vars := vs.NamedVariables()
	for _, name := range vs.Names() {
		if vs.IsTrainable(name) {
			opt.names = append(opt.names, name)
		}
	}
	for _, n := range opt.names {
		opt.params = append(opt.params, vars[n])
	}
	if opt.relora != nil {
		opt.reloraOf = map[int]int{}
		for li, l := range opt.relora.Layers {
			found := false
			for i, n := range opt.names {
				if n == l.Name {
					opt.reloraOf[i], found = li, true
				}
			}
			if !found {
				return nil, fmt.Errorf("relora: the model has no trainable %s", l.Name)
			}
		}
	}
	return opt, nil
}

// SetLR sets the learning rate of the next steps.
func (o *optimizer) SetLR(lr float64) { o.lr = lr }

// BackwardStep runs backward from loss, then between (when set: a distributed run's gradient
// all-reduce; its error skips the update), then clips the gradients' global norm (when set), then
// applies one update and zeroes the gradients.
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
	if o.clip > 0 { // after the all-reduce: the norm is the averaged gradients', as DDP users clip
		if err := fused.ClipGradNorm(o.params, o.clip); err != nil {
			return fmt.Errorf("clip_grad_norm: %w", err)
		}
	}
	backend.NoGrad(func() { err = o.update() })
	return err
}

// update applies one step to every parameter with a gradient, in one call into libtorch
// (internal/fused), and zeroes the gradients.
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
		if o.relora != nil && o.step > int64(o.relora.Start) {
			return o.reloraUpdate()
		}
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
	case "galore-adamw":
		var m, v, proj []*ts.Tensor
		if m, err = o.buffers("exp_avg"); err != nil {
			return err
		}
		if v, err = o.buffers("exp_avg_sq"); err != nil {
			return err
		}
		if proj, err = o.buffers("projector"); err != nil {
			return err
		}
		err = fused.GaLore(o.params, m, v, proj, o.lr, o.beta1, o.beta2, o.eps, o.wd, o.step, o.galore.GaloreEvery, o.galore.GaloreScale)
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
		shape, ok := o.bufShape(i, buf)
		if !ok {
			continue // this parameter keeps no such buffer (nil in the slice)
		}
		key := o.names[i] + "." + buf
		t, ok := o.state[key]
		if !ok {
			var err error
			if shape == nil {
				t, err = p.ZerosLike(false)
			} else {
				t, err = ts.Zeros(shape, p.DType(), p.MustDevice())
			}
			if err != nil {
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

// OptimizerState is an optimizer's state as torch.optim's state_dict() holds it, read from a
// checkpoint: Dict is the tree ("state", keyed by parameter number, and "param_groups") with each
// tensor as the checkpoint.TensorKey of its entry in Tensors.
type OptimizerState struct {
	Dict    checkpoint.Dict
	Tensors map[string]*ts.Tensor
}

// Empty reports whether s holds no state (a fresh optimizer).
func (s *OptimizerState) Empty() bool { return s == nil || len(s.Dict) == 0 }

// buffersOf are the per-parameter state entries torch.optim keeps for each optimizer (besides
// "step", which Adam, AdamW and RMSprop keep per parameter as a float32 0-dim tensor).
var buffersOf = map[string][]string{
	"sgd": {"momentum_buffer"}, "adam": {"exp_avg", "exp_avg_sq"}, "adamw": {"exp_avg", "exp_avg_sq"},
	"rmsprop": {"square_avg", "momentum_buffer"}, "galore-adamw": {"exp_avg", "exp_avg_sq", "projector"},
}

// group is the optimizer's one param_group, with the keys torch.optim's class of the same kind
// writes (PyTorch 1.13 to 2.x), "params" numbering the parameters in o.names order (the model's
// registration order, as model.parameters()) and "param_names" naming them.
func (o *optimizer) group() checkpoint.Dict {
	var g checkpoint.Dict
	add := func(k string, v any) { g = append(g, checkpoint.Item{Key: k, Value: v}) }
	add("lr", o.lr)
	switch o.kind {
	case "sgd":
		add("momentum", o.momentum)
		add("dampening", 0.0)
		add("weight_decay", o.wd)
		add("nesterov", false)
	case "adam", "adamw":
		add("betas", checkpoint.Tuple{o.beta1, o.beta2})
		add("eps", o.eps)
		add("weight_decay", o.wd)
		add("amsgrad", false)
		add("capturable", false)
		add("fused", false)
	case "galore-adamw": // galore_torch's group keys beside AdamW's
		add("betas", checkpoint.Tuple{o.beta1, o.beta2})
		add("eps", o.eps)
		add("weight_decay", o.wd)
		add("rank", int64(o.galore.GaloreRank))
		add("update_proj_gap", int64(o.galore.GaloreEvery))
		add("scale", o.galore.GaloreScale)
		add("proj_type", "std")
	case "rmsprop":
		add("momentum", o.momentum)
		add("alpha", o.alpha)
		add("eps", o.eps)
		add("centered", false)
		add("weight_decay", o.wd)
	}
	add("maximize", false)
	add("foreach", nil)
	add("differentiable", false)
	params := make([]int64, len(o.names))
	names := make(checkpoint.List, len(o.names))
	for i, n := range o.names {
		params[i], names[i] = int64(i), n
	}
	add("params", params)
	add("param_names", names)
	return g
}

// projected reports whether galore-adamw projects parameter i, and its matrix form m×n (a
// convolution's kernel as out × in·k·k) and whether the projection is from the right (m ≥ n).
func (o *optimizer) projected(i int) (m, n int64, right, ok bool) {
	if o.kind != "galore-adamw" {
		return 0, 0, false, false
	}
	size := o.params[i].MustSize()
	if len(size) < 2 {
		return 0, 0, false, false
	}
	m = size[0]
	n = int64(o.params[i].Numel()) / max(m, 1)
	r := int64(o.galore.GaloreRank)
	return m, n, m >= n, min(m, n) > r
}

// bufShape is the shape of parameter i's buffer buf: nil for the parameter's own, ok false for
// a buffer it does not keep (a projector of an unprojected parameter). galore-adamw's projected
// parameters keep moments of R's shape (m×r from the right, r×n from the left) and the
// projector (r×n, or m×r).
func (o *optimizer) bufShape(i int, buf string) ([]int64, bool) {
	if ofA, isFactor := reloraOfA[buf]; isFactor {
		li, ok := o.reloraOf[i]
		if !ok {
			return nil, false
		}
		l := o.relora.Layers[li]
		if ofA {
			return []int64{l.R, l.N}, true
		}
		return []int64{l.M, l.R}, true
	}
	if _, factored := o.reloraOf[i]; factored && o.step > int64(o.relora.Start) && (buf == "exp_avg" || buf == "exp_avg_sq") {
		return nil, false // in the ReLoRA phase a factored weight's own moments are gone (its factors have theirs)
	}
	m, n, right, ok := o.projected(i)
	r := int64(o.galore.GaloreRank)
	switch {
	case !ok:
		return nil, buf != "projector"
	case buf == "projector" && right:
		return []int64{r, n}, true
	case buf == "projector":
		return []int64{m, r}, true
	case right:
		return []int64{m, r}, true
	}
	return []int64{r, n}, true
}

// reloraBuffers are a ReLoRA weight's factors and their moments (its own Adam moments are
// dropped when the phase starts), in the order of reloraFields; reloraOfA says which have A's
// shape (r×n) rather than B's (m×r).
var (
	reloraBuffers = []string{"relora_A", "relora_B", "exp_avg_A", "exp_avg_sq_A", "exp_avg_B", "exp_avg_sq_B"}
	reloraOfA     = map[string]bool{"relora_A": true, "exp_avg_A": true, "exp_avg_sq_A": true, "relora_B": false, "exp_avg_B": false, "exp_avg_sq_B": false}
)

// reloraFields are f's slices in reloraBuffers order.
func reloraFields(f *fused.ReLoRAFactors) []*[]*ts.Tensor {
	return []*[]*ts.Tensor{&f.A, &f.B, &f.ExpAvgA, &f.ExpAvgSqA, &f.ExpAvgB, &f.ExpAvgSqB}
}

// bufferNames are the per-parameter state entries this optimizer keeps.
func (o *optimizer) bufferNames() []string {
	if o.relora != nil {
		return append(append([]string(nil), buffersOf[o.kind]...), reloraBuffers...)
	}
	return buffersOf[o.kind]
}

// ReLoRA trains some weights through factors (Lialin et al. 2023): after Start steps of ordinary
// (full-rank) training, each layer's weight W (in matrix form m×n) is trained as W₀ + B·A, with
// B (m×r) starting at zero and A (r×n) random, from W's gradient; every Every steps B·A is
// merged into W₀, B and A restart and their Adam moments are pruned (Reset, a fraction). The
// learning rate warms up linearly over Warmup steps after the start and after each merge (the
// jagged schedule), for every parameter. Other parameters train with Adam as usual.
type ReLoRA struct {
	Layers []ReLoRALayer
	Every  int
	Reset  float64
	Warmup int
	Start  int // steps of full-rank training first
}

// ReLoRALayer is a weight trained through factors: its variable's name, matrix form m×n and rank.
type ReLoRALayer struct {
	Name    string
	M, N, R int64
}

// reloraUpdate is a step of the ReLoRA phase: a merge and restart first when one is due, then
// the factors' step, the other parameters' Adam step, at the jagged learning rate.
func (o *optimizer) reloraUpdate() error {
	k := o.step - int64(o.relora.Start) // the phase's step, from 1
	since := (k - 1) % int64(o.relora.Every)
	if k == 1 { // the warm start's moments of the factored weights are never used again
		for i := range o.reloraOf {
			for _, b := range []string{"exp_avg", "exp_avg_sq"} {
				if t, ok := o.state[o.names[i]+"."+b]; ok {
					t.MustDrop()
					delete(o.state, o.names[i]+"."+b)
				}
			}
		}
		o.slices, o.split = nil, nil
	}
	sp, err := o.reloraTensors()
	if err != nil {
		return err
	}
	if k > 1 && since == 0 {
		if err := fused.ReLoRARestart(sp.factors, o.relora.Reset); err != nil {
			return fmt.Errorf("relora merge at step %d: %w", o.step, err)
		}
	}
	lr := o.lr
	if w := o.relora.Warmup; w > 0 {
		lr *= min(1, float64(since+1)/float64(w))
	}
	if err := fused.Adam(sp.rest, sp.restM, sp.restV, lr, o.beta1, o.beta2, o.eps, o.wd, o.kind == "adamw", o.step); err != nil {
		return err
	}
	return fused.ReLoRAStep(sp.factors, lr, o.beta1, o.beta2, o.eps, o.wd, o.kind == "adamw", k)
}

// reloraTensors returns the ReLoRA phase's tensors, making missing ones (B and the moments zero,
// A from U(−1/√n, 1/√n), drawn from libtorch's generator, which the trainer seeds per step). They
// are kept for the next steps until the state is replaced, as buffers' slices are.
func (o *optimizer) reloraTensors() (*reloraSplit, error) {
	if o.split != nil {
		return o.split, nil
	}
	m, err := o.buffers("exp_avg")
	if err != nil {
		return nil, err
	}
	v, err := o.buffers("exp_avg_sq")
	if err != nil {
		return nil, err
	}
	sp := &reloraSplit{}
	fields := reloraFields(&sp.factors)
	for i, p := range o.params {
		li, ok := o.reloraOf[i]
		if !ok {
			sp.rest, sp.restM, sp.restV = append(sp.rest, p), append(sp.restM, m[i]), append(sp.restV, v[i])
			continue
		}
		sp.factors.Weights = append(sp.factors.Weights, p)
		for bi, b := range reloraBuffers {
			key := o.names[i] + "." + b
			t, ok := o.state[key]
			if !ok {
				shape, _ := o.bufShape(i, b)
				if t, err = ts.Zeros(shape, p.DType(), p.MustDevice()); err != nil {
					return nil, err
				}
				if b == "relora_A" {
					bound := 1 / math.Sqrt(float64(o.relora.Layers[li].N))
					if err := t.Uniform_(-bound, bound); err != nil {
						return nil, err
					}
				}
				o.state[key] = t
			}
			*fields[bi] = append(*fields[bi], t)
		}
	}
	o.split = sp
	return sp, nil
}

// StateBytes is the size of the optimizer's state tensors, measured from the tensors it holds.
func (o *optimizer) StateBytes() int64 {
	var n int64
	for _, t := range o.state {
		n += int64(t.Numel()) * int64(t.DType().Size())
	}
	return n
}

// State returns the optimizer's state as torch.optim's state_dict(): {"state": {i: {"step",
// buffers...}}, "param_groups": [group]}, parameter i being the model's i-th trainable
// parameter in registration order, so that torch.optim.<Kind>(model.parameters())
// .load_state_dict takes it for the same model. The buffers are the optimizer's own tensors.
func (o *optimizer) State() (checkpoint.Dict, error) {
	var state checkpoint.Dict
	for i, n := range o.names {
		var entry checkpoint.Dict
		if o.kind != "sgd" && o.step > 0 {
			step, err := ts.NewTensorFromData([]float32{float32(o.step)}, []int64{1})
			if err != nil {
				return nil, err
			}
			scalar, err := step.Squeeze(true)
			if err != nil {
				return nil, err
			}
			entry = append(entry, checkpoint.Item{Key: "step", Value: scalar})
		}
		for _, b := range o.bufferNames() {
			if t, ok := o.state[n+"."+b]; ok {
				entry = append(entry, checkpoint.Item{Key: b, Value: t})
			}
		}
		if len(entry) > 0 {
			state = append(state, checkpoint.Item{Key: int64(i), Value: entry})
		}
	}
	return checkpoint.Dict{{Key: "state", Value: state}, {Key: "param_groups", Value: checkpoint.List{o.group()}}}, nil
}

// LoadState restores a state_dict that State or torch.optim wrote (or a checkpoint of an earlier
// lowrank, a flat "state.<param>.<buffer>" dict with a "step"). Everything is checked against the
// model first: one param group numbering as many parameters as the model has (and naming the same
// ones, when it names them), buffers this optimizer keeps, of their parameter's shape. Nothing
// changes when a check fails.
func (o *optimizer) LoadState(st *OptimizerState) error {
	if _, ok := st.Dict.Get("param_groups"); !ok {
		return o.loadFlatState(st.Tensors)
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("optimizer state does not fit the model: "+format, a...)
	}
	groups, _ := st.Dict.Get("param_groups")
	gl, ok := groups.(checkpoint.List)
	if !ok || len(gl) != 1 {
		return fail("want 1 param group, the file has %v", describeGroups(groups))
	}
	g, ok := gl[0].(checkpoint.Dict)
	if !ok {
		return fail("its param group is a %T, not a dict", gl[0])
	}
	params, _ := g.Get("params")
	pl, ok := params.(checkpoint.List)
	if !ok || len(pl) != len(o.names) {
		return fail("its param group has %v parameters, the model %d trainable ones", countOf(params), len(o.names))
	}
	if names, ok := g.Get("param_names"); ok {
		nl, _ := names.(checkpoint.List)
		for i, n := range nl {
			if i < len(o.names) && n != o.names[i] {
				return fail("parameter %d is %v in the file, %s in the model", i, n, o.names[i])
			}
		}
	}
	// The file's parameter numbers (params[i]) name the model's i-th parameter.
	index := map[int64]int{}
	for i, v := range pl {
		n, ok := v.(int64)
		if !ok {
			return fail("param number %v is not an integer", v)
		}
		index[n] = i
	}
	stateV, _ := st.Dict.Get("state")
	sd, ok := stateV.(checkpoint.Dict)
	if !ok && stateV != nil {
		return fail("state is a %T, not a dict", stateV)
	}
	known := map[string]bool{"step": true}
	for _, b := range o.bufferNames() {
		known[b] = true
	}
	loaded := map[string]*ts.Tensor{}
	var step int64
	for _, it := range sd {
		n, _ := it.Key.(int64)
		i, ok := index[n]
		if !ok {
			return fail("state for parameter %v, which its param group does not list", it.Key)
		}
		entry, ok := it.Value.(checkpoint.Dict)
		if !ok {
			return fail("state %v is a %T, not a dict", it.Key, it.Value)
		}
		for _, e := range entry {
			buf, _ := e.Key.(string)
			if !known[buf] {
				return fail("state %v holds %v, which %s does not keep", it.Key, e.Key, o.kind)
			}
			var t *ts.Tensor
			switch v := e.Value.(type) {
			case checkpoint.TensorKey:
				t = st.Tensors[string(v)]
			case int64:
				if buf == "step" {
					step = max(step, v)
					continue
				}
			case float64:
				if buf == "step" {
					step = max(step, int64(v))
					continue
				}
			}
			if t == nil {
				return fail("state %v.%s is a %T, not a tensor", it.Key, buf, e.Value)
			}
			if buf == "step" {
				step = max(step, int64(t.Float64Values()[0]))
				continue
			}
			want, keeps := o.bufShape(i, buf)
			if want == nil {
				want = o.params[i].MustSize()
			}
			if !keeps || fmt.Sprint(want) != fmt.Sprint(t.MustSize()) {
				return fail("%s's %s has shape %v in the file, the optimizer keeps %v", o.names[i], buf, t.MustSize(), want)
			}
			loaded[o.names[i]+"."+buf] = t
		}
	}
	return o.install(loaded, step)
}

// loadFlatState restores the flat "state.<param>.<buffer>" and "step" tensors that lowrank wrote
// before its optimizer.pt became a torch.optim state_dict.
func (o *optimizer) loadFlatState(st map[string]*ts.Tensor) error {
	step, ok := st["step"]
	if !ok {
		return fmt.Errorf("optimizer state has neither param_groups nor a step count: not an optimizer state_dict")
	}
	params := map[string]*ts.Tensor{}
	for i, n := range o.names {
		params[n] = o.params[i]
	}
	var problems []string
	loaded := map[string]*ts.Tensor{}
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
		loaded[rest] = v
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("optimizer state does not fit the model: %s", strings.Join(problems, "; "))
	}
	return o.install(loaded, step.Int64Values()[0])
}

// install makes the checked buffers ("<param>.<buffer>") the optimizer's state, on their
// parameter's device and in its layout.
func (o *optimizer) install(loaded map[string]*ts.Tensor, step int64) error {
	params := map[string]*ts.Tensor{}
	for i, n := range o.names {
		params[n] = o.params[i]
	}
	state := map[string]*ts.Tensor{}
	for name, v := range loaded {
		p := params[name[:strings.LastIndexByte(name, '.')]]
		dev, err := p.Device()
		if err != nil {
			return err
		}
		if v, err = v.To(dev, false); err != nil {
			return err
		}
		// A buffer takes its parameter's layout (checkpoints hold them contiguous), as a fresh
		// one made by ZerosLike would: the fused update then runs over matching strides.
		if layout.IsChannelsLast(p) && v.Dim() == 4 {
			if err := layout.Set([]*ts.Tensor{v}, true); err != nil {
				return err
			}
		}
		state[name] = v
	}
	o.state, o.slices, o.split, o.step = state, nil, nil, step
	return nil
}

func describeGroups(v any) string {
	if l, ok := v.(checkpoint.List); ok {
		return fmt.Sprint(len(l))
	}
	return fmt.Sprintf("a %T", v)
}

func countOf(v any) string {
	if l, ok := v.(checkpoint.List); ok {
		return fmt.Sprint(len(l))
	}
	return fmt.Sprintf("no list of (%T)", v)
}

// OptimizerStateBytes is what the configured optimizer's state takes for the variables of vs:
// its buffers are made (zeros, as the first step makes them) and measured, for `lowrank summary`.
func OptimizerStateBytes(c config.Optimizer, vs *nn.VarStore) (int64, error) {
	o, err := newOptimizer(optimizerFor(c), vs, c.LR)
	if err != nil {
		return 0, err
	}
	for _, b := range buffersOf[o.kind] {
		if b == "momentum_buffer" && o.momentum == 0 {
			continue
		}
		if _, err := o.buffers(b); err != nil {
			return 0, err
		}
	}
	n := o.StateBytes()
	for _, t := range o.state {
		t.MustDrop()
	}
	return n, nil
}
