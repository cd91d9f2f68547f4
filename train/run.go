package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// Result summarizes a run.
type Result struct {
	Dir     string
	Cost    lowrank.Cost // parameters and FLOPs per example
	History []EpochMetrics
	// With a warm-up schedule: the full-rank epochs before the switch, and the per-layer ranks
	// an automatic schedule chose (dense layer name → rank; 0 kept dense).
	SwitchedAfter int
	Ranks         map[string]int64
}

// Run trains the experiment cfg describes: it opens the data, builds the model (spectrally
// initialized with model.init spectral) and fits it, writing the resolved configuration
// (config.json), per-epoch metrics (metrics.jsonl, metrics.csv) and checkpoints into
// cfg.Train.OutputDir.
//
// With lowrank.schedule warmup or auto the run starts full-rank; after lowrank.warmup_epochs
// (warmup), or once every factorizable layer's stable rank has settled (auto, Cuttlefish; the
// ranks are logged to stable_ranks.jsonl), the trained dense model is factorized by SVD (at the
// rank rule, or at ranks chosen from the stable ranks) and training continues low-rank with a
// fresh optimizer.
//
// With resume, the run continues from cfg.Train.OutputDir's last checkpoint, in whichever phase
// it was: same weights, optimizer state, data order and random draws, so it ends as the
// uninterrupted run would have.
func Run(ctx context.Context, cfg config.Config, log logrus.FieldLogger, resume bool, progress io.Writer) (*Result, error) {
	return RunDist(ctx, cfg, nil, log, resume, progress)
}

