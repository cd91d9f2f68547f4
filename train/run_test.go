package train_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/tfevents"
	"github.com/lowrank-dev/lowrank/train"
)

func TestRunWritesRunDirectory(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	dir := t.TempDir()
	yaml := `
model: {name: mlp, method: low_rank, init: spectral}
data: {dataset: fashion-mnist, limit: 3000}
train: {epochs: 2, eval_every: 2, output_dir: ` + dir + `}
optimizer: {name: adam, lr: 0.001, weight_decay: 0}
scheduler: {name: none}
lowrank: {regularizer: l2-fd, l2: 1e-5, frobenius: 1e-4}
`
	cfg, err := config.Load(config.Source{Name: "run.yaml", Text: []byte(yaml)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Run(context.Background(), cfg, quietLog(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 2 || res.History[1].TestMetric < 0.6 {
		t.Fatalf("history %+v", res.History)
	}
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	// eval_every 2: epoch 1 has no test metrics.
	if len(lines) != 2 || lines[0]["test_loss"] != nil || lines[1]["test_metric"] == nil {
		t.Errorf("metrics.jsonl: %v", lines)
	}
	csv, _ := os.ReadFile(filepath.Join(dir, "metrics.csv"))
	if rows := strings.Split(strings.TrimSpace(string(csv)), "\n"); len(rows) != 3 || !strings.HasPrefix(rows[0], "epoch,lr,") {
		t.Errorf("metrics.csv:\n%s", csv)
	}
	var resolved config.Config
	raw, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(raw, &resolved); err != nil || resolved.Model.Init != "spectral" || resolved.Optimizer.Momentum != 0.9 {
		t.Errorf("config.json: %v %+v", err, resolved)
	}
	// The run's own log, and a TensorBoard event file whose every record checks (CRCs) with a
	// scalar per step and the epochs' metrics: 3000 examples at batch 128 are 24 steps an epoch.
	logText, err := os.ReadFile(filepath.Join(dir, "train.log"))
	if err != nil || !strings.Contains(string(logText), "msg=\"epoch done\" epoch=2") {
		t.Errorf("train.log (%v):\n%s", err, logText)
	}
	evs, _ := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	if len(evs) != 1 {
		t.Fatalf("event files %v", evs)
	}
	ef, err := os.Open(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	recs, err := tfevents.ReadRecords(ef)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range recs {
		vals, err := tfevents.ParseEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			count[v.Tag]++
		}
	}
	if count["loss/train_step"] != 48 || count["lr"] != 48 || count["loss/train"] != 2 || count["accuracy/test"] != 1 || count["config"] != 1 {
		t.Errorf("events by tag %v (of %d records)", count, len(recs))
	}
}

func TestRunInterrupted(t *testing.T) {
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed")
	}
	cfg, err := config.Load(config.Source{Name: "x.yaml", Text: []byte("train: {output_dir: " + t.TempDir() + "}\n")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := train.Run(ctx, cfg, quietLog(), false, nil); err != train.ErrInterrupted {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
}
