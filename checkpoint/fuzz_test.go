package checkpoint

import (
	"archive/zip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// FuzzParse: any bytes, read as a torch.save file (zip container, pickle, storages), give tensors
// or an error, never a panic or an allocation beyond the limit. The seeds are a file Save
// writes (two tensors, one shared storage) and pieces of it. It calls the parser below
// LoadAliasedLimit's recover, so a panic fails it (FuzzLoad goes through Load).
func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	a, err := ts.Ones([]int64{2, 3}, gotch.Float, gotch.CPU)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(dir, "seed.pt")
	if err := Save(path, map[string]*ts.Tensor{"a.weight": a, "b.weight": a}); err != nil {
		f.Fatal(err)
	}
	a.MustDrop()
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte{0x80, 2})
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, _, err := load(raw, 1<<20)
		if err != nil {
			return
		}
		for _, x := range out {
			x.MustDrop()
		}
	})
}

// FuzzUnpickle: any bytes as a pickle stream give a value or an error, never a panic; the seed
// is the data.pkl of a file Save writes.
func FuzzUnpickle(f *testing.F) {
	a, err := ts.Ones([]int64{2}, gotch.Float, gotch.CPU)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "seed.pt")
	if err := Save(path, map[string]*ts.Tensor{"w": a}); err != nil {
		f.Fatal(err)
	}
	a.MustDrop()
	zr, err := zip.OpenReader(path)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range zr.File {
		if strings.HasSuffix(e.Name, "data.pkl") {
			rc, _ := e.Open()
			pkl, _ := io.ReadAll(rc)
			rc.Close()
			f.Add(pkl)
		}
	}
	zr.Close()
	f.Add([]byte("\x80\x02}q\x00."))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if v, err := unpickle(raw); err == nil {
			_ = collect(v, "", map[string]tensorRef{})
		}
	})
}

// optimizerLike is a tree as torch.optim's state_dict(): int-keyed state, a param group with a
// tuple, floats, None and a list of names.
func optimizerLike(t *ts.Tensor) Dict {
	return Dict{
		{"state", Dict{{int64(0), Dict{{"step", t}, {"exp_avg", t}}}}},
		{"param_groups", List{Dict{{"lr", 0.1}, {"betas", Tuple{0.9, 0.999}}, {"foreach", nil},
			{"amsgrad", false}, {"params", []int64{0}}, {"param_names", List{"w"}}}}},
	}
}

// FuzzObject: any bytes, read as a torch.save file of a general object (an optimizer's
// state_dict), give a tree and tensors or an error, never a panic; the seed is such a file.
func FuzzObject(f *testing.F) {
	a, err := ts.Ones([]int64{2}, gotch.Float, gotch.CPU)
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "optimizer.pt")
	if err := SaveObject(path, optimizerLike(a)); err != nil {
		f.Fatal(err)
	}
	a.MustDrop()
	raw, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)*2/3])
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, _, root, err := loadRefs(raw, 1<<20)
		if err != nil {
			return
		}
		_, _ = goValue(root, "")
		for _, x := range out {
			x.MustDrop()
		}
	})
}
