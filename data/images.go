package data

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Images is a labelled image classification split held as one byte buffer.
type Images struct {
	Pixels     []byte // N·C·H·W values in [0, 255], example-major
	Labels     []int64
	C, H, W    int64
	Mean, Std  []float32 // per-channel normalization applied when batching
	NumClasses int64
	Augment    Augment // applied to training batches
	// ChannelsLast makes Fill write each example in (H, W, C) order instead of (C, H, W), the
	// order of a channels_last tensor, so that the batch becomes one without a copy.
	ChannelsLast bool
}

var _ Source = (*Images)(nil)

// Fill builds a batch: X (B, C, H, W) normalized as (x/255 − mean)/std per channel, augmented
// when train is set, stored in (B, H, W, C) order with ChannelsLast; Y (B) class indices.
func (d *Images) Fill(idx []int, rng *rand.Rand, train bool) HostBatch {
	per := int(d.C * d.H * d.W)
	xs := make([]float32, len(idx)*per)
	ys := make([]int64, len(idx))
	aug := Augment{}
	if train {
		aug = d.Augment
	}
	for bi, ex := range idx {
		aug.apply(xs[bi*per:(bi+1)*per], d.Pixels[ex*per:(ex+1)*per], int(d.C), int(d.H), int(d.W), d.Mean, d.Std, d.ChannelsLast, rng)
		ys[bi] = d.Labels[ex]
	}
	return HostBatch{X: xs, XShape: []int64{int64(len(idx)), d.C, d.H, d.W}, Y: ys, YShape: []int64{int64(len(idx))},
		ChannelsLast: d.ChannelsLast}
}

// Limit keeps the first n examples (n ≤ 0 or ≥ Len keeps all).
func (d *Images) Limit(n int) {
	if n <= 0 || n >= d.Len() {
		return
	}
	per := int(d.C * d.H * d.W)
	d.Labels, d.Pixels = d.Labels[:n], d.Pixels[:n*per]
}

// Len is the number of examples.
func (d *Images) Len() int { return len(d.Labels) }

// Fashion-MNIST's and MNIST's normalization constants (mean and std of the training pixels).
var (
	FashionMNISTMean, FashionMNISTStd = []float32{0.2860}, []float32{0.3530}
	MNISTMean, MNISTStd               = []float32{0.1307}, []float32{0.3081}
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package installs the files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// fashionMNISTSpec registers Fashion-MNIST (28×28 grey clothes, 10 classes, MNIST's layout).
var fashionMNISTSpec = Spec{
	Name: "fashion-mnist", Channels: 1, Size: 28, Classes: 10, Metric: "accuracy",
	DefaultDir: func() string { return DefaultFashionMNISTDir },
	Open: func(dir string, limit, _ int) (Splits, error) {
		return openImages(func(split string) (*Images, error) {
			return LoadIDXImages(dir, split, FashionMNISTMean, FashionMNISTStd)
		}, "train", "t10k", limit)
	},
}

// LoadIDXImages loads a split ("train" or "t10k") of an MNIST-layout directory:
// <split>-images-idx3-ubyte[.gz] and <split>-labels-idx1-ubyte[.gz].
func LoadIDXImages(dir, split string, mean, std []float32) (*Images, error) {
	find := func(kind string) (string, error) {
		for _, name := range []string{split + "-" + kind + "-ubyte.gz", split + "-" + kind + "-ubyte"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("no %s-%s-ubyte[.gz] in %s: install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (or ./install-libtorch.sh), or set data.dir / LOWRANK_DATA_DIR to a folder holding the MNIST-format files", split, kind, dir)
	}
	ip, err := find("images-idx3")
	if err != nil {
		return nil, err
	}
	lp, err := find("labels-idx1")
	if err != nil {
		return nil, err
	}
	img, err := ReadIDX(ip)
	if err != nil {
		return nil, err
	}
	lab, err := ReadIDX(lp)
	if err != nil {
		return nil, err
	}
	if len(img.Dims) != 3 || len(lab.Dims) != 1 {
		return nil, fmt.Errorf("%s has dimensions %v and %s %v; want (N, H, W) images and (N) labels", ip, img.Dims, lp, lab.Dims)
	}
	if img.Dims[0] != lab.Dims[0] {
		return nil, fmt.Errorf("%s holds %d images but %s holds %d labels", ip, img.Dims[0], lp, lab.Dims[0])
	}
	labels := make([]int64, len(lab.Data))
	for i, b := range lab.Data {
		if b > 9 {
			return nil, fmt.Errorf("%s: label %d at index %d is not a digit class 0-9", lp, b, i)
		}
		labels[i] = int64(b)
	}
	return &Images{Pixels: img.Data, Labels: labels, C: 1, H: int64(img.Dims[1]), W: int64(img.Dims[2]),
		Mean: mean, Std: std, NumClasses: 10}, nil
}

// ErrEmpty is returned when a split holds no examples.
var ErrEmpty = errors.New("dataset split is empty")
