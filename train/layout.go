package train

import (
	"github.com/lowrank-dev/lowrank/internal/layout"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// setLayout stores every 4-d variable of vs (convolution weights) channels_last or contiguous,
// in place, as PyTorch's model.to(memory_format=...). Call it before the optimizer makes its
// buffers (they take their parameter's layout) and before the first backward. The values, and
// so the checkpoints written from them (always contiguous), do not change.
func setLayout(vs *nn.VarStore, channelsLast bool) error {
	var tensors []*ts.Tensor
	for _, t := range vs.NamedVariables() {
		tensors = append(tensors, t)
	}
	return layout.Set(tensors, channelsLast)
}
