// Memory layouts: PyTorch's Module.to(memory_format=...) for a list of tensors. A 4-d tensor
// (N, C, H, W) is stored either contiguous (W fastest, then H, C, N) or channels_last (C
// fastest, then W, H, N: NHWC in memory with NCHW sizes). The layout changes no value and no
// shape, only the strides, and so which kernels libtorch picks: oneDNN's convolutions run
// natively on NHWC, and a thin k×k → r convolution followed by a 1×1 one saves the
// reorders between them.
#include "guard.h"
#include "layout.h"

using lowrank::T;

// lowrank_set_layout stores every 4-d tensor of the list in the layout (channels_last or
// contiguous), in place: set_data keeps the tensor's identity, its requires_grad and its place
// in the autograd graph, as Module.to(memory_format=...) does. Other tensors are left alone. A
// gradient already allocated keeps its layout; call this before the first backward.
extern "C" char *lowrank_set_layout(void **tensors, int n, int channels_last) {
  return lowrank::guarded("unknown C++ exception while changing a tensor's memory layout", [&] {
    const auto fmt = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    for (int i = 0; i < n; i++) {
      at::Tensor &t = T(tensors[i]);
      if (!t.defined() || t.dim() != 4 || t.is_contiguous(fmt)) continue;
      t.set_data(t.contiguous(fmt));
    }
  });
}

// lowrank_is_channels_last reports whether a 4-d tensor is stored channels_last (1) or not (0).
extern "C" int lowrank_is_channels_last(void *tensor) {
  try {
    const at::Tensor &t = T(tensor);
    return t.defined() && t.dim() == 4 && t.is_contiguous(at::MemoryFormat::ChannelsLast) &&
           !t.is_contiguous(at::MemoryFormat::Contiguous);
  } catch (...) {
    return 0;
  }
}

// lowrank_set_double stores every floating-point tensor of the list as float64, in place
// (set_data, keeping each tensor's identity and layout), for numerics checked at double precision.
extern "C" char *lowrank_set_double(void **tensors, int n) {
  return lowrank::guarded("unknown C++ exception while converting a tensor to float64", [&] {
    for (int i = 0; i < n; i++) {
      at::Tensor &t = T(tensors[i]);
      if (!t.defined() || !t.is_floating_point() || t.scalar_type() == at::kDouble) continue;
      t.set_data(t.to(at::kDouble));
    }
  });
}
