package models

import (
	"fmt"

	"github.com/sugarme/gotch/nn"
)

// Input is the data a model is built for, as a dataset's registration (data.Spec) describes it.
type Input struct {
	Text           bool  // token windows, else images
	Channels, Size int64 // images (square)
	Vocab, SeqLen  int64 // text
	FillMask       bool  // text: masked-token prediction (else the next token)
	Classes        int64 // image classes, or the vocabulary
}

// Spec is a model's registration: its name, the inputs it takes, its constructor, what `lowrank
// bench` feeds it, and the facts other parts read (memory layout, width). Each model's file
// declares its Specs and registry lists them; every list of models (validation, `lowrank
// configs`, bench, the memory-format rule, compare) is read from it, as timm's register_model.
type Spec struct {
	Name string
	// Accepts returns nil for an input the model can be built for, else what it takes instead.
	Accepts func(in Input) error
	// Build constructs the model under p for in; cfg's Classes, InChannels and InSize are in's.
	Build func(p *nn.Path, in Input, cfg Config) (Model, error)
	// Bench is the input `lowrank bench` trains it on (random data of that shape).
	Bench Input
	// Convolutional models have 4-d weights: train.memory_format and conv_scheme apply.
	Convolutional bool
	// DenseContiguous: the dense model measured no faster channels_last, so memory_format auto
	// keeps it contiguous (docs/performance.md's layout table; every low-rank model goes channels_last).
	DenseContiguous bool
	// Widthable models take model.width.
	Widthable bool
}

// registry is every model, in the order listings and `lowrank bench` show them.
var registry = []Spec{mlpSpec, cnnSpec, vgg11Spec, vgg16Spec, resnet18Spec, lstmSpec, transformerSpec, vitSpec, resnet101Spec}

// Lookup returns the model registered as name.
func Lookup(name string) (Spec, bool) {
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Names lists the registered models.
func Names() []string {
	out := make([]string, len(registry))
	for i, s := range registry {
		out[i] = s.Name
	}
	return out
}

// grey28 takes 28×28 single-channel images (MNIST's layout).
func grey28(in Input) error {
	if in.Text || in.Channels != 1 || in.Size != 28 {
		return fmt.Errorf("28×28 single-channel images")
	}
	return nil
}

// colour32 takes 32×32 three-channel images (CIFAR's layout).
func colour32(in Input) error {
	if in.Text || in.Channels != 3 || in.Size != 32 {
		return fmt.Errorf("32×32 colour images")
	}
	return nil
}

// images takes square images of any channel count and side.
func images(in Input) error {
	if in.Text {
		return fmt.Errorf("images")
	}
	return nil
}

var (
	benchGrey28   = Input{Channels: 1, Size: 28, Classes: 10}
	benchColour32 = Input{Channels: 3, Size: 32, Classes: 10}
)
