package data_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lowrank-dev/lowrank/data"
)

// FuzzReadIDX: any bytes give an IDX or an error naming the file, never a panic, and the values
// read are exactly what the header's dimensions claim.
func FuzzReadIDX(f *testing.F) {
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3})
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 9, 8, 7, 6})
	f.Add([]byte{0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add([]byte{0, 0, 8, 1, 0x40, 0, 0, 0, 1, 2, 3})
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(dir, "x-idx")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		idx, err := data.ReadIDX(path)
		if err != nil {
			return
		}
		n := 1
		for _, d := range idx.Dims {
			n *= d
		}
		if n != len(idx.Data) {
			t.Fatalf("dimensions %v, %d values", idx.Dims, len(idx.Data))
		}
	})
}

// FuzzCIFAR: any CIFAR-10 test file gives images or an error, never a panic; labels are in range.
func FuzzCIFAR(f *testing.F) {
	rec := make([]byte, 3073)
	rec[0] = 7
	f.Add(rec)
	f.Add(append(append([]byte{}, rec...), rec...))
	f.Add(rec[:100])
	bad := append([]byte{}, rec...)
	bad[0] = 10
	f.Add(bad)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte) {
		if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := data.LoadCIFAR10(dir, "test")
		if err != nil {
			return
		}
		if len(d.Pixels) != d.Len()*3072 {
			t.Fatalf("%d examples, %d pixel bytes", d.Len(), len(d.Pixels))
		}
		for _, l := range d.Labels {
			if l < 0 || l >= 10 {
				t.Fatalf("label %d", l)
			}
		}
	})
}
