package backend_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

func TestBLASKind(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3", "openblas"},
		{"/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "reference"},
		{"/opt/libtorch/lib/libmkl_core.so", "mkl"},
		{"", "unknown"},
	} {
		if got := backend.BLASKind(tc.path); got != tc.want {
			t.Errorf("BLASKind(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestSetThreads(t *testing.T) {
	defer backend.SetThreads(0)
	backend.SetThreads(1)
	if got := backend.Threads(); got != 1 {
		t.Fatalf("Threads() = %d after SetThreads(1)", got)
	}
	backend.SetThreads(0)
	if got := backend.Threads(); got != runtime.NumCPU() {
		t.Fatalf("Threads() = %d after SetThreads(0), want NumCPU = %d", got, runtime.NumCPU())
	}
}

func TestDevice(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    gotch.Device
		wantErr string
	}{
		{"cpu", gotch.CPU, ""},
		{"", gotch.CPU, ""},
		{"tpu", gotch.CPU, "want cpu, cuda, cuda:N or auto"},
		{"cuda:x", gotch.CPU, "want cuda:N"},
	} {
		got, err := backend.Device(tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Device(%q) error = %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Device(%q) = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if !gotch.CUDA.IsAvailable() {
		if _, err := backend.Device("cuda"); err == nil || !strings.Contains(err.Error(), "no CUDA device") {
			t.Errorf("Device(cuda) without CUDA: error = %v, want a clear one", err)
		}
		if d, err := backend.Device("auto"); err != nil || d != gotch.CPU {
			t.Errorf("Device(auto) without CUDA = %v, %v; want CPU", d, err)
		}
	}
}

// A wrapper this libtorch cannot compile must report an error through the Go API, not crash.
func TestDisabledOpReturnsError(t *testing.T) {
	info := backend.Describe()
	disabled := false
	for _, op := range info.DisabledOps {
		if op == "atg_nonzero_static" {
			disabled = true
		}
	}
	if !disabled {
		t.Skipf("atg_nonzero_static compiles against libtorch %s; nothing to check", info.LibtorchVersion)
	}
	defer backend.LockThread()()
	x := ts.MustOfSlice([]float32{0, 1, 0, 2})
	_, err := x.NonzeroStatic(4, -1, false)
	if err == nil || !strings.Contains(err.Error(), "not available in libtorch") {
		t.Fatalf("NonzeroStatic error = %v, want 'not available in libtorch'", err)
	}
	// The error slot is cleared: the next op works.
	y, err := x.Add(x, false)
	if err != nil {
		t.Fatalf("op after a disabled op failed: %v", err)
	}
	if got := y.Float64Values(); got[3] != 4 {
		t.Fatalf("x+x = %v", got)
	}
}

// End to end through gotch: a two-layer MLP fits a random regression target with Adam.
func TestTrainingLowersLoss(t *testing.T) {
	defer backend.LockThread()()
	backend.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	l1 := nn.NewLinear(vs.Root().Sub("fc1"), 16, 32, nn.DefaultLinearConfig())
	l2 := nn.NewLinear(vs.Root().Sub("fc2"), 32, 1, nn.DefaultLinearConfig())
	opt, err := nn.DefaultAdamConfig().Build(vs, 1e-2)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ts.Randn([]int64{64, 16}, gotch.Float, gotch.CPU)
	w, _ := ts.Randn([]int64{16, 1}, gotch.Float, gotch.CPU)
	y, _ := x.Matmul(w, false)
	var first, last float64
	for step := 0; step < 100; step++ {
		h := l1.Forward(x)
		h2, _ := h.Relu(true)
		out := l2.Forward(h2)
		loss, err := out.MseLoss(y, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.BackwardStep(loss); err != nil {
			t.Fatal(err)
		}
		v := loss.Float64Values()[0]
		loss.MustDrop()
		h2.MustDrop()
		if step == 0 {
			first = v
		}
		last = v
	}
	if !(last < 0.1*first) {
		t.Fatalf("loss went from %g to %g in 100 Adam steps; want a drop of 10x", first, last)
	}
}

// gotch's AtGradSetEnabled used to read a C int as a Go int, so the "previous" mode was
// garbage and restoring it left gradients off; the prepared copy fixes the read.
func TestNoGradRestoresGradMode(t *testing.T) {
	defer backend.LockThread()()
	if _, err := ts.GradSetEnabled(true); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		var inside bool
		backend.NoGrad(func() {
			prev, _ := ts.GradSetEnabled(false)
			inside = prev
		})
		if inside {
			t.Fatal("gradients were on inside NoGrad")
		}
		if prev, _ := ts.GradSetEnabled(true); !prev {
			t.Fatalf("round %d: NoGrad left gradients off", i)
		}
	}
}
