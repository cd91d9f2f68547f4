package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// api lists a Go file's exported functions, methods, types and constants with their signatures.
func api(t *testing.T, name string) []string {
	t.Helper()
	src, err := extSources.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	str := func(n any) string {
		var b bytes.Buffer
		printer.Fprint(&b, fset, n)
		return b.String()
	}
	var out []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			recv := ""
			if d.Recv != nil {
				recv = str(d.Recv.List[0].Type) + "."
			}
			out = append(out, "func "+recv+d.Name.Name+strings.TrimPrefix(str(d.Type), "func"))
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						out = append(out, "type "+s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							out = append(out, d.Tok.String()+" "+n.Name)
						}
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// The stub that stands in for c10d without Gloo headers offers exactly the real package's API,
// so lowrank builds either way.
func TestC10dStubMatchesAPI(t *testing.T) {
	real, stub := api(t, "c10d/c10d.go.txt"), api(t, "c10d/stub.go.txt")
	if strings.Join(real, "\n") != strings.Join(stub, "\n") {
		t.Errorf("APIs differ:\nreal:\n  %s\nstub:\n  %s", strings.Join(real, "\n  "), strings.Join(stub, "\n  "))
	}
	if len(real) < 10 {
		t.Errorf("only %d exported names: %v", len(real), real)
	}
}

// A libtorch outside the system folders uses Gloo headers of its own only (system ones are
// another Gloo version): without them, and without CUDA, c10d is the pure-Go stub.
func TestExtensionsChooseVariant(t *testing.T) {
	c := config{include: t.TempDir(), libdir: "/x", version: "1.13.1"}
	if hasGloo(c) {
		t.Fatal("a libtorch without Gloo headers borrowed the system's")
	}
	for _, e := range extensions(c) {
		if e.name == "c10d" && (e.cgo || e.files[0] != "stub.go.txt") {
			t.Fatalf("c10d without Gloo or CUDA: %+v, want the stub", e)
		}
	}
	if err := os.MkdirAll(filepath.Join(c.include, "gloo"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.include, "gloo", "config.h"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, e := range extensions(c) {
		if e.name != "c10d" {
			continue
		}
		if hasGloo(c) != e.cgo {
			t.Errorf("Gloo headers %v but c10d cgo %v (files %v)", hasGloo(c), e.cgo, e.files)
		}
		if want := []string{"-DLOWRANK_WITH_GLOO"}; e.cgo && fmt.Sprint(e.cxxFlags) != fmt.Sprint(want) {
			t.Errorf("c10d flags %v without CUDA, want %v", e.cxxFlags, want)
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
	for _, e := range extensions(c) {
		if e.name == "c10d" && !strings.Contains(strings.Join(e.cxxFlags, " "), "-DLOWRANK_WITH_NCCL -I"+inc) {
			t.Errorf("c10d flags %v", e.cxxFlags)
		}
	}
}
