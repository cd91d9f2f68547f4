package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestSummaryJSON(t *testing.T) {
	out, err := execute(t, "summary", "-c", "cifar10-vgg11-lowrank", "--set", "model.compat=reference", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Full, LowRank struct {
			Params, FLOPs int64
			Layers        []struct{ Name string }
		} `json:"-"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	json.Unmarshal(raw["full"], &s.Full)
	json.Unmarshal(raw["low_rank"], &s.LowRank)
	if s.Full.Params != 9756426 || s.LowRank.Params != 4008851 || s.LowRank.FLOPs != 55956480 {
		t.Errorf("full %d params, low-rank %d params %d FLOPs", s.Full.Params, s.LowRank.Params, s.LowRank.FLOPs)
	}
	if len(s.LowRank.Layers) == 0 || s.LowRank.Layers[0].Name != "feature_layers.0" {
		t.Errorf("layers %+v", s.LowRank.Layers)
	}
}

func TestSummaryTable(t *testing.T) {
	out, err := execute(t, "summary", "-c", "fashionmnist-cnn-lowrank")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"conv2", "LowRankConv2d/spatial", "total", "low-rank/full:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"summary", "-c", "nope"}, "neither a file nor a built-in config"},
		{[]string{"summary", "-c", "cifar10-vgg11-lowrank", "--set", "lowrank.budget=2"}, "lowrank.budget: 2 is outside (0, 1]"},
		{[]string{"summary", "-c", "fashionmnist-cnn-lowrank", "--set", "lowrank.ratio=2"}, "lowrank.ratio: 2 is outside (0, 1]"},
		{[]string{"summary"}, "no config"},
		{[]string{"configs", "nope"}, "no built-in config"},
		// --nproc 0 and -1 trained silently as one process.
		{[]string{"train", "--nproc", "0"}, "--nproc 0: want at least 1 process"},
		{[]string{"train", "--nproc", "-1"}, "--nproc -1: want at least 1 process"},
	} {
		if _, err := execute(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// signalOnStart sends SIGINT to this process when training starts.
type signalOnStart struct{}

func (signalOnStart) Levels() []logrus.Level { return []logrus.Level{logrus.InfoLevel} }

func (signalOnStart) Fire(e *logrus.Entry) error {
	if e.Message == "training" {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
	}
	return nil
}

// SIGINT writes the checkpoint, says how to resume and ends the command with exit status 130
// (the command returned no error, so lowrank exited 0 as for a finished run).
func TestSIGINTWritesCheckpointAndExitsCleanly(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	dir := t.TempDir()
	logrus.AddHook(signalOnStart{})
	defer logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	logrus.SetOutput(io.Discard)
	defer logrus.SetOutput(os.Stderr)
	out, err := execute(t, "train", "--set", "train.output_dir="+dir, "--set", "data.limit=500")
	var in interrupted
	if !errors.As(err, &in) || in.exitCode() != 130 {
		t.Fatalf("train after SIGINT: %v, want an interruption that exits 130", err)
	}
	if !strings.Contains(out, "lowrank train --resume "+dir) {
		t.Errorf("output does not say how to resume:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "last", "model.pt")); err != nil {
		t.Errorf("no checkpoint: %v", err)
	}
	// And the run resumes to completion.
	logrus.StandardLogger().ReplaceHooks(logrus.LevelHooks{})
	out, err = execute(t, "train", "--resume", dir, "--set", "train.epochs=1")
	if err != nil || !strings.Contains(out, "test accuracy") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	out, err = execute(t, "eval", "-c", "fashionmnist-mlp-lowrank", "--checkpoint", dir)
	if err != nil || !strings.Contains(out, "fashion-mnist test set (10000 examples)") || !strings.Contains(out, "accuracy") {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	if _, err := execute(t, "eval", "-c", "fashionmnist-cnn-lowrank", "--checkpoint", dir); err == nil || !strings.Contains(err.Error(), "does not fit the model") {
		t.Errorf("eval of another model's checkpoint: %v", err)
	}
}

func TestSummaryOfAutoRanks(t *testing.T) {
	dir := t.TempDir()
	ck := filepath.Join(dir, "checkpoints", "last")
	os.MkdirAll(ck, 0o755)
	os.WriteFile(filepath.Join(ck, "trainer.json"), []byte(`{"phase": "low_rank", "ranks": {"conv2": 7, "fc1": 0}}`), 0o644)
	out, err := execute(t, "summary", "-c", "fashionmnist-cnn-lowrank-auto", "--run", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		LowRank struct {
			Layers []struct {
				Name, Type string
				Rank       int64
			}
		} `json:"low_rank"`
	}
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, l := range s.LowRank.Layers {
		got[l.Name] = fmt.Sprintf("%s/%d", l.Type, l.Rank)
	}
	if got["conv2"] != "LowRankConv2d/spatial/7" || got["fc1"] != "Linear/0" {
		t.Errorf("layers %v", got)
	}
}

// eval and merge rebuild the model a run ended with: the ranks its automatic schedule chose
// (they built the ratio rule's model and failed with "fc1.linear.0.weight has shape [46 3136] in
// the file, [102 3136] in the model"), and a warm-up's dense checkpoint loads dense.
func TestEvalAndMergeUseTheRunsRanks(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	logrus.SetOutput(io.Discard)
	defer logrus.SetOutput(os.Stderr)
	dir := filepath.Join(t.TempDir(), "auto")
	if out, err := execute(t, "train", "-c", "fashionmnist-cnn-lowrank-auto", "--set", "train.output_dir="+dir, "--set", "train.epochs=2",
		"--set", "lowrank.auto_window=2", "--set", "lowrank.auto_min_epochs=1", "--set", "lowrank.auto_max_epochs=1",
		"--set", "data.limit=512", "--set", "data.test_limit=256"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range []string{"fashionmnist-cnn-lowrank-auto", filepath.Join(dir, "config.json")} {
		out, err := execute(t, "eval", "-c", c, "--checkpoint", dir, "--set", "data.test_limit=256")
		if err != nil || !strings.Contains(out, "accuracy") {
			t.Errorf("eval -c %s: %v\n%s", c, err, out)
		}
	}
	// A dense run's checkpoint (schedule none, method original) loads as the dense model.
	dense := filepath.Join(t.TempDir(), "dense-run")
	if out, err := execute(t, "train", "-c", "fashionmnist-mlp-original", "--set", "train.output_dir="+dense, "--set", "train.epochs=1",
		"--set", "data.limit=256", "--set", "data.test_limit=256"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := execute(t, "eval", "-c", "fashionmnist-mlp-original", "--checkpoint", dense, "--set", "data.test_limit=256"); err != nil {
		t.Errorf("eval of a dense run: %v\n%s", err, out)
	}
	merged := filepath.Join(t.TempDir(), "dense.pt")
	out, err := execute(t, "merge", "-c", "fashionmnist-cnn-lowrank-auto", "--from", filepath.Join(dir, "checkpoints", "last", "model.pt"), "--out", merged)
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	if out, err := execute(t, "eval", "-c", "fashionmnist-cnn-original", "--checkpoint", merged, "--set", "data.test_limit=256"); err != nil {
		t.Errorf("eval of the merged model: %v\n%s", err, out)
	}
}

// --resume DIR continues the run in DIR: resuming a copy of a run folder, from another working
// directory, extends the copy and leaves the original alone (it used to write into the
// original's output_dir, and to find no checkpoint from elsewhere).
func TestResumeUsesTheNamedFolder(t *testing.T) {
	if _, err := os.Stat("/usr/share/datasets/fashion-mnist"); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	logrus.SetOutput(io.Discard)
	defer logrus.SetOutput(os.Stderr)
	base := t.TempDir()
	orig := filepath.Join(base, "runs", "orig")
	if out, err := execute(t, "train", "--set", "train.output_dir="+orig, "--set", "data.limit=256", "--set", "data.test_limit=256",
		"--set", "train.epochs=1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	before, _ := os.ReadFile(filepath.Join(orig, "metrics.jsonl"))
	elsewhere := filepath.Join(base, "elsewhere")
	if err := exec.Command("cp", "-a", orig, filepath.Join(base, "copy")).Run(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(elsewhere, 0o755)
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(elsewhere)
	if out, err := execute(t, "train", "--resume", "../copy", "--set", "train.epochs=2"); err != nil {
		t.Fatalf("resuming the copy: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(orig, "metrics.jsonl"))
	if string(after) != string(before) {
		t.Errorf("resuming the copy changed the original's metrics:\n%s\nto\n%s", before, after)
	}
	copied, _ := os.ReadFile(filepath.Join(base, "copy", "metrics.jsonl"))
	if n := strings.Count(string(copied), "\n"); n != 2 {
		t.Errorf("the copy has %d epochs of metrics, want 2:\n%s", n, copied)
	}
}

// --threads reaches libtorch on the thread that runs the command.
func TestDoctorThreadsFlag(t *testing.T) {
	out, err := execute(t, "doctor", "--threads", "1")
	if err != nil || !strings.Contains(out, "intra-op threads:  1 ") {
		t.Fatalf("doctor --threads 1: %v\n%s", err, out)
	}
	if _, err := execute(t, "doctor", "--threads", "-2"); err == nil {
		t.Error("a negative thread count must be refused")
	}
}

// TestBenchJSON: lowrank bench measures the models asked for (in process here) and reports
// their costs as the layer table counts them, with positive timings.
func TestBenchJSON(t *testing.T) {
	out, err := execute(t, "bench", "--json", "--in-process", "--models", "mlp,lstm", "--methods", "low_rank",
		"--batch", "4", "--steps", "2", "--warmup", "1", "--threads", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	start := strings.Index(out, "[")
	var rs []struct {
		Model           string
		Params          int64
		FLOPsPerExample int64   `json:"flops_per_example"`
		FLOPsPerStep    float64 `json:"flops_per_step"`
		StepMedianMs    float64 `json:"step_median_ms"`
		SamplesPerSec   float64 `json:"samples_per_sec"`
		InferMs         float64 `json:"infer_ms"`
		PeakRSSMB       float64 `json:"peak_rss_mb"`
		Threads         int
	}
	if start < 0 || json.Unmarshal([]byte(out[start:]), &rs) != nil || len(rs) != 2 {
		t.Fatalf("not a JSON array of 2 results:\n%s", out)
	}
	for i, want := range []struct {
		model  string
		params int64
	}{{"mlp", 174851}, {"lstm", 209008}} {
		r := rs[i]
		if r.Model != want.model || r.Params != want.params {
			t.Errorf("result %d: %s with %d parameters, want %s with %d", i, r.Model, r.Params, want.model, want.params)
		}
		if r.FLOPsPerStep != 3*4*float64(r.FLOPsPerExample) || r.StepMedianMs <= 0 || r.InferMs <= 0 || r.PeakRSSMB <= 0 || r.Threads != 1 {
			t.Errorf("%s: %+v", r.Model, r)
		}
		if got := 4 / (r.StepMedianMs / 1e3); math.Abs(got-r.SamplesPerSec) > 1e-6*got {
			t.Errorf("%s: %g samples/s from a %g ms step of 4", r.Model, r.SamplesPerSec, r.StepMedianMs)
		}
	}
	if _, err := execute(t, "bench", "--models", "alexnet"); err == nil || !strings.Contains(err.Error(), "alexnet") {
		t.Errorf("unknown model: %v", err)
	}
}
