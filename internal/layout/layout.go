// Package layout sets the memory layout of 4-d tensors (contiguous NCHW or channels_last NHWC)
// as PyTorch's Module.to(memory_format=...) does. See layout.cpp.
package layout

// #cgo CXXFLAGS: -I${SRCDIR}/../cxx
// #include <stdlib.h>
// #include "layout.h"
import "C"

import (
	"runtime"
	"unsafe"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/cxx"
)

// Set stores every 4-d tensor of ts in the channels_last layout (channelsLast) or the
// contiguous one, in place, keeping each tensor's identity and requires_grad; other tensors are
// left as they are. Call it before the first backward: gradients already allocated keep their
// layout.
func Set(tensors []*ts.Tensor, channelsLast bool) error {
	h := handles(tensors)
	cl := 0
	if channelsLast {
		cl = 1
	}
	msg := C.lowrank_set_layout((*unsafe.Pointer)(unsafe.Pointer(&h[0])), C.int(len(tensors)), C.int(cl))
	runtime.KeepAlive(tensors)
	return result(msg)
}

// SetDouble stores every floating-point tensor of ts as float64, in place, keeping each
// tensor's identity and layout (for numerics checked at double precision).
func SetDouble(tensors []*ts.Tensor) error {
	h := handles(tensors)
	msg := C.lowrank_set_double((*unsafe.Pointer)(unsafe.Pointer(&h[0])), C.int(len(tensors)))
	runtime.KeepAlive(tensors)
	return result(msg)
}

func handles(xs []*ts.Tensor) []unsafe.Pointer { return cxx.Handles(xs) }

func result(msg *C.char) error { return cxx.Error(unsafe.Pointer(msg)) }

// IsChannelsLast reports whether t is a 4-d tensor stored channels_last (and not also
// contiguous, as a tensor with one channel or a 1×1 map can be).
func IsChannelsLast(t *ts.Tensor) bool {
	r := C.lowrank_is_channels_last(t.Ctensor())
	runtime.KeepAlive(t)
	return r == 1
}
