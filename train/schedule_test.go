package train_test

import (
	"math"
	"testing"

	"github.com/lowrank-dev/lowrank/train"
)

func TestScheduleClosedForms(t *testing.T) {
	const lr = 0.1
	for _, tc := range []struct {
		s     train.Schedule
		epoch int
		want  float64
	}{
		{train.Schedule{Name: "none", LR: lr}, 7, lr},
		{train.Schedule{Name: "sqrt", LR: lr}, 0, lr},
		{train.Schedule{Name: "sqrt", LR: lr}, 4, lr / 2},
		{train.Schedule{Name: "linear", LR: lr}, 5, lr / 5},
		{train.Schedule{Name: "cosine", LR: lr, MinLR: 1e-5, Epochs: 200}, 0, lr},
		{train.Schedule{Name: "cosine", LR: lr, MinLR: 1e-5, Epochs: 200}, 100, 1e-5 + (lr-1e-5)/2},
		{train.Schedule{Name: "cosine", LR: lr, MinLR: 1e-5, Epochs: 200}, 200, 1e-5},
		{train.Schedule{Name: "cosine", LR: lr, MinLR: 1e-5, Epochs: 200}, 50, 1e-5 + (lr-1e-5)*(1+math.Sqrt2/2)/2},
		{train.Schedule{Name: "multistep", LR: lr, Factor: 0.1, Epochs: 10}, 4, lr},
		{train.Schedule{Name: "multistep", LR: lr, Factor: 0.1, Epochs: 10}, 5, lr * 0.1},  // T/2 = 5
		{train.Schedule{Name: "multistep", LR: lr, Factor: 0.1, Epochs: 10}, 6, lr * 0.01}, // 3·(T/4) = 6
		{train.Schedule{Name: "multistep", LR: lr, Factor: 0.1, Epochs: 10}, 9, lr * 0.01},
		{train.Schedule{Name: "cosine", LR: lr, Epochs: 10, Warmup: 4}, 0, 0},
		{train.Schedule{Name: "cosine", LR: lr, Epochs: 10, Warmup: 4}, 2, lr / 2},
		{train.Schedule{Name: "cosine", LR: lr, Epochs: 10, Warmup: 4}, 4, lr},
	} {
		if got := tc.s.At(tc.epoch); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%+v at epoch %d: %g, want %g", tc.s, tc.epoch, got, tc.want)
		}
	}
	if err := (train.Schedule{Name: "step"}).Validate(); err == nil {
		t.Error("unknown scheduler must not validate")
	}
}