// RunDist is Run as one rank of the data-parallel run g (nil: a single process). Every rank
// runs it with the same configuration; train.batch_size is per rank. Rank 0 alone writes the
// run folder (configuration, metrics, checkpoints); on resume it reads the checkpoint and
// sends it to the others through the rendezvous store. On CUDA each rank uses the device of its
// local rank (device cuda → cuda:LOCAL_RANK); on CPU with train.threads 0, each rank uses its
// share of the machine's cores.
func RunDist(ctx context.Context, cfg config.Config, g *dist.Group, log logrus.FieldLogger, resume bool, progress io.Writer) (*Result, error) {
	e, err := experiment.New(cfg)
	if err != nil {
		return nil, err
	}
	rank, world := g.Place()
	lead := rank == 0
	devName, threads := cfg.Train.Device, cfg.Train.Threads
	if g != nil {
		if devName == "cuda" {
			devName = fmt.Sprintf("cuda:%d", g.LocalRank)
		}
		threads = g.Threads(threads)
	}
	device, err := backend.Device(devName)
	if err != nil {
		return nil, err
	}
	splits, val, err := openData(e)
	if err != nil {
		return nil, err
	}
	defer backend.LockThread()()
	// After locking: the intra-op thread count is an OpenMP setting of the calling OS thread.
	backend.SetThreads(threads)
	backend.ManualSeed(int64(cfg.Train.Seed))
	dir := cfg.Train.OutputDir
	if lead {
		if !resume && holdsRun(dir) {
			return nil, fmt.Errorf("%w: %s has metrics or checkpoints; continue it with `lowrank train --resume %s`, train it again from scratch with --overwrite, or set train.output_dir to a new folder",
				ErrRunExists, dir, dir)
		}
		unlock, err := lockRun(dir, log)
		if err != nil {
			return nil, err
		}
		defer unlock()
		rl, err := openRunLog(dir, log)
		if err != nil {
			return nil, err
		}
		defer rl.Close()
		log = rl
	}
	last := filepath.Join(dir, "checkpoints", "last")
	st := trainerState{Phase: phaseLowRank}
	switch cfg.LowRank.Schedule {
	case "none":
	case "relora":
		st.Phase = phaseReLoRA
	default:
		st.Phase = phaseDense
	}
	if resume && g != nil {
		// Every rank resumes from rank 0's checkpoint, received through the store.
		src, rerr := resolveCheckpoint(last)
		if last, err = g.ShareFiles(src, checkpointFiles, rerr); err != nil {
			return nil, err
		}
		if !lead {
			defer os.RemoveAll(last)
		}
	}
	if resume {
		if st, err = readTrainerState(last); err != nil {
			return nil, err
		}
		if was := max(1, st.Processes); st.Progress.Step > 0 && was != world {
			return nil, fmt.Errorf("the checkpoint in %s was written mid-epoch (step %d of epoch %d) by %d process(es); resume it with --nproc %d (its steps count each process's batches), or from a checkpoint at the end of an epoch",
				dir, st.Progress.Step, st.Progress.Epoch+1, was, was)
		}
	}
	st.Processes = world
	var mw *metricsWriter
	if lead {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		resolved, _ := json.MarshalIndent(cfg, "", "  ")
		if err := checkpoint.WriteFileAtomic(filepath.Join(dir, "config.json"), append(resolved, '\n')); err != nil {
			return nil, err
		}
		var history []EpochMetrics
		if resume {
			history = st.Progress.History
		}
		if mw, err = newMetricsWriter(dir, history); err != nil {
			return nil, err
		}
		defer mw.Close()
	}
	o := optionsFor(e)
	o.Device, o.Log, o.Progress, o.Val, o.OnEpoch, o.Dist = device, log, progress, val, mw.Write, g
	if lead {
		ev, err := openEvents(dir, cfg)
		if err != nil {
			return nil, err
		}
		defer ev.Close()
		steps := int64(0) // the global step: batches trained by this process
		o.OnStep = func(n int64, loss, lr float64) error { steps = n; return ev.step(n, loss, lr) }
		o.OnEpoch = func(m EpochMetrics) error {
			if err := mw.Write(m); err != nil {
				return err
			}
			return ev.epoch(steps, m, e.Metric())
		}
	}
	r := &runner{ctx: ctx, e: e, log: log, o: o, splits: splits, dir: dir, lead: lead}
	res := &Result{Dir: dir}
	var from *Resume
	var low models.Model
	var lvs *nn.VarStore
	if st.Phase == phaseDense {
		dvs := nn.NewVarStore(device)
		dense, err := e.Build(dvs.Root(), "original")
		if err != nil {
			return nil, err
		}
		if resume {
			if from, err = loadCheckpoint(last, dvs); err != nil {
				return nil, err
			}
		}
		if low, lvs, from, err = r.warmUp(dense, dvs, &st, from); err != nil {
			res.History = historyOf(from)
			return res, err
		}
	} else if st.Phase == phaseReLoRA {
		// The model stays dense; its factorizable weights train through ReLoRA's factors.
		lvs = nn.NewVarStore(device)
		if low, err = e.Build(lvs.Root(), "original"); err != nil {
			return nil, err
		}
		steps := (&data.Loader{Source: splits.Train, BatchSize: o.BatchSize, Rank: rank, World: world}).NumBatches()
		if o.Optimizer.ReLoRA, err = reloraLayers(e, lvs, cfg.LowRank.WarmupEpochs*steps); err != nil {
			return nil, err
		}
		if resume {
			if from, err = loadCheckpoint(last, lvs); err != nil {
				return nil, err
			}
		}
	} else {
		lvs = nn.NewVarStore(device)
		if low, err = buildModel(e, lvs, "", st.Ranks); err != nil {
			return nil, err
		}
		if resume {
			if from, err = loadCheckpoint(last, lvs); err != nil {
				return nil, err
			}
		} else if cfg.Model.Init == "spectral" {
			reports, err := models.SpectralInit(low, lvs, func(p *nn.Path) (models.Model, error) { return e.Build(p, "original") })
			if err != nil {
				return nil, err
			}
			for _, r := range reports {
				log.WithFields(logrus.Fields{"layer": r.Name, "rank": r.Rank, "energy_kept": round(r.Energy)}).Debug("spectral init")
			}
		}
	}
	res.Cost = low.Cost()
	res.SwitchedAfter, res.Ranks = st.Switched, st.Ranks
	log.WithFields(logrus.Fields{"model": cfg.Model.Name, "method": cfg.Model.Method, "dataset": cfg.Data.Dataset,
		"params": res.Cost.Params, "flops": res.Cost.FLOPs, "train": splits.Train.Len(), "test": splits.Test.Len(),
		"device": device.Name, "threads": backend.Threads(), "dir": dir, "processes": world}).Info("training")
	o.Resume = from
	o.Checkpoint = r.saver(low, lvs, &st)
	res.History, err = Fit(ctx, low, lvs, splits.Train, splits.Test, o)
	return res, err
}

