package main

import (
	"os"
	"strings"
	"testing"
)

const sampleGenerated = `// generated

void atg_ok(tensor *out__, tensor self) {
  PROTECT(
    auto outputs__ = torch::ok(*self);
    out__[0] = new torch::Tensor(outputs__);
  )
}

int64_t atg_bad_int(tensor self) {
  PROTECT(
    return torch::bad_int(*self);
  )
  return 0;
}

void atg_bad(tensor *out__, tensor self,
             int64_t dim) {
  PROTECT(
    auto outputs__ = torch::bad(*self, dim);
    out__[0] = new torch::Tensor(outputs__);
  )
}
`

func TestDisableFromCompilerErrors(t *testing.T) {
	lines := strings.Split(sampleGenerated, "\n")
	ws := parseWrappers(lines)
	if len(ws) != 3 || ws[0].name != "atg_ok" || ws[1].name != "atg_bad_int" || ws[1].void || !ws[2].void {
		t.Fatalf("parsed %+v", ws)
	}
	// Compiler output naming lines inside atg_bad_int (line 12) and atg_bad (line 20), plus an
	// instantiation note and a line outside any wrapper (1).
	out := "libtch/torch_api_generated.cpp.h:12:12: error: 'bad_int' is not a member of 'torch'\n" +
		"libtch/torch_api_generated.cpp.h:20:29:   required from here\n" +
		"libtch/torch_api_generated.cpp.h:1:1: note: something\n"
	bad := failingWrappers(out, ws)
	if len(bad) != 2 || bad["atg_bad_int"].name == "" || bad["atg_bad"].name == "" {
		t.Fatalf("failing wrappers %v", bad)
	}
	got := strings.Join(disableWrappers(lines, bad, "1.13.0"), "\n")
	if !strings.Contains(got, "torch::ok(*self)") {
		t.Error("a compiling wrapper was changed")
	}
	if strings.Contains(got, "torch::bad(") || strings.Contains(got, "torch::bad_int(") {
		t.Error("a failing wrapper body remains")
	}
	if strings.Count(got, disabledMarker) != 2 || !strings.Contains(got, `atg_bad is not available in libtorch 1.13.0`) {
		t.Errorf("disabled bodies missing their error:\n%s", got)
	}
	if !strings.Contains(got, "int64_t dim) {\n  "+disabledMarker) {
		t.Errorf("a multi-line signature was not kept whole:\n%s", got)
	}
	if strings.Count(got, "return 0;") != 1 {
		t.Errorf("the non-void wrapper needs exactly one return:\n%s", got)
	}
}

func TestPatchOutputArrays(t *testing.T) {
	src := "  ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n" +
		"  // ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n" +
		"  p2 := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n  defer C.free(unsafe.Pointer(p2))\n"
	got, n := patchSource(src)
	if n != 1 || !strings.HasPrefix(got, "  ptr := &new([8]lib.Ctensor)[0]\n") {
		t.Fatalf("patched %d:\n%s", n, got)
	}
	if !strings.Contains(got, "p2 := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))") {
		t.Error("an allocation freed with C.free must stay a C allocation")
	}
}

func TestCIntReads(t *testing.T) {
	src := []byte("return *(*int)(unsafe.Pointer(&cretVal))\nx := *(*int32)(unsafe.Pointer(&result))\n")
	got := string(cIntAsGoInt.ReplaceAll(src, []byte("int($1)")))
	if !strings.Contains(got, "return int(cretVal)") || !strings.Contains(got, "(*int32)") {
		t.Fatalf("got %q", got)
	}
}

func TestCgoFlags(t *testing.T) {
	c := config{include: "/usr/include", libdir: "/usr/lib/x86_64-linux-gnu", version: "1.13.0", abi: 1}
	f := cgoFlagsFile(c)
	if strings.Contains(f, "-I/usr/include ") || !strings.Contains(f, "-I/usr/include/torch/csrc/api/include") {
		t.Errorf("system include dir handling:\n%s", f)
	}
	if strings.Contains(f, "cuda") || !strings.Contains(f, "-D_GLIBCXX_USE_CXX11_ABI=1") {
		t.Errorf("CPU flags:\n%s", f)
	}
	c.cuda, c.cudaDir, c.include, c.abi = true, "/usr/local/cuda", "/opt/libtorch/include", 0
	f = cgoFlagsFile(c)
	for _, want := range []string{"-ltorch_cuda", "-lc10_cuda", "-lcudart", "-I/opt/libtorch/include ", "-D_GLIBCXX_USE_CXX11_ABI=0", "--no-as-needed"} {
		if !strings.Contains(f, want) {
			t.Errorf("CUDA flags lack %q:\n%s", want, f)
		}
	}
	if err := (config{}).validate(); err == nil {
		t.Error("an empty config must not validate")
	}
}

func TestPatchVarStore(t *testing.T) {
	dir := t.TempDir()
	f := dir + "/varstore.go"
	src := "type VarStore struct {\n\tsync.Mutex\n" + varStoreFields +
		"func (p *Path) Sub(str string) *Path {\n" + pathSubAliasing + "\treturn nil\n}\n" +
		"func (p *Path) add() {\n" + pathAddStore + "}\n"
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := patchVarStore(f); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f)
	for _, e := range varstoreEdits {
		if !strings.Contains(string(got), e.new) {
			t.Errorf("%s not applied:\n%s", e.what, got)
		}
	}
	if strings.Contains(string(got), pathSubAliasing) {
		t.Fatalf("patched:\n%s", got)
	}
	if err := patchVarStore(f); err == nil {
		t.Error("a second patch must fail: the source no longer reads as expected")
	}
}

func TestFreeInplaceHandles(t *testing.T) {
	src := "func(ts *Tensor) Add_(other *Tensor)(err error) { \n  ptr := &new([8]lib.Ctensor)[0]\n  if err = TorchErr(); err != nil {\n    return err\n  }\n  ts.ctensor = *ptr\n  \n  return err\n}\n"
	got, n := freeInplaceHandles(src)
	if n != 1 || !strings.Contains(got, "lib.AtFree(ts.ctensor)") || strings.Index(got, "AtFree") > strings.Index(got, "ts.ctensor = *ptr") {
		t.Fatalf("patched %d:\n%s", n, got)
	}
	if strings.Index(got, "return err\n  }") > strings.Index(got, "AtFree") {
		t.Error("the old handle must be freed only after the error check")
	}
}
