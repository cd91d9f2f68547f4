package main

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// fusedSources is the fused-optimizer extension: C++ (fused.cpp, fused.h) and its Go binding
// (fused.go.txt, written as fused.go), installed as the package github.com/sugarme/gotch/fused
// of the prepared copy. It is a package of its own so that changing it does not recompile
// gotch's generated wrappers.
//
//go:embed fused/fused.cpp fused/fused.h fused/fused.go.txt
var fusedSources embed.FS

// fusedFiles are the extension's files in tools/gotchprep/fused.
var fusedFiles = []string{"fused.cpp", "fused.h", "fused.go.txt"}

// writeFused installs the extension under dir (the copy's root).
func writeFused(c config, dir string) error {
	out := filepath.Join(dir, "fused")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, name := range fusedFiles {
		raw, err := fusedSources.ReadFile("fused/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, strings.TrimSuffix(name, ".txt")), raw, 0o644); err != nil {
			return err
		}
	}
	flags := strings.Replace(cgoFlagsFile(c), "package libtch", "package fused", 1)
	if !strings.Contains(flags, "package fused") {
		return fmt.Errorf("cgo flags file has no package clause")
	}
	return os.WriteFile(filepath.Join(out, "flags.go"), []byte(flags), 0o644)
}
