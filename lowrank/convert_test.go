package lowrank_test

import (
	"fmt"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// Every factorized layer converts through the one interface: at full rank, FromDense of a dense
// layer's random tensors then IntoDense gives them back (to float32 precision); IntoDense's
// tensors have DenseShapes' shapes; Matrix has the matrix form the rank is defined on.
func TestFactorizedConversions(t *testing.T) {
	defer backend.LockThread()()
	for _, tc := range []struct {
		name   string
		build  func(p *nn.Path) (lowrank.Factorized, error)
		matrix []int64 // nil: no matrix form
	}{
		{"linear", func(p *nn.Path) (lowrank.Factorized, error) {
			return lowrank.NewLinear(p, 6, 4, lowrank.LinearConfig{Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 4}})
		}, []int64{4, 6}},
		{"conv spatial", func(p *nn.Path) (lowrank.Factorized, error) {
			return lowrank.NewConv2d(p, 3, 5, 3, lowrank.ConvConfig{Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 9}, Bias: true, Padding: 1})
		}, []int64{15, 9}},
		{"conv channel", func(p *nn.Path) (lowrank.Factorized, error) {
			return lowrank.NewConv2d(p, 3, 5, 3, lowrank.ConvConfig{Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 5}, Scheme: lowrank.Channel})
		}, []int64{5, 27}},
		{"lstm", func(p *nn.Path) (lowrank.Factorized, error) {
			return lowrank.NewLSTM(p, 2, 2, lowrank.LSTMConfig{Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 2}, NumLayers: 2})
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := setup(t, 5)
			f, err := tc.build(vs.Root())
			if err != nil {
				t.Fatal(err)
			}
			shapes, err := f.DenseShapes()
			if err != nil {
				t.Fatal(err)
			}
			dense := map[string]*ts.Tensor{}
			for k, s := range shapes {
				dense[k] = randn(t, s...)
			}
			var e float64
			backend.NoGrad(func() { e, err = f.FromDense(dense) })
			if err != nil {
				t.Fatal(err)
			}
			if e < 1-1e-5 {
				t.Errorf("energy kept at full rank %g", e)
			}
			back, err := f.IntoDense()
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(shapes) {
				t.Fatalf("IntoDense gave %d tensors, DenseShapes %d", len(back), len(shapes))
			}
			for k, s := range shapes {
				if fmt.Sprint(back[k].MustSize()) != fmt.Sprint(s) {
					t.Errorf("%s: shape %v, want %v", k, back[k].MustSize(), s)
				}
				if d := relErr(t, back[k], dense[k]); d > 1e-4 {
					t.Errorf("%s: relative error %g after FromDense then IntoDense at full rank", k, d)
				}
			}
			m, err := f.Matrix(dense)
			if err != nil {
				t.Fatal(err)
			}
			if (m == nil) != (tc.matrix == nil) || m != nil && fmt.Sprint(m.MustSize()) != fmt.Sprint(tc.matrix) {
				t.Errorf("matrix %v, want %v", m, tc.matrix)
			}
		})
	}
}

// A factorized layer used from another program: a rank-2 linear layer from 8 to 4 features
// holds 2·(8+4) weights instead of 32, and maps a batch (3, 8) to (3, 4).
func ExampleNewLinear() {
	vs := nn.NewVarStore(gotch.CPU)
	l, err := lowrank.NewLinear(vs.Root().Sub("fc"), 8, 4, lowrank.LinearConfig{Rank: lowrank.Rank{Rule: lowrank.FixedRank, Rank: 2}})
	if err != nil {
		panic(err)
	}
	x, _ := ts.Ones([]int64{3, 8}, gotch.Float, gotch.CPU)
	y, err := l.Forward(x)
	if err != nil {
		panic(err)
	}
	fmt.Println(l.U.MustSize(), l.V.MustSize(), y.MustSize(), l.Cost(1).Params)
	// Output: [4 2] [2 8] [3 4] 30
}
