package train

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/experiment"
)

// DryRunReport is what a run would train: the model at its start (the dense model of a
// warm-up schedule), the data and the optimizer.
type DryRunReport struct {
	Model, Method, Dataset string
	Params, FLOPs          int64 // per example
	LowRankParams          int64 // the low-rank model a warm-up switches to (0 without one)
	Train, Val, Test       int   // examples
	StepsPerEpoch          int
	Optimizer              string
	MemoryFormat           string
	OutputDir              string
}

// DryRun builds what Run would (the data with its validation hold-out, the model, the
// optimizer) and reports it, training nothing and writing nothing.
func DryRun(cfg config.Config) (*DryRunReport, error) {
	e, err := experiment.New(cfg)
	if err != nil {
		return nil, err
	}
	splits, val, err := openData(e)
	if err != nil {
		return nil, err
	}
	r := &DryRunReport{Model: cfg.Model.Name, Method: cfg.Model.Method, Dataset: cfg.Data.Dataset,
		Optimizer: cfg.Optimizer.Name, MemoryFormat: "contiguous", OutputDir: cfg.Train.OutputDir}
	if e.ChannelsLast() {
		r.MemoryFormat = "channels_last"
	}
	if val != nil {
		r.Val = val.Len()
	}
	r.Train, r.Test = splits.Train.Len(), splits.Test.Len()
	r.StepsPerEpoch = (&data.Loader{Source: splits.Train, BatchSize: cfg.Train.BatchSize}).NumBatches()
	defer backend.LockThread()()
	method := ""
	if cfg.LowRank.Schedule == "relora" {
		method = "original"
		r.Method = "original, with ReLoRA's low-rank updates,"
	} else if cfg.LowRank.Schedule != "none" {
		method = "original"
		r.Method = "original, then " + cfg.Model.Method + " (" + cfg.LowRank.Schedule + ")"
		lvs := nn.NewVarStore(gotch.CPU)
		low, err := e.Build(lvs.Root(), "low_rank")
		if err != nil {
			return nil, err
		}
		r.LowRankParams = low.Cost().Params
	}
	vs := nn.NewVarStore(gotch.CPU)
	m, err := e.Build(vs.Root(), method)
	if err != nil {
		return nil, err
	}
	if _, err := newOptimizer(optimizerFor(cfg.Optimizer), vs, cfg.Optimizer.LR); err != nil {
		return nil, err
	}
	c := m.Cost()
	r.Params, r.FLOPs = c.Params, c.FLOPs
	return r, nil
}
