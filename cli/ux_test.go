package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
)

// `lowrank --version` exits 0 and names the libtorch (it exited 2 before).
func TestVersion(t *testing.T) {
	out, err := execute(t, "--version")
	if err != nil || !strings.HasPrefix(out, "lowrank ") || !strings.Contains(out, "libtorch 1.") && !strings.Contains(out, "libtorch 2.") {
		t.Fatalf("--version: %v\n%s", err, out)
	}
}

// Completion offers the built-in config names for -c, and keys, models and datasets for --set.
func TestCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "train", "-c", ""}, "cifar10-vgg11-lowrank\n"},
		{[]string{"__complete", "eval", "--set", "model.name="}, "model.name=resnet18\n"},
		{[]string{"__complete", "train", "--set", "data.dataset="}, "data.dataset=shakespeare\n"},
		{[]string{"__complete", "train", "--set", ""}, "optimizer.lr=\n"},
	} {
		out, err := execute(t, tc.args...)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v, want %q in\n%s", tc.args, err, tc.want, out)
		}
	}
}

// --print-config prints YAML that loads back to the configuration; --dry-run reports the model
// and data and writes nothing (no run folder).
func TestPrintConfigAndDryRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	out, err := execute(t, "train", "-c", "fashionmnist-cnn-lowrank", "--set", "train.output_dir="+dir, "--set", "optimizer.lr=0.02", "--print-config")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.Source{Name: "printed.yaml", Text: []byte(out)}, nil, nil)
	if err != nil || c.Optimizer.LR != 0.02 || c.Model.Name != "cnn" || c.Train.OutputDir != dir {
		t.Errorf("printed config (%v): %+v\n%s", err, c, out)
	}
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		return // the dry run needs the dataset
	}
	out, err = execute(t, "train", "-c", "fashionmnist-cnn-lowrank", "--set", "train.output_dir="+dir, "--set", "data.val_split=0.1", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"low_rank cnn: 394096 parameters", "54000 training, 6000 validation, 10000 test", "nothing written"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the dry run wrote %s (%v)", dir, err)
	}
}

// summary reports the optimizer's state for both models, measured from the buffers it makes:
// Adam keeps two moments per parameter (8 bytes in float32), SGD with momentum one.
func TestSummaryOptimizerState(t *testing.T) {
	for _, tc := range []struct {
		opt   string
		bytes int64 // per parameter
	}{{"adam", 8}, {"sgd", 4}} {
		out, err := execute(t, "summary", "-c", "fashionmnist-cnn-lowrank", "--set", "optimizer.name="+tc.opt, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Full, LowRank struct {
				Params              int64 `json:"params"`
				OptimizerStateBytes int64 `json:"optimizer_state_bytes"`
			}
		}
		if err := json.Unmarshal([]byte(out), &struct {
			Full    any `json:"full"`
			LowRank any `json:"low_rank"`
		}{&s.Full, &s.LowRank}); err != nil {
			t.Fatal(err)
		}
		if s.Full.OptimizerStateBytes != 0 && s.LowRank.OptimizerStateBytes == 0 {
			t.Fatalf("%s", out)
		}
		for _, m := range []struct{ params, bytes int64 }{{s.Full.Params, s.Full.OptimizerStateBytes}, {s.LowRank.Params, s.LowRank.OptimizerStateBytes}} {
			if m.params == 0 || m.bytes != tc.bytes*m.params {
				t.Errorf("%s: %d bytes of state for %d parameters, want %d per parameter", tc.opt, m.bytes, m.params, tc.bytes)
			}
		}
	}
}

// --resume of a folder without a run says so (it failed opening config.json), as a usage error.
func TestResumeWithoutRun(t *testing.T) {
	_, err := execute(t, "train", "--resume", t.TempDir())
	var u usageError
	if err == nil || !strings.Contains(err.Error(), "no run there") || !errors.As(err, &u) {
		t.Fatalf("err = %v", err)
	}
}
