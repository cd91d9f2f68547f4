package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
)

// One process owns a run folder at a time; a lock left by a process that is gone is taken over.
func TestRunFolderLock(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	dir := filepath.Join(t.TempDir(), "run")
	unlock, err := lockRun(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockRun(dir, log); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in use by process %d", os.Getpid())) {
		t.Fatalf("second lock: %v, want one naming this process", err)
	}
	unlock()
	// A lock from a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	os.WriteFile(filepath.Join(dir, ".lock"), []byte(fmt.Sprintf("%d %s\n", dead.Process.Pid, host)), 0o644)
	unlock, err = lockRun(dir, log)
	if err != nil {
		t.Fatalf("a stale lock was not taken over: %v", err)
	}
	unlock()
	if _, err := os.Stat(filepath.Join(dir, ".lock")); !os.IsNotExist(err) {
		t.Errorf("the lock outlived its release: %v", err)
	}
	// A lock held on another machine cannot be checked: refused.
	os.WriteFile(filepath.Join(dir, ".lock"), []byte("1 another-host\n"), 0o644)
	if _, err := lockRun(dir, log); err == nil || !strings.Contains(err.Error(), "another-host") {
		t.Errorf("a lock from another host: %v", err)
	}
}

// tinyRun is the default config (the low-rank MLP on Fashion-MNIST) trained on 256 examples
// into dir, with the YAML sections extra adds, and a silent logger; it skips without the data.
func tinyRun(t *testing.T, dir, extra string) (config.Config, logrus.FieldLogger) {
	t.Helper()
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	yaml := "data: {limit: 256, test_limit: 256}\ntrain: {epochs: 1, output_dir: " + dir + "}\n" + extra
	cfg, err := config.Load(config.Source{Name: "tiny.yaml", Text: []byte(yaml)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	return cfg, log
}

// A fresh run into a folder holding one is refused with the ways out; ClearRun empties it.
func TestFreshRunIntoExistingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfg, log := tinyRun(t, dir, "")
	if _, err := Run(t.Context(), cfg, log, false, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	_, err := Run(t.Context(), cfg, log, false, nil)
	if !errors.Is(err, ErrRunExists) || !strings.Contains(err.Error(), "--resume") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("second fresh run: %v", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "metrics.jsonl")); string(after) != string(before) {
		t.Errorf("the refused run changed the metrics")
	}
	if err := ClearRun(dir); err != nil {
		t.Fatal(err)
	}
	if holdsRun(dir) {
		t.Fatal("ClearRun left the run")
	}
	if _, err := Run(t.Context(), cfg, log, false, nil); err != nil {
		t.Fatalf("after ClearRun: %v", err)
	}
}

// Resuming rewrites the metrics from the checkpoint's history: an epoch whose row was written
// but whose checkpoint was not (a failed save) is not recorded twice when it is trained again,
// and temporary files a killed process left are removed.
func TestResumeRewritesMetricsFromTheCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfg, log := tinyRun(t, dir, "")
	if _, err := Run(t.Context(), cfg, log, false, nil); err != nil {
		t.Fatal(err)
	}
	// Epoch 2's row, as if its checkpoint had then failed to be written.
	f, _ := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0o644)
	f.WriteString(`{"epoch":2,"lr":0.01,"train_loss":9,"train_metric":0,"test_loss":9,"test_metric":0,"epoch_seconds":1,"samples_per_sec":1}` + "\n")
	f.Close()
	os.WriteFile(filepath.Join(dir, ".config.json.tmp123"), []byte("{"), 0o600)
	cfg.Train.Epochs = 2
	if _, err := Run(t.Context(), cfg, log, true, nil); err != nil {
		t.Fatal(err)
	}
	hist, err := ReadMetrics(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Epoch != 1 || hist[1].Epoch != 2 || hist[1].TrainLoss == 9 {
		t.Errorf("metrics after resuming: %+v", hist)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	if n := strings.Count(string(csv), "\n"); n != 3 {
		t.Errorf("metrics.csv has %d lines, want a header and 2 rows:\n%s", n, csv)
	}
	if _, err := os.Stat(filepath.Join(dir, ".config.json.tmp123")); !os.IsNotExist(err) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
}

// Images of another size than the model's are refused before training, naming both shapes
// (they failed at step 0 with a libtorch backtrace).
func TestImageSizeCheckedBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, dims []int, n int) {
		raw := []byte{0, 0, 8, byte(len(dims))}
		for _, d := range dims {
			raw = append(raw, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
		}
		raw = append(raw, make([]byte, n)...)
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, split := range []string{"train", "t10k"} {
		write(split+"-images-idx3-ubyte", []int{4, 32, 32}, 4*32*32)
		write(split+"-labels-idx1-ubyte", []int{4}, 4)
	}
	cfg, err := config.Load(config.Source{Name: "size.yaml", Text: []byte("model: {name: cnn}\ndata: {dir: " + dir + "}\ntrain: {epochs: 1, output_dir: " + filepath.Join(dir, "run") + "}\n")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	_, err = Run(t.Context(), cfg, log, false, nil)
	if err == nil || !strings.Contains(err.Error(), "are 1×32×32") || !strings.Contains(err.Error(), "built for 1×28×28") {
		t.Fatalf("err = %v, want one naming both image shapes", err)
	}
}

// data.val_split holds out a fixed part of the training set (the same for a seed), "best" is
// chosen on it, and without it there is no "best" (it was chosen on the test set it reports).
func TestValidationSplitSelectsBest(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	for _, tc := range []struct {
		split    float64
		wantBest bool
	}{{0, false}, {0.25, true}} {
		dir := filepath.Join(t.TempDir(), "run")
		cfg, err := config.Load(config.Source{Name: "v.yaml", Text: []byte(fmt.Sprintf(
			"data: {limit: 400, test_limit: 200, val_split: %g}\ntrain: {epochs: 2, output_dir: %s}\n", tc.split, dir))}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(t.Context(), cfg, log, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(filepath.Join(dir, "checkpoints", "best", "model.pt"))
		if (err == nil) != tc.wantBest {
			t.Errorf("val_split %g: best checkpoint exists = %v, want %v", tc.split, err == nil, tc.wantBest)
		}
		last := res.History[len(res.History)-1]
		if hasVal := !math.IsNaN(last.ValMetric); hasVal != tc.wantBest {
			t.Errorf("val_split %g: validation metric %v", tc.split, last.ValMetric)
		}
		st, err := readTrainerState(filepath.Join(dir, "checkpoints", "last"))
		if err != nil {
			t.Fatal(err)
		}
		if tc.wantBest {
			best := res.History[st.Progress.BestEpoch-1].ValMetric
			if st.Progress.Best != best {
				t.Errorf("best metric %g, but epoch %d's validation metric is %g", st.Progress.Best, st.Progress.BestEpoch, best)
			}
			for _, m := range res.History {
				if m.ValMetric > best {
					t.Errorf("best epoch %d (validation %g) is not the best on validation: epoch %d has %g", st.Progress.BestEpoch, best, m.Epoch, m.ValMetric)
				}
			}
		}
	}
	// The held-out examples depend on the seed alone, and the two parts cover the set once.
	src := data.First(&data.Images{C: 1, H: 1, W: 1, Pixels: make([]byte, 100), Labels: make([]int64, 100)}, 0)
	a1, v1, _ := data.HoldOut(src, 0.1, 7)
	_, v2, _ := data.HoldOut(src, 0.1, 7)
	_, v3, _ := data.HoldOut(src, 0.1, 8)
	if a1.Len() != 90 || v1.Len() != 10 || fmt.Sprint(v1.(data.Subset).Index) != fmt.Sprint(v2.(data.Subset).Index) ||
		fmt.Sprint(v1.(data.Subset).Index) == fmt.Sprint(v3.(data.Subset).Index) {
		t.Errorf("hold-out: %d + %d, %v / %v / %v", a1.Len(), v1.Len(), v1, v2, v3)
	}
	seen := map[int]bool{}
	for _, i := range append(append([]int{}, a1.(data.Subset).Index...), v1.(data.Subset).Index...) {
		seen[i] = true
	}
	if len(seen) != 100 {
		t.Errorf("the parts cover %d of 100 examples", len(seen))
	}
	if _, _, err := data.HoldOut(src, 0.001, 1); err == nil {
		t.Error("an empty validation part must be refused")
	}
}
