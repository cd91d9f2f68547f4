package lowrank

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// uniformParam registers a trainable parameter drawn from U(-bound, bound), PyTorch's default
// for nn.Linear and nn.Conv2d weights and biases with bound = 1/√fan_in.
func uniformParam(p *nn.Path, name string, dims []int64, bound float64) (*ts.Tensor, error) {
	t, err := ts.Zeros(dims, gotch.Float, p.Device())
	if err != nil {
		return nil, err
	}
	if err := t.Uniform_(-bound, bound); err != nil {
		t.MustDrop()
		return nil, err
	}
	v, err := p.Add(name, t, true)
	t.MustDrop()
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", name, err)
	}
	return v, nil
}

// FanInBound is 1/√fan_in, the bound of PyTorch's default init for weights and biases.
func FanInBound(fanIn int64) float64 { return 1 / math.Sqrt(float64(fanIn)) }

// drop frees tensors, skipping nil ones.
func drop(ts ...*ts.Tensor) {
	for _, t := range ts {
		if t != nil {
			t.MustDrop()
		}
	}
}

// orNone turns a nil optional tensor into ts.None for gotch's optional arguments.
func orNone(t *ts.Tensor) *ts.Tensor {
	if t == nil {
		return ts.None
	}
	return t
}
