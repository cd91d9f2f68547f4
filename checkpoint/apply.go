package checkpoint

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
)

// Apply copies loaded tensors into a model's variables (a VarStore's NamedVariables) by name,
// converting dtypes. Every missing, unexpected or mis-shaped key is listed in one error before
// anything is copied, so a failed load leaves the model untouched. A loaded key that aliases
// another (see LoadAliased) is not unexpected when either of them is one of the model's names.
func Apply(vars, loaded map[string]*ts.Tensor, aliases ...map[string]string) error {
	group := map[string][]string{} // canonical key → all its names
	for _, al := range aliases {
		for k, canon := range al {
			group[canon] = append(group[canon], k)
		}
	}
	isAlias := func(name string) bool {
		canon := name
		for _, al := range aliases {
			if c, ok := al[name]; ok {
				canon = c
			}
		}
		if _, ok := vars[canon]; ok && canon != name {
			return true
		}
		for _, n := range group[canon] {
			if _, ok := vars[n]; ok && n != name {
				return true
			}
		}
		return false
	}
	var problems []string
	for name, v := range vars {
		t, ok := loaded[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("missing %s %v", name, v.MustSize()))
			continue
		}
		if fmt.Sprint(t.MustSize()) != fmt.Sprint(v.MustSize()) {
			problems = append(problems, fmt.Sprintf("%s has shape %v in the file, %v in the model", name, t.MustSize(), v.MustSize()))
		}
	}
	for name := range loaded {
		if _, ok := vars[name]; !ok && !isAlias(name) {
			problems = append(problems, "unexpected "+name)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("the checkpoint does not fit the model (%d problems):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	backend.NoGrad(func() {
		for name, v := range vars {
			v.Copy_(loaded[name])
		}
	})
	return nil
}

// Drop frees every tensor of a loaded state dict.
func Drop(tensors map[string]*ts.Tensor) {
	for _, t := range tensors {
		t.MustDrop()
	}
}
