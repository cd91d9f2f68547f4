package train

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// stateNet is a factorized linear layer (fc, 6 → 5 at rank 2) then a dense one (out, 5 → 3):
// registration order differs from sorted order, as in every model.
type stateNet struct {
	vs   *nn.VarStore
	fc   *lowrank.Linear
	w, b *ts.Tensor // out: 3×5 and 3
}

func newStateNet(t *testing.T) *stateNet {
	t.Helper()
	backend.ManualSeed(3)
	vs := nn.NewVarStore(gotch.CPU)
	fc, err := lowrank.NewLinear(vs.Root().Sub("fc"), 6, 5, lowrank.LinearConfig{Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// out registers weight then bias, as torch.nn.Linear (gotch's nn.NewLinear registers the
	// bias first).
	n := &stateNet{vs: vs, fc: fc}
	for _, v := range []struct {
		dst  **ts.Tensor
		name string
		dims []int64
	}{{&n.w, "weight", []int64{3, 5}}, {&n.b, "bias", []int64{3}}} {
		init, _ := ts.Rand(v.dims, gotch.Float, gotch.CPU)
		if *v.dst, err = vs.Root().Sub("out").Add(v.name, init, true); err != nil {
			t.Fatal(err)
		}
		init.MustDrop()
	}
	return n
}

// stateNetTorch is the same network in PyTorch, for the scripts below.
const stateNetTorch = `
import sys, torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Module()
        self.fc.linear = torch.nn.Sequential(torch.nn.Linear(6, 2), torch.nn.Linear(2, 5))
        self.out = torch.nn.Linear(5, 3)
    def forward(self, x):
        return self.out(torch.tanh(self.fc.linear(x)))
x = torch.linspace(-1, 1, 24).reshape(4, 6)
def loss(m):
    return (m(x) ** 2).sum() / 2
`

// step runs one step of loss = Σ out(tanh(fc(x)))² / 2 on the fixed x of stateNetTorch.
func (n *stateNet) step(t *testing.T, opt *optimizer) {
	t.Helper()
	x, _ := ts.Linspace(ts.FloatScalar(-1), ts.FloatScalar(1), 24, gotch.Float, gotch.CPU)
	x2, _ := x.Reshape([]int64{4, 6}, true)
	h, err := n.fc.Forward(x2)
	if err != nil {
		t.Fatal(err)
	}
	th, _ := h.Tanh(true)
	y, _ := ts.Linear(th, n.w, n.b)
	sq, _ := y.Square(true)
	s, _ := sq.Sum(gotch.Float, true)
	loss, _ := s.DivScalar(ts.FloatScalar(2), true)
	if err := opt.BackwardStep(loss, nil); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
	th.MustDrop()
	x2.MustDrop()
}

// weights returns every variable's values by name.
func weights(vs *nn.VarStore) map[string][]float64 {
	out := map[string][]float64{}
	for n, v := range vs.NamedVariables() {
		out[n] = v.Float64Values()
	}
	return out
}

func sameWeights(t *testing.T, what string, got, want map[string][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for n, w := range want {
		g, ok := got[n]
		if !ok || len(g) != len(w) {
			t.Fatalf("%s: %s missing or of another size", what, n)
		}
		if d, scale := torchref.MaxDiff(g, w); d > tol*max(1, scale) {
			t.Errorf("%s: %s differs by %g", what, n, d)
		}
	}
}

// optimizer.pt is torch.optim's own state_dict: PyTorch's optimizer of the same kind, built over
// model.parameters() of the same network, loads what Go wrote after two steps and its third step
// equals Go's; the state_dict PyTorch then saves loads back here and the fourth step agrees too.
// Before, optimizer.pt was a flat state.<param>.<buffer> dict that load_state_dict refused.
func TestOptimizerStateIsTorchOptimStateDict(t *testing.T) {
	torchref.Require(t)
	for _, tc := range []struct {
		opt   Optimizer
		torch string
	}{
		{Optimizer{Name: "sgd", Momentum: 0.9, WeightDecay: 5e-4}, "SGD(m.parameters(), lr=LR, momentum=0.9, weight_decay=5e-4)"},
		{Optimizer{Name: "adam", WeightDecay: 5e-4}, "Adam(m.parameters(), lr=LR, weight_decay=5e-4)"},
		{Optimizer{Name: "adamw", WeightDecay: 0.01}, "AdamW(m.parameters(), lr=LR, weight_decay=0.01)"},
		{Optimizer{Name: "rmsprop", Momentum: 0.9}, "RMSprop(m.parameters(), lr=LR, momentum=0.9)"},
	} {
		t.Run(tc.opt.Name, func(t *testing.T) {
			defer backend.LockThread()()
			const lr = 0.05
			dir := t.TempDir()
			net := newStateNet(t)
			opt, err := newOptimizer(tc.opt, net.vs, lr)
			if err != nil {
				t.Fatal(err)
			}
			net.step(t, opt)
			net.step(t, opt)
			st, err := opt.State()
			if err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.Save(filepath.Join(dir, "model.pt"), net.vs.NamedVariables()); err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.SaveObject(filepath.Join(dir, "optimizer.pt"), st); err != nil {
				t.Fatal(err)
			}
			net.step(t, opt) // step 3 in Go
			afterThree := weights(net.vs)

			script := stateNetTorch + fmt.Sprintf(`
d = sys.argv[1]; LR = %g
m = Net(); m.load_state_dict(torch.load(d + '/model.pt', weights_only=True), strict=True)
opt = torch.optim.%s
# weights_only=False: torch 1.13's safe unpickler cannot read floats, in any optimizer state_dict.
opt.load_state_dict(torch.load(d + '/optimizer.pt'))
opt.zero_grad(); loss(m).backward(); opt.step()
torch.save(m.state_dict(), d + '/model3.pt')
torch.save(opt.state_dict(), d + '/optimizer3.pt')
`, lr, tc.torch)
			if out, err := exec.Command(torchref.Python, "-c", script, dir).CombinedOutput(); err != nil {
				t.Fatalf("PyTorch could not continue from optimizer.pt: %v\n%s", err, out)
			}
			torch3, err := checkpoint.Load(filepath.Join(dir, "model3.pt"))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]float64{}
			for n, v := range torch3 {
				got[n] = v.Float64Values()
			}
			checkpoint.Drop(torch3)
			sameWeights(t, "PyTorch's step 3 against Go's", got, afterThree, 1e-5)

			// PyTorch's state_dict back into a fresh Go network and optimizer: step 4 agrees.
			net.step(t, opt)
			afterFour := weights(net.vs)
			back := newStateNet(t)
			w, err := checkpoint.Load(filepath.Join(dir, "model3.pt"))
			if err != nil {
				t.Fatal(err)
			}
			if err := checkpoint.Apply(back.vs.NamedVariables(), w); err != nil {
				t.Fatal(err)
			}
			checkpoint.Drop(w)
			bopt, err := newOptimizer(tc.opt, back.vs, lr)
			if err != nil {
				t.Fatal(err)
			}
			d, tensors, err := checkpoint.LoadObject(filepath.Join(dir, "optimizer3.pt"), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := bopt.LoadState(&OptimizerState{Dict: d, Tensors: tensors}); err != nil {
				t.Fatal(err)
			}
			if tc.opt.Name != "sgd" && bopt.step != 3 {
				t.Errorf("step count %d after PyTorch's state_dict of step 3", bopt.step)
			}
			back.step(t, bopt)
			sameWeights(t, "step 4 from PyTorch's state against Go's", weights(back.vs), afterFour, 1e-5)
		})
	}
}

// A state_dict that does not fit the model is refused, naming what differs, and the optimizer's
// state is left as it was.
func TestOptimizerStateMismatchRefused(t *testing.T) {
	defer backend.LockThread()()
	net := newStateNet(t)
	opt, err := newOptimizer(Optimizer{Name: "adam"}, net.vs, 0.01)
	if err != nil {
		t.Fatal(err)
	}
	net.step(t, opt)
	good, err := opt.State()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "optimizer.pt")
	if err := checkpoint.SaveObject(path, good); err != nil {
		t.Fatal(err)
	}
	load := func(t *testing.T, edit func(d checkpoint.Dict) checkpoint.Dict) error {
		d, tensors, err := checkpoint.LoadObject(path, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		return opt.LoadState(&OptimizerState{Dict: edit(d), Tensors: tensors})
	}
	group := func(d checkpoint.Dict) checkpoint.Dict {
		g, _ := d.Get("param_groups")
		return g.(checkpoint.List)[0].(checkpoint.Dict)
	}
	set := func(d checkpoint.Dict, key string, v any) {
		for i := range d {
			if d[i].Key == key {
				d[i].Value = v
			}
		}
	}
	before := opt.state["fc.linear.0.weight.exp_avg"].Float64Values()
	for _, tc := range []struct {
		name, want string
		edit       func(d checkpoint.Dict) checkpoint.Dict
	}{
		{"fewer parameters", "param group has 5 parameters, the model 6", func(d checkpoint.Dict) checkpoint.Dict {
			set(group(d), "params", checkpoint.List{int64(0), int64(1), int64(2), int64(3), int64(4)})
			return d
		}},
		{"another parameter's name", "parameter 0 is fc.linear.0.bias in the file, fc.linear.0.weight in the model", func(d checkpoint.Dict) checkpoint.Dict {
			nl, _ := group(d).Get("param_names")
			nl.(checkpoint.List)[0] = "fc.linear.0.bias"
			return d
		}},
		{"two groups", "want 1 param group, the file has 2", func(d checkpoint.Dict) checkpoint.Dict {
			set(d, "param_groups", checkpoint.List{group(d), group(d)})
			return d
		}},
		{"a buffer of another shape", "has shape [2 6] in the file, the optimizer keeps [2]", func(d checkpoint.Dict) checkpoint.Dict {
			st, _ := d.Get("state")
			s := st.(checkpoint.Dict)
			s[0].Key, s[1].Key = s[1].Key, s[0].Key // weight's state for the bias and back
			return d
		}},
		{"another optimizer's buffer", "holds momentum_buffer, which adam does not keep", func(d checkpoint.Dict) checkpoint.Dict {
			st, _ := d.Get("state")
			e := st.(checkpoint.Dict)[0].Value.(checkpoint.Dict)
			e[1].Key = "momentum_buffer"
			return d
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := load(t, tc.edit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if got := opt.state["fc.linear.0.weight.exp_avg"].Float64Values(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Error("a refused state changed the optimizer")
			}
		})
	}
}
