package train

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/internal/torchref"
)

// galoreNet: w1 (6×4, projected from the right), w2 (3×6, from the left), b (3, unprojected)
// under loss = Σ (w2·tanh(w1·x) + b)² / 2 on a fixed x (4×5).
type galoreNet struct {
	vs        *nn.VarStore
	w1, w2, b *ts.Tensor
}

var galoreInit = map[string][]float32{
	"w1": {0.3, -0.2, 0.5, 0.1, -0.4, 0.2, 0.3, -0.1, 0.6, 0.1, -0.3, 0.2, 0.1, 0.5, -0.2, 0.4, -0.3, 0.2, 0.1, 0.6, 0.2, -0.5, 0.3, 0.1},
	"w2": {0.2, 0.4, -0.1, 0.3, -0.2, 0.5, -0.3, 0.1, 0.2, 0.6, 0.1, -0.2, 0.5, -0.4, 0.3, 0.2, 0.1, -0.1},
	"b":  {0.1, -0.2, 0.3},
}

func newGaloreNet(t *testing.T) *galoreNet {
	t.Helper()
	n := &galoreNet{vs: nn.NewVarStore(gotch.CPU)}
	for _, v := range []struct {
		dst  **ts.Tensor
		name string
		dims []int64
	}{{&n.w1, "w1", []int64{6, 4}}, {&n.w2, "w2", []int64{3, 6}}, {&n.b, "b", []int64{3}}} {
		init, _ := ts.NewTensorFromData(galoreInit[v.name], v.dims)
		var err error
		if *v.dst, err = n.vs.Root().Add(v.name, init, true); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (n *galoreNet) step(t *testing.T, opt *optimizer) {
	t.Helper()
	x0, _ := ts.Linspace(ts.FloatScalar(-1), ts.FloatScalar(1.2), 20, gotch.Float, gotch.CPU)
	x, _ := x0.Reshape([]int64{4, 5}, true)
	h, _ := n.w1.Matmul(x, false)
	th, _ := h.Tanh(true)
	y, _ := n.w2.Matmul(th, false)
	th.MustDrop()
	bc, _ := n.b.Unsqueeze(1, false)
	z, _ := y.Add(bc, true)
	sq, _ := z.Square(true)
	s, _ := sq.Sum(gotch.Float, true)
	loss, _ := s.DivScalar(ts.FloatScalar(2), true)
	if err := opt.BackwardStep(loss, nil); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	bc.MustDrop()
	x.MustDrop()
}

// Three GaLore steps (rank 2, projector refreshed every 2 steps: at steps 1 and 3; weight decay
// 0.1, scale 0.5) equal a hand computation of GaLore's AdamW in PyTorch from the gradients'
// torch.linalg.svd: w1 (6×4) projected from the right, w2 (3×6) from the left, b unprojected.
// The state saved after step 2 and loaded into a fresh optimizer gives the same step 3.
func TestGaloreStepMatchesHandComputation(t *testing.T) {
	torchref.Require(t)
	defer backend.LockThread()()
	spec := Optimizer{Name: "galore-adamw", WeightDecay: 0.1, GaloreRank: 2, GaloreEvery: 2, GaloreScale: 0.5}
	const lr = 0.05
	net := newGaloreNet(t)
	opt, err := newOptimizer(spec, net.vs, lr)
	if err != nil {
		t.Fatal(err)
	}
	net.step(t, opt)
	net.step(t, opt)
	st, err := opt.State()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := checkpoint.SaveObject(filepath.Join(dir, "optimizer.pt"), st); err != nil {
		t.Fatal(err)
	}
	afterTwo := weights(net.vs)
	net.step(t, opt)
	got := weights(net.vs)
	if m := opt.state["w1.exp_avg"].MustSize(); fmt.Sprint(m) != "[6 2]" || fmt.Sprint(opt.state["w2.exp_avg"].MustSize()) != "[2 6]" {
		t.Errorf("moment shapes %v and %v, want [6 2] (right) and [2 6] (left)", m, opt.state["w2.exp_avg"].MustSize())
	}
	if _, ok := opt.state["b.projector"]; ok {
		t.Error("the bias has a projector")
	}

	list, init := pyList, galoreInitValues
	script := fmt.Sprintf(`
import torch
w1 = torch.tensor(%s).reshape(6, 4).requires_grad_()
w2 = torch.tensor(%s).reshape(3, 6).requires_grad_()
b = torch.tensor(%s).requires_grad_()
x = torch.linspace(-1, 1.2, 20).reshape(4, 5)
lr, b1, b2, eps, wd, r, every, scale = 0.05, 0.9, 0.999, 1e-6, 0.1, 2, 2, 0.5
state = {}
for step in range(1, 4):
    for p in (w1, w2, b): p.grad = None
    loss = ((w2 @ torch.tanh(w1 @ x) + b[:, None]) ** 2).sum() / 2
    loss.backward()
    with torch.no_grad():
        for name, p in (("w1", w1), ("w2", w2), ("b", b)):
            g = p.grad
            s = state.setdefault(name, {})
            proj = None
            if p.dim() == 2 and min(p.shape) > r:
                right = p.shape[0] >= p.shape[1]
                if (step - 1) %% every == 0:
                    U, S, Vh = torch.linalg.svd(g, full_matrices=False)
                    s["P"] = Vh[:r] if right else U[:, :r]
                proj = s["P"]
                g = g @ proj.T if right else proj.T @ g
            m = s.get("m", torch.zeros_like(g)) * b1 + (1 - b1) * g
            v = s.get("v", torch.zeros_like(g)) * b2 + (1 - b2) * g * g
            s["m"], s["v"] = m, v
            n = m / (v.sqrt() + eps)
            if proj is not None:
                n = (n @ proj if right else proj @ n) * scale
            p -= lr * (1 - b2 ** step) ** 0.5 / (1 - b1 ** step) * n
            p -= lr * wd * p
print(" ".join(repr(v) for v in torch.cat([w1.flatten(), w2.flatten(), b]).tolist()))
`, list(init("w1")), list(init("w2")), list(init("b")))
	want := runFloats(t, script)
	flat := append(append(append([]float64{}, got["w1"]...), got["w2"]...), got["b"]...)
	if len(flat) != len(want) {
		t.Fatalf("%d values from PyTorch, %d here", len(want), len(flat))
	}
	if d, scale := torchref.MaxDiff(flat, want); d > 1e-5*max(1, scale) {
		t.Errorf("GaLore's 3 steps differ from the hand computation by %g", d)
	}

	// Resume: the state after step 2 (moments and projectors) gives the same step 3.
	back := newGaloreNet(t)
	for n, v := range afterTwo {
		tt, _ := ts.NewTensorFromData(toF32(v), back.vs.NamedVariables()[n].MustSize())
		backend.NoGrad(func() { back.vs.NamedVariables()[n].Copy_(tt) })
	}
	bopt, err := newOptimizer(spec, back.vs, lr)
	if err != nil {
		t.Fatal(err)
	}
	d, tensors, err := checkpoint.LoadObject(filepath.Join(dir, "optimizer.pt"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := bopt.LoadState(&OptimizerState{Dict: d, Tensors: tensors}); err != nil {
		t.Fatal(err)
	}
	back.step(t, bopt)
	sameWeights(t, "step 3 after a resume", weights(back.vs), got, 1e-6)
	if bytes := opt.StateBytes(); bytes != 4*(2*6*2+2*4+2*2*6+3*2+2*3) {
		t.Errorf("state of %d bytes, want the moments in the projected shapes and the projectors", bytes)
	}
}

func toF32(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

// pyList writes xs as a Python list literal, to 10 significant digits.
func pyList(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.FormatFloat(x, 'g', 10, 64)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// galoreInitValues are galoreNet's initial values of a parameter.
func galoreInitValues(name string) []float64 {
	out := make([]float64, len(galoreInit[name]))
	for i, v := range galoreInit[name] {
		out[i] = float64(v)
	}
	return out
}

// runFloats runs a Python script that prints numbers and returns them.
func runFloats(t *testing.T, script string) []float64 {
	t.Helper()
	out, err := exec.Command(torchref.Python, "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var vals []float64
	for _, f := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		vals = append(vals, v)
	}
	return vals
}
