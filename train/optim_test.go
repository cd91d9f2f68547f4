package train

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/internal/torchref"
)

// Five steps of each optimizer on loss = Σ c·p²/2 + b·p, compared with torch.optim.
func TestOptimizersMatchPyTorch(t *testing.T) {
	torchref.Require(t)
	p0 := []float32{0.5, -1.5, 2, 0.25, -0.75, 1}
	c := []float32{1, 2, 0.5, 3, 1.5, 0.2}
	b := []float32{0.1, -0.2, 0.3, 0, 0.5, -1}
	for _, tc := range []struct {
		opt   Optimizer
		torch string
	}{
		{Optimizer{Name: "sgd"}, "SGD(ps, lr=LR)"},
		{Optimizer{Name: "sgd", Momentum: 0.9, WeightDecay: 5e-4}, "SGD(ps, lr=LR, momentum=0.9, weight_decay=5e-4)"},
		{Optimizer{Name: "adam", WeightDecay: 5e-4}, "Adam(ps, lr=LR, weight_decay=5e-4)"},
		{Optimizer{Name: "adamw", WeightDecay: 0.01}, "AdamW(ps, lr=LR, weight_decay=0.01)"},
		{Optimizer{Name: "rmsprop"}, "RMSprop(ps, lr=LR)"},
		{Optimizer{Name: "rmsprop", Momentum: 0.9, WeightDecay: 5e-4}, "RMSprop(ps, lr=LR, momentum=0.9, weight_decay=5e-4)"},
		// train.clip_grad_norm: the gradients (norm about 3 here) clipped to 0.5 before each step.
		{Optimizer{Name: "sgd", Momentum: 0.9, ClipGradNorm: 0.5}, "SGD(ps, lr=LR, momentum=0.9); CLIP = 0.5"},
		{Optimizer{Name: "adam", ClipGradNorm: 0.5}, "Adam(ps, lr=LR); CLIP = 0.5"},
	} {
		t.Run(tc.torch, func(t *testing.T) {
			defer backend.LockThread()()
			const lr = 0.05
			vs := nn.NewVarStore(gotch.CPU)
			init, _ := ts.NewTensorFromData(p0, []int64{6})
			p, err := vs.Root().Add("p", init, true)
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := ts.NewTensorFromData(c, []int64{6})
			bs, _ := ts.NewTensorFromData(b, []int64{6})
			opt, err := newOptimizer(tc.opt, vs, lr)
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 5; step++ {
				sq, _ := p.Square(false)
				q, _ := sq.Mul(cs, true)
				l1, _ := q.Sum(gotch.Float, true)
				half, _ := l1.MulScalar(ts.FloatScalar(0.5), true)
				lin, _ := p.Mul(bs, false)
				l2, _ := lin.Sum(gotch.Float, true)
				loss, _ := half.Add(l2, true)
				l2.MustDrop()
				if err := opt.BackwardStep(loss, nil); err != nil {
					t.Fatal(err)
				}
				loss.MustDrop()
			}
			got := p.Float64Values()
			script := fmt.Sprintf(`
import torch
p = torch.tensor(%s, requires_grad=True); c = torch.tensor(%s); b = torch.tensor(%s)
ps = [p]; LR = %g; CLIP = 0
opt = torch.optim.%s
for _ in range(5):
    opt.zero_grad(); loss = (c * p * p).sum() / 2 + (b * p).sum(); loss.backward()
    if CLIP: torch.nn.utils.clip_grad_norm_(ps, CLIP)
    opt.step()
print(" ".join(repr(x) for x in p.tolist()))`, list(p0), list(c), list(b), lr, tc.torch)
			out, err := exec.Command(torchref.Python, "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for i, f := range strings.Fields(string(out)) {
				want, _ := strconv.ParseFloat(f, 64)
				if d := got[i] - want; d > 1e-6 || d < -1e-6 {
					t.Errorf("p[%d] = %.8f, PyTorch %.8f", i, got[i], want)
				}
			}
		})
	}
}

func list(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
