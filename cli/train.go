package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/train"
)

// DefaultTrainConfig is the job `lowrank train` runs without -c: a low-rank MLP on
// Fashion-MNIST, which installs from a package registry.
const DefaultTrainConfig = "fashionmnist-mlp-lowrank"

// trainCmd trains the experiment a config describes.
type trainCmd struct {
	cfg       configFlags
	resume    string
	overwrite bool
	print     bool
	dryRun    bool
	launch    dist.Launch
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
	f := cmd.Flags()
	f.BoolVar(&c.print, "print-config", false, "print the resolved configuration as YAML (base configs, environment and --set applied) and exit")
	f.BoolVar(&c.dryRun, "dry-run", false, "build the data, model and optimizer, print what would train, and exit without training or writing anything")
	f.BoolVar(&c.overwrite, "overwrite", false, "train from scratch into a run folder that already holds a run, deleting its metrics and checkpoints")
	f.IntVar(&c.launch.NProc, "nproc", 1, "data-parallel processes on this machine (train.batch_size is per process)")
	f.IntVar(&c.launch.NNodes, "nnodes", 1, "machines in the run (run this command on each, with its --node-rank)")
	f.IntVar(&c.launch.NodeRank, "node-rank", 0, "this machine's index in [0, --nnodes)")
	f.StringVar(&c.launch.Addr, "master-addr", "", "address of node 0, which serves the rendezvous (default: MASTER_ADDR, else 127.0.0.1)")
	f.IntVar(&c.launch.Port, "master-port", 0, "rendezvous port on node 0 (default: MASTER_PORT, else a free port, one machine only)")
	cmd.Long = `Train the model a config describes.

Data-parallel training: --nproc N starts N processes on this machine that each train on their
own shard of every epoch and average gradients with PyTorch's c10d (Gloo on CPU, NCCL on CUDA);
rank 0 writes the run folder. For several machines, run the same command on each with --nnodes,
--node-rank, --master-addr and --master-port; or start the processes yourself (torchrun, a
scheduler) with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set. A rank that dies
or hangs makes the others fail within dist.timeout seconds.`
	return cmd
}

// launchFlags place processes; a launched process is told its place by the environment instead.
var launchFlags = map[string]bool{"nproc": true, "nnodes": true, "node-rank": true, "master-addr": true, "master-port": true}

