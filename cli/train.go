package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/train"
)

// DefaultTrainConfig is the job `lowrank train` runs without -c: a low-rank MLP on
// Fashion-MNIST, which installs from a package registry.
const DefaultTrainConfig = "fashionmnist-mlp-lowrank"

// trainCmd trains the experiment a config describes.
type trainCmd struct{ cfg configFlags }

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
	return cmd
}

func (c *trainCmd) run(cmd *cobra.Command) error {
	cfg, err := c.cfg.load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := train.Run(ctx, cfg, logrus.StandardLogger())
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(cmd.OutOrStdout(), "interrupted after %d epoch(s); metrics so far are in %s\n", len(res.History), res.Dir)
		return nil
	}
	if err != nil {
		return err
	}
	last := res.History[len(res.History)-1]
	metric := "accuracy"
	value := fmt.Sprintf("%.2f%%", 100*last.TestMetric)
	if cfg.Data.Dataset == "wikitext2" {
		metric, value = "perplexity", fmt.Sprintf("%.2f", last.TestMetric)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s on %s, test %s %s after %d epochs; %d parameters, %d FLOPs per example; run directory %s\n",
		c.cfg.name, cfg.Model.Method, cfg.Model.Name, cfg.Data.Dataset, metric, value, last.Epoch, res.Cost.Params, res.Cost.FLOPs, res.Dir)
	return nil
}
