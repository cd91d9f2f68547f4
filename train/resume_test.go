package train_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// cancelAfter cancels a context when the trainer logs the end of the given epoch.
type cancelAfter struct {
	epoch  int
	cancel context.CancelFunc
}

func (c cancelAfter) Levels() []logrus.Level { return []logrus.Level{logrus.InfoLevel} }

func (c cancelAfter) Fire(e *logrus.Entry) error {
	if e.Message == "epoch done" && e.Data["epoch"] == c.epoch {
		c.cancel()
	}
	return nil
}

func runConfig(t *testing.T, dir string) config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
model: {name: cnn, method: low_rank, hybrid_start: 1}
data: {dataset: fashion-mnist, limit: 1200}
train: {epochs: 2, batch_size: 100, threads: 1, output_dir: %s}   # one thread: reductions in a fixed order
optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
scheduler: {name: cosine}
lowrank: {regularizer: frobenius, frobenius: 1e-4}
`, dir)
	cfg, err := config.Load(config.Source{Name: "resume.yaml", Text: []byte(yaml)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestResumeMatchesUninterruptedRun(t *testing.T) {
	fashion(t, 1)
	full, split := t.TempDir(), t.TempDir()
	if _, err := train.Run(context.Background(), runConfig(t, full), quietLog(), false, nil); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(quietWriter{})
	ctx, cancel := context.WithCancel(context.Background())
	log.AddHook(cancelAfter{epoch: 1, cancel: cancel})
	if _, err := train.Run(ctx, runConfig(t, split), log, false, nil); err != train.ErrInterrupted {
		t.Fatalf("first half: err = %v, want ErrInterrupted", err)
	}
	res, err := train.Run(context.Background(), runConfig(t, split), quietLog(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 2 {
		t.Fatalf("resumed history has %d epochs", len(res.History))
	}
	sameLastCheckpoint(t, full, split)
}

// sameLastCheckpoint checks that the run folders full (uninterrupted) and split (resumed) end with
// the same weights (1e-6), and returns full's.
func sameLastCheckpoint(t *testing.T, full, split string) map[string]*ts.Tensor {
	t.Helper()
	a, err := checkpoint.Load(filepath.Join(full, "checkpoints", "last", "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Load(filepath.Join(split, "checkpoints", "last", "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	for name, x := range a {
		y, ok := b[name]
		if !ok {
			t.Fatalf("%s is missing from the resumed run", name)
		}
		xv, yv := x.Float64Values(), y.Float64Values()
		for i := range xv {
			if math.Abs(xv[i]-yv[i]) > 1e-6*math.Max(1, math.Abs(xv[i])) {
				t.Fatalf("%s[%d]: uninterrupted %g, resumed %g", name, i, xv[i], yv[i])
			}
		}
	}
	return a
}

type quietWriter struct{}

func (quietWriter) Write(p []byte) (int, error) { return len(p), nil }

// nanAfter wraps a model and poisons its logits once armed.
type nanAfter struct {
	models.Model
	armed *bool
}

func (n nanAfter) Forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	y, err := n.Model.Forward(x, train)
	if err != nil || !*n.armed {
		return y, err
	}
	return y.MulScalar(ts.FloatScalar(math.NaN()), true)
}

func TestNaNKeepsLastGoodCheckpoint(t *testing.T) {
	tr, te := fashion(t, 300)
	defer backend.LockThread()()
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewMLP(vs.Root(), 784, nil, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	armed := false
	var saved []string
	_, err = train.Fit(context.Background(), nanAfter{m, &armed}, vs, tr, te, train.Options{Epochs: 3, Log: quietLog(),
		Schedule: train.Schedule{LR: 0.01},
		OnEpoch:  func(train.EpochMetrics) error { armed = true; return nil },
		Checkpoint: func(kind string, p train.Progress, _ checkpoint.Dict) error {
			saved = append(saved, fmt.Sprintf("%s@%d", kind, p.Epoch))
			return nil
		}})
	if err == nil || !strings.Contains(err.Error(), "epoch 2 step 0") || !strings.Contains(err.Error(), "last checkpoint (epoch 1)") {
		t.Fatalf("err = %v", err)
	}
	// No validation set, so no "best": only epoch 1's last.
	if fmt.Sprint(saved) != "[last@1]" {
		t.Errorf("checkpoints written %v, want only epoch 1's", saved)
	}
	// A non-finite loss in the first epoch says there is no checkpoint (it named one).
	armed = true
	vs2 := nn.NewVarStore(gotch.CPU)
	m2, err := models.NewMLP(vs2.Root(), 784, nil, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = train.Fit(context.Background(), nanAfter{m2, &armed}, vs2, tr, te, train.Options{Epochs: 1, Log: quietLog(), Schedule: train.Schedule{LR: 0.01}})
	if err == nil || !strings.Contains(err.Error(), "no checkpoint was written yet") {
		t.Errorf("first-epoch NaN: err = %v", err)
	}
}
