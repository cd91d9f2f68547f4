package models

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"
)

// denseLinear is nn.Linear with PyTorch's default init, weight and bias U(-1/√in, 1/√in)
// (gotch's default init draws a standard normal instead). Names: "weight" (out×in), "bias".
type denseLinear struct{ W, B *ts.Tensor }

func newDenseLinear(p *nn.Path, in, out int64) (*denseLinear, error) {
	bound := 1 / math.Sqrt(float64(in))
	w, err := uniform(p, "weight", []int64{out, in}, bound)
	if err != nil {
		return nil, err
	}
	b, err := uniform(p, "bias", []int64{out}, bound)
	if err != nil {
		return nil, err
	}
	return &denseLinear{W: w, B: b}, nil
}

func (l *denseLinear) Forward(x *ts.Tensor) (*ts.Tensor, error) { return ts.Linear(x, l.W, l.B) }

func uniform(p *nn.Path, name string, dims []int64, bound float64) (*ts.Tensor, error) {
	t, err := ts.Zeros(dims, gotch.Float, p.Device())
	if err != nil {
		return nil, err
	}
	defer t.MustDrop()
	if err := t.Uniform_(-bound, bound); err != nil {
		return nil, err
	}
	return p.Add(name, t, true)
}
