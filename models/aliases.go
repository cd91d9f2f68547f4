package models

import (
	"strings"

	"github.com/sugarme/gotch/ts"
)

// aliased is a model whose reference module registers some submodules under a second name too,
// so that torch.save writes their tensors under both.
type aliased interface {
	// aliasPrefixes maps each second name's prefix to the first's ("common.0." → "head.").
	aliasPrefixes() map[string]string
}

// WithAliases returns vars with, for a model built with compat reference whose reference module
// registers submodules twice (the low-rank ResNets: head also as common.0, the residual stages
// also under common and personalized, tail also as the last of personalized), every second name
// added for the same tensor, as torch.save of that module writes it; so the reference's own
// class loads it with strict=True. Other models get vars as they are.
func WithAliases(m Model, vars map[string]*ts.Tensor) map[string]*ts.Tensor {
	a, ok := m.(aliased)
	if !ok {
		return vars
	}
	prefixes := a.aliasPrefixes()
	if len(prefixes) == 0 {
		return vars
	}
	out := make(map[string]*ts.Tensor, 2*len(vars))
	for k, t := range vars {
		out[k] = t
		for alias, canon := range prefixes {
			if rest, ok := strings.CutPrefix(k, canon); ok {
				out[alias+rest] = t
			}
		}
	}
	return out
}
