package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// convert runs `lowrank decompose` (dense → low-rank) and `lowrank merge` (low-rank → dense).
type convert struct {
	cfg       configFlags
	from, out string
	merge     bool
}

func newConvert(merge bool) *convert { return &convert{merge: merge} }

func (c *convert) command() *cobra.Command {
	use, short := "decompose -c LOWRANK_CONFIG --from dense.pt --out low.pt",
		"Factorize a trained full-rank model by truncated SVD into the config's low-rank model"
	if c.merge {
		use, short = "merge -c LOWRANK_CONFIG --from low.pt --out dense.pt",
			"Multiply a low-rank model's factors back into the dense architecture's weights"
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd) }}
	c.cfg.register(cmd)
	cmd.Flags().StringVar(&c.from, "from", "", "input state dict (.pt, torch.save format)")
	cmd.Flags().StringVar(&c.out, "out", "", "output state dict (.pt), written atomically")
	return cmd
}

func (c *convert) run(cmd *cobra.Command) error {
	if c.from == "" || c.out == "" {
		return usageError{fmt.Errorf("--from and --out are required")}
	}
	e, err := c.cfg.experiment(cmd)
	if err != nil {
		return err
	}
	cfg := e.Config
	defer backend.LockThread()()
	backend.SetThreads(cfg.Train.Threads)
	lvs, dvs := nn.NewVarStore(gotch.CPU), nn.NewVarStore(gotch.CPU)
	// Merging a run's checkpoint: the ranks its automatic schedule chose shape the low-rank model.
	var low models.Model
	if c.merge {
		var dense bool
		if low, dense, err = train.BuildCheckpointModel(e, lvs, c.from, "low_rank"); err == nil && dense {
			return fmt.Errorf("%s holds the dense model of a warm-up phase: there is nothing to merge (it loads as %s original)", c.from, cfg.Model.Name)
		}
	} else {
		low, err = e.Build(lvs.Root(), "low_rank")
	}
	if err != nil {
		return err
	}
	if _, err := e.Build(dvs.Root(), "original"); err != nil {
		return err
	}
	into := dvs // the file holds the dense model to decompose, or the factors to merge
	if c.merge {
		into = lvs
	}
	in, aliases, err := checkpoint.LoadAliasedLimit(c.from, checkpoint.LimitFor(into.NamedVariables()))
	if err != nil {
		return err
	}
	defer checkpoint.Drop(in)
	w := cmd.OutOrStdout()
	if c.merge {
		if err := checkpoint.Apply(lvs.NamedVariables(), in, aliases); err != nil {
			return fmt.Errorf("%s: %w", c.from, err)
		}
		if err := models.Merge(low, lvs.NamedVariables(), dvs.NamedVariables()); err != nil {
			return err
		}
		if err := checkpoint.Save(c.out, dvs.NamedVariables()); err != nil {
			return err
		}
		fmt.Fprintf(w, "merged %d factorized layers of %s into the dense %s: %s\n", len(low.Factorized()), c.from, cfg.Model.Name, c.out)
		return nil
	}
	var reports []models.LayerReport
	backend.NoGrad(func() { reports, err = models.Decompose(low, lvs.NamedVariables(), in) })
	if err != nil {
		return fmt.Errorf("%s: %w", c.from, err)
	}
	if err := checkpoint.Save(c.out, lvs.NamedVariables()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\trank\tspectral energy kept\t")
	for _, r := range reports {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t\n", r.Name, r.Rank, r.Energy)
	}
	tw.Flush()
	fmt.Fprintf(w, "wrote the low-rank %s to %s\n", cfg.Model.Name, c.out)
	return nil
}
