package train

import (
	"encoding/json"
	"math"
)

// epochJSON is EpochMetrics with the test values nullable: JSON has no NaN.
type epochJSON struct {
	Epoch         int      `json:"epoch"`
	LR            float64  `json:"lr"`
	TrainLoss     float64  `json:"train_loss"`
	TrainMetric   float64  `json:"train_metric"`
	TestLoss      *float64 `json:"test_loss"`
	TestMetric    *float64 `json:"test_metric"`
	ValLoss       *float64 `json:"val_loss,omitempty"`
	ValMetric     *float64 `json:"val_metric,omitempty"`
	Seconds       float64  `json:"epoch_seconds"`
	SamplesPerSec float64  `json:"samples_per_sec"`
	Processes     int      `json:"processes,omitempty"`
	AllReduceB    int64    `json:"allreduce_bytes_per_step,omitempty"`
	AllReduceS    float64  `json:"allreduce_seconds_per_step,omitempty"`
	OptStateMB    float64  `json:"optimizer_state_mb,omitempty"`
}

// MarshalJSON writes epochs without evaluation with null test values.
func (m EpochMetrics) MarshalJSON() ([]byte, error) {
	opt := func(x float64) *float64 {
		if math.IsNaN(x) {
			return nil
		}
		return &x
	}
	return json.Marshal(epochJSON{m.Epoch, m.LR, m.TrainLoss, m.TrainMetric, opt(m.TestLoss), opt(m.TestMetric),
		opt(m.ValLoss), opt(m.ValMetric), m.Seconds, m.SamplesPerSec, m.Processes, m.AllReduceBytes, m.AllReduceSecond, m.OptimizerStateMB})
}

// UnmarshalJSON reads null test values as NaN.
func (m *EpochMetrics) UnmarshalJSON(b []byte) error {
	var j epochJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*m = EpochMetrics{Epoch: j.Epoch, LR: j.LR, TrainLoss: j.TrainLoss, TrainMetric: j.TrainMetric, TestLoss: val(j.TestLoss),
		TestMetric: val(j.TestMetric), ValLoss: val(j.ValLoss), ValMetric: val(j.ValMetric), Seconds: j.Seconds,
		SamplesPerSec: j.SamplesPerSec, Processes: j.Processes, AllReduceBytes: j.AllReduceB, AllReduceSecond: j.AllReduceS,
		OptimizerStateMB: j.OptStateMB}
	return nil
}
