package report_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/dist/c10d"

	"github.com/lowrank-dev/lowrank/cli"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/report"
)

// TestMain lets the test binary stand in for the lowrank command in the processes that a
// data-parallel run of the suite starts.
func TestMain(m *testing.M) {
	if os.Getenv("LOWRANK_TEST_AS_CLI") == "1" {
		os.Exit(cli.Execute())
	}
	os.Exit(m.Run())
}

// A run with processes: 2 trains data-parallel (batch 64 per process) and records what the
// single process with batch 128 records: the same cost, and the same accuracy up to float32
// summation order.
func TestRunDataParallel(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST is not installed (./install-libtorch.sh installs it)")
	}
	if !c10d.HasGloo() {
		t.Skip("this build has no Gloo (apt-get install libgloo-dev, re-run ./install-libtorch.sh)")
	}
	t.Setenv("LOWRANK_TEST_AS_CLI", "1") // for the launched processes only: TestMain ran already
	s, _, recs := runSuite(t, `title: tiny
groups:
  - name: mlp
    title: MLP
    runs:
      - {name: one, config: fashionmnist-mlp-lowrank, set: [data.limit=1024, data.test_limit=256, train.epochs=1, train.threads=1, train.batch_size=128, optimizer.name=sgd, optimizer.lr=0.05]}
      - {name: two, processes: 2, config: fashionmnist-mlp-lowrank, set: [data.limit=1024, data.test_limit=256, train.epochs=1, train.threads=1, train.batch_size=64, optimizer.name=sgd, optimizer.lr=0.05]}
`)
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	one, two := recs[0], recs[1]
	if two.Processes != 2 || len(two.History) != 1 || two.History[0].Processes != 2 || two.Params != one.Params || two.FLOPs != one.FLOPs {
		t.Errorf("two processes: %+v\none: %+v", two, one)
	}
	out := t.TempDir()
	if err := report.Render(s, recs, out); err != nil {
		t.Fatal(err)
	}
	if table, err := os.ReadFile(filepath.Join(out, "README.md")); err != nil || !strings.Contains(string(table), "| 2 processes, 0.70 MB all-reduced per step (") {
		t.Errorf("the table does not note the processes and bytes (%v):\n%s", err, table)
	}
	if math.Abs(two.Final()-one.Final()) > 0.004 || math.Abs(two.History[0].TrainLoss-one.History[0].TrainLoss) > 1e-4 {
		t.Errorf("two processes ended at accuracy %.4f (train loss %.5f), one at %.4f (%.5f)",
			two.Final(), two.History[0].TrainLoss, one.Final(), one.History[0].TrainLoss)
	}
}
