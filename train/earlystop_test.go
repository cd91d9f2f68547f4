package train

import (
	"math"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"
)

// train.early_stop: the run ends once `patience` epochs passed without a better validation
// metric (accuracy up, perplexity down); epochs without evaluation count too, the last epoch
// ends anyway, and a run that keeps improving trains on.
func TestEarlyStop(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name       string
		perplexity bool
		vals       []float64
		stopAt     int // 0: never
	}{
		{"accuracy stalls", false, []float64{0.5, 0.6, 0.55, 0.58, 0.7, 0.7}, 4},
		{"perplexity stalls", true, []float64{90, 80, 85, 81, 70}, 4},
		{"keeps improving", false, []float64{0.5, 0.6, 0.7, 0.8, 0.9}, 0},
		{"unevaluated epochs count", false, []float64{0.5, nan, nan, 0.9}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := test.NewNullLogger()
			tr := &trainer{o: Options{EarlyStop: 2, Epochs: 10, Perplexity: tc.perplexity, Log: log}}
			if tc.perplexity {
				tr.p.Best = math.Inf(1)
			}
			stopped := 0
			for i, v := range tc.vals {
				done, err := tr.record(EpochMetrics{Epoch: i + 1, ValMetric: v})
				if err != nil {
					t.Fatal(err)
				}
				if done {
					stopped = i + 1
					break
				}
			}
			if stopped != tc.stopAt {
				t.Errorf("stopped after epoch %d, want %d", stopped, tc.stopAt)
			}
		})
	}
}
