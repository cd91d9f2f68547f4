// Package libtorch holds what lowrank needs of libtorch beyond gotch's API: the intra-op thread
// count, the seed of the default generators, and the facts of this build (libtorch's version and
// directory, CUDA or not, the generated gotch wrappers this libtorch could not compile), which
// install-libtorch.sh writes into cgo_generated.go with the cgo flags (tools/gotchprep).
package libtorch

// #include "libtorch.h"
import "C"

// Threads returns libtorch's intra-op thread count.
func Threads() int { return int(C.lowrank_get_num_threads()) }

// SetThreads sets libtorch's intra-op thread count (n ≥ 1).
func SetThreads(n int) { C.lowrank_set_num_threads(C.int(n)) }

// ManualSeed seeds libtorch's default random generators (CPU and CUDA).
func ManualSeed(seed int64) { C.lowrank_manual_seed(C.int64_t(seed)) }
