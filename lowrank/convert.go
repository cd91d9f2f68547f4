package lowrank

import (
	"fmt"
	"strconv"

	"github.com/sugarme/gotch/ts"
)

// Conversions between a factorized layer and the dense layer it replaces. The dense layer's
// tensors are keyed by their names within that layer, as PyTorch's module names them: "weight"
// and "bias" for nn.Linear and nn.Conv2d, "weight_ih_l0", "bias_hh_l1", ... for nn.LSTM. A model
// prefixes them with the dense layer's name; it never needs to know which kind of layer it holds.

// weightBias are a dense layer's tensors: weight, and bias when it has one.
func weightBias[T any](w, b T, hasBias bool) map[string]T {
	out := map[string]T{"weight": w}
	if hasBias {
		out["bias"] = b
	}
	return out
}

// DenseShapes are the tensors of the dense nn.Linear: weight (out×in) and, with biases, bias.
func (l *Linear) DenseShapes() (map[string][]int64, error) {
	return weightBias([]int64{l.Out, l.In}, []int64{l.Out}, l.Bias != nil), nil
}

// FromDense sets U and V from the truncated SVD of dense["weight"] (the best rank-R
// approximation; its bias goes to b_U) and returns the spectral energy kept.
func (l *Linear) FromDense(dense map[string]*ts.Tensor) (float64, error) {
	return l.Decompose(dense["weight"], dense["bias"])
}

// IntoDense returns the dense layer's weight U·V and bias U·b_V + b_U, owned by the caller.
func (l *Linear) IntoDense() (map[string]*ts.Tensor, error) {
	w, b, err := l.Merge()
	return weightBias(w, b, b != nil), err
}

// Matrix returns the dense weight (out×in) as the matrix the rank is defined on, a new handle
// the caller drops.
func (l *Linear) Matrix(dense map[string]*ts.Tensor) (*ts.Tensor, error) {
	return dense["weight"].ShallowClone()
}

// Rank is the factors' inner dimension.
func (l *Linear) Rank() int64 { return l.R }

// DenseShapes are the tensors of the dense nn.Conv2d: weight (out×in×k×k) and, with a bias,
// bias.
func (c *Conv2d) DenseShapes() (map[string][]int64, error) {
	return weightBias([]int64{c.Out, c.In, c.K, c.K}, []int64{c.Out}, c.Bias != nil), nil
}

// FromDense sets the factors from the truncated SVD of dense["weight"] in the scheme's matrix
// form and returns the spectral energy kept.
func (c *Conv2d) FromDense(dense map[string]*ts.Tensor) (float64, error) {
	return c.Decompose(dense["weight"], dense["bias"])
}

// IntoDense returns the dense kernel the two factor convolutions compose to, and the bias.
func (c *Conv2d) IntoDense() (map[string]*ts.Tensor, error) {
	w, b, err := c.Merge()
	return weightBias(w, b, b != nil), err
}

// Matrix returns the dense kernel as the m×n matrix the rank is defined on
// (ConvMatrixShape: (out·k)×(in·k) for the spatial scheme, out×(in·k·k) for the channel one).
func (c *Conv2d) Matrix(dense map[string]*ts.Tensor) (*ts.Tensor, error) {
	w := dense["weight"]
	rows, cols := ConvMatrixShape(c.Scheme, c.In, c.Out, c.K)
	if c.Scheme == Channel {
		return w.Reshape([]int64{rows, cols}, false)
	}
	p, err := w.Permute([]int64{0, 2, 1, 3}, false) // (out, k_h, in, k_w)
	if err != nil {
		return nil, err
	}
	return p.Reshape([]int64{rows, cols}, true)
}

// Rank is the factors' inner dimension.
func (c *Conv2d) Rank() int64 { return c.R }

// lstmParts are an nn.LSTM layer's tensors, suffixed _l<layer>.
var lstmParts = [4]string{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}

// DenseShapes are the tensors of the dense nn.LSTM, per layer k: weight_ih_lk (4h×in),
// weight_hh_lk (4h×h), bias_ih_lk and bias_hh_lk (4h). A rank above a gate matrix's full rank
// (the reference LSTM's rule can give one) has no dense counterpart to convert from.
func (m *LSTM) DenseShapes() (map[string][]int64, error) {
	s := map[string][]int64{}
	for k, l := range m.Layers {
		if l.RIh > min(4*l.Hidden, l.In) || l.RHh > 4*l.Hidden {
			return nil, fmt.Errorf("layer %d: rank %d/%d exceeds its gate matrices' full rank (the reference LSTM rank rule); use the min rule to convert", k, l.RIh, l.RHh)
		}
		sfx := "_l" + strconv.Itoa(k)
		s["weight_ih"+sfx] = []int64{4 * l.Hidden, l.In}
		s["weight_hh"+sfx] = []int64{4 * l.Hidden, l.Hidden}
		s["bias_ih"+sfx] = []int64{4 * l.Hidden}
		s["bias_hh"+sfx] = []int64{4 * l.Hidden}
	}
	return s, nil
}

// FromDense sets every layer's gate factors from the truncated SVDs of the dense gate matrices
// and copies the biases; it returns the lowest spectral energy kept.
func (m *LSTM) FromDense(dense map[string]*ts.Tensor) (float64, error) {
	layers := make([][4]*ts.Tensor, len(m.Layers))
	for k := range layers {
		for j, part := range lstmParts {
			layers[k][j] = dense[part+"_l"+strconv.Itoa(k)]
		}
	}
	es, err := m.Decompose(layers)
	if err != nil {
		return 0, err
	}
	low := 1.0
	for _, e := range es {
		low = min(low, e)
	}
	return low, nil
}

// IntoDense returns every layer's gate matrices U·Vᵀ and (new handles of) its biases.
func (m *LSTM) IntoDense() (map[string]*ts.Tensor, error) {
	merged, err := m.Merge()
	if err != nil {
		return nil, err
	}
	out := map[string]*ts.Tensor{}
	for k, parts := range merged {
		for j, part := range lstmParts {
			t := parts[j]
			if j >= 2 { // the layer's own biases: the caller gets handles it may drop
				if t, err = t.ShallowClone(); err != nil {
					return nil, err
				}
			}
			out[part+"_l"+strconv.Itoa(k)] = t
		}
	}
	return out, nil
}

// Matrix is nil for an LSTM: its rank is not defined on one matrix of the dense layer, so
// rank selection from stable ranks leaves it out.
func (m *LSTM) Matrix(map[string]*ts.Tensor) (*ts.Tensor, error) { return nil, nil }

// Rank is the hidden-to-hidden factors' inner dimension of the first layer.
func (m *LSTM) Rank() int64 { return m.Layers[0].RHh }
