package models

import (
	"github.com/sugarme/gotch/ts"
)

// FactorizableMatrices returns, for each factorized layer of low that has a matrix form
// (lowrank.Factorized.Matrix: Linear and Conv2d, not LSTM), the dense weight of the same layer in
// dense (keyed by dense name) in the matrix form its rank is defined on, with its m and n. The
// caller drops the tensors.
func FactorizableMatrices(low Model, dense map[string]*ts.Tensor) (map[string]*ts.Tensor, map[string][2]int64, error) {
	mats, dims := map[string]*ts.Tensor{}, map[string][2]int64{}
	for i, f := range low.Factorized() {
		name := low.DenseNames()[i]
		shapes, err := f.DenseShapes()
		if err != nil {
			continue // no dense form (an LSTM beyond its full rank)
		}
		layer := denseOf(name, shapes, dense)
		if layer["weight"] == nil {
			continue
		}
		m, err := f.Matrix(layer)
		if err != nil {
			return nil, nil, err
		}
		if m == nil {
			continue
		}
		size := m.MustSize()
		mats[name], dims[name] = m, [2]int64{size[0], size[1]}
	}
	return mats, dims, nil
}
