package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
)

// cIntAsGoInt matches gotch reading a 4-byte C int through an 8-byte Go int pointer, which takes
// 4 bytes of stack garbage into the result (AtGradSetEnabled's previous mode, AtDevice's index).
var cIntAsGoInt = regexp.MustCompile(`\*\(\*int\)\(unsafe\.Pointer\(&(\w+)\)\)`)

var unsafeImport = regexp.MustCompile(`(?m)^\s*"unsafe"\n`)

// patchCIntReads rewrites those reads as plain conversions, int(x), in dir's Go files, and
// returns how many it rewrote.
func patchCIntReads(dir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		n := len(cIntAsGoInt.FindAllIndex(raw, -1))
		if n == 0 {
			continue
		}
		out := cIntAsGoInt.ReplaceAll(raw, []byte("int($1)"))
		if !bytes.Contains(out, []byte("unsafe.")) {
			// The read was the file's only use of unsafe; an unused import does not compile.
			out = unsafeImport.ReplaceAll(out, nil)
		}
		if err := os.WriteFile(f, out, 0o644); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
