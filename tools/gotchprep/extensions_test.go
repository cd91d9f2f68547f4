package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A libtorch outside the system folders uses Gloo headers of its own only (system ones are
// another Gloo version): without them, and without CUDA, c10d is built with neither backend.
func TestCgoPackagesChooseBackends(t *testing.T) {
	c := config{include: t.TempDir(), libdir: "/x", version: "1.13.1"}
	if hasGloo(c) {
		t.Fatal("a libtorch without Gloo headers borrowed the system's")
	}
	for _, e := range cgoPackages(c) {
		if e.dir == "dist/c10d" && len(e.cxxFlags) != 0 {
			t.Fatalf("c10d without Gloo or CUDA: %+v, want no backend flags", e)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.include, "gloo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.include, "gloo", "config.h"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range cgoPackages(c) {
		if e.dir != "dist/c10d" {
			continue
		}
		if want := []string{"-DLOWRANK_WITH_GLOO"}; fmt.Sprint(e.cxxFlags) != fmt.Sprint(want) {
			t.Errorf("c10d flags %v with Gloo's headers and without CUDA, want %v", e.cxxFlags, want)
		}
	}
}

// A CUDA libtorch from a pip wheel finds NCCL's header in the wheel's nvidia/nccl package.
func TestNCCLFromWheel(t *testing.T) {
	site := t.TempDir()
	inc := filepath.Join(site, "nvidia", "nccl", "include")
	if err := os.MkdirAll(inc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inc, "nccl.h"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := config{include: filepath.Join(site, "torch", "include"), cudaDir: filepath.Join(site, "cuda"), cuda: true}
	if got := ncclInclude(c); got != inc {
		t.Fatalf("ncclInclude = %q, want %q", got, inc)
	}
	for _, e := range cgoPackages(c) {
		if e.dir == "dist/c10d" && !strings.Contains(strings.Join(e.cxxFlags, " "), "-DLOWRANK_WITH_NCCL -I"+inc) {
			t.Errorf("c10d flags %v", e.cxxFlags)
		}
	}
}

// Each C++ package gets a cgo_generated.go in its own folder, named for its package, with the
// libtorch flags and its own; internal/libtorch's also carries the build's facts.
func TestWriteCgoFiles(t *testing.T) {
	repo := t.TempDir()
	c := config{include: "/opt/torch/include", libdir: "/opt/torch/lib", version: "2.1.0", abi: 0}
	for _, p := range cgoPackages(c) {
		if err := os.MkdirAll(filepath.Join(repo, p.dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeCgoFiles(c, repo, []string{"atg_x"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range cgoPackages(c) {
		raw, err := os.ReadFile(filepath.Join(repo, p.dir, "cgo_generated.go"))
		if err != nil {
			t.Fatal(err)
		}
		src := string(raw)
		for _, want := range []string{"package " + filepath.Base(p.dir) + "\n", "-L/opt/torch/lib", "-D_GLIBCXX_USE_CXX11_ABI=0", "import \"C\""} {
			if !strings.Contains(src, want) {
				t.Errorf("%s lacks %q:\n%s", p.dir, want, src)
			}
		}
		if facts := strings.Contains(src, `const Version = "2.1.0"`) && strings.Contains(src, `"atg_x",`); facts != (p.dir == "internal/libtorch") {
			t.Errorf("%s: build facts %v", p.dir, facts)
		}
	}
	if err := writeCgoFiles(c, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "repository root") {
		t.Errorf("a folder without lowrank's packages: %v", err)
	}
}
