package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/train"
)

// DefaultTrainConfig is the job `lowrank train` runs without -c: a low-rank MLP on
// Fashion-MNIST, which installs from a package registry.
const DefaultTrainConfig = "fashionmnist-mlp-lowrank"

// trainCmd trains the experiment a config describes.
type trainCmd struct {
	cfg    configFlags
	resume string
}

func newTrain() *trainCmd { return &trainCmd{} }

func (c *trainCmd) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train [-c CONFIG] [--set key=value]...",
		Short: "Train the model a config describes (default " + DefaultTrainConfig + ")",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return c.run(cmd) },
	}
	c.cfg.register(cmd)
	cmd.Flags().Lookup("config").DefValue = DefaultTrainConfig
	c.cfg.name = DefaultTrainConfig
	cmd.Flags().StringVar(&c.resume, "resume", "", "continue the run in RUN_DIR from its last checkpoint (its config.json; --set still applies)")
	return cmd
}

func (c *trainCmd) run(cmd *cobra.Command) error {
	if c.resume != "" {
		c.cfg.name = filepath.Join(c.resume, "config.json")
	}
	cfg, err := c.cfg.load(cmd)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(ctx, cfg, logrus.StandardLogger(), c.resume != "", cmd.ErrOrStderr())
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(cmd.OutOrStdout(), "interrupted; checkpoint written to %s. Resume with: lowrank train --resume %s\n",
			filepath.Join(cfg.Train.OutputDir, "checkpoints", "last"), cfg.Train.OutputDir)
		return nil
	}
	if err != nil {
		return err
	}
	last := res.History[len(res.History)-1]
	metric := cfg.Metric()
	value := fmt.Sprintf("%.2f%%", 100*last.TestMetric)
	if metric == "perplexity" {
		value = fmt.Sprintf("%.2f", last.TestMetric)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s on %s, test %s %s after %d epochs; %d parameters, %d FLOPs per example; run directory %s\n",
		c.cfg.name, cfg.Model.Method, cfg.Model.Name, cfg.Data.Dataset, metric, value, last.Epoch, res.Cost.Params, res.Cost.FLOPs, res.Dir)
	return nil
}
