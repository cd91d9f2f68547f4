package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/train"
)

// evalCmd evaluates a checkpoint on the config's test set.
type evalCmd struct {
	cfg  configFlags
	ckpt string
}

func (e *evalCmd) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eval -c CONFIG --checkpoint PATH",
		Short: "Print the test loss and metric of a checkpoint (a .pt state dict or a checkpoint folder)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return e.run(cmd) },
	}
	e.cfg.register(cmd)
	cmd.Flags().StringVar(&e.ckpt, "checkpoint", "", "model.pt, a checkpoint folder (runs/X/checkpoints/best), or a run folder")
	return cmd
}

func (e *evalCmd) run(cmd *cobra.Command) error {
	if e.ckpt == "" {
		return usageError{fmt.Errorf("--checkpoint is required")}
	}
	x, err := e.cfg.experiment(cmd)
	if err != nil {
		return err
	}
	cfg := x.Config
	path := e.ckpt
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		// A checkpoint folder, or a run folder: its best checkpoint, else its last.
		for _, sub := range []string{"model.pt", "checkpoints/best/model.pt", "checkpoints/last/model.pt"} {
			if _, err := os.Stat(filepath.Join(path, sub)); err == nil {
				path = filepath.Join(path, sub)
				break
			}
		}
	}
	device, err := backend.Device(cfg.Train.Device)
	if err != nil {
		return err
	}
	splits, err := x.Open(data.Options{Dir: cfg.Data.Dir, Stride: cfg.Data.Stride, TestLimit: cfg.Data.TestLimit})
	if err != nil {
		return err
	}
	defer backend.LockThread()()
	backend.SetThreads(cfg.Train.Threads)
	vs := nn.NewVarStore(device)
	// A run's checkpoint says which model it holds (a warm-up's dense phase, an automatic
	// schedule's ranks); the config alone would build the rank rule's model.
	model, _, err := train.BuildCheckpointModel(x, vs, path, "")
	if err != nil {
		return err
	}
	weights, aliases, err := checkpoint.LoadAliasedLimit(path, checkpoint.LimitFor(vs.NamedVariables()))
	if err != nil {
		return err
	}
	defer checkpoint.Drop(weights)
	if err := checkpoint.Apply(vs.NamedVariables(), weights, aliases); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	name := x.Metric()
	loss, metric, err := train.Evaluate(model, splits.Test, cfg.Train.BatchSize, device, name == "perplexity")
	if err != nil {
		return err
	}
	value := fmt.Sprintf("%.2f%%", 100*metric)
	if name == "perplexity" {
		value = fmt.Sprintf("%.3f", metric)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s on the %s test set (%d examples): loss %.4f, %s %s\n", path, cfg.Data.Dataset, splits.Test.Len(), loss, name, value)
	return nil
}
