package train

import (
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/experiment"
)

// The one place where a configuration becomes Fit's options: Run and Bench read it from here.

// optionsFor is what a run of e trains with; the caller adds the device, the run's callbacks and
// what depends on the process (logging, progress, the validation set, the group).
func optionsFor(e *experiment.Experiment) Options {
	c := e.Config
	o := Options{
		Epochs: c.Train.Epochs, BatchSize: c.Train.BatchSize, Seed: c.Train.Seed, EvalEvery: c.Train.EvalEvery,
		Regularizer: e.Regularizer(), Perplexity: e.Metric() == "perplexity", ChannelsLast: e.ChannelsLast(),
		Schedule:  scheduleFor(c),
		Optimizer: optimizerFor(c.Optimizer),
		EarlyStop: c.Train.EarlyStop,
	}
	o.Optimizer.ClipGradNorm = c.Train.ClipGradNorm
	return o
}

// scheduleFor is the scheduler section's learning rate per epoch: the decay runs over the epochs
// after the gradual warm-up.
func scheduleFor(c config.Config) Schedule {
	s := c.Scheduler
	return Schedule{Name: s.Name, LR: c.Optimizer.LR, MinLR: s.MinLR, Factor: s.Factor,
		Epochs: c.Train.Epochs - s.WarmupEpochs, Warmup: s.WarmupEpochs}
}

// optimizerFor is the optimizer section's update rule.
func optimizerFor(o config.Optimizer) Optimizer {
	return Optimizer{Name: o.Name, Momentum: o.Momentum, WeightDecay: o.WeightDecay,
		GaloreRank: o.GaloreRank, GaloreEvery: o.GaloreEvery, GaloreScale: o.GaloreScale}
}
