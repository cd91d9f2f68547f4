package lowrank_test

import (
	"testing"

	"github.com/lowrank-dev/lowrank/lowrank"
)

func TestCostsMatchClosedForms(t *testing.T) {
	vs := setup(t, 12)
	// Linear 512→10 at ratio 0.2: r = 2; params r·in + r + out·r + out.
	l := must[*lowrank.Linear](t)(lowrank.NewLinear(vs.Root().Sub("fc"), 512, 10, lowrank.LinearConfig{}))
	if got, want := l.Cost(1), (lowrank.Cost{Params: 2*512 + 2 + 10*2 + 10, FLOPs: 2*512 + 10*2}); got != want {
		t.Errorf("linear cost %+v, want %+v", got, want)
	}
	if got, want := lowrank.DenseLinearCost(512, 10, 3, true), (lowrank.Cost{Params: 5130, FLOPs: 3 * 5120}); got != want {
		t.Errorf("dense linear cost %+v, want %+v", got, want)
	}
	// Dense 3×3 conv 64→128 on 32×32, padding 1: 128·64·9 params, ×32·32 FLOPs.
	if got, want := lowrank.DenseConvCost(64, 128, 3, 32, 32, 1, 1, 1, false), (lowrank.Cost{Params: 73728, FLOPs: 73728 * 1024}); got != want {
		t.Errorf("dense conv cost %+v, want %+v", got, want)
	}
	// Spatial 64→128, k=3, ratio 0.2: r = floor(0.2·192) = 38. Params 38·64·3 + 128·38·3.
	// FLOPs: the 1×3 factor runs on 32 rows × 32 columns, the 3×1 factor on 32×32.
	sp := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root().Sub("sp"), 64, 128, 3, lowrank.ConvConfig{Padding: 1}))
	if sp.R != 38 {
		t.Fatalf("spatial rank %d, want 38", sp.R)
	}
	if got, want := sp.Cost(32, 32), (lowrank.Cost{Params: 38*64*3 + 128*38*3, FLOPs: 1024 * (38*64*3 + 128*38*3)}); got != want {
		t.Errorf("spatial conv cost %+v, want %+v", got, want)
	}
	// Stride 2 spatial: first factor 32 rows × 16 columns, second 16×16.
	sp2 := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root().Sub("sp2"), 64, 128, 3, lowrank.ConvConfig{Padding: 1, Stride: 2}))
	if got, want := sp2.Cost(32, 32).FLOPs, int64(32*16*38*64*3+16*16*128*38*3); got != want {
		t.Errorf("strided spatial FLOPs %d, want %d", got, want)
	}
	// Channel 64→128, k=3: matrix 128×576, r = floor(0.2·128) = 25.
	ch := must[*lowrank.Conv2d](t)(lowrank.NewConv2d(vs.Root().Sub("ch"), 64, 128, 3, lowrank.ConvConfig{Padding: 1, Scheme: lowrank.Channel, FactorBias: true}))
	if got, want := ch.Cost(32, 32), (lowrank.Cost{Params: 25*576 + 128*25 + 25 + 128, FLOPs: 1024 * (25*576 + 128*25)}); got != want {
		t.Errorf("channel conv cost %+v, want %+v", got, want)
	}
	// LSTM, factored: per token r_ih(in+4h) + r_hh(5h).
	m := must[*lowrank.LSTM](t)(lowrank.NewLSTM(vs.Root().Sub("lstm"), 40, 20, lowrank.LSTMConfig{Impl: lowrank.Factored}))
	if got, want := m.Cost(10).FLOPs, int64(10*(8*(40+80)+4*100)); got != want {
		t.Errorf("factored LSTM FLOPs %d, want %d", got, want)
	}
	if got, want := lowrank.DenseLSTMCost(40, 20, 1, 10), (lowrank.Cost{Params: 80*60 + 160, FLOPs: 10 * 80 * 60}); got != want {
		t.Errorf("dense LSTM cost %+v, want %+v", got, want)
	}
}
