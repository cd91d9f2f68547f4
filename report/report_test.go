package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/report"
	"github.com/lowrank-dev/lowrank/train"
)

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"dense": "dense", "low-rank + FD": "low-rank-fd", "warm-up 2 epochs (Pufferfish)": "warm-up-2-epochs-pufferfish",
		"  A  b ": "a-b", "+++": "",
	} {
		if got := report.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuiltInSuiteLoads(t *testing.T) {
	s, err := report.LoadSuite("cpu")
	if err != nil {
		t.Fatal(err)
	}
	// The groups issue 11 asks for, each with a dense run to compare with.
	want := map[string]string{"mnist-mlp": "mnist", "fashion-mnist-cnn": "fashion-mnist", "fashion-mnist-vgg11": "fashion-mnist",
		"shakespeare-lstm": "shakespeare", "shakespeare-transformer": "shakespeare"}
	for _, g := range s.Groups {
		ds, ok := want[g.Name]
		if !ok {
			continue
		}
		delete(want, g.Name)
		dense := false
		for _, r := range g.Runs {
			cfg, err := r.Load("", nil)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Data.Dataset != ds {
				t.Errorf("%s / %s: dataset %s, want %s", g.Name, r.Name, cfg.Data.Dataset, ds)
			}
			dense = dense || cfg.Model.Method == "original"
		}
		if !dense {
			t.Errorf("%s: no dense run", g.Name)
		}
	}
	if len(want) > 0 {
		t.Errorf("groups missing: %v", want)
	}
}

func TestSuiteErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "title: x\ngroups: [{name: a, title: A, runs: [{name: d, config: mnist-mlp-original, sets: []}]}]\n", "field sets not found"},
		{"bad config", "groups: [{name: a, runs: [{name: d, config: no-such-config}]}]\n", "no-such-config"},
		{"bad override", "groups: [{name: a, runs: [{name: d, config: mnist-mlp-original, set: [optimizer.lr=fast]}]}]\n", "optimizer.lr"},
		{"duplicate run", "groups: [{name: a, runs: [{name: d, config: mnist-mlp-original}, {name: D, config: mnist-mlp-lowrank}]}]\n", "distinct"},
		{"bad group name", "groups: [{name: a/b, runs: [{name: d, config: mnist-mlp-original}]}]\n", "letters, digits"},
		{"empty", "title: nothing\n", "no groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "suite.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := report.LoadSuite(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// writeRecord stores a finished run's record where Collect finds it (in seed-<S> with a seed).
func writeRecord(t *testing.T, out string, g report.Group, r report.Spec, rec report.Record) {
	t.Helper()
	dir := report.RunDir(out, g, r)
	if rec.Seed != 0 {
		dir = filepath.Join(dir, fmt.Sprintf("seed-%d", rec.Seed))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(rec)
	if err := os.WriteFile(filepath.Join(dir, report.RecordFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

func history(metrics ...float64) []train.EpochMetrics {
	var h []train.EpochMetrics
	for i, m := range metrics {
		h = append(h, train.EpochMetrics{Epoch: i + 1, TestMetric: m, TestLoss: 1, Seconds: 10, SamplesPerSec: float64(1000 * (i + 1))})
	}
	return h
}

// TestRenderTableAndPlots: the table gives each run's final and best metric, its difference from
// the dense run, parameter share, summed training time and median throughput; every plot is a PNG.
func TestRenderTableAndPlots(t *testing.T) {
	out := t.TempDir()
	g := report.Group{Name: "g", Title: "Group G", Runs: []report.Spec{{Name: "dense"}, {Name: "low-rank"}, {Name: "never ran"}}}
	s := &report.Suite{Title: "T", Groups: []report.Group{g}}
	writeRecord(t, out, g, g.Runs[0], report.Record{Config: "c-original", Method: "original", Metric: "accuracy",
		Params: 1000000, FLOPs: 2000000, History: history(0.5, 0.9, 0.8), Machine: "m"})
	writeRecord(t, out, g, g.Runs[1], report.Record{Config: "c-lowrank", Method: "low_rank", Metric: "accuracy", Schedule: "auto",
		Params: 250000, FLOPs: 500000, History: history(0.6, 0.7, 0.75), SwitchedAfter: 2,
		Ranks: map[string]int64{"fc1": 24, "conv2": 0}, Machine: "m"})
	recs, err := report.Collect(s, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[1].Name != "low-rank" {
		t.Fatalf("collected %d records", len(recs))
	}
	if err := report.Render(s, recs, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| dense | `c-original` | – | 1,000,000 | 2,000,000 | 80.00 | – | 90.00 | 30 s | 2000 | – |",
		"| low-rank | `c-lowrank` | – | 250,000 (0.25×) | 500,000 | 75.00 | -5.00 | 75.00 | 30 s | 2000 | – | auto: full-rank for 2 epochs; ranks conv2 dense, fc1 24 |",
		"Machine: m.", "![test accuracy and training loss per epoch](g-curves.png)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q:\n%s", want, md)
		}
	}
	for _, f := range []string{"summary.png", "g-curves.png", "g-cost.png"} {
		raw, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s: %v", f, b)
		}
	}
}

// A run repeated over seeds is one row: the mean ± sample standard deviation of its final and
// best metrics over the seeds found (a missing seed is left out), the seeds listed, the Δ from
// the dense run's mean; its seed folders are runs/<group>/<run>/seed-<S>.
func TestRenderSeeds(t *testing.T) {
	out := t.TempDir()
	g := report.Group{Name: "g", Title: "G", Seeds: []uint64{1, 2, 3}}
	g.Runs = []report.Spec{{Name: "dense", Seeds: g.Seeds}, {Name: "low-rank", Seeds: g.Seeds}}
	s := &report.Suite{Title: "T", Groups: []report.Group{g}}
	for i, m := range []float64{0.80, 0.82, 0.84} {
		writeRecord(t, out, g, g.Runs[0], report.Record{Config: "c-original", Method: "original", Metric: "accuracy", Seed: uint64(i + 1),
			Set: []string{"train.seed=9"}, Params: 100, FLOPs: 200, History: history(0.5, m), Machine: "m"})
	}
	for i, m := range []float64{0.70, 0.74} { // seed 3 never finished
		writeRecord(t, out, g, g.Runs[1], report.Record{Config: "c-lowrank", Method: "low_rank", Metric: "accuracy", Seed: uint64(i + 1),
			Params: 25, FLOPs: 50, History: history(0.6, m), Machine: "m"})
	}
	recs, err := report.Collect(s, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || recs[4].Seed != 2 {
		t.Fatalf("collected %d records", len(recs))
	}
	if err := report.Render(s, recs, out); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "README.md"))
	for _, want := range []string{
		"| dense | `c-original` | 1, 2, 3 | 100 | 200 | 82.00 ± 2.00 | – | 82.00 ± 2.00 | 20 s | 1500 | – |",
		"| low-rank | `c-lowrank` | 1, 2 | 25 (0.25×) | 50 | 72.00 ± 2.83 | -10.00 | 72.00 ± 2.83 |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("README.md lacks %q:\n%s", want, md)
		}
	}
}

// TestRunTrainsSkipsAndRecords runs a two-run suite on a slice of Fashion-MNIST: both runs are
// trained and recorded with their metrics and logs, and a second call trains nothing.
// quiet is a logger that writes nowhere.
func quiet() *logrus.Logger {
	log := logrus.New()
	log.SetOutput(&bytes.Buffer{})
	return log
}

// runSuite loads the suite written in text and runs it into a new results folder, returning the
// suite, the folder and the records.
func runSuite(t *testing.T, text string) (*report.Suite, string, []report.Record) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := report.LoadSuite(path)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	recs, err := report.Run(context.Background(), s, report.Options{Out: out, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return s, out, recs
}

func TestRunTrainsSkipsAndRecords(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST is not installed (./install-libtorch.sh installs it)")
	}
	s, out, recs := runSuite(t, `title: tiny
groups:
  - name: mlp
    title: MLP
    runs:
      - {name: dense, config: fashionmnist-mlp-original, set: [data.limit=512, data.test_limit=256, train.epochs=2, train.threads=1]}
      - {name: low-rank, config: fashionmnist-mlp-lowrank, set: [data.limit=512, data.test_limit=256, train.epochs=2, train.threads=1]}
`)
	log := quiet()
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if len(r.History) != 2 || math.IsNaN(r.Final()) || r.Final() <= 0.1 || r.WallSeconds <= 0 {
			t.Errorf("%s: %d epochs, final accuracy %g, wall %g s", r.Name, len(r.History), r.Final(), r.WallSeconds)
		}
		for _, f := range []string{"metrics.jsonl", "train.log", "config.json"} {
			if _, err := os.Stat(filepath.Join(r.Dir, f)); err != nil {
				t.Errorf("%s: %v", r.Name, err)
			}
		}
	}
	if recs[1].Params >= recs[0].Params {
		t.Errorf("low-rank %d parameters, dense %d", recs[1].Params, recs[0].Params)
	}
	before, _ := os.ReadFile(filepath.Join(recs[0].Dir, report.RecordFile))
	again, err := report.Run(context.Background(), s, report.Options{Out: out, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(recs[0].Dir, report.RecordFile))
	if len(again) != 2 || !bytes.Equal(before, after) {
		t.Errorf("the second call retrained a finished run")
	}
}

// seeds: in a suite repeat each run once per seed, in its own folder and with its own
// train.seed; a group's seeds override the suite's, a run's the group's.
func TestRunSeeds(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST is not installed (./install-libtorch.sh installs it)")
	}
	s, out, recs := runSuite(t, `title: seeds
seeds: [7]
groups:
  - name: mlp
    title: MLP
    seeds: [1, 2]
    runs:
      - {name: low-rank, config: fashionmnist-mlp-lowrank, set: [data.limit=256, data.test_limit=128, train.epochs=1, train.threads=1]}
      - {name: once, config: fashionmnist-mlp-lowrank, seeds: [5], set: [data.limit=256, data.test_limit=128, train.epochs=1, train.threads=1]}
`)
	if len(recs) != 3 || recs[0].Seed != 1 || recs[1].Seed != 2 || recs[2].Seed != 5 {
		t.Fatalf("records %v", recs)
	}
	for _, r := range recs {
		raw, err := os.ReadFile(filepath.Join(r.Dir, "config.json"))
		if err != nil || !strings.Contains(string(raw), fmt.Sprintf(`"seed": %d`, r.Seed)) || !strings.HasSuffix(r.Dir, fmt.Sprintf("seed-%d", r.Seed)) {
			t.Errorf("seed %d in %s: %v", r.Seed, r.Dir, err)
		}
	}
	if recs[0].Final() == recs[1].Final() && recs[0].History[0].TrainLoss == recs[1].History[0].TrainLoss {
		t.Error("two seeds trained the same run")
	}
	if err := report.Render(s, recs, out); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(out, "README.md"))
	if !strings.Contains(string(md), "| low-rank | `fashionmnist-mlp-lowrank` data.limit=256") || !strings.Contains(string(md), " | 1, 2 | ") || !strings.Contains(string(md), " ± ") {
		t.Errorf("README.md:\n%s", md)
	}
}
