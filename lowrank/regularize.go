package lowrank

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// Regularizer is a weighted sum of penalties over factor pairs (U, V):
//
//	Frobenius · Σ ‖UV‖²_F + Kronecker · Σ ‖U‖²_F‖V‖²_F + L2 · Σ (‖U‖²_F + ‖V‖²_F)
//
// The reference's combinations are L2-FD (L2 and Frobenius), L2-KD and FD-KD, each term with
// its own coefficient. The zero value adds nothing.
type Regularizer struct {
	Frobenius float64 // Frobenius decay coefficient
	Kronecker float64 // Kronecker decay coefficient
	L2        float64 // L2 coefficient on the factors
}

// IsZero reports whether the regularizer adds nothing.
func (r Regularizer) IsZero() bool { return r.Frobenius == 0 && r.Kronecker == 0 && r.L2 == 0 }

// Penalty returns the scalar penalty summed over the layers' factor pairs, differentiable with
// respect to the factors, or nil when r is zero or there are no layers. The caller drops it.
func (r Regularizer) Penalty(layers []Factorized) (*ts.Tensor, error) {
	if r.IsZero() || len(layers) == 0 {
		return nil, nil
	}
	var total *ts.Tensor
	add := func(t *ts.Tensor, coef float64) error {
		scaled, err := t.MulScalar(ts.FloatScalar(coef), true)
		if err != nil {
			return err
		}
		if total == nil {
			total = scaled
			return nil
		}
		total, err = total.Add(scaled, true)
		scaled.MustDrop()
		return err
	}
	for _, l := range layers {
		pairs, err := l.Pairs()
		if err != nil {
			drop(total)
			return nil, err
		}
		for _, p := range pairs {
			if err := r.pairPenalty(p, add); err != nil {
				drop(total, p.U, p.V)
				return nil, fmt.Errorf("regularizer: %w", err)
			}
			drop(p.U, p.V)
		}
	}
	return total, nil
}

func (r Regularizer) pairPenalty(p Pair, add func(*ts.Tensor, float64) error) error {
	if r.Frobenius != 0 {
		fd, err := FrobeniusDecay(p.U, p.V)
		if err != nil {
			return err
		}
		if err := add(fd, r.Frobenius); err != nil {
			return err
		}
	}
	if r.Kronecker == 0 && r.L2 == 0 {
		return nil
	}
	nu, err := sqNorm(p.U)
	if err != nil {
		return err
	}
	nv, err := sqNorm(p.V)
	if err != nil {
		nu.MustDrop()
		return err
	}
	defer drop(nu, nv)
	if r.Kronecker != 0 {
		kd, err := nu.Mul(nv, false)
		if err != nil {
			return err
		}
		if err := add(kd, r.Kronecker); err != nil {
			return err
		}
	}
	if r.L2 != 0 {
		l2, err := nu.Add(nv, false)
		if err != nil {
			return err
		}
		if err := add(l2, r.L2); err != nil {
			return err
		}
	}
	return nil
}

// FrobeniusDecay returns ‖UV‖²_F for U (m×r), V (r×n) without forming UV, as
// ⟨UᵀU, VVᵀ⟩ = Σ_ij (UᵀU)_ij (VVᵀ)_ij, in O((m+n)r²) instead of O(mnr).
func FrobeniusDecay(u, v *ts.Tensor) (*ts.Tensor, error) {
	gu, err := u.T(false)
	if err != nil {
		return nil, err
	}
	gu, err = gu.Matmul(u, true) // r×r
	if err != nil {
		return nil, err
	}
	vt, err := v.T(false)
	if err != nil {
		gu.MustDrop()
		return nil, err
	}
	gv, err := v.Matmul(vt, false) // r×r
	vt.MustDrop()
	if err != nil {
		gu.MustDrop()
		return nil, err
	}
	prod, err := gu.Mul(gv, true)
	gv.MustDrop()
	if err != nil {
		return nil, err
	}
	return prod.Sum(prod.DType(), true)
}

// sqNorm is ‖t‖²_F.
func sqNorm(t *ts.Tensor) (*ts.Tensor, error) {
	sq, err := t.Square(false)
	if err != nil {
		return nil, err
	}
	return sq.Sum(sq.DType(), true)
}
