// Package torchref runs PyTorch (Debian's python3-torch under /usr/bin/python3) from tests, to
// compare numerics with the reference implementation's framework. Tensors travel as raw
// little-endian files listed in a manifest.json.
package torchref

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Python is the interpreter whose torch the tests compare against.
const Python = "/usr/bin/python3"

// Require skips t when PyTorch is not installed (./install-libtorch.sh --test installs it).
func Require(t testing.TB) {
	t.Helper()
	if err := exec.Command(Python, "-c", "import torch").Run(); err != nil {
		t.Skipf("PyTorch not available under %s (./install-libtorch.sh --test installs python3-torch): %v", Python, err)
	}
}

// Entry is one tensor in a manifest.
type Entry struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
	DType string  `json:"dtype"`
	File  string  `json:"file"`
}

// Manifest lists a state dict and an input. With Checkpoint, the state dict is that
// torch.save file instead (loaded with weights_only=True, every tensor required contiguous).
type Manifest struct {
	Tensors    []Entry `json:"tensors"`
	Input      Entry   `json:"input"`
	Checkpoint string  `json:"checkpoint,omitempty"`
}

// WriteTensor writes t raw into dir/file and describes it.
func WriteTensor(dir, name, file string, t *ts.Tensor) (Entry, error) {
	e := Entry{Name: name, Shape: t.MustSize(), File: file}
	var buf []byte
	switch t.DType() {
	case gotch.Int64:
		e.DType = "int64"
		for _, v := range t.Int64Values() {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
		}
	default:
		e.DType = "float32"
		for _, v := range t.Float64Values() {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(v)))
		}
	}
	return e, os.WriteFile(filepath.Join(dir, file), buf, 0o644)
}

// Run writes vars and input to a fresh directory, runs script with args (then that directory),
// and returns the float32 output and its shape.
func Run(t testing.TB, script string, args []string, vars map[string]*ts.Tensor, input *ts.Tensor) ([]float32, []int64) {
	t.Helper()
	dir := t.TempDir()
	var m Manifest
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		e, err := WriteTensor(dir, n, fmt.Sprintf("t%d.bin", i), vars[n])
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, e)
	}
	return run(t, script, args, dir, m, input)
}

// RunCheckpoint is Run with the state dict in the torch.save file at path, as a user's PyTorch
// program would load it.
func RunCheckpoint(t testing.TB, script string, args []string, path string, input *ts.Tensor) ([]float32, []int64) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, script, args, t.TempDir(), Manifest{Checkpoint: abs}, input)
}

// run writes input and the manifest m into dir, runs script, and reads its output back.
func run(t testing.TB, script string, args []string, dir string, m Manifest, input *ts.Tensor) ([]float32, []int64) {
	t.Helper()
	var err error
	if m.Input, err = WriteTensor(dir, "input", "input.bin", input); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, append(append([]string{script}, args...), dir)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
	var meta struct{ Shape []int64 }
	raw, err = os.ReadFile(filepath.Join(dir, "output.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "output.bin"))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(bin)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(bin[4*i:]))
	}
	return out, meta.Shape
}

// MaxDiff returns max|a−b| and max|b|.
func MaxDiff[T float32 | float64](a []float64, b []T) (diff, scale float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(a[i]-float64(b[i])))
		scale = math.Max(scale, math.Abs(float64(b[i])))
	}
	return diff, scale
}
