package config

import "github.com/lowrank-dev/lowrank/data"

// convolutional are the models whose 4-d weights and image batches train.memory_format lays
// out; the others (MLP, LSTM, Transformer, ViT) have no 4-d tensors worth a layout.
var convolutional = map[string]bool{"cnn": true, "vgg11": true, "vgg16": true, "resnet18": true, "resnet101": true}

// Convolutional reports whether a model has convolutions that train.memory_format and the
// conv scheme apply to.
func Convolutional(model string) bool { return convolutional[model] }

// ChannelsLast resolves train.memory_format: whether the model's 4-d weights and the image
// batches are stored channels_last (NHWC). auto picks what measured faster on CPU with
// libtorch 1.13 and oneDNN (the README's memory-format table, `go run ./bench/compare -sections
// layout`): channels_last for every low-rank convolutional model, with either scheme (0.72–0.89×
// the contiguous step: oneDNN runs the thin factor convolutions in NHWC without reordering
// between them), and for the dense CNN and ResNet18 (0.86×, 0.97×); contiguous for the dense VGGs
// (0.99× there, 1.03× in an earlier run: no gain).
func (c Config) ChannelsLast() bool {
	if !convolutional[c.Model.Name] {
		return false
	}
	switch c.Train.MemoryFormat {
	case "channels_last":
		return true
	case "contiguous":
		return false
	}
	dense := c.Model.Method != "low_rank"
	vgg := c.Model.Name == "vgg11" || c.Model.Name == "vgg16"
	return !(dense && vgg)
}

// DataOptions are the data section as data.Open takes it, with the batches' layout.
func (c Config) DataOptions() data.Options {
	o := c.Data.Options()
	o.ChannelsLast = c.ChannelsLast()
	return o
}
