package models

import (
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// FactorizableMatrices returns, for each Linear and Conv2d layer that low factorizes, the dense
// weight of the same layer in dense (keyed by dense name) in the matrix form its rank is
// defined on (lowrank.ConvMatrixShape for convolutions), with m and n. The caller drops the
// tensors. LSTMs are left out.
func FactorizableMatrices(low Model, dense map[string]*ts.Tensor) (map[string]*ts.Tensor, map[string][2]int64, error) {
	mats, dims := map[string]*ts.Tensor{}, map[string][2]int64{}
	for i, f := range low.Factorized() {
		name := low.DenseNames()[i]
		w, ok := dense[name+".weight"]
		if !ok {
			continue
		}
		var m *ts.Tensor
		var err error
		var shape [2]int64
		switch l := f.(type) {
		case *lowrank.Linear:
			m, err = w.ShallowClone()
			shape = [2]int64{l.Out, l.In}
		case *lowrank.Conv2d:
			rows, cols := lowrank.ConvMatrixShape(l.Scheme, l.In, l.Out, l.K)
			shape = [2]int64{rows, cols}
			if l.Scheme == lowrank.Channel {
				m, err = w.Reshape([]int64{rows, cols}, false)
			} else {
				p, e := w.Permute([]int64{0, 2, 1, 3}, false)
				if e != nil {
					return nil, nil, e
				}
				m, err = p.Reshape([]int64{rows, cols}, true)
			}
		default:
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		mats[name], dims[name] = m, shape
	}
	return mats, dims, nil
}
