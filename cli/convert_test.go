package cli

import (
	"context"
	"fmt"
	"github.com/lowrank-dev/lowrank/experiment"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/train"
)

func quiet() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.WarnLevel)
	return l
}

func TestDecomposeAndMergeCommands(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	dir := t.TempDir()
	src, err := config.Find("fashionmnist-mlp-original")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	splits, err := data.Open("fashion-mnist", data.Options{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	unlock := backend.LockThread()
	backend.ManualSeed(1)
	dvs := nn.NewVarStore(gotch.CPU)
	dense, err := mustExperiment(t, cfg).Build(dvs.Root(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), dense, dvs, splits.Train, splits.Test, train.Options{Epochs: 1, Seed: 1,
		Schedule: train.Schedule{LR: 1e-3}, Optimizer: train.Optimizer{Name: "adam"}, Log: quiet()}); err != nil {
		t.Fatal(err)
	}
	_, denseAcc, err := train.Evaluate(dense, splits.Test, 500, gotch.CPU, false)
	if err != nil {
		t.Fatal(err)
	}
	densePT := filepath.Join(dir, "dense.pt")
	if err := checkpoint.Save(densePT, dvs.NamedVariables()); err != nil {
		t.Fatal(err)
	}
	unlock()

	lowPT := filepath.Join(dir, "low.pt")
	out, err := execute(t, "decompose", "-c", "fashionmnist-mlp-lowrank", "--from", densePT, "--out", lowPT)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "layers.0") || !strings.Contains(out, "spectral energy kept") {
		t.Errorf("report:\n%s", out)
	}
	defer backend.LockThread()()
	lcfg := cfg
	lcfg.Model.Method = "low_rank"
	lvs := nn.NewVarStore(gotch.CPU)
	low, err := mustExperiment(t, lcfg).Build(lvs.Root(), "")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := checkpoint.Load(lowPT)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Apply(lvs.NamedVariables(), loaded); err != nil {
		t.Fatal(err)
	}
	_, lowAcc, err := train.Evaluate(low, splits.Test, 500, gotch.CPU, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dense accuracy %.4f, decomposed at ratio 0.2 %.4f", denseAcc, lowAcc)
	fmt.Fprintf(os.Stderr, "decompose: dense accuracy %.4f, low-rank (ratio 0.2, no fine-tuning) %.4f\n", denseAcc, lowAcc)
	if lowAcc < denseAcc-0.05 {
		t.Errorf("decomposition lost %.1f points of accuracy", 100*(denseAcc-lowAcc))
	}

	// At full rank, decompose then merge gives back the dense weights.
	fullPT, mergedPT := filepath.Join(dir, "full.pt"), filepath.Join(dir, "merged.pt")
	if _, err := execute(t, "decompose", "-c", "fashionmnist-mlp-lowrank", "--set", "lowrank.ratio=1", "--from", densePT, "--out", fullPT); err != nil {
		t.Fatal(err)
	}
	if _, err := execute(t, "merge", "-c", "fashionmnist-mlp-lowrank", "--set", "lowrank.ratio=1", "--from", fullPT, "--out", mergedPT); err != nil {
		t.Fatal(err)
	}
	orig, _ := checkpoint.Load(densePT)
	merged, err := checkpoint.Load(mergedPT)
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range orig {
		d, s := torchref.MaxDiff(merged[name].Float64Values(), o.Float64Values())
		if d > 1e-5*max(1, s) {
			t.Errorf("%s differs by %g after decompose and merge", name, d)
		}
	}
	// A checkpoint of another architecture is refused with the list of problems.
	if _, err := execute(t, "merge", "-c", "fashionmnist-mlp-lowrank", "--from", densePT, "--out", filepath.Join(dir, "x.pt")); err == nil || !strings.Contains(err.Error(), "does not fit the model") {
		t.Errorf("mismatched merge: %v", err)
	}
}

func mustExperiment(t *testing.T, cfg config.Config) *experiment.Experiment {
	t.Helper()
	e, err := experiment.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
