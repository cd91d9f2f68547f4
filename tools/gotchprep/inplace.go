package main

import "strings"

const (
	inplaceAssign = "\n  ts.ctensor = *ptr\n"
	inplaceFree   = "\n  lib.AtFree(ts.ctensor) // the old handle: C returned a new one to the same tensor\n  ts.ctensor = *ptr\n"
)

// freeInplaceHandles makes the generated in-place ops free the handle they replace. C returns a
// new handle for the result of an in-place op and the Go method stores it over the old one,
// which leaked — and, holding a reference, kept the tensor's storage alive after the tensor was
// dropped: an optimizer's temporaries leaked whole (11 MB per Adam step for a 1.7M-parameter
// CNN, out of memory after a few epochs).
func freeInplaceHandles(src string) (string, int) {
	n := strings.Count(src, inplaceAssign)
	return strings.ReplaceAll(src, inplaceAssign, inplaceFree), n
}