// childArgs is the command line of a launched process: this command with the flags the user
// set, less the launcher's.
func childArgs(cmd *cobra.Command) []string {
	args := []string{cmd.Name()}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if launchFlags[f.Name] {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

func (c *trainCmd) run(cmd *cobra.Command) error {
	if err := c.launch.Validate(); err != nil {
		return usageError{err}
	}
	if _, isRank := os.LookupEnv(dist.EnvRank); !isRank { // a launched process reads its place itself
		if err := c.launch.FromEnv(); err != nil {
			return usageError{err}
		}
	}
	if c.resume != "" {
		c.cfg.name = filepath.Join(c.resume, "config.json")
		if _, err := os.Stat(c.cfg.name); err != nil {
			return usageError{fmt.Errorf("--resume %s: no run there (no config.json; a run folder is train.output_dir, runs/<config> by default)", c.resume)}
		}
	}
	x, err := c.cfg.experiment(cmd)
	if err != nil {
		return err
	}
	cfg := &x.Config
	if c.print || c.dryRun {
		return c.inspect(cmd, *cfg)
	}
	if c.resume != "" {
		// The run is the folder named, wherever it is now: the output_dir in its config.json is
		// where it was first written (a copied run folder would otherwise write into the
		// original, and a run moved or named from another directory would not be found).
		cfg.Train.OutputDir = c.resume
	}
	if c.overwrite && c.resume != "" {
		return usageError{fmt.Errorf("--overwrite and --resume: choose one (--overwrite starts the run again, --resume continues it)")}
	}
	ctx, stop, received := signalContext()
	defer stop()
	env, isRank, err := dist.FromEnv()
	if err != nil {
		return err
	}
	if c.overwrite && !isRank { // once, by the launcher or the single process
		if err := train.ClearRun(cfg.Train.OutputDir); err != nil {
			return err
		}
	}
	if !isRank && (c.launch.NProc > 1 || c.launch.NNodes > 1) {
		// The launcher: its processes read their place from the environment.
		if err := dist.CheckBackend(dist.Backend(cfg.Dist.Backend, cfg.Train.Device)); err != nil {
			return err
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.launch.Timeout = time.Duration(cfg.Dist.Timeout * float64(time.Second))
		logrus.WithFields(logrus.Fields{"processes": c.launch.NProc, "nodes": c.launch.NNodes, "config": c.cfg.name}).Info("launching")
		err = c.launch.Run(ctx, exe, childArgs(cmd), cmd.OutOrStdout(), cmd.ErrOrStderr())
		if errors.Is(err, dist.ErrInterrupted) {
			return interrupted{received()}
		}
		return err
	}
	var g *dist.Group
	progress := cmd.ErrOrStderr()
	if isRank {
		if g, err = dist.Join(env.Configure(x.DistSettings(), cfg.Train.Device)); err != nil {
			return err
		}
		defer g.Close()
		if g.Rank != 0 {
			progress = nil // rank 0 speaks for the run; the others only warn
			if !logrus.IsLevelEnabled(logrus.DebugLevel) {
				logrus.SetLevel(logrus.WarnLevel)
			}
		}
	}
	res, err := train.RunDist(ctx, *cfg, g, logrus.StandardLogger(), c.resume != "", progress)
	if g != nil && g.Rank != 0 {
		if errors.Is(err, train.ErrInterrupted) {
			return interrupted{received()}
		}
		return err
	}
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(cmd.OutOrStdout(), "interrupted; checkpoint written to %s. Resume with: lowrank train --resume %s\n",
			filepath.Join(cfg.Train.OutputDir, "checkpoints", "last"), cfg.Train.OutputDir)
		return interrupted{received()}
	}
	if err != nil {
		return err
	}
	last := res.History[len(res.History)-1]
	metric := x.Metric()
	value := fmt.Sprintf("%.2f%%", 100*last.TestMetric)
	if metric == "perplexity" {
		value = fmt.Sprintf("%.2f", last.TestMetric)
	}
	method := cfg.Model.Method
	if cfg.LowRank.Schedule == "relora" {
		method = "dense (ReLoRA updates)"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s on %s, test %s %s after %d epochs; %d parameters, %d FLOPs per example; run directory %s\n",
		c.cfg.name, method, cfg.Model.Name, cfg.Data.Dataset, metric, value, last.Epoch, res.Cost.Params, res.Cost.FLOPs, res.Dir)
	return nil
}

// inspect prints the resolved configuration (--print-config) or what a run would train
// (--dry-run), writing nothing.
func (c *trainCmd) inspect(cmd *cobra.Command, cfg config.Config) error {
	w := cmd.OutOrStdout()
	if c.print {
		text, err := config.YAML(cfg)
		if err != nil {
			return err
		}
		_, err = w.Write(text)
		return err
	}
	r, err := train.DryRun(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model      %s %s: %d parameters, %d FLOPs per example", r.Method, r.Model, r.Params, r.FLOPs)
	if r.LowRankParams > 0 {
		fmt.Fprintf(w, " (%d after the switch)", r.LowRankParams)
	}
	fmt.Fprintf(w, "\ndata       %s: %d training, %d validation, %d test examples; %d steps per epoch of %d\n",
		r.Dataset, r.Train, r.Val, r.Test, r.StepsPerEpoch, cfg.Train.BatchSize)
	fmt.Fprintf(w, "training   %d epochs, %s lr %g, %s schedule, %s layout, on %s\n",
		cfg.Train.Epochs, r.Optimizer, cfg.Optimizer.LR, cfg.Scheduler.Name, r.MemoryFormat, cfg.Train.Device)
	fmt.Fprintf(w, "run folder %s (dry run: nothing written)\n", r.OutputDir)
	return nil
}
