package checkpoint_test

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/models"
)

func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := exec.Command(torchref.Python, append([]string{"-c", script}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestRoundTripDtypes(t *testing.T) {
	defer backend.LockThread()()
	backend.ManualSeed(1)
	x, _ := ts.Randn([]int64{3, 4}, gotch.Float, gotch.CPU)
	tensors := map[string]*ts.Tensor{"f32": x}
	for name, dt := range map[string]gotch.DType{"f64": gotch.Double, "f16": gotch.Half, "bf16": gotch.BFloat16, "i64": gotch.Int64} {
		c, _ := x.Totype(dt, false)
		tensors[name] = c
	}
	one, _ := ts.Ones([]int64{1}, gotch.Int64, gotch.CPU)
	tensors["scalar"], _ = one.Squeeze(true)
	path := filepath.Join(t.TempDir(), "m.pt")
	if err := checkpoint.Save(path, tensors); err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range tensors {
		g := got[name]
		if g == nil || g.DType() != want.DType() || fmt.Sprint(g.MustSize()) != fmt.Sprint(want.MustSize()) {
			t.Fatalf("%s: got %v", name, g)
		}
		if fmt.Sprint(g.Float64Values()) != fmt.Sprint(want.Float64Values()) {
			t.Errorf("%s: values differ", name)
		}
	}
}

// A model saved by Go loads in PyTorch with weights_only=True and strict load_state_dict, and
// gives the same outputs there.
func TestGoSavedLoadsInPyTorch(t *testing.T) {
	torchref.Require(t)
	defer backend.LockThread()()
	backend.ManualSeed(4)
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewCharLSTM(vs.Root(), models.LSTMConfig{}, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "lstm.pt")
	if err := checkpoint.Save(path, vs.NamedVariables()); err != nil {
		t.Fatal(err)
	}
	x, _ := ts.Randint(100, []int64{2, 12}, gotch.Int64, gotch.CPU)
	var y *ts.Tensor
	backend.NoGrad(func() { y, err = m.Forward(x, false) })
	if err != nil {
		t.Fatal(err)
	}
	script := `
import sys, torch
sys.path.insert(0, "../models/testdata")
from torch_models import CharLSTM
m = CharLSTM(False)
state = torch.load(sys.argv[1], weights_only=True)
m.load_state_dict(state, strict=True)
m.eval()
x = torch.tensor(` + fmt.Sprint(x.Int64Values()) + `).reshape(2, 12)
with torch.no_grad():
    print(" ".join(repr(v) for v in m(x).flatten().tolist()))`
	script = strings.Replace(script, fmt.Sprint(x.Int64Values()), strings.ReplaceAll(fmt.Sprint(x.Int64Values()), " ", ", "), 1)
	if !weightsOnlySupported(t) {
		script = strings.Replace(script, ", weights_only=True", "", 1)
	}
	var want []float32
	for _, f := range strings.Fields(python(t, script, path)) {
		var v float64
		fmt.Sscan(f, &v)
		want = append(want, float32(v))
	}
	diff, scale := torchref.MaxDiff(y.Float64Values(), want)
	if len(want) != int(y.Numel()) || diff > 1e-4*max(1, scale) {
		t.Errorf("PyTorch outputs differ by %g (%d values, Go %d)", diff, len(want), y.Numel())
	}
}

func weightsOnlySupported(t *testing.T) bool {
	return python(t, "import torch, inspect; print('weights_only' in inspect.signature(torch.load).parameters)") == "True"
}

// A state dict saved by Python (with _metadata, num_batches_tracked, a transposed view and a
// slice sharing one storage) loads in Go with the same values.
func TestPythonSavedLoadsInGo(t *testing.T) {
	torchref.Require(t)
	defer backend.LockThread()()
	path := filepath.Join(t.TempDir(), "py.pt")
	out := python(t, `
import sys, torch
torch.manual_seed(0)
bn = torch.nn.BatchNorm2d(3)
bn.train(); bn(torch.randn(4, 3, 2, 2))
sd = bn.state_dict()
base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
sd["t"] = base.t()
sd["s"] = base[1:, 1:3]
sd["h"] = base.half()
torch.save(sd, sys.argv[1])
print(" ".join(repr(v) for v in sd["running_mean"].tolist()), sd["num_batches_tracked"].item())`, path)
	got, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"t": "[0 4 8 1 5 9 2 6 10 3 7 11]", "s": "[5 6 9 10]", "h": "[0 1 2 3 4 5 6 7 8 9 10 11]",
		"num_batches_tracked": "[1]",
	}
	for k, w := range want {
		if got[k] == nil || fmt.Sprint(got[k].Float64Values()) != w {
			t.Errorf("%s = %v, want %s", k, got[k], w)
		}
	}
	if fmt.Sprint(got["t"].MustSize()) != "[4 3]" || got["num_batches_tracked"].DType() != gotch.Int64 || len(got["num_batches_tracked"].MustSize()) != 0 {
		t.Errorf("shapes/dtypes: %v %v", got["t"].MustSize(), got["num_batches_tracked"].MustSize())
	}
	fields := strings.Fields(out)
	if len(fields) != 4 || fields[3] != "1" {
		t.Fatalf("python printed %q", out)
	}
	for i, v := range got["running_mean"].Float64Values() {
		var want float64
		fmt.Sscan(fields[i], &want)
		if math.Abs(v-want) > 1e-7 {
			t.Errorf("running_mean[%d] = %g, PyTorch %g", i, v, want)
		}
	}
}

func TestBadFilesAreErrors(t *testing.T) {
	dir := t.TempDir()
	defer backend.LockThread()()
	x, _ := ts.Ones([]int64{2, 2}, gotch.Float, gotch.CPU)
	good := filepath.Join(dir, "good.pt")
	if err := checkpoint.Save(good, map[string]*ts.Tensor{"w": x}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	vs := nn.NewVarStore(gotch.CPU)
	vs.Root().MustOnes("w", []int64{2, 2})
	tsPath := filepath.Join(dir, "script.pt")
	if err := vs.Save(tsPath); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(dir, "legacy.pt")
	if exec.Command(torchref.Python, "-c", "import torch,sys; torch.save({'w': torch.ones(2)}, sys.argv[1], _use_new_zipfile_serialization=False)", legacy).Run() != nil {
		os.WriteFile(legacy, []byte("\x80\x02}q\x00."), 0o644)
	}
	for _, tc := range []struct {
		name, path, want string
		content          []byte
	}{
		{"truncated", "trunc.pt", "not a torch.save zip archive", raw[:len(raw)/2]},
		{"garbage", "garbage.pt", "not a torch.save zip archive", []byte("hello, world")},
		{"torchscript", tsPath, "TorchScript archive", nil},
		{"legacy", legacy, "legacy (non-zip)", nil},
		{"missing", "nope.pt", "no such file", nil},
	} {
		p := tc.path
		if tc.content != nil {
			p = filepath.Join(dir, tc.path)
			os.WriteFile(p, tc.content, 0o644)
		} else if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if _, err := checkpoint.Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A model whose names and shapes do not match is left untouched.
	loaded, _ := checkpoint.Load(good)
	vs2 := nn.NewVarStore(gotch.CPU)
	w2 := vs2.Root().MustZeros("w2", []int64{3})
	err := checkpoint.Apply(vs2.NamedVariables(), loaded)
	if err == nil || !strings.Contains(err.Error(), "missing w2") || !strings.Contains(err.Error(), "unexpected w") {
		t.Errorf("Apply: %v", err)
	}
	if fmt.Sprint(w2.Float64Values()) != "[0 0 0]" {
		t.Error("a failed Apply changed the model")
	}
}

func FuzzLoad(f *testing.F) {
	dir := f.TempDir()
	unlock := backend.LockThread()
	x, _ := ts.Ones([]int64{2, 3}, gotch.Float, gotch.CPU)
	good := filepath.Join(dir, "seed.pt")
	if err := checkpoint.Save(good, map[string]*ts.Tensor{"a": x, "b.c": x}); err != nil {
		f.Fatal(err)
	}
	unlock()
	raw, _ := os.ReadFile(good)
	f.Add(raw)
	f.Add(raw[:100])
	f.Add([]byte("\x80\x02}q\x00."))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer backend.LockThread()()
		p := filepath.Join(t.TempDir(), "f.pt")
		os.WriteFile(p, data, 0o644)
		if m, err := checkpoint.Load(p); err == nil {
			checkpoint.Drop(m)
		}
	})
}

// The reference registers some modules twice (its ResNet's body and common/personalized);
// PyTorch saves such a module once per name, sharing storage. Those aliases load.
func TestAliasedKeysFromPyTorch(t *testing.T) {
	torchref.Require(t)
	path := filepath.Join(t.TempDir(), "aliased.pt")
	python(t, `
import sys, torch
torch.manual_seed(0)
m = torch.nn.Module()
m.body = torch.nn.Sequential(torch.nn.Linear(3, 2))
m.common = torch.nn.Sequential(m.body[0])
torch.save(m.state_dict(), sys.argv[1])`, path)
	defer backend.LockThread()()
	loaded, aliases, err := checkpoint.LoadAliased(path)
	if err != nil {
		t.Fatal(err)
	}
	if aliases["common.0.weight"] != "body.0.weight" || len(loaded) != 4 {
		t.Fatalf("aliases %v, %d tensors", aliases, len(loaded))
	}
	vs := nn.NewVarStore(gotch.CPU)
	w := vs.Root().Sub("body").Sub("0").MustZeros("weight", []int64{2, 3})
	vs.Root().Sub("body").Sub("0").MustZeros("bias", []int64{2})
	if err := checkpoint.Apply(vs.NamedVariables(), loaded, aliases); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.Float64Values()) != fmt.Sprint(loaded["body.0.weight"].Float64Values()) {
		t.Error("weights not copied")
	}
	if err := checkpoint.Apply(vs.NamedVariables(), loaded); err == nil {
		t.Error("without the alias map the duplicate keys are unexpected")
	}
}

