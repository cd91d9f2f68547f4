package lowrank

import "fmt"

// RankRule selects how a layer's rank is chosen.
type RankRule int

const (
	// RatioRule sets r = floor(Ratio · min(m, n)), the reference's rule.
	RatioRule RankRule = iota
	// FixedRank uses Rank.Rank as is.
	FixedRank
	// BudgetRule keeps a fraction Budget of the dense parameters: r = floor(Budget · m·n/(m+n)).
	BudgetRule
)

func (r RankRule) String() string {
	switch r {
	case RatioRule:
		return "ratio"
	case FixedRank:
		return "fixed"
	case BudgetRule:
		return "budget"
	}
	return fmt.Sprintf("RankRule(%d)", int(r))
}

// ParseRankRule parses "ratio", "fixed" or "budget".
func ParseRankRule(s string) (RankRule, error) {
	for _, r := range []RankRule{RatioRule, FixedRank, BudgetRule} {
		if r.String() == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("rank rule %q: want ratio, fixed or budget", s)
}

// DefaultRatio is the reference's low-rank ratio.
const DefaultRatio = 0.2

// Rank chooses a layer's rank. The zero value is RatioRule with ratio 0.2.
type Rank struct {
	Rule   RankRule
	Ratio  float64 // RatioRule: fraction of min(m, n); 0 means 0.2
	Rank   int64   // FixedRank: the rank
	Budget float64 // BudgetRule: fraction of the dense parameters kept, in (0, 1]
}

// For returns the rank of the layer named layer whose matrix form is m×n.
func (rk Rank) For(layer string, m, n int64) (int64, error) {
	if m < 1 || n < 1 {
		return 0, fmt.Errorf("layer %s: matrix shape %d×%d has an empty dimension", layer, m, n)
	}
	full := min(m, n)
	var r int64
	switch rk.Rule {
	case RatioRule:
		ratio := rk.Ratio
		if ratio == 0 {
			ratio = DefaultRatio
		}
		if ratio < 0 || ratio > 1 {
			return 0, fmt.Errorf("layer %s: ratio %g is outside (0, 1]", layer, ratio)
		}
		// float64(min)·ratio truncated, exactly as the reference's int(min(m, n) * ratio).
		r = int64(float64(full) * ratio)
	case FixedRank:
		r = rk.Rank
	case BudgetRule:
		if rk.Budget <= 0 || rk.Budget > 1 {
			return 0, fmt.Errorf("layer %s: parameter budget %g is outside (0, 1]", layer, rk.Budget)
		}
		r = int64(rk.Budget * float64(m) * float64(n) / float64(m+n))
	default:
		return 0, fmt.Errorf("layer %s: unknown rank rule %v", layer, rk.Rule)
	}
	if r < 1 {
		return 0, fmt.Errorf("layer %s: rank %d from the %v rule is below 1 for its %d×%d matrix; raise the ratio or budget, or keep this layer dense", layer, r, rk.Rule, m, n)
	}
	if r > full {
		return 0, fmt.Errorf("layer %s: rank %d is above full rank %d of its %d×%d matrix", layer, r, full, m, n)
	}
	return r, nil
}
