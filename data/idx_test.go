package data_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/data"
)

func TestFashionMNISTReal(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
	}
	for _, tc := range []struct {
		split       string
		n           int
		first, last int64
	}{
		// First and last labels of the distributed files (ankle boot ... ; ankle boot ...).
		{"train", 60000, 9, 5},
		{"t10k", 10000, 9, 5},
	} {
		t.Run(tc.split, func(t *testing.T) {
			d, err := data.LoadIDXImages(data.DefaultFashionMNISTDir, tc.split, data.FashionMNISTMean, data.FashionMNISTStd)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tc.n || d.H != 28 || d.W != 28 || d.C != 1 || len(d.Pixels) != tc.n*784 {
				t.Fatalf("got %d examples of %dx%dx%d, %d pixels", d.Len(), d.C, d.H, d.W, len(d.Pixels))
			}
			if d.Labels[0] != tc.first || d.Labels[d.Len()-1] != tc.last {
				t.Errorf("first/last labels %d/%d, want %d/%d", d.Labels[0], d.Labels[d.Len()-1], tc.first, tc.last)
			}
			counts := make([]int, 10)
			for _, l := range d.Labels {
				counts[l]++
			}
			for c, n := range counts {
				if n != tc.n/10 {
					t.Errorf("class %d has %d examples, want %d (Fashion-MNIST is balanced)", c, n, tc.n/10)
				}
			}
		})
	}
}

// writeIDX writes an IDX file of unsigned bytes.
func writeIDX(t *testing.T, path string, dims []int, values []byte, gz bool) {
	t.Helper()
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		buf.Write([]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
	}
	buf.Write(values)
	raw := buf.Bytes()
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(raw)
		w.Close()
		raw = z.Bytes()
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIDXFormatAndErrors(t *testing.T) {
	dir := t.TempDir()
	pix := make([]byte, 3*2*2)
	for i := range pix {
		pix[i] = byte(i * 20)
	}
	writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"), []int{3, 2, 2}, pix, false)
	writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), []int{3}, []byte{4, 0, 9}, true)
	d, err := data.LoadIDXImages(dir, "train", []float32{0}, []float32{1})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.H != 2 || d.Labels[2] != 9 || d.Pixels[11] != 220 {
		t.Fatalf("loaded %+v", d)
	}

	bad := filepath.Join(dir, "bad")
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"wrong magic", []byte{0, 0, 9, 1, 0, 0, 0, 1, 5}, "wrong magic number"},
		{"truncated header", []byte{0, 0, 8, 3, 0, 0}, "truncated in the header"},
		{"truncated data", []byte{0, 0, 8, 1, 0, 0, 0, 5, 1, 2}, "truncated: the header's dimensions [5] make 5 values, the file holds 2"},
		{"longer than the header", []byte{0, 0, 8, 1, 0, 0, 0, 1, 1, 2}, "longer than its header says"},
		{"empty", nil, "truncated before the magic"},
		// 0xFFFFFFFF × 0xFFFFFFFF overflowed the product and panicked in makeslice.
		{"dimensions overflow", []byte{0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, "claim more than"},
		// A header claiming 2^30 values over 3 bytes is refused after reading 3 bytes, not after
		// allocating a gigabyte.
		{"claims far more than the file", []byte{0, 0, 8, 1, 0x40, 0, 0, 0, 1, 2, 3}, "file holds 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(bad, tc.content, 0o644)
			_, err := data.ReadIDX(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("err = %v, want one naming the file and containing %q", err, tc.want)
			}
		})
	}
	if _, err := data.LoadIDXImages(filepath.Join(dir, "missing"), "train", nil, nil); err == nil || !strings.Contains(err.Error(), "dataset-fashion-mnist") {
		t.Errorf("missing dataset: err = %v, want one saying where to get it", err)
	}
	writeIDX(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), []int{2, 2, 2}, pix[:8], false)
	writeIDX(t, filepath.Join(dir, "t10k-labels-idx1-ubyte"), []int{3}, []byte{1, 2, 3}, false)
	if _, err := data.LoadIDXImages(dir, "t10k", []float32{0}, []float32{1}); err == nil || !strings.Contains(err.Error(), "2 images but") {
		t.Errorf("count mismatch: err = %v", err)
	}
}

func TestOrderDeterministic(t *testing.T) {
	a, b := data.Order(100, 7, 3, true), data.Order(100, 7, 3, true)
	c := data.Order(100, 7, 4, true)
	same, seen := true, make([]bool, 100)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("same seed and epoch gave different orders")
		}
		if a[i] != c[i] {
			same = false
		}
		seen[a[i]] = true
	}
	if same {
		t.Error("another epoch gave the same order")
	}
	for i, s := range seen {
		if !s {
			t.Fatalf("index %d missing: not a permutation", i)
		}
	}
}
