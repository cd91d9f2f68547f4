package experiment_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/models"
)

// config is a schema and dist takes its own settings: neither imports a package of ours that
// builds models, data or training (config/build.go made config the factory, and dist imported
// config). No package of ours imports gotch's copy for C++ of ours.
func TestLayering(t *testing.T) {
	for _, pkg := range []string{"./config", "./dist"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, builder := range []string{"/models", "/data", "/lowrank/lowrank", "/train", "/experiment", "/checkpoint", "/report", "/cli"} {
				if strings.HasPrefix(dep, "github.com/lowrank-dev/lowrank") && strings.HasSuffix(dep, builder) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
	gotchExt := regexp.MustCompile(`"github.com/sugarme/gotch/(fused|c10d|layout)"`)
	for _, f := range goFiles(t) {
		raw, _ := os.ReadFile(f)
		if gotchExt.Match(raw) {
			t.Errorf("%s imports lowrank's C++ through gotch's copy", f)
		}
	}
}

// A model or dataset registers once: its name, as a Go string, appears in at most two non-test
// Go files (its registration, and a benchmark's list or the schema's default). Before the
// registries "vgg16" was in five files and no test checked that the lists agreed.
func TestNamesWrittenOnce(t *testing.T) {
	files := goFiles(t)
	texts := make([]string, len(files))
	for i, f := range files {
		raw, _ := os.ReadFile(f)
		texts[i] = string(raw)
	}
	for _, name := range append(models.Names(), data.Names()...) {
		var in []string
		for i, txt := range texts {
			if strings.Contains(txt, `"`+name+`"`) {
				in = append(in, files[i])
			}
		}
		if len(in) > 2 {
			t.Errorf("%q is written in %d files: %v", name, len(in), in)
		}
	}
}

// goFiles lists the repository's non-test Go files outside third_party.
func goFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "third_party" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("only %d Go files found", len(out))
	}
	return out
}
