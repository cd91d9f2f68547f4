package data

import (
	"fmt"
	"strings"
)

// Splits are a dataset's training and test sources.
type Splits struct {
	Train, Test Source
}

// Spec is a dataset's registration: what models need to know of it (its input and classes),
// what its runs report, where it is looked for, and how it is opened. Each loader's file
// declares its datasets' Specs; registry lists them, and every list of datasets (validation,
// `lowrank configs`, the data check) is read from it.
type Spec struct {
	Name string
	// Images (square): channels and side. Text: Vocab tokens in windows of SeqLen.
	Channels, Size int64
	Vocab, SeqLen  int64
	Text           bool
	FillMask       bool  // text: predict masked tokens (else the next character)
	Classes        int64 // image classes, or the vocabulary for text
	// Metric is what its runs report on the test set: "accuracy" or "perplexity".
	Metric string
	// Strided datasets take data.stride (the spacing of their windows).
	Strided bool
	// DefaultDir is where the dataset is looked for when the configuration names no folder.
	DefaultDir func() string
	// Open loads the training and test splits from dir, keeping the first limit training
	// examples (0: all), windows stride apart for a Strided dataset.
	Open func(dir string, limit, stride int) (Splits, error)
}

// registry is every dataset, in the order listings show them.
var registry = []Spec{mnistSpec, fashionMNISTSpec, cifar10Spec, cifar100Spec, shakespeareSpec, wikiText2Spec}

// Lookup returns the dataset registered as name.
func Lookup(name string) (Spec, bool) {
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Specs returns every registered dataset, in registration order.
func Specs() []Spec { return append([]Spec(nil), registry...) }

// Names lists the registered datasets.
func Names() []string {
	out := make([]string, len(registry))
	for i, s := range registry {
		out[i] = s.Name
	}
	return out
}

// DefaultDir is where a dataset is looked for when the configuration names no folder ("" for
// an unknown one).
func DefaultDir(dataset string) string {
	if s, ok := Lookup(dataset); ok {
		return s.DefaultDir()
	}
	return ""
}

// Options select where a dataset is and how much of it is used.
type Options struct {
	Dir       string // DefaultDir when empty
	Limit     int    // keep the first Limit training examples (0: all)
	TestLimit int    // keep the first TestLimit test examples (0: all)
	// Stride is the distance between the starts of consecutive character windows
	// (Shakespeare; 0 or 1: every window, as the reference).
	Stride int
	// ChannelsLast serves image batches as channels_last tensors (Images.ChannelsLast); text
	// datasets ignore it.
	ChannelsLast bool
}

// Open loads a registered dataset by name with the reference's normalization, augmentation and
// tasks.
func Open(dataset string, o Options) (Splits, error) {
	spec, ok := Lookup(dataset)
	if !ok {
		return Splits{}, fmt.Errorf("unknown dataset %q (want one of %s)", dataset, strings.Join(Names(), ", "))
	}
	dir := o.Dir
	if dir == "" {
		dir = spec.DefaultDir()
	}
	s, err := spec.Open(dir, o.Limit, o.Stride)
	if err != nil {
		return s, err
	}
	for _, src := range []Source{s.Train, s.Test} {
		if im, ok := src.(*Images); ok {
			im.ChannelsLast = o.ChannelsLast
		}
	}
	s.Test = First(s.Test, o.TestLimit)
	return s, nil
}

// openImages opens an image dataset's training and test splits with load, training on the
// first limit examples.
func openImages(load func(split string) (*Images, error), train, test string, limit int) (Splits, error) {
	tr, err := load(train)
	if err != nil {
		return Splits{}, err
	}
	te, err := load(test)
	if err != nil {
		return Splits{}, err
	}
	tr.Limit(limit)
	return Splits{Train: tr, Test: te}, nil
}
