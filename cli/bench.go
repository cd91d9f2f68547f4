package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// benchCmd measures training-step and inference speed per model.
type benchCmd struct {
	models, methods []string
	spec            train.BenchSpec
	json, inProcess bool
	cpuProfile      string
	nproc           int
	allreduce       string
	powerSGD        int
	defaults        config.Config // benchDefaultsConfig, read once
}

// DefaultBenchModels are the models lowrank bench measures without --models: every registered
// one, in registration order.
func DefaultBenchModels() []string { return models.Names() }

func (c *benchCmd) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench [--models mlp,cnn,...] [--batch 128] [--json]",
		Short: "Time training steps and inference of each model, full-rank and low-rank, on random data",
		Long: `bench times, for each model and method, a training step exactly as training runs it (batch
copied to tensors, forward, cross-entropy, backward, optimizer update, loss and predictions read
back) after warm-up steps, and reports the median, minimum and maximum, samples per second, FLOPs
per step (3× the forward's multiply-adds), the achieved GFLOP/s, inference latency at the batch
size and at batch 1, and the peak resident memory. Each model runs in its own process, so that
peak memory is its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.run(cmd) },
	}
	f := cmd.Flags()
	f.StringSliceVar(&c.models, "models", DefaultBenchModels(), "models to measure")
	f.StringSliceVar(&c.methods, "methods", []string{"original", "low_rank"}, "methods: original, low_rank")
	f.IntVar(&c.spec.Batch, "batch", 128, "batch size")
	f.IntVar(&c.spec.Steps, "steps", 10, "timed steps (and inference passes)")
	f.IntVar(&c.spec.Warmup, "warmup", 3, "untimed steps before timing")
	f.StringVar(&c.spec.Device, "device", "cpu", "cpu, cuda, cuda:N or auto")
	f.StringVar(&c.spec.Optimizer, "optimizer", "sgd", "sgd, adam, adamw, rmsprop or galore-adamw")
	c.defaults = benchDefaults()
	d := c.defaults
	f.StringVar(&c.spec.ConvScheme, "conv-scheme", d.LowRank.ConvScheme, "factorized convolutions: spatial or channel; default from the built-in cifar10-vgg11-lowrank config")
	f.StringVar(&c.spec.RankRule, "rank-rule", "", "rank rule of factorized layers: ratio or budget (default: the built-in cifar10 low-rank configs' for convolutional models, "+
		d.LowRank.RankRule+", the config default, ratio, for the others)")
	f.Float64Var(&c.spec.Ratio, "ratio", 0, "rank ratio, with --rank-rule ratio (default 0.2)")
	f.Float64Var(&c.spec.Budget, "budget", 0, fmt.Sprintf("fraction of each dense layer's parameters kept, with --rank-rule budget (default %g for convolutional models, as the cifar10 configs)", d.LowRank.Budget))
	f.StringVar(&c.spec.MemoryFormat, "memory-format", d.Train.MemoryFormat, "layout of convolutional models: auto, contiguous or channels_last (train.memory_format)")
	f.StringVar(&c.spec.LSTMImpl, "lstm-impl", "reconstructed", "low-rank LSTM: reconstructed or factored")
	f.BoolVar(&c.json, "json", false, "print the results as a JSON array")
	f.StringVar(&c.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the measurements to this file (implies --in-process; go tool pprof reads it)")
	f.BoolVar(&c.inProcess, "in-process", false, "measure every model in this process (peak memory is then the largest so far)")
	f.StringVar(&c.allreduce, "allreduce", "auto", "with --nproc: when gradient buckets are all-reduced: during_backward, after_backward or auto (dist.allreduce)")
	f.IntVar(&c.powerSGD, "powersgd-rank", 0, "with --nproc: compress gradient matrices to this rank with PowerSGD from the first step (0: off)")
	f.IntVar(&c.nproc, "nproc", 1, "data-parallel processes on this machine (c10d over loopback): adds the bytes and time of the gradient all-reduce per step; --batch is per process")
	return cmd
}

func (c *benchCmd) run(cmd *cobra.Command) error {
	if fl := cmd.Flag("threads"); fl != nil && fl.Changed {
		c.spec.Threads, _ = strconv.Atoi(fl.Value.String())
	}
	for _, m := range c.models {
		if _, ok := train.BenchDataset(m); !ok {
			return usageError{fmt.Errorf("--models: unknown model %q", m)}
		}
	}
	if a := c.allreduce; a != "auto" && a != "during_backward" && a != "after_backward" {
		return usageError{fmt.Errorf("--allreduce %q: want auto, during_backward or after_backward", a)}
	}
	for _, m := range c.methods {
		if m != "original" && m != "low_rank" {
			return usageError{fmt.Errorf("--methods: %q is not original or low_rank", m)}
		}
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		c.inProcess = true
	}
	env, isRank, err := dist.FromEnv()
	if err != nil {
		return err
	}
	if isRank { // one process of a data-parallel measurement: rank 0 prints the result
		env.Timeout = 5 * time.Minute
		env.NoOverlap = !dist.Overlap(c.allreduce, c.spec.Device, env)
		env.PowerSGDRank = c.powerSGD
		g, err := dist.Join(env)
		if err != nil {
			return err
		}
		defer g.Close()
		s := c.withDefaults(c.models[0])
		s.Method = c.methods[0]
		r, err := train.BenchDist(s, g)
		if err != nil || g.Rank != 0 {
			return err
		}
		return json.NewEncoder(cmd.OutOrStdout()).Encode([]train.BenchResult{r})
	}
	var results []train.BenchResult
	single := len(c.models)*len(c.methods) == 1 && c.nproc <= 1
	for _, model := range c.models {
		for _, method := range c.methods {
			s := c.withDefaults(model)
			s.Method = method
			var r train.BenchResult
			var err error
			switch {
			case c.nproc > 1:
				r, err = c.child(cmd, s, c.nproc)
			case single || c.inProcess:
				r, err = train.Bench(s)
			default:
				r, err = c.child(cmd, s, 1)
			}
			if err != nil {
				return fmt.Errorf("%s %s: %w", model, method, err)
			}
			results = append(results, r)
			if !c.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s %s: step %.1f ms\n", model, method, r.StepMedianMs)
			}
		}
	}
	if c.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', tabwriter.AlignRight)
	if c.nproc > 1 {
		fmt.Fprintln(w, "model\tmethod\tparams\tstep ms (min–max)\tall-reduce wait ms\tshare\tMB/step\tbuckets (overlapped)\tsamples/s\tpeak RSS MB\t")
		for _, r := range results {
			fmt.Fprintf(w, "%s\t%s\t%d\t%.1f (%.1f–%.1f)\t%.1f\t%.0f%%\t%.2f\t%d (%d)\t%.0f\t%.0f\t\n", r.Model, r.Method, r.Params,
				r.StepMedianMs, r.StepMinMs, r.StepMaxMs, r.AllReduceMedianMs, 100*r.AllReduceMedianMs/r.StepMedianMs,
				float64(r.AllReduceBytes)/1e6, r.AllReduceBuckets, r.AllReduceOverlap, r.SamplesPerSec, r.PeakRSSMB)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%d processes × batch %d, %d intra-op threads each, device %s, optimizer %s; rank 0's figures\n",
			c.nproc, c.spec.Batch, results[0].Threads, c.spec.Device, c.spec.Optimizer)
		return nil
	}
	fmt.Fprintln(w, "model\tmethod\tparams\tstep ms (min–max)\tsamples/s\tGFLOP/step\tGFLOP/s\tinfer ms\tinfer@1 ms\tpeak RSS MB\toptimizer state MB\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%s\t%d\t%.1f (%.1f–%.1f)\t%.0f\t%.2f\t%.1f\t%.1f\t%.2f\t%.0f\t%.2f\t\n", r.Model, r.Method, r.Params,
			r.StepMedianMs, r.StepMinMs, r.StepMaxMs, r.SamplesPerSec, r.FLOPsPerStep/1e9, r.GFLOPS, r.InferMs, r.Infer1Ms, r.PeakRSSMB, r.OptimizerStateMB)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "batch %d, %d intra-op threads, device %s, optimizer %s, conv scheme %s, rank rule %s, memory format %s (low-rank convolutional models: %s); FLOPs count multiply-adds (fvcore), a step as 3× the forward\n",
		c.spec.Batch, results[0].Threads, c.spec.Device, c.spec.Optimizer, c.spec.ConvScheme, lowRankRule(results), c.spec.MemoryFormat, lowRankLayout(results))
	return nil
}

// withDefaults is the spec for model: without --rank-rule, a convolutional model gets the rank
// rule of the built-in cifar10 low-rank configs (what users train), the others the config
// default.
func (c *benchCmd) withDefaults(model string) train.BenchSpec {
	s := c.spec
	s.Model = model
	if ms, _ := models.Lookup(model); s.RankRule == "" && ms.Convolutional {
		d := c.defaults
		s.RankRule = d.LowRank.RankRule
		if s.Budget == 0 {
			s.Budget = d.LowRank.Budget
		}
		if s.Ratio == 0 {
			s.Ratio = d.LowRank.Ratio
		}
	}
	return s
}

// lowRankRule describes the rank rule of the low-rank convolutional models measured, e.g.
// "budget 0.4" ("ratio 0.2" when none was: the config default).
func lowRankRule(rs []train.BenchResult) string {
	for _, r := range rs {
		if r.Method == "low_rank" && r.RankRule == "budget" {
			return fmt.Sprintf("budget %g", r.Budget)
		}
		if r.Method == "low_rank" && r.RankRule == "ratio" && r.Ratio != 0 {
			return fmt.Sprintf("ratio %g", r.Ratio)
		}
	}
	return "ratio 0.2"
}

// lowRankLayout is the layout the low-rank runs resolved to ("contiguous", "channels_last",
// or both joined).
func lowRankLayout(rs []train.BenchResult) string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if ms, _ := models.Lookup(r.Model); r.Method == "low_rank" && ms.Convolutional && !seen[r.MemoryFormat] {
			seen[r.MemoryFormat] = true
			out = append(out, r.MemoryFormat)
		}
	}
	if len(out) == 0 {
		return "none measured"
	}
	return strings.Join(out, ", ")
}

// benchDefaultsConfig is the built-in config whose low-rank settings (scheme, rank rule, memory
// format) lowrank bench measures by default, so that the benchmark times what users train.
const benchDefaultsConfig = "cifar10-vgg11-lowrank"

// benchDefaults is benchDefaultsConfig resolved (the config defaults if it cannot be read).
func benchDefaults() config.Config {
	src, err := config.Find(benchDefaultsConfig)
	if err != nil {
		return config.Default()
	}
	c, err := config.Load(src, nil, nil)
	if err != nil {
		return config.Default()
	}
	return c
}

// child measures s in a fresh process of this binary, so that its peak memory is its own (in
// nproc processes of a data-parallel group when nproc > 1).
func (c *benchCmd) child(cmd *cobra.Command, s train.BenchSpec, nproc int) (train.BenchResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return train.BenchResult{}, err
	}
	args := []string{"bench", "--json", "--models", s.Model, "--methods", s.Method, "--batch", strconv.Itoa(s.Batch),
		"--steps", strconv.Itoa(s.Steps), "--warmup", strconv.Itoa(s.Warmup), "--device", s.Device,
		"--optimizer", s.Optimizer, "--conv-scheme", s.ConvScheme, "--lstm-impl", s.LSTMImpl,
		"--rank-rule", s.RankRule, "--ratio", strconv.FormatFloat(s.Ratio, 'g', -1, 64),
		"--budget", strconv.FormatFloat(s.Budget, 'g', -1, 64), "--memory-format", s.MemoryFormat,
		"--threads", strconv.Itoa(s.Threads), "--allreduce", c.allreduce, "--powersgd-rank", strconv.Itoa(c.powerSGD)}
	var out []byte
	if nproc > 1 {
		var buf bytes.Buffer
		l := dist.Launch{NProc: nproc}
		err = l.Run(cmd.Context(), exe, args, &buf, cmd.ErrOrStderr())
		out = buf.Bytes()
	} else {
		child := exec.Command(exe, args...)
		child.Stderr = cmd.ErrOrStderr()
		out, err = child.Output()
	}
	if err != nil {
		return train.BenchResult{}, fmt.Errorf("%s %s: %w", exe, strings.Join(args, " "), err)
	}
	var rs []train.BenchResult
	if err := json.Unmarshal(out, &rs); err != nil || len(rs) != 1 {
		return train.BenchResult{}, fmt.Errorf("bench child printed %q: %v", out, err)
	}
	return rs[0], nil
}
