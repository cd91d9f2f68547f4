package main

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// extSources are lowrank's C++ extensions of gotch, each installed as a package of the prepared
// copy (github.com/sugarme/gotch/<name>) with the copy's cgo flags. They are packages of their
// own so that changing one does not recompile gotch's generated wrappers.
//
//   - fused: optimizer updates over many parameters in one call (fused/fused.cpp).
//   - layout: the memory layout of 4-d tensors, contiguous or channels_last (layout/layout.cpp).
//   - c10d: PyTorch's collectives (TCPStore, Gloo/NCCL process groups, a bucketed gradient
//     reducer) for distributed training (c10d/c10d.cpp). It needs Gloo's headers, or a CUDA
//     libtorch with nccl.h, or both; with neither the package is a pure-Go stub whose calls
//     return an error saying so.
//
//go:embed common/guard.h fused/fused.cpp fused/fused.h fused/fused.go.txt layout/layout.cpp layout/layout.h layout/layout.go.txt c10d/c10d.cpp c10d/c10d.h c10d/c10d.go.txt c10d/stub.go.txt
var extSources embed.FS

// extension is one package: its embedded files (a .go.txt is written as .go; a name with a
// folder, as common/guard.h, is a file shared by several and read from there) and extra C++ flags.
type extension struct {
	name     string
	files    []string
	cxxFlags []string
	cgo      bool
}

func extensions(c config) []extension {
	exts := []extension{{name: "fused", files: []string{"fused.cpp", "fused.h", "fused.go.txt", "common/guard.h"}, cgo: true},
		{name: "layout", files: []string{"layout.cpp", "layout.h", "layout.go.txt", "common/guard.h"}, cgo: true}}
	d := extension{name: "c10d", files: []string{"c10d.cpp", "c10d.h", "c10d.go.txt"}, cgo: true}
	if hasGloo(c) {
		d.cxxFlags = append(d.cxxFlags, "-DLOWRANK_WITH_GLOO")
	}
	if dir := ncclInclude(c); c.cuda && dir != "" {
		d.cxxFlags = append(d.cxxFlags, "-DLOWRANK_WITH_NCCL")
		if !systemDirs[dir] {
			d.cxxFlags = append(d.cxxFlags, "-I"+dir)
		}
	}
	if len(d.cxxFlags) == 0 {
		return append(exts, extension{name: "c10d", files: []string{"stub.go.txt"}})
	}
	return append(exts, d)
}

// hasGloo reports whether Gloo's headers, which ProcessGroupGloo.hpp includes, are installed
// beside libtorch's. System-wide ones count only for a system libtorch (Debian's is built against
// Debian's Gloo): another libtorch bundles its own Gloo, whose classes system headers of another
// version would not match.
func hasGloo(c config) bool {
	dirs := []string{c.include}
	if systemDirs[filepath.Clean(c.include)] {
		dirs = append(dirs, "/usr/include", "/usr/local/include")
	}
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "gloo", "config.h")); err == nil {
			return true
		}
	}
	return false
}

// ncclInclude is the folder holding NCCL's own nccl.h: beside libtorch's headers, in the CUDA
// toolkit, system-wide, or (libtorch from a pip wheel, LIBTORCH=.../site-packages/torch) in the
// wheel's nvidia/nccl package; "" when there is none.
func ncclInclude(c config) string {
	wheel := filepath.Join(filepath.Dir(filepath.Dir(c.include)), "nvidia", "nccl", "include")
	for _, dir := range []string{c.include, filepath.Join(c.cudaDir, "include"), wheel, "/usr/include"} {
		if _, err := os.Stat(filepath.Join(dir, "nccl.h")); err == nil {
			return dir
		}
	}
	return ""
}

// hashExtensions feeds every embedded source to h (for the copy's stamp), and which variant of
// each extension is built.
func hashExtensions(c config, h interface{ Write([]byte) (int, error) }) {
	for _, e := range extensions(c) {
		fmt.Fprintf(h, "|%s%v", e.name, e.cxxFlags)
		for _, name := range e.files {
			raw, _ := extSources.ReadFile(sourcePath(e.name, name))
			h.Write(raw)
		}
	}
}

// sourcePath is where an extension's file is embedded: its own folder, or the shared one named.
func sourcePath(ext, name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return ext + "/" + name
}

// writeExtensions installs the extensions under dir (the copy's root).
func writeExtensions(c config, dir string) error {
	for _, e := range extensions(c) {
		out := filepath.Join(dir, e.name)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		for _, name := range e.files {
			raw, err := extSources.ReadFile(sourcePath(e.name, name))
			if err != nil {
				return err
			}
			target := strings.TrimSuffix(filepath.Base(name), ".txt")
			if name == "stub.go.txt" {
				target = e.name + ".go"
			}
			if err := os.WriteFile(filepath.Join(out, target), raw, 0o644); err != nil {
				return err
			}
		}
		if !e.cgo {
			continue
		}
		flags := strings.Replace(cgoFlagsFile(c), "package libtch", "package "+e.name, 1)
		if !strings.Contains(flags, "package "+e.name) {
			return fmt.Errorf("cgo flags file has no package clause")
		}
		if len(e.cxxFlags) > 0 {
			flags = strings.Replace(flags, "// #cgo CXXFLAGS: ", "// #cgo CXXFLAGS: "+strings.Join(e.cxxFlags, " ")+" ", 1)
		}
		if err := os.WriteFile(filepath.Join(out, "flags.go"), []byte(flags), 0o644); err != nil {
			return err
		}
	}
	return nil
}
