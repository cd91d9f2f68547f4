package data

import (
	"fmt"
	"path/filepath"
)

// Splits are a dataset's training and test sources.
type Splits struct {
	Train, Test Source
}

// DefaultDir is where a dataset is looked for when the configuration names no folder.
func DefaultDir(dataset string) string {
	switch dataset {
	case "mnist":
		return DefaultMNISTDir()
	case "fashion-mnist":
		return DefaultFashionMNISTDir
	case "cifar10":
		return filepath.Join("datasets", "cifar-10-batches-bin")
	case "cifar100":
		return filepath.Join("datasets", "cifar-100-binary")
	case "shakespeare":
		return filepath.Join("datasets", "tinyshakespeare", "input.txt")
	case "wikitext2":
		return filepath.Join("datasets", "wikitext-2")
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

// Open loads a dataset by name ("mnist", "fashion-mnist", "cifar10", "cifar100",
// "shakespeare", "wikitext2") with the reference's normalization, augmentation and tasks.
func Open(dataset string, o Options) (Splits, error) {
	s, err := open(dataset, o.Dir, o.Limit, o.Stride)
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

func open(dataset, dir string, limit, stride int) (Splits, error) {
	if dir == "" {
		dir = DefaultDir(dataset)
	}
	var s Splits
	switch dataset {
	case "mnist", "fashion-mnist":
		mean, std := MNISTMean, MNISTStd
		if dataset == "fashion-mnist" {
			mean, std = FashionMNISTMean, FashionMNISTStd
		}
		tr, err := LoadIDXImages(dir, "train", mean, std)
		if err != nil {
			return s, err
		}
		te, err := LoadIDXImages(dir, "t10k", mean, std)
		if err != nil {
			return s, err
		}
		tr.Limit(limit)
		s.Train, s.Test = tr, te
	case "cifar10", "cifar100":
		load := func(split string) (*Images, error) {
			if dataset == "cifar10" {
				return LoadCIFAR10(dir, split)
			}
			return LoadCIFAR100(dir, split, true)
		}
		tr, err := load("train")
		if err != nil {
			return s, err
		}
		te, err := load("test")
		if err != nil {
			return s, err
		}
		tr.Augment = CIFARAugment
		tr.Limit(limit)
		s.Train, s.Test = tr, te
	case "shakespeare":
		tr, te, err := LoadTinyShakespeare(dir)
		if err != nil {
			return s, err
		}
		tr.Stride, te.Stride = stride, stride
		tr.Limit(limit)
		s.Train, s.Test = tr, te
	case "wikitext2":
		w, err := LoadWikiText2(dir)
		if err != nil {
			return s, err
		}
		chunks := func(tokens []int64) *TokenChunks {
			return &TokenChunks{Tokens: tokens, SeqLen: 64, Task: FillMask, Vocab: int64(w.Vocab.Len()), MaskRate: 0.15}
		}
		tr := chunks(w.Train)
		if limit > 0 && limit < tr.Len() {
			tr.Tokens = tr.Tokens[:limit*tr.SeqLen]
		}
		s.Train, s.Test = tr, chunks(w.Test)
	default:
		return s, fmt.Errorf("unknown dataset %q", dataset)
	}
	return s, nil
}
