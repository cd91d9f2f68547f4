package train_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/train"
)

func scheduleConfig(t *testing.T, dir, lowrankYAML string, epochs int) config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
model: {name: cnn, method: low_rank, hybrid_start: 1}
data: {dataset: fashion-mnist, limit: 1200}
train: {epochs: %d, batch_size: 100, threads: 1, output_dir: %s}
optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
scheduler: {name: none}
lowrank: %s
`, epochs, dir, lowrankYAML)
	cfg, err := config.Load(config.Source{Name: "schedule.yaml", Text: []byte(yaml)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func trainerPhase(t *testing.T, dir string) (string, map[string]int64) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "checkpoints", "last", "trainer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Phase string
		Ranks map[string]int64
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st.Phase, st.Ranks
}

func TestWarmupScheduleSwitchesAndResumes(t *testing.T) {
	fashion(t, 1)
	full, split := t.TempDir(), t.TempDir()
	cfg := scheduleConfig(t, full, "{schedule: warmup, warmup_epochs: 2}", 3)
	res, err := train.Run(context.Background(), cfg, quietLog(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 3 || res.SwitchedAfter != 2 {
		t.Fatalf("%d epochs of history, switched after %d (want 3, 2)", len(res.History), res.SwitchedAfter)
	}
	if phase, _ := trainerPhase(t, full); phase != "low_rank" {
		t.Errorf("final phase %q", phase)
	}
	// The final checkpoint is the low-rank model.
	lw, err := checkpoint.Load(filepath.Join(full, "checkpoints", "last", "model.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lw["conv2.conv.0.weight"]; !ok {
		t.Errorf("the last checkpoint is not the factorized model: %d tensors", len(lw))
	}

	// Interrupted in the full-rank phase (after epoch 1) and resumed: the same final weights.
	log := logrus.New()
	log.SetOutput(quietWriter{})
	ctx, cancel := context.WithCancel(context.Background())
	log.AddHook(cancelAfter{epoch: 1, cancel: cancel})
	if _, err := train.Run(ctx, scheduleConfig(t, split, "{schedule: warmup, warmup_epochs: 2}", 3), log, false, nil); err != train.ErrInterrupted {
		t.Fatalf("first half: %v", err)
	}
	if phase, _ := trainerPhase(t, split); phase != "dense" {
		t.Errorf("interrupted in phase %q, want dense", phase)
	}
	if _, err := train.Run(context.Background(), scheduleConfig(t, split, "{schedule: warmup, warmup_epochs: 2}", 3), quietLog(), true, nil); err != nil {
		t.Fatal(err)
	}
	sameLastCheckpoint(t, full, split)
}

func TestAutoScheduleChoosesRanks(t *testing.T) {
	fashion(t, 1)
	dir := t.TempDir()
	cfg := scheduleConfig(t, dir, "{schedule: auto, auto_window: 2, auto_min_epochs: 2, auto_max_epochs: 3}", 4)
	res, err := train.Run(context.Background(), cfg, quietLog(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	phase, ranks := trainerPhase(t, dir)
	if phase != "low_rank" || len(res.History) != 4 {
		t.Fatalf("phase %q after %d epochs", phase, len(res.History))
	}
	if res.SwitchedAfter < 2 || res.SwitchedAfter > 3 || len(res.Ranks) != len(ranks) {
		t.Errorf("Result: switched after %d (want 2 or 3), ranks %v (checkpoint %v)", res.SwitchedAfter, res.Ranks, ranks)
	}
	// conv2 (32·5×64·5 spatial matrix) and fc1 (512×3136) were tracked; each got a rank within
	// its full rank, or 0 (kept dense) at or above break-even.
	for name, full := range map[string]int64{"conv2": 160, "fc1": 512} {
		r, ok := ranks[name]
		if !ok || r < 0 || r > full {
			t.Errorf("%s: rank %d (tracked %v)", name, r, ok)
		}
	}
	f, err := os.Open(filepath.Join(dir, "stable_ranks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	for sc := bufio.NewScanner(f); sc.Scan(); lines++ {
		var rec struct {
			Epoch       int
			StableRanks map[string]float64 `json:"stable_ranks"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.StableRanks["fc1"] <= 0 {
			t.Errorf("stable_ranks.jsonl line %d: %s", lines, sc.Text())
		}
	}
	if lines < 2 || lines > 3 {
		t.Errorf("%d epochs of stable ranks, want 2 or 3 (min 2, max 3)", lines)
	}
	t.Logf("switched after %d full-rank epochs; ranks %v; final params %d", lines, ranks, res.Cost.Params)
}

func reloraConfig(t *testing.T, dir string) config.Config {
	t.Helper()
	yaml := fmt.Sprintf(`
model: {name: cnn, method: low_rank}
data: {dataset: fashion-mnist, limit: 1200}
train: {epochs: 3, batch_size: 100, threads: 1, output_dir: %s}
optimizer: {name: adamw, lr: 0.001, weight_decay: 0.01}
scheduler: {name: none}
lowrank: {schedule: relora, warmup_epochs: 1, relora_every: 5, relora_warmup: 2, relora_reset: 0.9}
`, dir)
	cfg, err := config.Load(config.Source{Name: "relora.yaml", Text: []byte(yaml)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lowrank.schedule relora trains the dense CNN (one full-rank epoch, then conv1, conv2 and fc1
// through factors merged every 5 steps: 12 steps an epoch, so merges inside both later epochs);
// its checkpoint is the dense model with the factors and their moments in optimizer.pt; a run
// interrupted after epoch 2 and resumed ends with the uninterrupted run's weights.
func TestReLoRAScheduleTrainsAndResumesAcrossMerges(t *testing.T) {
	fashion(t, 1)
	full, split := t.TempDir(), t.TempDir()
	res, err := train.Run(context.Background(), reloraConfig(t, full), quietLog(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 3 || res.History[2].TestMetric < 0.5 || res.Cost.Params != 1663370 {
		t.Fatalf("history %+v, %d parameters (want the dense CNN's)", res.History, res.Cost.Params)
	}
	if phase, _ := trainerPhase(t, full); phase != "relora" {
		t.Errorf("phase %q", phase)
	}
	opt, tensors, err := checkpoint.LoadObject(filepath.Join(full, "checkpoints", "last", "optimizer.pt"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	factors := 0
	for k := range tensors {
		if strings.HasSuffix(k, ".relora_A") {
			factors++
		}
	}
	if factors != 3 || opt == nil {
		t.Errorf("%d layers' factors in optimizer.pt, want 3 (conv1, conv2, fc1)", factors)
	}
	log := logrus.New()
	log.SetOutput(quietWriter{})
	ctx, cancel := context.WithCancel(context.Background())
	log.AddHook(cancelAfter{epoch: 2, cancel: cancel})
	if _, err := train.Run(ctx, reloraConfig(t, split), log, false, nil); err != train.ErrInterrupted {
		t.Fatalf("first part: %v", err)
	}
	if _, err := train.Run(context.Background(), reloraConfig(t, split), quietLog(), true, nil); err != nil {
		t.Fatal(err)
	}
	if a := sameLastCheckpoint(t, full, split); a["conv2.weight"] == nil {
		t.Fatalf("the checkpoint is not the dense model: %d tensors", len(a))
	}
}
