// Package malloc links the process's C allocator and says which one serves it.
//
// libtorch allocates every CPU tensor with C's malloc and frees it when the tensor dies, so a
// training step hands the allocator hundreds of large blocks. glibc's malloc returns large freed
// blocks to the kernel (mmap'd, or trimmed from the heap top) and faults fresh zeroed pages in on
// the next step; a caching allocator keeps them. With Debian's tcmalloc the same `lowrank bench`
// steps took 0.66–0.79× as long (see docs in the README's performance section).
//
// install-libtorch.sh writes link_generated.go (ignored by git) naming the allocator library
// to link (tcmalloc by default; LOWRANK_MALLOC=jemalloc or system chooses), placed before libc
// in the binary's needed libraries so that its malloc, free and friends interpose glibc's for
// the whole process, libtorch included. Without that file the package links nothing and glibc's
// malloc serves. Name reports the library that actually serves malloc at run time, whichever way
// it got there (linked, or LD_PRELOAD).
package malloc

// #cgo LDFLAGS: -ldl
// #define _GNU_SOURCE
// #include <dlfcn.h>
// #include <stdlib.h>
//
// static const char *malloc_library(void) {
//   Dl_info info;
//   if (dladdr((void *)malloc, &info) == 0 || info.dli_fname == NULL) return "";
//   return info.dli_fname;
// }
import "C"

import (
	"path/filepath"
	"strings"
)

// Library is the path of the shared library whose malloc this process calls ("" if unknown).
func Library() string { return C.GoString(C.malloc_library()) }

// Name classifies Library: "tcmalloc", "jemalloc", "glibc" or the library's file name.
func Name() string {
	return Classify(Library())
}

// Classify names the allocator a library path belongs to.
func Classify(path string) string {
	base := filepath.Base(path)
	switch {
	case path == "":
		return "unknown"
	case strings.Contains(base, "tcmalloc"):
		return "tcmalloc"
	case strings.Contains(base, "jemalloc"):
		return "jemalloc"
	case strings.HasPrefix(base, "libc.so") || strings.HasPrefix(base, "libc-"):
		return "glibc"
	}
	return base
}
