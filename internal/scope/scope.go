// Package scope runs a sequence of tensor ops in which any error aborts the sequence and every
// intermediate tensor is dropped at the end.
//
//	err := scope.Run(func(s *scope.Scope) {
//		h := s.Keep(x.Matmul(w, false))
//		out = s.Release(s.Keep(h.Relu(false)))
//	})
//
// Keep records a (tensor, error) result: the tensor is dropped when Run returns, and an error
// stops the function and becomes Run's result. Release hands a kept tensor to the caller.
// Dropping a Go handle does not free what autograd still needs.
package scope

import "github.com/sugarme/gotch/ts"

// Scope records the tensors of one Run.
type Scope struct{ owned []*ts.Tensor }

type opError struct{ err error }

// Keep returns t, recorded for dropping, or aborts the Run with err.
func (s *Scope) Keep(t *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(opError{err})
	}
	s.owned = append(s.owned, t)
	return t
}

// Check aborts the Run if err is not nil.
func (s *Scope) Check(err error) {
	if err != nil {
		panic(opError{err})
	}
}

// Release removes t from the tensors dropped at the end and returns it.
func (s *Scope) Release(t *ts.Tensor) *ts.Tensor {
	for i := len(s.owned) - 1; i >= 0; i-- {
		if s.owned[i] == t {
			s.owned = append(s.owned[:i], s.owned[i+1:]...)
			break
		}
	}
	return t
}

// Run calls f with a fresh Scope and returns the error that aborted it, if any. Other panics
// propagate.
func Run(f func(s *Scope)) (err error) {
	s := &Scope{}
	defer func() {
		for _, t := range s.owned {
			if t != nil {
				t.MustDrop()
			}
		}
		if r := recover(); r != nil {
			oe, ok := r.(opError)
			if !ok {
				panic(r)
			}
			err = oe.err
		}
	}()
	f(s)
	return nil
}
