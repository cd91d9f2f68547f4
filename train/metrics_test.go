package train

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// Every field of EpochMetrics survives metrics.jsonl (its encoder is hand-written for NaN), and an
// epoch without evaluation keeps NaN test values.
func TestEpochMetricsRoundTrip(t *testing.T) {
	m := EpochMetrics{Epoch: 3, LR: 0.01, TrainLoss: 0.5, TrainMetric: 0.8, TestLoss: 0.6, TestMetric: 0.75, ValLoss: 0.55,
		ValMetric: 0.77, Seconds: 12, SamplesPerSec: 5000, Processes: 2, AllReduceBytes: 1234, AllReduceSecond: 0.01, OptimizerStateMB: 3.9}
	v := reflect.ValueOf(m)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("field %s is zero: the test must set every field", v.Type().Field(i).Name)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back EpochMetrics
	if err := json.Unmarshal(raw, &back); err != nil || back != m {
		t.Errorf("round trip (%v): %+v\nwant %+v\n%s", err, back, m, raw)
	}
	m.TestLoss, m.TestMetric = math.NaN(), math.NaN()
	raw, _ = json.Marshal(m)
	if err := json.Unmarshal(raw, &back); err != nil || !math.IsNaN(back.TestLoss) || !math.IsNaN(back.TestMetric) {
		t.Errorf("an epoch without evaluation: %+v (%v)", back, err)
	}
}
