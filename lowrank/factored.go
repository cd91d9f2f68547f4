package lowrank

import "github.com/sugarme/gotch/ts"

// Pair is one factorized matrix in matrix form: W ≈ U·V with U (m×r) and V (r×n). The tensors
// share storage and autograd history with the layer's parameters; the caller drops them.
type Pair struct{ U, V *ts.Tensor }

// Factorized is a layer whose weights are products of factors.
type Factorized interface {
	// Pairs returns the layer's factor pairs in matrix form.
	Pairs() ([]Pair, error)
	// DenseShapes are the shapes of the dense layer's tensors, keyed by their names in that layer
	// ("weight", "bias"; nn.LSTM's "weight_ih_l0", ...), or why the layer has no dense form.
	DenseShapes() (map[string][]int64, error)
	// FromDense sets the factors from the dense layer's tensors (keyed as DenseShapes) by
	// truncated SVD and returns the fraction of spectral energy kept, Σ_{i<r} s_i² / Σ s_i².
	FromDense(dense map[string]*ts.Tensor) (float64, error)
	// IntoDense returns the dense layer's tensors the factors multiply to (keyed as DenseShapes),
	// owned by the caller.
	IntoDense() (map[string]*ts.Tensor, error)
	// Matrix returns the dense layer's weight in the matrix form its rank is defined on (a
	// tensor the caller drops), or nil when it has none.
	Matrix(dense map[string]*ts.Tensor) (*ts.Tensor, error)
	// Rank is the layer's rank.
	Rank() int64
}

var (
	_ Factorized = (*Linear)(nil)
	_ Factorized = (*Conv2d)(nil)
	_ Factorized = (*LSTM)(nil)
)

// Cost is a layer's parameter count and forward FLOPs, one multiply-add counted as one FLOP.
type Cost struct {
	Params int64 `json:"params"`
	FLOPs  int64 `json:"flops"`
}

// Add returns c + o.
func (c Cost) Add(o Cost) Cost { return Cost{Params: c.Params + o.Params, FLOPs: c.FLOPs + o.FLOPs} }

// DenseLinearCost is the cost of a dense in→out linear layer applied to `tokens` vectors.
func DenseLinearCost(in, out, tokens int64, bias bool) Cost {
	c := Cost{Params: in * out, FLOPs: tokens * in * out}
	if bias {
		c.Params += out
	}
	return c
}

// DenseConvCost is the cost of a dense k×k convolution on one (in, h, w) input.
func DenseConvCost(in, out, k, h, w, stride, padding, dilation int64, bias bool) Cost {
	oh, ow := ConvOutSize(h, k, stride, padding, dilation), ConvOutSize(w, k, stride, padding, dilation)
	c := Cost{Params: out * in * k * k, FLOPs: oh * ow * out * in * k * k}
	if bias {
		c.Params += out
	}
	return c
}
