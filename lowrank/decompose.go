package lowrank

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

// SVDFactors returns the best rank-r approximation of the matrix w (m×n) as U·V with
// U = U_r·√S_r (m×r) and V = √S_r·V_rᵀ (r×n), and the fraction of spectral energy kept,
// Σ_{i<r} s_i² / Σ s_i². w is not modified; U and V belong to the caller.
func SVDFactors(w *ts.Tensor, r int64) (u, v *ts.Tensor, energy float64, err error) {
	size := w.MustSize()
	if len(size) != 2 {
		return nil, nil, 0, fmt.Errorf("SVDFactors: want a matrix, got shape %v", size)
	}
	if r < 1 || r > min(size[0], size[1]) {
		return nil, nil, 0, fmt.Errorf("SVDFactors: rank %d outside [1, %d] for a %d×%d matrix", r, min(size[0], size[1]), size[0], size[1])
	}
	var uu, s, vv *ts.Tensor
	backend.NoGrad(func() {
		w64, e := w.Totype(gotch.Double, false)
		if e != nil {
			err = e
			return
		}
		// torch.svd (not linalg_svd, whose driver argument libtorch 1.13 rejects): w = U diag(S) Vᵀ.
		uu, s, vv, err = w64.Svd(true, true, true)
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("SVDFactors: %w", err)
	}
	defer drop(uu, s, vv)
	sv := s.Float64Values()
	var kept, total float64
	for i, x := range sv {
		total += x * x
		if int64(i) < r {
			kept += x * x
		}
	}
	if total > 0 {
		energy = kept / total
	} else {
		energy = 1
	}
	root := make([]float64, r)
	for i := range root {
		root[i] = math.Sqrt(sv[i])
	}
	backend.NoGrad(func() {
		rt := ts.MustOfSlice(root)
		defer rt.MustDrop()
		ur, e := uu.Narrow(1, 0, r, false)
		if e != nil {
			err = e
			return
		}
		u, err = ur.Mul(rt, true) // scales column i by √s_i
		if err != nil {
			return
		}
		vr, e := vv.Narrow(1, 0, r, false)
		if e != nil {
			err = e
			return
		}
		vs, e := vr.Mul(rt, true)
		if e != nil {
			err = e
			return
		}
		v, err = vs.T(true)
		if err == nil {
			v, err = v.Contiguous(true)
		}
	})
	if err != nil {
		drop(u, v)
		return nil, nil, 0, err
	}
	dt := w.DType()
	u, _ = u.Totype(dt, true)
	v, _ = v.Totype(dt, true)
	return u, v, energy, nil
}

// copyInto copies src into the parameter dst without recording gradients.
func copyInto(dst, src *ts.Tensor) error {
	if !equalShapes(dst.MustSize(), src.MustSize()) {
		return fmt.Errorf("shape %v does not match %v", src.MustSize(), dst.MustSize())
	}
	backend.NoGrad(func() { dst.Copy_(src) })
	return nil
}

func equalShapes(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Decompose sets the layer's factors to the best rank-r approximation of the dense weight w
// (out×in) and, when the layer has biases, its last bias to b (first-factor bias zeroed).
// It returns the fraction of spectral energy kept.
func (l *Linear) Decompose(w, b *ts.Tensor) (float64, error) {
	if !equalShapes(w.MustSize(), []int64{l.Out, l.In}) {
		return 0, fmt.Errorf("lowrank.Linear.Decompose: weight %v, want [%d %d]", w.MustSize(), l.Out, l.In)
	}
	u, v, energy, err := SVDFactors(w, l.R)
	if err != nil {
		return 0, err
	}
	defer drop(u, v)
	if err := copyInto(l.U, u); err != nil {
		return 0, err
	}
	if err := copyInto(l.V, v); err != nil {
		return 0, err
	}
	return energy, setBiases(l.VBias, l.Bias, b)
}

// setBiases zeroes the first-factor bias and copies b into the last one.
func setBiases(first, last, b *ts.Tensor) error {
	if first != nil {
		var err error
		backend.NoGrad(func() { err = first.Zero_() })
		if err != nil {
			return err
		}
	}
	if last == nil || b == nil {
		return nil
	}
	return copyInto(last, b)
}

// Decompose sets the factors to the best rank-r approximation of the dense weight w
// (out, in, k, k) in the scheme's matrix form, and the last bias to b. It returns the fraction
// of spectral energy kept.
func (c *Conv2d) Decompose(w, b *ts.Tensor) (float64, error) {
	if !equalShapes(w.MustSize(), []int64{c.Out, c.In, c.K, c.K}) {
		return 0, fmt.Errorf("lowrank.Conv2d.Decompose: weight %v, want [%d %d %d %d]", w.MustSize(), c.Out, c.In, c.K, c.K)
	}
	m, n := ConvMatrixShape(c.Scheme, c.In, c.Out, c.K)
	var wm *ts.Tensor
	var err error
	if c.Scheme == Channel {
		wm, err = w.Reshape([]int64{m, n}, false)
	} else {
		p, e := w.Permute([]int64{0, 2, 1, 3}, false) // (out, k_h, in, k_w)
		if e != nil {
			return 0, e
		}
		wm, err = p.Reshape([]int64{m, n}, true)
	}
	if err != nil {
		return 0, err
	}
	u, v, energy, err := SVDFactors(wm, c.R)
	wm.MustDrop()
	if err != nil {
		return 0, err
	}
	defer drop(u, v)
	var uw, vw *ts.Tensor
	if c.Scheme == Channel {
		uw, _ = u.Reshape([]int64{c.Out, c.R, 1, 1}, false)
		vw, _ = v.Reshape([]int64{c.R, c.In, c.K, c.K}, false)
	} else {
		u4, _ := u.Reshape([]int64{c.Out, c.K, c.R, 1}, false)
		uw, _ = u4.Permute([]int64{0, 2, 1, 3}, true)
		vw, _ = v.Reshape([]int64{c.R, c.In, 1, c.K}, false)
	}
	defer drop(uw, vw)
	if err := copyInto(c.U, uw); err != nil {
		return 0, err
	}
	if err := copyInto(c.V, vw); err != nil {
		return 0, err
	}
	return energy, setBiases(c.VBias, c.Bias, b)
}
