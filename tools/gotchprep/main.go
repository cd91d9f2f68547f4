// Command gotchprep prepares a private copy of github.com/sugarme/gotch for the libtorch found on
// this machine. install-libtorch.sh runs it; every change it makes to gotch is listed here, in one
// place, and each is the smallest that works:
//
//  1. libtch/lib.go is rewritten with cgo flags for the chosen libtorch (include and library
//     directories, C++ ABI, CPU or CUDA libraries, an rpath so binaries find it at run time).
//     Upstream hard-codes CUDA libraries and a libtorch folder inside the module.
//  2. Generated C++ wrappers (libtch/torch_api_generated.cpp.h) that this libtorch cannot compile
//     are found from the compiler's own errors, not from a list, and their bodies are replaced by
//     code that sets gotch's error slot to "op X is not available in libtorch V". The Go side then
//     returns that error; nothing crashes. gotch v0.9.1 was generated for libtorch 2.1.0, so
//     against 1.13 about a hundred ops are disabled; against 2.1 none are.
//  3. Generated Go ops receive their outputs through an array that upstream allocates with
//     C.malloc(0) and never frees (gotch issue #115): every op leaks, and ops with several outputs
//     write past the allocation. The array becomes a small Go array of 8 slots (the most any op
//     returns is 7), freed by the garbage collector.
//  4. Three bindings (AtGradSetEnabled, AtDevice, Atc_cuda_device_count) read a 4-byte C int
//     through an 8-byte Go int pointer, so their results carry stack garbage: the previous grad
//     mode comes back as false (so "restore the previous mode" leaves gradients off) and a
//     tensor's device index is wrong. They become plain int(x) conversions.
//  5. (Withdrawn: the thread count, seed and build facts are lowrank's own internal/libtorch.)
//  6. Generated in-place ops (x.Add_, x.DivScalar_, ...) store the new handle C returns over the
//     old one without freeing it; the leaked handle keeps the tensor's storage alive after the
//     tensor is dropped (an Adam step leaked every temporary: out of memory within epochs). The
//     old handle is freed.
//  7. nn.Path.Sub appends the new element to its parent's path slice, so two sub-paths of one
//     parent can share a backing array: creating the second overwrites the first's last name,
//     and its variables land under the sibling's name (gotch then renames the clash "x__12").
//     Sub copies the slice instead.
//  8. nn/lowrank_ext.go is added: VarStore.NamedVariables, the store's own tensors by name.
//     VarStore.Variables returns struct copies of them, which dangle (and crash) once the store
//     is garbage-collected while the copies are still in use.
//  9. ts.newTensor loses its per-tensor bookkeeping (a 100 KB Go allocation meant to push the
//     garbage collector, a formatted name, a mutex-guarded map): a live-tensor count requests a
//     collection when it doubles instead (tensorbook.go). Measured in the README's bench notes.
//     10–12. (Withdrawn: lowrank's C++ — the fused optimizer, memory layouts, c10d — lives in its own
//     packages, internal/fused, internal/layout and dist/c10d. gotchprep only writes each of them,
//     and internal/libtorch, a git-ignored cgo_generated.go with this libtorch's flags.)
//  13. nn.VarStore records the order its variables are added in (one field, one line in
//     Path.add) and nn/lowrank_ext.go's VarStore.Names returns it: PyTorch's optimizer state_dicts
//     number parameters in registration order, which gotch's map of variables loses.
//
// The copy is rebuilt only when its inputs change (a stamp file records them), so a re-run is fast.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var c config
	flag.StringVar(&c.src, "src", "", "gotch module directory (go list -m -f {{.Dir}} github.com/sugarme/gotch)")
	flag.StringVar(&c.dst, "dst", "third_party/gotch", "where the prepared copy is written")
	flag.StringVar(&c.include, "include", "", "libtorch include directory (holds ATen/ and torch/)")
	flag.StringVar(&c.libdir, "libdir", "", "libtorch library directory (holds libtorch.so)")
	flag.StringVar(&c.version, "version", "", "libtorch version, e.g. 1.13.0")
	flag.IntVar(&c.abi, "abi", 1, "value of _GLIBCXX_USE_CXX11_ABI libtorch was built with (0 or 1)")
	flag.BoolVar(&c.cuda, "cuda", false, "link libtorch's CUDA libraries")
	flag.StringVar(&c.cudaDir, "cuda-dir", "/usr/local/cuda", "CUDA toolkit directory, with -cuda")
	flag.StringVar(&c.cxx, "cxx", "g++", "C++ compiler used to probe the wrappers")
	flag.BoolVar(&c.force, "force", false, "rebuild the copy even if its stamp matches")
	flag.StringVar(&c.repo, "repo", ".", "lowrank's repository root: each of its C++ packages gets a cgo_generated.go")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "gotchprep:", err)
		os.Exit(1)
	}
}