// openData opens the experiment's splits and, with data.val_split, holds the validation set out
// of the training set (val nil without one).
func openData(e *experiment.Experiment) (splits data.Splits, val data.Source, err error) {
	if splits, err = e.Open(e.DataOptions()); err != nil {
		return splits, nil, err
	}
	if d := e.Config.Data; d.ValSplit > 0 {
		splits.Train, val, err = data.HoldOut(splits.Train, d.ValSplit, e.Config.Train.Seed)
	}
	return splits, val, err
}

// runner is one Run's phases: what they share (the experiment, the options, the data, the run
// folder, and whether this process writes it).
type runner struct {
	ctx    context.Context
	e      *experiment.Experiment
	log    logrus.FieldLogger
	o      Options
	splits data.Splits
	dir    string
	lead   bool
}

// saver is the Checkpoint callback of a phase training m (variables vs) with trainer state st:
// rank 0 writes the checkpoint folder; the other ranks write nothing.
func (r *runner) saver(m models.Model, vs *nn.VarStore, st *trainerState) func(string, Progress, checkpoint.Dict) error {
	return func(kind string, p Progress, optState checkpoint.Dict) error {
		if !r.lead {
			return nil
		}
		st.Progress = p
		// With compat reference, the reference's second names too (its class loads it).
		vars := models.WithAliases(m, vs.NamedVariables())
		return saveCheckpoint(filepath.Join(r.dir, "checkpoints", kind), vars, optState, *st, r.e.Config)
	}
}

// warmUp runs the full-rank phase and the switch, returning the low-rank model to continue with
// and the progress it continues from. The phase ends after lowrank.warmup_epochs, or (auto) at
// the first epoch after which every layer's stable rank has settled: Options.Until says so.
func (r *runner) warmUp(dense models.Model, dvs *nn.VarStore, st *trainerState, from *Resume) (models.Model, *nn.VarStore, *Resume, error) {
	cfg, o, log := r.e.Config, r.o, r.log
	// A probe of the low-rank model names the factorizable layers.
	pvs := nn.NewVarStore(dvs.Device())
	probe, err := r.e.Build(pvs.Root(), "low_rank")
	if err != nil {
		return nil, nil, from, err
	}
	stopAt := cfg.LowRank.WarmupEpochs
	var tracker *rankTracker
	if cfg.LowRank.Schedule == "auto" {
		stopAt = cfg.AutoMaxEpochs()
		if st.Tracker != nil {
			tracker = st.Tracker
			if _, tracker.dims, err = measure(probe, dvs); err != nil {
				return nil, nil, from, err
			}
			tracker.det = lowrank.SwitchDetector{Window: cfg.LowRank.AutoWindow, Threshold: cfg.LowRank.AutoThreshold, Scaler: cfg.LowRank.AutoScaler}
			tracker.replay()
		} else if tracker, err = newRankTracker(probe, dvs, cfg); err != nil {
			return nil, nil, from, err
		}
		st.Tracker = tracker
	}
	log.WithFields(logrus.Fields{"model": cfg.Model.Name, "schedule": cfg.LowRank.Schedule, "params": dense.Cost().Params,
		"until_epoch": stopAt}).Info("full-rank warm-up")
	do := o
	do.Epochs = stopAt
	do.EarlyStop = 0 // patience applies to the low-rank phase
	do.Resume = from
	do.Checkpoint = r.saver(dense, dvs, st)
	if tracker != nil {
		do.Until = func(m EpochMetrics) (bool, error) { return r.settled(m, probe, dvs, tracker) }
	}
	hist, err := Fit(r.ctx, dense, dvs, r.splits.Train, r.splits.Test, do)
	if err != nil {
		return nil, nil, &Resume{Progress: Progress{History: hist}}, err
	}
	// The switch: factorize the trained dense model.
	ranks := map[string]int64(nil)
	var keptDense []string
	if tracker != nil {
		ranks = tracker.ranks()
		if o.Dist != nil { // rank 0's choice: the models must have the same shapes everywhere
			if err := o.Dist.Share("switch/ranks", &ranks); err != nil {
				return nil, nil, from, err
			}
		}
		for n, r := range ranks {
			if r == 0 {
				keptDense = append(keptDense, n)
			}
		}
		sort.Strings(keptDense)
	}
	lvs := nn.NewVarStore(dvs.Device())
	low, err := buildModel(r.e, lvs, "", ranks)
	if err != nil {
		return nil, nil, from, err
	}
	var reports []models.LayerReport
	backend.NoGrad(func() { reports, err = models.Decompose(low, lvs.NamedVariables(), dvs.NamedVariables()) })
	if err != nil {
		return nil, nil, from, err
	}
	log.WithFields(logrus.Fields{"epoch": len(hist), "params": low.Cost().Params}).Info("switched to low rank")
	logRanks(log, reports, keptDense)
	st.Phase, st.Ranks, st.Tracker, st.Switched = phaseLowRank, ranks, tracker, len(hist)
	p := Progress{Epoch: len(hist), History: hist}
	if o.Perplexity {
		p.Best = math.Inf(1) // "best" restarts with the low-rank model
	}
	if err := r.saver(low, lvs, st)("last", p, nil); err != nil {
		return nil, nil, from, err
	}
	return low, lvs, &Resume{Progress: p}, nil
}

