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
