package models

import (
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
)

// step is one stage of a sequential forward pass; intermediate tensors are kept in s.
type step func(s *scope.Scope, x *ts.Tensor, train bool) *ts.Tensor

// runSteps applies steps in order and returns the result, owned by the caller.
func runSteps(x *ts.Tensor, train bool, steps []step) (out *ts.Tensor, err error) {
	err = scope.Run(func(s *scope.Scope) {
		h := s.Keep(x.ShallowClone())
		for _, st := range steps {
			h = st(s, h, train)
		}
		out = s.Release(h)
	})
	return out, err
}

func convStep(c *conv) step {
	return func(s *scope.Scope, x *ts.Tensor, _ bool) *ts.Tensor { return s.Keep(c.forward(x)) }
}

func bnStep(bn *batchNorm) step {
	return func(s *scope.Scope, x *ts.Tensor, train bool) *ts.Tensor { return s.Keep(bn.forward(x, train)) }
}

func linearStep(l *linear) step {
	return func(s *scope.Scope, x *ts.Tensor, _ bool) *ts.Tensor { return s.Keep(l.forward(x)) }
}

// reluStep applies ReLU in place, as nn.ReLU(inplace=True): every model puts it after a
// convolution, batch norm or linear layer, whose backward needs its input but not its output, so
// autograd allows overwriting the output and the step saves a tensor's allocation and a pass over
// memory. It must never be a model's first step (that would overwrite the caller's input).
func reluStep(s *scope.Scope, x *ts.Tensor, _ bool) *ts.Tensor {
	s.Check(x.Relu_())
	return x
}

func flattenStep(s *scope.Scope, x *ts.Tensor, _ bool) *ts.Tensor {
	return s.Keep(x.Flatten(1, -1, false))
}

func maxPoolStep(k int64) step {
	return func(s *scope.Scope, x *ts.Tensor, _ bool) *ts.Tensor {
		return s.Keep(x.MaxPool2d([]int64{k, k}, []int64{k, k}, []int64{0, 0}, []int64{1, 1}, false, false))
	}
}

// padStep zero-pads the last two dimensions by p on each side.
func padStep(p int64) step {
	return func(s *scope.Scope, x *ts.Tensor, _ bool) *ts.Tensor {
		return s.Keep(x.ConstantPadNd([]int64{p, p, p, p}, false))
	}
}

func dropoutStep(p float64) step {
	return func(s *scope.Scope, x *ts.Tensor, train bool) *ts.Tensor { return s.Keep(dropout(x, p, train)) }
}