// settled measures the dense model's stable ranks after epoch m (logged to stable_ranks.jsonl)
// and reports whether the automatic schedule switches now: every layer settled, after at least
// lowrank.auto_min_epochs. Rank 0 decides for a data-parallel run.
func (r *runner) settled(m EpochMetrics, probe models.Model, dvs *nn.VarStore, tracker *rankTracker) (bool, error) {
	ranks, _, err := measure(probe, dvs)
	if err != nil {
		return false, err
	}
	g := r.o.Dist
	if g == nil || g.Rank == 0 {
		if err := appendJSONLine(filepath.Join(r.dir, "stable_ranks.jsonl"), map[string]any{"epoch": m.Epoch, "stable_ranks": ranks}); err != nil {
			return false, err
		}
	}
	settled := tracker.observe(m.Epoch, ranks) && m.Epoch >= r.e.Config.AutoMinEpochs()
	if g != nil {
		// Rank 0 decides, so that ranks whose weights differ in the last bit (machines with
		// different BLAS) cannot disagree about the switch.
		if err := g.Share(fmt.Sprintf("switch/%d", m.Epoch), &settled); err != nil {
			return false, err
		}
	}
	return settled, nil
}

// reloraLayers are the ReLoRA weights of e's dense model (variables dense): every layer the
// low-rank model factorizes whose dense weight is a matrix or a convolution kernel (taken as
// out × in·k·k), at the rank rule's rank of that matrix; the factors start after start steps.
func reloraLayers(e *experiment.Experiment, dense *nn.VarStore, start int) (*ReLoRA, error) {
	pvs := nn.NewVarStore(dense.Device())
	probe, err := e.Build(pvs.Root(), "low_rank")
	if err != nil {
		return nil, err
	}
	defer pvs.Destroy()
	mc, err := e.ModelConfig()
	if err != nil {
		return nil, err
	}
	l := e.Config.LowRank
	r := &ReLoRA{Every: l.ReLoRAEvery, Reset: l.ReLoRAReset, Warmup: l.ReLoRAWarmup, Start: start}
	vars := dense.NamedVariables()
	for i, f := range probe.Factorized() {
		name := probe.DenseNames()[i] + ".weight"
		w, ok := vars[name]
		if _, noDense := f.DenseShapes(); !ok || noDense != nil || (w.Dim() != 2 && w.Dim() != 4) {
			continue // an LSTM's gate matrices are not ReLoRA's
		}
		size := w.MustSize()
		m, n := size[0], int64(w.Numel())/size[0]
		rank, err := mc.Rank.For(name, m, n)
		if err != nil {
			return nil, err
		}
		r.Layers = append(r.Layers, ReLoRALayer{Name: name, M: m, N: n, R: rank})
	}
	if len(r.Layers) == 0 {
		return nil, fmt.Errorf("lowrank.schedule relora: model %s has no matrix or convolution to factor", e.Model.Name)
	}
	return r, nil
}

