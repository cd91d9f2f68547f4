package config

import "github.com/lowrank-dev/lowrank/data"

// convolutional are the models whose 4-d weights and image batches train.memory_format lays
// out; the others (MLP, LSTM, Transformer, ViT) have no 4-d tensors worth a layout.
var convolutional = map[string]bool{"cnn": true, "vgg11": true, "vgg16": true, "resnet18": true, "resnet101": true}

// ChannelsLast resolves train.memory_format: whether the model's 4-d weights and the image
// batches are stored channels_last (NHWC). auto picks what measured faster on CPU with
// libtorch 1.13 (the README's performance section, `go run ./bench/compare -sections layout`):
// channels_last for low-rank models with the channel scheme (a k×k convolution to r channels
// then a 1×1 one, which oneDNN runs natively in NHWC without reordering between the two),
// contiguous otherwise.
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
	return c.Model.Method == "low_rank" && c.LowRank.ConvScheme == "channel"
}

// DataOptions are the data section as data.Open takes it, with the batches' layout.
func (c Config) DataOptions() data.Options {
	o := c.Data.Options()
	o.ChannelsLast = c.ChannelsLast()
	return o
}
