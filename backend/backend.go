package backend

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/lowrank-dev/lowrank/dist/c10d"
	"github.com/lowrank-dev/lowrank/internal/libtorch"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/malloc"
)

// Info describes the linked libtorch.
type Info struct {
	LibtorchVersion string `json:"libtorch_version"`
	LibtorchDir     string `json:"libtorch_dir"`
	BuiltWithCUDA   bool   `json:"built_with_cuda"`
	BLAS            string `json:"blas"`
	// Allocator names the C allocator serving malloc (tcmalloc, jemalloc, glibc) and
	// AllocatorLibrary its library: libtorch allocates every CPU tensor through it.
	Allocator        string   `json:"allocator"`
	AllocatorLibrary string   `json:"allocator_library"`
	Threads          int      `json:"intra_op_threads"`
	CUDAAvailable    bool     `json:"cuda_available"`
	CUDADevices      int      `json:"cuda_devices"`
	DisabledOps      []string `json:"disabled_ops"`
	// Distributed backends this build has (c10d): gloo, and nccl with a CUDA libtorch and NCCL.
	DistBackends []string `json:"dist_backends"`
}

// Describe gathers Info about the running process.
func Describe() Info {
	cu := gotch.CUDA
	avail := cu.IsAvailable()
	n := 0
	if avail {
		n = int(cu.DeviceCount())
	}
	return Info{
		LibtorchVersion:  libtorch.Version,
		LibtorchDir:      libtorch.Dir,
		BuiltWithCUDA:    libtorch.BuiltWithCUDA,
		BLAS:             BLAS(),
		Allocator:        malloc.Name(),
		AllocatorLibrary: malloc.Library(),
		Threads:          Threads(),
		CUDAAvailable:    avail,
		CUDADevices:      n,
		DisabledOps:      libtorch.DisabledOps,
		DistBackends:     distBackends(),
	}
}

// Threads returns libtorch's intra-op thread count.
func Threads() int { return libtorch.Threads() }

// SetThreads sets libtorch's intra-op thread count; n <= 0 means one per CPU core. The count
// is an OpenMP setting of the calling OS thread: call it from the locked thread that runs the
// model (see LockThread).
func SetThreads(n int) {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	libtorch.SetThreads(n)
}

// BLAS names the BLAS library mapped into this process (Debian's libtorch resolves it through
// libblas.so.3, so which one depends on the alternatives system), or "" if none is mapped.
func BLAS() string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return ""
	}
	defer f.Close()
	var found []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := fields[len(fields)-1]
		base := strings.ToLower(filepath.Base(path))
		if !(strings.Contains(base, "blas") || strings.Contains(base, "mkl_core")) || seen[path] {
			continue
		}
		seen[path] = true
		found = append(found, path)
	}
	return strings.Join(found, ", ")
}

// BLASKind classifies the path BLAS returned: "openblas", "mkl", "reference" or "unknown".
func BLASKind(path string) string {
	p := strings.ToLower(path)
	switch {
	case strings.Contains(p, "openblas"):
		return "openblas"
	case strings.Contains(p, "mkl"):
		return "mkl"
	case strings.Contains(p, "/blas/") || strings.HasSuffix(p, "libblas.so.3"):
		return "reference"
	}
	return "unknown"
}

// LockThread pins the calling goroutine to its OS thread, so that libtorch's thread-local state
// (grad mode, the last error) stays consistent; call the returned function to release it.
func LockThread() (unlock func()) {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

// Device parses a device name: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available).
func Device(name string) (gotch.Device, error) {
	cu := gotch.CUDA
	switch {
	case name == "" || name == "cpu":
		return gotch.CPU, nil
	case name == "auto":
		if cu.IsAvailable() {
			return gotch.CudaBuilder(0), nil
		}
		return gotch.CPU, nil
	case name == "cuda" || strings.HasPrefix(name, "cuda:"):
		idx := 0
		if name != "cuda" {
			if _, err := fmt.Sscanf(name, "cuda:%d", &idx); err != nil || idx < 0 {
				return gotch.CPU, fmt.Errorf("device %q: want cuda:N with N a device index", name)
			}
		}
		if !libtorch.BuiltWithCUDA || !cu.IsAvailable() {
			return gotch.CPU, fmt.Errorf("device %q: this libtorch (%s, %s) has no CUDA device; use device: cpu, or install a CUDA libtorch with LIBTORCH=/path ./install-libtorch.sh", name, libtorch.Version, libtorch.Dir)
		}
		if n := int(cu.DeviceCount()); idx >= n {
			return gotch.CPU, fmt.Errorf("device %q: only %d CUDA device(s) present", name, n)
		}
		return gotch.CudaBuilder(uint(idx)), nil
	}
	return gotch.CPU, fmt.Errorf("device %q: want cpu, cuda, cuda:N or auto", name)
}

// ManualSeed seeds libtorch's random generators (parameter init, dropout, randn).
func ManualSeed(seed int64) { libtorch.ManualSeed(seed) }

// NoGrad runs f with gradient recording off and then restores the previous mode, even if f
// panics. Grad mode is per OS thread in libtorch, so the goroutine stays on its thread
// throughout (gotch's ts.NoGrad neither pins the thread nor restores the previous mode).
func NoGrad(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := ts.GradSetEnabled(false)
	if err == nil {
		defer ts.GradSetEnabled(prev)
	}
	f()
}

func distBackends() []string {
	out := []string{}
	if c10d.HasGloo() {
		out = append(out, "gloo")
	}
	if c10d.HasNCCL() {
		out = append(out, "nccl")
	}
	return out
}