// buildModel builds the low-rank model with per-layer ranks when given (an automatic schedule's),
// else the experiment's model with method as Experiment.Build takes it.
func buildModel(e *experiment.Experiment, vs *nn.VarStore, method string, ranks map[string]int64) (models.Model, error) {
	if ranks == nil {
		return e.Build(vs.Root(), method)
	}
	return e.BuildRanks(vs.Root(), ranks)
}

func historyOf(r *Resume) []EpochMetrics {
	if r == nil {
		return nil
	}
	return r.Progress.History
}

// metricsWriter writes each epoch to metrics.jsonl and metrics.csv: afresh for a new run,
// appending when a run resumes.
type metricsWriter struct{ jsonl, csv *os.File }

var csvHeader = "epoch,lr,train_loss,train_metric,test_loss,test_metric,epoch_seconds,samples_per_sec,val_loss,val_metric\n"

func newMetricsWriter(dir string, history []EpochMetrics) (*metricsWriter, error) {
	// The files are rewritten from the checkpoint's history first: an epoch whose metrics were
	// written but whose checkpoint was not (a failed or interrupted save) is trained again on
	// resume, and its row must not appear twice.
	w := &metricsWriter{}
	var jsonl, csv bytes.Buffer
	csv.WriteString(csvHeader)
	for _, m := range history {
		if err := writeMetrics(&jsonl, &csv, m); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		raw  []byte
		into **os.File
	}{{"metrics.jsonl", jsonl.Bytes(), &w.jsonl}, {"metrics.csv", csv.Bytes(), &w.csv}} {
		path := filepath.Join(dir, f.name)
		if err := checkpoint.WriteFileAtomic(path, f.raw); err != nil {
			w.Close()
			return nil, err
		}
		h, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			w.Close()
			return nil, err
		}
		*f.into = h
	}
	return w, nil
}

// writeMetrics appends m as a JSON line to jsonl and a row to csv.
func writeMetrics(jsonl, csv io.Writer, m EpochMetrics) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := jsonl.Write(append(raw, '\n')); err != nil {
		return err
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 8, 64) }
	_, err = fmt.Fprintf(csv, "%d,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", m.Epoch, f(m.LR), f(m.TrainLoss), f(m.TrainMetric),
		f(m.TestLoss), f(m.TestMetric), f(m.Seconds), f(m.SamplesPerSec), f(m.ValLoss), f(m.ValMetric))
	return err
}

// Write records m (nothing on ranks other than 0, which have no writer).
func (w *metricsWriter) Write(m EpochMetrics) error {
	if w == nil {
		return nil
	}
	return writeMetrics(w.jsonl, w.csv, m)
}

func (w *metricsWriter) Close() {
	w.jsonl.Close()
	w.csv.Close()
}

// ReadMetrics reads the epochs a run recorded in its folder's metrics.jsonl.
func ReadMetrics(dir string) ([]EpochMetrics, error) {
	path := filepath.Join(dir, "metrics.jsonl")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []EpochMetrics
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var m EpochMetrics
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ReadResult reads what a run left in its folder dir (configuration cfg): the epochs of
// metrics.jsonl, the schedule's switch and ranks from the last checkpoint, and the cost of the
// model it ended with. It is how a caller learns the result of a run trained in other
// processes (lowrank train --nproc).
func ReadResult(dir string, cfg config.Config) (*Result, error) {
	e, err := experiment.New(cfg)
	if err != nil {
		return nil, err
	}
	hist, err := ReadMetrics(dir)
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: dir, History: hist}
	st, err := readTrainerState(filepath.Join(dir, "checkpoints", "last"))
	if err != nil {
		return nil, err
	}
	res.SwitchedAfter, res.Ranks = st.Switched, st.Ranks
	var m models.Model
	method := ""
	if st.Phase == phaseReLoRA {
		method = "original" // ReLoRA keeps the dense model
	}
	backend.NoGrad(func() { m, err = buildModel(e, nn.NewVarStore(gotch.CPU), method, st.Ranks) })
	if err != nil {
		return nil, err
	}
	res.Cost = m.Cost()
	return res, nil
}
