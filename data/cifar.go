package data

import (
	"fmt"
	"os"
	"path/filepath"
)

// CIFAR normalization constants (the reference's).
var (
	CIFAR10Mean, CIFAR10Std   = []float32{0.4914, 0.4822, 0.4465}, []float32{0.2023, 0.1994, 0.2010}
	CIFAR100Mean, CIFAR100Std = []float32{0.507, 0.487, 0.441}, []float32{0.267, 0.256, 0.276}
)

const cifarPixels = 3 * 32 * 32

// cifarHelp says where to get the data.
const cifarHelp = "download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html " +
	"(cifar-10-binary.tar.gz or cifar-100-binary.tar.gz), unpack it, and set data.dir to the folder " +
	"holding the .bin files (or its parent)"

// LoadCIFAR10 loads a split ("train": data_batch_1..5.bin, "test": test_batch.bin) of the
// CIFAR-10 binary version: records of 1 label byte and 3072 pixel bytes (R, G, B planes of 32×32).
// dir may be the cifar-10-batches-bin folder or its parent.
func LoadCIFAR10(dir, split string) (*Images, error) {
	dir = findDir(dir, "cifar-10-batches-bin", "test_batch.bin")
	files := []string{"test_batch.bin"}
	if split == "train" {
		files = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	}
	return loadCIFAR(dir, files, 1, 0, 10, CIFAR10Mean, CIFAR10Std)
}

// LoadCIFAR100 loads a split ("train": train.bin, "test": test.bin) of the CIFAR-100 binary
// version: records of a coarse label byte, a fine label byte and 3072 pixel bytes. fine selects
// the 100 fine classes (the reference's) over the 20 coarse ones. dir may be the
// cifar-100-binary folder or its parent.
func LoadCIFAR100(dir, split string, fine bool) (*Images, error) {
	dir = findDir(dir, "cifar-100-binary", "test.bin")
	name := "test.bin"
	if split == "train" {
		name = "train.bin"
	}
	label, classes := 0, int64(20)
	if fine {
		label, classes = 1, 100
	}
	return loadCIFAR(dir, []string{name}, 2, label, classes, CIFAR100Mean, CIFAR100Std)
}

// findDir returns dir/sub when dir itself does not hold marker but dir/sub does.
func findDir(dir, sub, marker string) string {
	if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
		return dir
	}
	if _, err := os.Stat(filepath.Join(dir, sub, marker)); err == nil {
		return filepath.Join(dir, sub)
	}
	return dir
}

func loadCIFAR(dir string, files []string, labelBytes, labelAt int, classes int64, mean, std []float32) (*Images, error) {
	rec := labelBytes + cifarPixels
	d := &Images{C: 3, H: 32, W: 32, Mean: mean, Std: std, NumClasses: classes}
	for _, f := range files {
		path := filepath.Join(dir, f)
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%w; %s", err, cifarHelp)
		}
		if len(raw) == 0 || len(raw)%rec != 0 {
			return nil, fmt.Errorf("%s: %d bytes is not a whole number of %d-byte records (%d label byte(s) + 3072 pixels); the file is truncated or not the CIFAR binary version", path, len(raw), rec, labelBytes)
		}
		n := len(raw) / rec
		for i := 0; i < n; i++ {
			r := raw[i*rec : (i+1)*rec]
			if int64(r[labelAt]) >= classes {
				return nil, fmt.Errorf("%s: record %d has label %d, want < %d; wrong record size or not a CIFAR binary file", path, i, r[labelAt], classes)
			}
			d.Labels = append(d.Labels, int64(r[labelAt]))
			d.Pixels = append(d.Pixels, r[labelBytes:]...)
		}
	}
	return d, nil
}

// cifar10Spec and cifar100Spec register CIFAR-10 and CIFAR-100 (32×32 colour images, 10 and
// 100 fine classes; the binary version), trained with the reference's augmentation.
var (
	cifar10Spec = Spec{
		Name: "cifar10", Channels: 3, Size: 32, Classes: 10, Metric: "accuracy",
		DefaultDir: func() string { return filepath.Join("datasets", "cifar-10-batches-bin") },
		Open: func(dir string, limit, _ int) (Splits, error) {
			return openCIFAR(func(split string) (*Images, error) { return LoadCIFAR10(dir, split) }, limit)
		},
	}
	cifar100Spec = Spec{
		Name: "cifar100", Channels: 3, Size: 32, Classes: 100, Metric: "accuracy",
		DefaultDir: func() string { return filepath.Join("datasets", "cifar-100-binary") },
		Open: func(dir string, limit, _ int) (Splits, error) {
			return openCIFAR(func(split string) (*Images, error) { return LoadCIFAR100(dir, split, true) }, limit)
		},
	}
)

func openCIFAR(load func(split string) (*Images, error), limit int) (Splits, error) {
	s, err := openImages(load, "train", "test", limit)
	if err == nil {
		s.Train.(*Images).Augment = CIFARAugment
	}
	return s, err
}
