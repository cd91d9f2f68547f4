package train

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// Result summarizes a run.
type Result struct {
	Dir     string
	Cost    lowrank.Cost // parameters and FLOPs per example
	History []EpochMetrics
}

// Run trains the experiment cfg describes: it opens the data, builds the model (spectrally
// initialized with model.init spectral) and fits it, writing the resolved configuration
// (config.json) and per-epoch metrics (metrics.jsonl, metrics.csv) into cfg.Train.OutputDir.
//
// With resume, the run continues from cfg.Train.OutputDir's last checkpoint: same weights,
// optimizer state, data order and random draws, so it ends as the uninterrupted run would have.
func Run(ctx context.Context, cfg config.Config, log logrus.FieldLogger, resume bool, progress io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	device, err := backend.Device(cfg.Train.Device)
	if err != nil {
		return nil, err
	}
	backend.SetThreads(cfg.Train.Threads)
	splits, err := data.Open(cfg.Data.Dataset, cfg.Data.Dir, cfg.Data.Limit)
	if err != nil {
		return nil, err
	}
	defer backend.LockThread()()
	backend.ManualSeed(int64(cfg.Train.Seed))
	vs := nn.NewVarStore(device)
	model, err := cfg.Build(vs.Root(), "")
	if err != nil {
		return nil, err
	}
	var from *Resume
	if resume {
		if from, err = loadCheckpoint(filepath.Join(cfg.Train.OutputDir, "checkpoints", "last"), vs); err != nil {
			return nil, err
		}
		log.WithFields(logrus.Fields{"epoch": from.Progress.Epoch, "step": from.Progress.Step}).Info("resuming")
	} else if cfg.Model.Init == "spectral" {
		reports, err := models.SpectralInit(model, vs, func(p *nn.Path) (models.Model, error) { return cfg.Build(p, "original") })
		if err != nil {
			return nil, err
		}
		for _, r := range reports {
			log.WithFields(logrus.Fields{"layer": r.Name, "rank": r.Rank, "energy_kept": round(r.Energy)}).Debug("spectral init")
		}
	}
	res := &Result{Dir: cfg.Train.OutputDir, Cost: model.Cost()}
	if err := os.MkdirAll(res.Dir, 0o755); err != nil {
		return nil, err
	}
	resolved, _ := json.MarshalIndent(cfg, "", "  ")
	if err := checkpoint.WriteFileAtomic(filepath.Join(res.Dir, "config.json"), append(resolved, '\n')); err != nil {
		return nil, err
	}
	mw, err := newMetricsWriter(res.Dir, resume)
	if err != nil {
		return nil, err
	}
	defer mw.Close()
	log.WithFields(logrus.Fields{"model": cfg.Model.Name, "method": cfg.Model.Method, "dataset": cfg.Data.Dataset,
		"params": res.Cost.Params, "flops": res.Cost.FLOPs, "train": splits.Train.Len(), "test": splits.Test.Len(),
		"device": cfg.Train.Device, "threads": backend.Threads(), "dir": res.Dir}).Info("training")
	o := Options{
		Epochs: cfg.Train.Epochs, BatchSize: cfg.Train.BatchSize, Seed: cfg.Train.Seed, Device: device,
		EvalEvery: cfg.Train.EvalEvery, Regularizer: cfg.Regularizer(), Log: log,
		Perplexity: cfg.Data.Dataset == "wikitext2",
		Schedule: Schedule{Name: cfg.Scheduler.Name, LR: cfg.Optimizer.LR, MinLR: cfg.Scheduler.MinLR,
			Factor: cfg.Scheduler.Factor, Epochs: cfg.Train.Epochs - cfg.Scheduler.WarmupEpochs, Warmup: cfg.Scheduler.WarmupEpochs},
		Optimizer: Optimizer{Name: cfg.Optimizer.Name, Momentum: cfg.Optimizer.Momentum, WeightDecay: cfg.Optimizer.WeightDecay},
		OnEpoch:   mw.Write,
		Resume:    from,
		Progress:  progress,
		Checkpoint: func(kind string, p Progress, optState map[string]*ts.Tensor) error {
			return saveCheckpoint(filepath.Join(res.Dir, "checkpoints", kind), vs.NamedVariables(), optState, p, cfg)
		},
	}
	res.History, err = Fit(ctx, model, vs, splits.Train, splits.Test, o)
	return res, err
}

// metricsWriter writes each epoch to metrics.jsonl and metrics.csv: afresh for a new run,
// appending when a run resumes.
type metricsWriter struct{ jsonl, csv *os.File }

var csvHeader = "epoch,lr,train_loss,train_metric,test_loss,test_metric,epoch_seconds,samples_per_sec\n"

func newMetricsWriter(dir string, resume bool) (*metricsWriter, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if resume {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	j, err := os.OpenFile(filepath.Join(dir, "metrics.jsonl"), flags, 0o644)
	if err != nil {
		return nil, err
	}
	c, err := os.OpenFile(filepath.Join(dir, "metrics.csv"), flags, 0o644)
	if err != nil {
		j.Close()
		return nil, err
	}
	if info, err := c.Stat(); err == nil && info.Size() == 0 {
		if _, err := c.WriteString(csvHeader); err != nil {
			return nil, err
		}
	}
	return &metricsWriter{jsonl: j, csv: c}, nil
}

func (w *metricsWriter) Write(m EpochMetrics) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := w.jsonl.Write(append(raw, '\n')); err != nil {
		return err
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 8, 64) }
	_, err = fmt.Fprintf(w.csv, "%d,%s,%s,%s,%s,%s,%s,%s\n", m.Epoch, f(m.LR), f(m.TrainLoss), f(m.TrainMetric),
		f(m.TestLoss), f(m.TestMetric), f(m.Seconds), f(m.SamplesPerSec))
	return err
}

func (w *metricsWriter) Close() {
	w.jsonl.Close()
	w.csv.Close()
}
