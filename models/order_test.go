package models_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/internal/torchref"
)

// A model's trainable parameters, in the order the VarStore registered them, are the PyTorch
// twin's model.parameters(): the order a torch.optim state_dict numbers them in, so that
// optimizer.pt loads into torch.optim.X(model.parameters()) (it failed with sorted names, and
// with each factor's bias registered after the other factor's weight).
func TestParameterOrderMatchesPyTorch(t *testing.T) {
	torchref.Require(t)
	for _, tc := range twins {
		t.Run(tc.name, func(t *testing.T) {
			vs := nn.NewVarStore(gotch.CPU)
			if _, err := tc.build(vs.Root()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range vs.Names() {
				if vs.IsTrainable(n) {
					got = append(got, n)
				}
			}
			out, err := exec.Command(torchref.Python, "testdata/torch_models.py", "--order", tc.name).CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var want []string
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !slices.Equal(got, want) {
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Fatalf("parameter %d is %s in Go, %s in PyTorch (%d and %d parameters)", i, got[i], want[i], len(got), len(want))
					}
				}
				t.Fatalf("%d parameters in Go, %d in PyTorch", len(got), len(want))
			}
		})
	}
}
