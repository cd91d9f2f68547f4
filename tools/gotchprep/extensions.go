package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cgoPackage is one of lowrank's own C++ packages, compiled by cgo against the chosen libtorch
// with the flags gotchprep writes into its cgo_generated.go (git-ignored; its sources are in the
// package's folder, not in gotch).
type cgoPackage struct {
	dir      string   // relative to the repository root
	cxxFlags []string // beyond the libtorch flags every package gets
}

// cgoPackages are lowrank's C++ packages:
//
//   - internal/libtorch: the thread count and seed, and this build's facts (cgo_generated.go).
//   - internal/fused: optimizer updates over many parameters in one call.
//   - internal/layout: the memory layout of 4-d tensors, contiguous or channels_last.
//   - dist/c10d: PyTorch's collectives (TCPStore, Gloo/NCCL process groups, a bucketed gradient
//     reducer) for distributed training, with Gloo where its headers are installed and NCCL with
//     a CUDA libtorch and nccl.h; with neither it builds, and a process group says what to install.
func cgoPackages(c config) []cgoPackage {
	d := cgoPackage{dir: "dist/c10d"}
	if hasGloo(c) {
		d.cxxFlags = append(d.cxxFlags, "-DLOWRANK_WITH_GLOO")
	}
	if dir := ncclInclude(c); c.cuda && dir != "" {
		d.cxxFlags = append(d.cxxFlags, "-DLOWRANK_WITH_NCCL")
		if !systemDirs[dir] {
			d.cxxFlags = append(d.cxxFlags, "-I"+dir)
		}
	}
	return []cgoPackage{{dir: "internal/libtorch"}, {dir: "internal/fused"}, {dir: "internal/layout"}, d}
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

// cgoFile is a package's cgo_generated.go: its name, libtorch's flags and the package's own.
func cgoFile(c config, pkg cgoPackage, disabled []string) string {
	flags := strings.Replace(cgoFlagsFile(c), "package libtch", "package "+filepath.Base(pkg.dir), 1)
	if len(pkg.cxxFlags) > 0 {
		flags = strings.Replace(flags, "// #cgo CXXFLAGS: ", "// #cgo CXXFLAGS: "+strings.Join(pkg.cxxFlags, " ")+" ", 1)
	}
	if pkg.dir == "internal/libtorch" {
		flags += buildFacts(c, disabled)
	}
	return flags
}

// buildFacts are internal/libtorch's constants for `lowrank doctor`.
func buildFacts(c config, disabled []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n// Version is the version of the libtorch this build links.\nconst Version = %q\n\n", c.version)
	fmt.Fprintf(&b, "// Dir is the directory of the libtorch libraries linked.\nconst Dir = %q\n\n", c.libdir)
	fmt.Fprintf(&b, "// BuiltWithCUDA reports whether libtorch's CUDA libraries were linked.\nconst BuiltWithCUDA = %v\n\n", c.cuda)
	b.WriteString("// DisabledOps lists gotch's generated wrappers this libtorch could not compile; calling one returns an error.\nvar DisabledOps = []string{\n")
	for _, d := range disabled {
		fmt.Fprintf(&b, "\t%q,\n", d)
	}
	b.WriteString("}\n")
	return b.String()
}

// writeCgoFiles writes every package's cgo_generated.go under repo, the repository's root.
func writeCgoFiles(c config, repo string, disabled []string) error {
	for _, pkg := range cgoPackages(c) {
		dir := filepath.Join(repo, pkg.dir)
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("-repo %s: no package %s there (run from lowrank's repository root): %w", repo, pkg.dir, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgo_generated.go"), []byte(cgoFile(c, pkg, disabled)), 0o644); err != nil {
			return err
		}
	}
	return nil
}
