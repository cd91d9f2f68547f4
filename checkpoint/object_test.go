package checkpoint

import (
	"archive/zip"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"
)

// SaveObject and LoadObject round-trip a general tree: keys (strings and integers) in order,
// floats, tuples, None, lists, and tensors flattened by key path.
func TestObjectRoundTrip(t *testing.T) {
	a, err := ts.NewTensorFromData([]float32{1.5, -2}, []int64{2})
	if err != nil {
		t.Fatal(err)
	}
	defer a.MustDrop()
	path := filepath.Join(t.TempDir(), "optimizer.pt")
	if err := SaveObject(path, optimizerLike(a)); err != nil {
		t.Fatal(err)
	}
	root, tensors, err := LoadObject(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer Drop(tensors)
	want := "[{state [{0 [{step state.0.step} {exp_avg state.0.exp_avg}]}]} {param_groups [[{lr 0.1} {betas [0.9 0.999]} {foreach <nil>} {amsgrad false} {params [0]} {param_names [w]}]]}]"
	if got := fmt.Sprint(root); got != want {
		t.Errorf("tree\n%s\nwant\n%s", got, want)
	}
	if len(tensors) != 2 || fmt.Sprint(tensors["state.0.exp_avg"].Float64Values()) != "[1.5 -2]" {
		t.Errorf("tensors %v", tensors)
	}
	// One tensor under two keys is one storage, as torch.save writes it.
	if n := countStorages(t, path); n != 1 {
		t.Errorf("%d storages, want 1", n)
	}
	if _, _, err := LoadObject(path, 4); err == nil || !strings.Contains(err.Error(), "allowed") {
		t.Errorf("a limit below the file's tensors: %v", err)
	}
}

func countStorages(t *testing.T, path string) int {
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	n := 0
	for _, f := range zr.File {
		if strings.Contains(f.Name, "/data/") {
			n++
		}
	}
	return n
}
