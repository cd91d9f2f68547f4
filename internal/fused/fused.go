// Package fused applies optimizer updates to many parameters in one call into libtorch (one
// cgo call per step instead of several per parameter). See fused.cpp for the update rules.
package fused

// #cgo CXXFLAGS: -I${SRCDIR}/../cxx
// #include <stdlib.h>
// #include "fused.h"
import "C"

import (
	"runtime"
	"unsafe"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/cxx"
)

func handles(xs []*ts.Tensor) []unsafe.Pointer { return cxx.Handles(xs) }

func result(msg *C.char) error { return cxx.Error(unsafe.Pointer(msg)) }

// SGD sets p -= lr·b with b = μ·b + (g + wd·p) (b = g + wd·p without momentum) for every
// parameter with a gradient, then zeroes the gradients. bufs are zero before the first step.
func SGD(params, bufs []*ts.Tensor, lr, momentum, wd float64) error {
	p, b := handles(params), handles(bufs)
	err := result(C.lowrank_sgd_step((*unsafe.Pointer)(unsafe.Pointer(&p[0])), (*unsafe.Pointer)(unsafe.Pointer(&b[0])),
		C.int(len(params)), C.double(lr), C.double(momentum), C.double(wd)))
	runtime.KeepAlive(params)
	runtime.KeepAlive(bufs)
	return err
}

// Adam applies step (from 1) of Adam, or of AdamW with decoupled, to every parameter with a
// gradient, then zeroes the gradients.
func Adam(params, expAvg, expAvgSq []*ts.Tensor, lr, beta1, beta2, eps, wd float64, decoupled bool, step int64) error {
	p, m, v := handles(params), handles(expAvg), handles(expAvgSq)
	dec := 0
	if decoupled {
		dec = 1
	}
	err := result(C.lowrank_adam_step((*unsafe.Pointer)(unsafe.Pointer(&p[0])), (*unsafe.Pointer)(unsafe.Pointer(&m[0])),
		(*unsafe.Pointer)(unsafe.Pointer(&v[0])), C.int(len(params)), C.double(lr), C.double(beta1), C.double(beta2),
		C.double(eps), C.double(wd), C.int(dec), C.longlong(step)))
	runtime.KeepAlive(params)
	runtime.KeepAlive(expAvg)
	runtime.KeepAlive(expAvgSq)
	return err
}

// RMSprop applies one RMSprop step (not centered) to every parameter with a gradient, then
// zeroes the gradients; bufs are used with momentum only.
func RMSprop(params, squareAvg, bufs []*ts.Tensor, lr, alpha, eps, momentum, wd float64) error {
	p, s, b := handles(params), handles(squareAvg), handles(bufs)
	err := result(C.lowrank_rmsprop_step((*unsafe.Pointer)(unsafe.Pointer(&p[0])), (*unsafe.Pointer)(unsafe.Pointer(&s[0])),
		(*unsafe.Pointer)(unsafe.Pointer(&b[0])), C.int(len(params)), C.double(lr), C.double(alpha), C.double(eps),
		C.double(momentum), C.double(wd)))
	runtime.KeepAlive(params)
	runtime.KeepAlive(squareAvg)
	runtime.KeepAlive(bufs)
	return err
}

// ClipGradNorm scales every parameter's gradient by min(1, maxNorm / (‖g‖ + 1e-6)), ‖g‖ the
// global L2 norm of all of them, as torch.nn.utils.clip_grad_norm_.
func ClipGradNorm(params []*ts.Tensor, maxNorm float64) error {
	p := handles(params)
	err := result(C.lowrank_clip_grad_norm((*unsafe.Pointer)(unsafe.Pointer(&p[0])), C.int(len(params)), C.double(maxNorm)))
	runtime.KeepAlive(params)
	return err
}

// GaLore applies step (from 1) of GaLore's AdamW (fused.cpp) to every parameter with a
// gradient: through its projector projs[i] (a tensor C++ refreshes from the gradient's SVD at
// steps 1, 1+every, ...), or unprojected where projs[i] is nil. Then it zeroes the gradients.
func GaLore(params, expAvg, expAvgSq, projs []*ts.Tensor, lr, beta1, beta2, eps, wd float64, step int64, every int, scale float64) error {
	p, m, v, pr := handles(params), handles(expAvg), handles(expAvgSq), handles(projs)
	err := result(C.lowrank_galore_step((*unsafe.Pointer)(unsafe.Pointer(&p[0])), (*unsafe.Pointer)(unsafe.Pointer(&m[0])),
		(*unsafe.Pointer)(unsafe.Pointer(&v[0])), (*unsafe.Pointer)(unsafe.Pointer(&pr[0])), C.int(len(params)), C.double(lr),
		C.double(beta1), C.double(beta2), C.double(eps), C.double(wd), C.longlong(step), C.int(every), C.double(scale)))
	runtime.KeepAlive(params)
	runtime.KeepAlive(expAvg)
	runtime.KeepAlive(expAvgSq)
	runtime.KeepAlive(projs)
	return err
}

// ReLoRAFactors are the ReLoRA factors of weights W (W = W₀ + B·A) and their Adam moments, each
// slice in the weights' order.
type ReLoRAFactors struct {
	Weights, A, B, ExpAvgA, ExpAvgSqA, ExpAvgB, ExpAvgSqB []*ts.Tensor
}

func ptr(h []unsafe.Pointer) *unsafe.Pointer { return cxx.Array(h) }

// ReLoRAStep applies step t (from 1) of Adam, or AdamW with decoupled, to every weight's factors
// from its gradient and moves the weight by the change of B·A (fused.cpp); gradients are zeroed.
func ReLoRAStep(f ReLoRAFactors, lr, beta1, beta2, eps, wd float64, decoupled bool, step int64) error {
	d := 0
	if decoupled {
		d = 1
	}
	err := result(C.lowrank_relora_step(ptr(handles(f.Weights)), ptr(handles(f.A)), ptr(handles(f.B)), ptr(handles(f.ExpAvgA)),
		ptr(handles(f.ExpAvgSqA)), ptr(handles(f.ExpAvgB)), ptr(handles(f.ExpAvgSqB)), C.int(len(f.Weights)), C.double(lr),
		C.double(beta1), C.double(beta2), C.double(eps), C.double(wd), C.int(d), C.longlong(step)))
	runtime.KeepAlive(f)
	return err
}

// ReLoRARestart merges and restarts every weight's factors: B = 0, A redrawn, and the moments
// pruned to the entries above the reset quantile of |m| (fused.cpp).
func ReLoRARestart(f ReLoRAFactors, reset float64) error {
	err := result(C.lowrank_relora_restart(ptr(handles(f.A)), ptr(handles(f.B)), ptr(handles(f.ExpAvgA)), ptr(handles(f.ExpAvgSqA)),
		ptr(handles(f.ExpAvgB)), ptr(handles(f.ExpAvgSqB)), C.int(len(f.A)), C.double(reset)))
	runtime.KeepAlive(f)
	return err
}
