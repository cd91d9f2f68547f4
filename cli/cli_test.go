package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
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
		{[]string{"summary", "-c", "cifar10-vgg11-lowrank", "--set", "lowrank.ratio=2"}, "lowrank.ratio: 2 is outside (0, 1]"},
		{[]string{"summary"}, "no config"},
		{[]string{"configs", "nope"}, "no built-in config"},
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
	if err != nil {
		t.Fatalf("train after SIGINT: %v", err)
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
