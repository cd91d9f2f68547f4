package cli

import (
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// trainCmd trains an MLP on Fashion-MNIST. The YAML-configured trainer for every model and
// dataset replaces these flags (issue 6); this is the default job of the README.
type trainCmd struct {
	dataDir   string
	method    string
	ratio     float64
	epochs    int
	batchSize int
	lr        float64
	seed      uint64
	device    string
	limit     int
	frobenius float64
}

func newTrain() *trainCmd { return &trainCmd{} }

func (c *trainCmd) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a low-rank (or full-rank) MLP on Fashion-MNIST",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return c.run(cmd) },
	}
	f := cmd.Flags()
	def := os.Getenv("LOWRANK_DATA_DIR")
	if def == "" {
		def = data.DefaultFashionMNISTDir
	}
	f.StringVar(&c.dataDir, "data-dir", def, "folder of Fashion-MNIST's IDX files (env LOWRANK_DATA_DIR)")
	f.StringVar(&c.method, "method", "low_rank", "original or low_rank")
	f.Float64Var(&c.ratio, "ratio", lowrank.DefaultRatio, "low-rank ratio: rank = floor(ratio·min(out, in))")
	f.IntVar(&c.epochs, "epochs", 3, "epochs")
	f.IntVar(&c.batchSize, "batch-size", 128, "batch size")
	f.Float64Var(&c.lr, "lr", 1e-3, "Adam learning rate")
	f.Uint64Var(&c.seed, "seed", 1, "random seed (init and data order)")
	f.StringVar(&c.device, "device", "cpu", "cpu, cuda, cuda:N or auto")
	f.IntVar(&c.limit, "limit", 0, "train on the first N examples only (0: all)")
	f.Float64Var(&c.frobenius, "frobenius-decay", 0, "Frobenius decay coefficient on the factors")
	return cmd
}

func (c *trainCmd) run(cmd *cobra.Command) error {
	method, err := models.ParseMethod(c.method)
	if err != nil {
		return usageError{err}
	}
	if c.ratio <= 0 || c.ratio > 1 || c.epochs < 1 || c.batchSize < 1 || c.lr <= 0 || c.limit < 0 {
		return usageError{fmt.Errorf("want 0 < --ratio ≤ 1, --epochs ≥ 1, --batch-size ≥ 1, --lr > 0, --limit ≥ 0")}
	}
	device, err := backend.Device(c.device)
	if err != nil {
		return err
	}
	trainSet, err := data.LoadIDXImages(c.dataDir, "train", data.FashionMNISTMean, data.FashionMNISTStd)
	if err != nil {
		return err
	}
	testSet, err := data.LoadIDXImages(c.dataDir, "t10k", data.FashionMNISTMean, data.FashionMNISTStd)
	if err != nil {
		return err
	}
	trainSet.Limit(c.limit)
	unlock := backend.LockThread()
	defer unlock()
	backend.ManualSeed(int64(c.seed))
	vs := nn.NewVarStore(device)
	model, err := models.NewMLP(vs.Root(), trainSet.C*trainSet.H*trainSet.W, nil, models.Config{Method: method, Rank: lowrank.Rank{Ratio: c.ratio}})
	if err != nil {
		return err
	}
	cost := model.Cost()
	logrus.WithFields(logrus.Fields{"model": "mlp", "method": method, "ratio": c.ratio, "params": cost.Params,
		"flops": cost.FLOPs, "train": trainSet.Len(), "test": testSet.Len(), "threads": backend.Threads()}).Info("training")
	hist, err := train.Classify(model, vs, trainSet, testSet, train.Config{Epochs: c.epochs, BatchSize: c.batchSize,
		LR: c.lr, Seed: c.seed, Device: device, Regularizer: lowrank.Regularizer{Frobenius: c.frobenius}})
	if err != nil {
		return err
	}
	last := hist[len(hist)-1]
	fmt.Fprintf(cmd.OutOrStdout(), "mlp %s on Fashion-MNIST: test accuracy %.2f%% after %d epochs, %d parameters, %d FLOPs per example\n",
		method, 100*last.TestAccuracy, last.Epoch, cost.Params, cost.FLOPs)
	return nil
}
