// Helpers shared by lowrank's C++ packages (internal/fused, internal/layout): their cgo flags add
// this folder to the include path.
#ifndef LOWRANK_GUARD_H
#define LOWRANK_GUARD_H
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace lowrank {

// T is the tensor behind a gotch handle (a torch::Tensor*).
inline at::Tensor &T(void *h) { return *static_cast<at::Tensor *>(h); }

// message copies what into memory from malloc, which the Go side frees.
inline char *message(const char *what) {
  char *m = static_cast<char *>(std::malloc(std::strlen(what) + 1));
  if (m != nullptr) std::strcpy(m, what);
  return m;
}

// guarded runs f without recording gradients and returns NULL, or the message of the C++
// exception it threw (unknown: what failed, for exceptions that are not std::exception).
template <typename F>
char *guarded(const char *unknown, F f) {
  try {
    at::NoGradGuard no_grad;
    f();
    return nullptr;
  } catch (const std::exception &e) {
    return message(e.what());
  } catch (...) {
    return message(unknown);
  }
}

}  // namespace lowrank
#endif
