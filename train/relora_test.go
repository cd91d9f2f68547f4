package train

import (
	"fmt"
	"testing"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/internal/fused"
	"github.com/lowrank-dev/lowrank/internal/torchref"
)

// matmulValues is a·b for row-major a (m×k) and b (k×n).
func matmulValues(a, b []float64, m, k, n int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for l := 0; l < k; l++ {
				out[i*n+j] += a[i*k+l] * b[l*n+j]
			}
		}
	}
	return out
}

func maxAbsDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = max(d, a[i]-b[i], b[i]-a[i])
	}
	return d
}

// ReLoRA (rank 2, one full-rank warm-start step, merges every 3 steps, learning-rate warm-up of
// 2 steps, half the factors' Adam state pruned at a merge) on w1 (6×4) and w2 (3×6):
//   - after every step of the phase W − W₀ = B·A (1e-6), W₀ the weight at the phase's start or
//     at the last merge, so the weights move only through the factors;
//   - the first three steps equal PyTorch training W₀ + B·A with torch.optim.Adam on A and B
//     (a fresh Adam) and the bias (its warm-start Adam continued), at the jagged learning rate;
//   - a merge leaves the weights, and so the model's outputs, exactly as they were, restarts B at
//     zero and A afresh, and prunes m and v together (where m is zero, v is).
func TestReLoRAMovesWeightsThroughFactorsAndMergeKeepsOutputs(t *testing.T) {
	torchref.Require(t)
	defer backend.LockThread()()
	const lr = 0.05
	rl := &ReLoRA{Layers: []ReLoRALayer{{Name: "w1", M: 6, N: 4, R: 2}, {Name: "w2", M: 3, N: 6, R: 2}}, Every: 3, Reset: 0.5, Warmup: 2, Start: 1}
	net := newGaloreNet(t)
	opt, err := newOptimizer(Optimizer{Name: "adam", ReLoRA: rl}, net.vs, lr)
	if err != nil {
		t.Fatal(err)
	}
	backend.ManualSeed(11)
	net.step(t, opt) // the full-rank warm start
	w0 := weights(net.vs)
	sp, err := opt.reloraTensors() // A drawn now (B zero), so that PyTorch can start from it
	if err != nil {
		t.Fatal(err)
	}
	f := sp.factors
	a0 := map[string][]float64{"w1": f.A[0].Float64Values(), "w2": f.A[1].Float64Values()}
	check := func(when string, base map[string][]float64) {
		t.Helper()
		w := weights(net.vs)
		for i, l := range rl.Layers {
			ba := matmulValues(f.B[i].Float64Values(), f.A[i].Float64Values(), int(l.M), int(l.R), int(l.N))
			delta := make([]float64, len(ba))
			for j := range delta {
				delta[j] = w[l.Name][j] - base[l.Name][j]
			}
			if d := maxAbsDiff(delta, ba); d > 1e-6 {
				t.Errorf("%s: %s − W₀ differs from B·A by %g", when, l.Name, d)
			}
		}
	}
	for k := 1; k <= 3; k++ {
		net.step(t, opt)
		check(fmt.Sprintf("ReLoRA step %d", k), w0)
	}
	got := weights(net.vs)

	list, init := pyList, galoreInitValues
	script := fmt.Sprintf(`
import torch
w1 = torch.tensor(%s).reshape(6, 4).requires_grad_()
w2 = torch.tensor(%s).reshape(3, 6).requires_grad_()
b = torch.tensor(%s).requires_grad_()
x = torch.linspace(-1, 1.2, 20).reshape(4, 5)
loss = lambda W1, W2: ((W2 @ torch.tanh(W1 @ x) + b[:, None]) ** 2).sum() / 2
lr = 0.05
dense = torch.optim.Adam([w1, w2, b], lr=lr)
dense.zero_grad(); loss(w1, w2).backward(); dense.step()
W01, W02 = w1.detach().clone(), w2.detach().clone()
A1 = torch.tensor(%s).reshape(2, 4).requires_grad_(); B1 = torch.zeros(6, 2, requires_grad=True)
A2 = torch.tensor(%s).reshape(2, 6).requires_grad_(); B2 = torch.zeros(3, 2, requires_grad=True)
factors = torch.optim.Adam([A1, B1, A2, B2], lr=lr)
bias = torch.optim.Adam([b], lr=lr); bias.load_state_dict(dense.state_dict() | {"param_groups": [dict(dense.param_groups[0], params=[0])], "state": {0: dense.state_dict()["state"][2]}})
for k in range(1, 4):
    for o in (factors, bias):
        for g in o.param_groups: g["lr"] = lr * min(1, k / 2)
        o.zero_grad()
    loss(W01 + B1 @ A1, W02 + B2 @ A2).backward()
    factors.step(); bias.step()
with torch.no_grad():
    out = torch.cat([(W01 + B1 @ A1).flatten(), (W02 + B2 @ A2).flatten(), b])
print(" ".join(repr(v) for v in out.tolist()))
`, list(init("w1")), list(init("w2")), list(init("b")), list(a0["w1"]), list(a0["w2"]))
	want := runFloats(t, script)
	flat := append(append(append([]float64{}, got["w1"]...), got["w2"]...), got["b"]...)
	if len(want) != len(flat) {
		t.Fatalf("%d values from PyTorch, %d here", len(want), len(flat))
	}
	if d := maxAbsDiff(flat, want); d > 1e-5 {
		t.Errorf("ReLoRA's first 3 steps differ from PyTorch's W₀ + B·A training by %g", d)
	}

	// Step 4 of the phase merges first: W₀ becomes the weights after step 3.
	net.step(t, opt)
	if sp, err = opt.reloraTensors(); err != nil {
		t.Fatal(err)
	}
	f = sp.factors
	check("the step after a merge", got)

	// A merge by itself: weights (so outputs) untouched, B zero, moments pruned together.
	before := weights(net.vs)
	if err := fused.ReLoRARestart(f, 0.5); err != nil {
		t.Fatal(err)
	}
	sameWeights(t, "a merge", weights(net.vs), before, 0)
	for i := range rl.Layers {
		for _, v := range f.B[i].Float64Values() {
			if v != 0 {
				t.Fatalf("B not restarted at zero: %v", f.B[i].Float64Values())
			}
		}
		m, v := f.ExpAvgA[i].Float64Values(), f.ExpAvgSqA[i].Float64Values()
		zeros := 0
		for j := range m {
			if m[j] == 0 {
				zeros++
				if v[j] != 0 {
					t.Errorf("layer %d: a pruned m over a kept v (entry %d)", i, j)
				}
			}
		}
		if zeros < len(m)/2 {
			t.Errorf("layer %d: %d of %d moments pruned, want half", i, zeros, len(m))
		}
	}
}
