package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/sugarme/gotch/nn"
)

// A training checkpoint is a folder: model.pt (the state dict, loadable by PyTorch),
// optimizer.pt (torch.optim's state_dict of the optimizer) and trainer.json (progress, history
// and the configuration). It is written beside the old one and swapped in by renames, so a
// crash leaves either the old or the new checkpoint whole.
type trainerState struct {
	Progress Progress         `json:"progress"`
	Config   config.Config    `json:"config"`
	Phase    string           `json:"phase"`                    // dense (warm-up) or low_rank
	Ranks    map[string]int64 `json:"ranks,omitempty"`          // per-layer ranks chosen at an automatic switch
	Tracker  *rankTracker     `json:"tracker,omitempty"`        // stable-rank history of an automatic warm-up
	Switched int              `json:"switched_after,omitempty"` // epochs trained full-rank before the switch
	// Processes is the data-parallel run's process count (absent: 1); Progress.Step counts each
	// process's batches, so a run stopped mid-epoch resumes only with as many.
	Processes int `json:"processes,omitempty"`
}

const (
	phaseDense   = "dense"
	phaseLowRank = "low_rank"
	phaseReLoRA  = "relora" // a dense model whose weights train through ReLoRA's factors
)

// checkpointFiles are a checkpoint folder's files.
var checkpointFiles = []string{"trainer.json", "model.pt", "optimizer.pt"}

// resolveCheckpoint returns dir, or dir.old after a crash between the two renames of a save.
func resolveCheckpoint(dir string) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	if _, err := os.Stat(dir + ".old"); err == nil {
		return dir + ".old", nil
	}
	return "", fmt.Errorf("no checkpoint to resume from in %s (runs write one after every epoch)", filepath.Dir(dir))
}

// readTrainerState reads a checkpoint's trainer.json (or the previous checkpoint's after a
// crash between the two renames).
func readTrainerState(dir string) (trainerState, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if _, err := os.Stat(dir + ".old"); err != nil {
			return trainerState{}, fmt.Errorf("no checkpoint to resume from in %s (runs write one after every epoch)", filepath.Dir(dir))
		}
		dir += ".old"
	}
	raw, err := os.ReadFile(filepath.Join(dir, "trainer.json"))
	if err != nil {
		return trainerState{}, err
	}
	var st trainerState
	if err := json.Unmarshal(raw, &st); err != nil {
		return trainerState{}, fmt.Errorf("%s: %w", filepath.Join(dir, "trainer.json"), err)
	}
	if st.Phase == "" {
		st.Phase = phaseLowRank
	}
	return st, nil
}

func saveCheckpoint(dir string, vars map[string]*ts.Tensor, optState checkpoint.Dict, st trainerState, cfg config.Config) error {
	tmp, old := dir+".tmp", dir+".old"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if err := checkpoint.Save(filepath.Join(tmp, "model.pt"), vars); err != nil {
		return err
	}
	if err := checkpoint.SaveObject(filepath.Join(tmp, "optimizer.pt"), optState); err != nil {
		return err
	}
	st.Config = cfg
	raw, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(tmp, "trainer.json"), append(raw, '\n')); err != nil {
		return err
	}
	if _, err := os.Stat(dir); err == nil {
		if err := os.RemoveAll(old); err != nil {
			return err
		}
		if err := os.Rename(dir, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// loadCheckpoint restores the model's variables from dir and returns the progress and the
// optimizer state to resume from. If dir is missing after a crash between the two renames,
// the previous checkpoint (dir.old) is used.
func loadCheckpoint(dir string, vs *nn.VarStore) (*Resume, error) {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		if _, err := os.Stat(dir + ".old"); err == nil {
			dir += ".old"
		} else {
			return nil, fmt.Errorf("no checkpoint to resume from in %s (runs write one after every epoch)", filepath.Dir(dir))
		}
	}
	st, err := readTrainerState(dir)
	if err != nil {
		return nil, err
	}
	limit := checkpoint.LimitFor(vs.NamedVariables())
	weights, aliases, err := checkpoint.LoadAliasedLimit(filepath.Join(dir, "model.pt"), limit)
	if err != nil {
		return nil, err
	}
	defer checkpoint.Drop(weights)
	optDict, optTensors, err := checkpoint.LoadObject(filepath.Join(dir, "optimizer.pt"), limit)
	if err != nil {
		return nil, err
	}
	if err := checkpoint.Apply(vs.NamedVariables(), weights, aliases); err != nil {
		checkpoint.Drop(optTensors)
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &Resume{Progress: st.Progress, OptimizerState: &OptimizerState{Dict: optDict, Tensors: optTensors}}, nil
}

// ChosenRanks returns the per-layer ranks an automatic schedule chose in the run folder dir
// (nil when the run chose none).
func ChosenRanks(dir string) (map[string]int64, error) {
	st, err := readTrainerState(filepath.Join(dir, "checkpoints", "last"))
	if err != nil {
		return nil, err
	}
	return st.Ranks, nil
}

// BuildCheckpointModel builds under vs the model the state dict at modelPath holds, from the
// trainer.json a run writes beside it: the dense model for a checkpoint of a warm-up's dense
// phase (densePhase), the low-rank model with the ranks an automatic schedule chose, or else the
// config's model with method as cfg.Build takes it ("" for the config's). A state dict from
// elsewhere, without trainer.json, gets the config's model.
func BuildCheckpointModel(e *experiment.Experiment, vs *nn.VarStore, modelPath, method string) (m models.Model, densePhase bool, err error) {
	dir := filepath.Dir(modelPath)
	if _, err := os.Stat(filepath.Join(dir, "trainer.json")); os.IsNotExist(err) {
		m, err := e.Build(vs.Root(), method)
		return m, false, err
	}
	st, err := readTrainerState(dir)
	if err != nil {
		return nil, false, err
	}
	if st.Phase == phaseDense || st.Phase == phaseReLoRA {
		m, err := e.Build(vs.Root(), "original")
		return m, true, err
	}
	m, err = buildModel(e, vs, method, st.Ranks)
	return m, false, err
}
