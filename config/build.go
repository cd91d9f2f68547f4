package config

import (
	"fmt"

	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/models"
)

// DatasetSpec is what a model needs to know about its data.
type DatasetSpec struct {
	Classes int64 // classes, or vocabulary size for text
	SeqLen  int64 // text: sequence length
	// Images: channels and side (square).
	Channels, Size int64
}

// Specs describes each dataset as the reference uses it.
var Specs = map[string]DatasetSpec{
	"mnist": {Classes: 10, Channels: 1, Size: 28}, "fashion-mnist": {Classes: 10, Channels: 1, Size: 28},
	"cifar10": {Classes: 10, Channels: 3, Size: 32}, "cifar100": {Classes: 100, Channels: 3, Size: 32},
	"shakespeare": {Classes: 100, SeqLen: 80}, // Python's string.printable
	"wikitext2":   {Classes: 33279, SeqLen: 64},
}

// Build constructs the configured model under p; method overrides model.method when not empty.
func (c Config) Build(p *nn.Path, method string) (models.Model, error) {
	return c.build(p, method, nil)
}

// BuildRanks constructs the low-rank model with per-layer ranks (dense name → rank; 0 keeps
// the layer dense), as an automatic rank selection chose them.
func (c Config) BuildRanks(p *nn.Path, ranks map[string]int64) (models.Model, error) {
	return c.build(p, "low_rank", ranks)
}

func (c Config) build(p *nn.Path, method string, ranks map[string]int64) (models.Model, error) {
	spec, ok := Specs[c.Data.Dataset]
	if !ok {
		return nil, fmt.Errorf("data.dataset: unknown dataset %q", c.Data.Dataset)
	}
	if method != "" {
		c.Model.Method = method
	}
	mc, err := c.ModelConfig(spec.Classes)
	if err != nil {
		return nil, err
	}
	mc.Ranks = ranks
	mc.InChannels, mc.InSize = spec.Channels, spec.Size
	switch c.Model.Name {
	case "mlp":
		return models.NewMLP(p, 28*28, nil, mc)
	case "cnn":
		return models.NewCNN(p, mc)
	case "vgg11":
		return models.NewVGG(p, 11, mc)
	case "vgg16":
		return models.NewVGG(p, 16, mc)
	case "resnet18":
		return models.NewResNet(p, 18, mc)
	case "resnet101":
		return models.NewResNet(p, 101, mc)
	case "vit":
		return models.NewViT(p, models.ViTConfig{}, mc)
	case "lstm":
		return models.NewCharLSTM(p, models.LSTMConfig{Vocab: spec.Classes, SeqLen: spec.SeqLen}, mc)
	case "transformer":
		return models.NewTransformer(p, models.TransformerConfig{Vocab: spec.Classes, SeqLen: spec.SeqLen}, mc)
	}
	return nil, fmt.Errorf("model.name: unknown model %q", c.Model.Name)
}

// Options are the data section as data.Open takes it.
func (d Data) Options() data.Options {
	return data.Options{Dir: d.Dir, Limit: d.Limit, TestLimit: d.TestLimit, Stride: d.Stride}
}
