package lowrank

import "github.com/sugarme/gotch/ts"

// scope runs a sequence of tensor ops in which any error aborts the sequence. Inside f, keep
// wraps each op's (tensor, error) result: the tensor is recorded for dropping when the scope
// ends, and an error stops f and becomes run's result. Tensors that must outlive the scope are
// passed to release.
type scope struct{ owned []*ts.Tensor }

type scopeErr struct{ err error }

func (s *scope) keep(t *ts.Tensor, err error) *ts.Tensor {
	if err != nil {
		panic(scopeErr{err})
	}
	s.owned = append(s.owned, t)
	return t
}

// release removes t from the tensors dropped at the end, handing it to the caller.
func (s *scope) release(t *ts.Tensor) *ts.Tensor {
	for i, o := range s.owned {
		if o == t {
			s.owned = append(s.owned[:i], s.owned[i+1:]...)
			break
		}
	}
	return t
}

// runScope calls f with a fresh scope, converts an op error into the returned error, and drops
// every kept tensor that was not released.
func runScope(f func(s *scope)) (err error) {
	s := &scope{}
	defer func() {
		drop(s.owned...)
		if r := recover(); r != nil {
			se, ok := r.(scopeErr)
			if !ok {
				panic(r)
			}
			err = se.err
		}
	}()
	f(s)
	return nil
}
