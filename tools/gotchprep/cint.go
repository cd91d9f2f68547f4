package main

import (
	"regexp"
	"strings"
)

// cIntAsGoInt matches gotch reading a 4-byte C int through an 8-byte Go int pointer, which takes
// 4 bytes of stack garbage into the result (AtGradSetEnabled's previous mode, AtDevice's index).
var cIntAsGoInt = regexp.MustCompile(`\*\(\*int\)\(unsafe\.Pointer\(&(\w+)\)\)`)

var unsafeImport = regexp.MustCompile(`(?m)^\s*"unsafe"\n`)

// patchCIntReads rewrites those reads as plain conversions, int(x), in dir's Go files, and
// returns how many it rewrote.
func patchCIntReads(dir string) (int, error) {
	return rewriteGoFiles(dir, func(src string) (string, int) {
		n := len(cIntAsGoInt.FindAllStringIndex(src, -1))
		if n == 0 {
			return src, 0
		}
		out := cIntAsGoInt.ReplaceAllString(src, "int($1)")
		if !strings.Contains(out, "unsafe.") {
			// The read was the file's only use of unsafe; an unused import does not compile.
			out = unsafeImport.ReplaceAllString(out, "")
		}
		return out, n
	})
}
