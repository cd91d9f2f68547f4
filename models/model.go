package models

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// Model is an architecture built from lowrank layers.
type Model interface {
	// Forward maps a batch to logits: (B, classes) for images, (B, classes, T) for sequences
	// (the layout cross-entropy takes). The result belongs to the caller.
	Forward(x *ts.Tensor, train bool) (*ts.Tensor, error)
	// Factorized lists the factorized layers, for regularizers and conversions.
	Factorized() []lowrank.Factorized
	// Layers lists every layer with its parameters and FLOPs for one example.
	Layers() []LayerInfo
	// Cost sums Layers.
	Cost() lowrank.Cost
	// DenseNames gives, for each of Factorized(), the name of the same layer in the model
	// built with method original.
	DenseNames() []string
	// DenseName maps any parameter name of this model to the original model's name for it.
	DenseName(name string) string
	factorPaths() []string
}

// Method says whether a model is built full-rank or factorized.
type Method int

const (
	// Original builds every layer dense.
	Original Method = iota
	// LowRank factorizes the layers the architecture marks as factorizable.
	LowRank
)

func (m Method) String() string {
	if m == LowRank {
		return "low_rank"
	}
	return "original"
}

// ParseMethod parses "original" or "low_rank".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "original":
		return Original, nil
	case "low_rank":
		return LowRank, nil
	}
	return 0, fmt.Errorf("method %q: want original or low_rank", s)
}

// Compat selects between correct behaviour and reproducing the reference implementation.
type Compat int

const (
	// Correct is the default: the configured ratio reaches every layer, the low-rank VGG's last
	// layer has one output per class, batch norms track running statistics, and the LSTM uses the
	// min-dimension rank rule.
	Correct Compat = iota
	// Reference reproduces the reference implementation's models and its parameter table:
	// factorized convolutions (VGG, ResNet) and attention (Transformer) always use ratio 0.2,
	// the low-rank VGG's last layer outputs 512 values, ResNet batch norms use batch statistics
	// always (track_running_stats=False), and the LSTM uses r = 4h·ratio.
	Reference
)

func (c Compat) String() string {
	if c == Reference {
		return "reference"
	}
	return "correct"
}

// ParseCompat parses "correct" (or "") and "reference".
func ParseCompat(s string) (Compat, error) {
	switch s {
	case "", "correct":
		return Correct, nil
	case "reference":
		return Reference, nil
	}
	return 0, fmt.Errorf("compat %q: want correct or reference", s)
}

// Config configures any architecture. Zero values take the defaults written on the fields.
type Config struct {
	Method Method
	Rank   lowrank.Rank       // rank rule of factorized layers; default ratio 0.2
	Scheme lowrank.ConvScheme // factorized convolution scheme; default spatial
	Compat Compat
	// Hybrid keeps the first layers dense. VGG, ViT, Transformer, MLP and CNN: index of the
	// first factorized layer (VGG counts convolutions and linear layers from 1, as the
	// reference; the others count blocks or layers from 0). ResNet: HybridBlock and HybridLayer,
	// the reference's (block, layer) rule; the default (0, 0) factorizes every residual block.
	HybridStart              int
	HybridBlock, HybridLayer int
	Classes                  int64 // default 10
	LSTMImpl                 lowrank.LSTMImpl
	// Ranks overrides the rank rule per layer, keyed by the layer's dense name (as
	// DenseNames lists them): a positive rank is used as is, 0 keeps the layer dense. Automatic
	// rank selection fills it.
	Ranks map[string]int64
	// Image input of VGG: channels (default 3) and side (default 32). A side that is not a
	// multiple of 32 is zero-padded up to one (Fashion-MNIST's 28 to 32): VGG halves it five times.
	InChannels, InSize int64
	// Width multiplies VGG's channel counts and hidden width (default 1; 0.25 makes the narrow
	// VGG11 of 16…128 channels and 128 hidden units).
	Width float64
}

// vggInput returns the image channels and side, and the zero padding on each side.
func (c Config) vggInput() (channels, size, pad int64) {
	channels, size = c.InChannels, c.InSize
	if channels == 0 {
		channels = 3
	}
	if size == 0 {
		size = 32
	}
	if r := size % 32; r != 0 {
		pad = (32 - r) / 2
	}
	return channels, size + 2*pad, pad
}

// scaled is n channels times the width multiplier, at least 1.
func (c Config) scaled(n int64) int64 {
	if c.Width == 0 || c.Width == 1 {
		return n
	}
	return max(1, int64(math.Round(float64(n)*c.Width)))
}

func (c Config) classes() int64 {
	if c.Classes == 0 {
		return 10
	}
	return c.Classes
}

// ratio02 is the rank the reference's layers use whatever the configured ratio.
var ratio02 = lowrank.Rank{Ratio: lowrank.DefaultRatio}

// referenceRank is the rank of layers to which the reference never passes the ratio.
func (c Config) referenceRank() lowrank.Rank {
	if c.Compat == Reference {
		return ratio02
	}
	return c.Rank
}

// convConfig is the factorized-convolution configuration of a model with the given rank rule.
func convConfig(cfg Config, rank lowrank.Rank) lowrank.ConvConfig {
	// The reference's factorized convolutions with bias put one on each factor; the correct
	// default keeps the dense layer's single bias, on the last factor, so that merges are exact.
	return lowrank.ConvConfig{Rank: rank, Scheme: cfg.Scheme, FactorBias: cfg.Compat == Reference}
}