// A model saved by PyTorch loads in Go and gives PyTorch's outputs.
func TestPythonModelGivesSameOutputsInGo(t *testing.T) {
	torchref.Require(t)
	path := filepath.Join(t.TempDir(), "lstm.pt")
	out := python(t, `
import sys, torch
sys.path.insert(0, "../models/testdata")
from torch_models import CharLSTM
torch.manual_seed(3)
m = CharLSTM(True)
for p in m.parameters():
    torch.nn.init.uniform_(p, -0.1, 0.1)
torch.save(m.state_dict(), sys.argv[1])
x = torch.arange(24).reshape(2, 12) % 100
with torch.no_grad():
    print(" ".join(repr(v) for v in m(x).flatten().tolist()))`, path)
	defer backend.LockThread()()
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewCharLSTM(vs.Root(), models.LSTMConfig{}, models.Config{Method: models.LowRank, Compat: models.Reference})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Apply(vs.NamedVariables(), loaded); err != nil {
		t.Fatal(err)
	}
	xs := make([]int64, 24)
	for i := range xs {
		xs[i] = int64(i % 100)
	}
	x, _ := ts.NewTensorFromData(xs, []int64{2, 12})
	var y *ts.Tensor
	backend.NoGrad(func() { y, err = m.Forward(x, false) })
	if err != nil {
		t.Fatal(err)
	}
	var want []float32
	for _, f := range strings.Fields(out) {
		var v float64
		fmt.Sscan(f, &v)
		want = append(want, float32(v))
	}
	diff, scale := torchref.MaxDiff(y.Float64Values(), want)
	if len(want) != int(y.Numel()) || diff > 1e-4*max(1, scale) {
		t.Errorf("outputs differ by %g (scale %g)", diff, scale)
	}
}

