package main

import "strings"

// cMallocZero is how gotch's Go ops allocate the array libtorch writes their outputs into.
const cMallocZero = "(*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))"

// goOutputArray replaces it: 8 slots (no op returns more than 7 tensors), garbage-collected.
const goOutputArray = "&new([8]lib.Ctensor)[0]"

// patchOutputArrays rewrites the output arrays of the Go ops in dir. An allocation that the
// code frees itself (the next line calls C.free) is left alone, since Go memory must not be
// passed to free. It returns the number of allocations rewritten.
func patchOutputArrays(dir string) (int, error) { return rewriteGoFiles(dir, patchSource) }

func patchSource(src string) (string, int) {
	lines := strings.Split(src, "\n")
	n := 0
	for i, l := range lines {
		if !strings.Contains(l, cMallocZero) || strings.HasPrefix(strings.TrimSpace(l), "//") ||
			strings.HasPrefix(strings.TrimSpace(l), "*") {
			continue
		}
		if i+1 < len(lines) && strings.Contains(lines[i+1], "C.free(") {
			continue
		}
		lines[i] = strings.Replace(l, cMallocZero, goOutputArray, 1)
		n++
	}
	return strings.Join(lines, "\n"), n
}
