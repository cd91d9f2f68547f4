// Package cxx is what lowrank's C++ packages (internal/fused, internal/layout, dist/c10d) share:
// guard.h for their C++ (their cgo flags add this folder to the include path), and on the Go
// side the tensor handles they pass to C++ and the errors C++ returns.
package cxx

// #include <stdlib.h>
import "C"

import (
	"errors"
	"unsafe"

	"github.com/sugarme/gotch/ts"
)

// Handles returns the C++ tensor handles (torch::Tensor*) of xs, nil for a nil tensor, with one
// spare slot so that the array is never empty. The caller keeps xs alive over the call.
func Handles(xs []*ts.Tensor) []unsafe.Pointer {
	h := make([]unsafe.Pointer, len(xs)+1)
	for i, x := range xs {
		if x != nil {
			h[i] = x.Ctensor()
		}
	}
	return h
}

// Array is h as a C array (void**): a pointer to its first element.
func Array(h []unsafe.Pointer) *unsafe.Pointer { return &h[0] }

// Error is the error of a message C++ returned (malloc'd, freed here), nil for none.
func Error(msg unsafe.Pointer) error {
	if msg == nil {
		return nil
	}
	defer C.free(msg)
	return errors.New(C.GoString((*C.char)(msg)))
}