// Files written atomically get 0666 less the umask, as os.WriteFile's (os.CreateTemp made them
// 0600), and leave no temporary file behind.
func TestWriteFileAtomicMode(t *testing.T) {
	dir := t.TempDir()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(dir, "model.pt")
	if err := checkpoint.WriteFileAtomic(path, []byte("x")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v (%v), want -rw-r--r--", st.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the folder, want 1", len(ents))
	}
}

// A small file that inflates to far more than its model is refused before it is inflated: a
// 32 MiB storage of zeros deflated to about 32 KB, against the limit of a 1,000-parameter model
// (it was read whole, and a 2 GiB claim ended in "C malloc failed").
func TestLoadLimitRefusesInflatedStorages(t *testing.T) {
	dir := t.TempDir()
	big, err := ts.Zeros([]int64{8 << 20}, gotch.Float, gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(dir, "stored.pt")
	if err := checkpoint.Save(stored, map[string]*ts.Tensor{"w": big}); err != nil {
		t.Fatal(err)
	}
	big.MustDrop()
	// Re-pack every entry deflated.
	zr, err := zip.OpenReader(stored)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, _ := f.Open()
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate})
		io.Copy(w, rc)
		rc.Close()
	}
	zw.Close()
	deflated := filepath.Join(dir, "deflated.pt")
	os.WriteFile(deflated, buf.Bytes(), 0o644)
	if buf.Len() > 1<<20 {
		t.Fatalf("the deflated file is %d bytes", buf.Len())
	}
	small, _ := ts.Zeros([]int64{1000}, gotch.Float, gotch.CPU)
	defer small.MustDrop()
	limit := checkpoint.LimitFor(map[string]*ts.Tensor{"w": small})
	t.Setenv("LOWRANK_CHECKPOINT_LIMIT_MB", "")
	if _, err := checkpoint.LoadLimit(deflated, 1<<20); err == nil || !strings.Contains(err.Error(), "this load may allocate") {
		t.Errorf("1 MiB limit: err = %v", err)
	}
	if limit != 4*4000+64<<20 {
		t.Errorf("LimitFor = %d", limit)
	}
	got, err := checkpoint.LoadLimit(deflated, limit) // 64 MiB + 16 KB: it fits
	if err != nil || got["w"].Numel() != 8<<20 {
		t.Fatalf("within the limit: %v", err)
	}
	checkpoint.Drop(got)
	t.Setenv("LOWRANK_CHECKPOINT_LIMIT_MB", "16")
	if checkpoint.LimitFor(nil) != 16<<20 {
		t.Errorf("LOWRANK_CHECKPOINT_LIMIT_MB ignored")
	}
}
