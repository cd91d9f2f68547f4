// libtorch's intra-op thread count and default generators' seed (gotch's C API has them, its Go
// API does not).
#include <ATen/Parallel.h>
#include <ATen/Context.h>

#include "libtorch.h"

extern "C" int lowrank_get_num_threads(void) { return at::get_num_threads(); }

extern "C" void lowrank_set_num_threads(int n) { at::set_num_threads(n); }

extern "C" void lowrank_manual_seed(int64_t seed) { at::manual_seed(seed); }
