package lowrank

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// uniformSpec is a parameter drawn from U(-bound, bound) and registered as name under path, into *dst.
type uniformSpec struct {
	dst   **ts.Tensor
	path  *nn.Path
	name  string
	shape []int64
	bound float64
}

// uniformParams draws specs' values in their order (the order a seed's draws have always followed)
// and registers them in the order register lists (indices into specs): PyTorch's registration
// order, which model.parameters() and a torch.optim state_dict's parameter numbers follow.
func uniformParams(specs []uniformSpec, register []int) error {
	drawn := make([]*ts.Tensor, len(specs))
	defer func() { drop(drawn...) }()
	for i, s := range specs {
		t, err := ts.Zeros(s.shape, gotch.Float, s.path.Device())
		if err != nil {
			return err
		}
		drawn[i] = t
		if err := t.Uniform_(-s.bound, s.bound); err != nil {
			return err
		}
	}
	for _, i := range register {
		s := specs[i]
		v, err := s.path.Add(s.name, drawn[i], true)
		if err != nil {
			return fmt.Errorf("registering %s: %w", s.name, err)
		}
		*s.dst = v
	}
	return nil
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
