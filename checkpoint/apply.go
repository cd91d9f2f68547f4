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
// anything is copied, so a failed load leaves the model untouched.
func Apply(vars, loaded map[string]*ts.Tensor) error {
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
		if _, ok := vars[name]; !ok {
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
