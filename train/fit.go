package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// Optimizer names an optimizer and its settings; zero values take the reference's defaults.
type Optimizer struct {
	Name        string  // sgd (default), adam, adamw, rmsprop
	Momentum    float64 // sgd, rmsprop
	WeightDecay float64
	// ClipGradNorm > 0 clips the gradients' global L2 norm to it before every update.
	ClipGradNorm float64
	// galore-adamw: the projection rank, the steps between projector refreshes and the scale
	// of the projected update (defaults 128, 200, 0.25, GaLore's).
	GaloreRank, GaloreEvery int
	GaloreScale             float64
	// ReLoRA, when set, trains its layers' weights through merged and restarted factors.
	ReLoRA *ReLoRA
}

// Options configure Fit. Zero values take the defaults written on the fields.
type Options struct {
	Epochs      int       // default 1
	BatchSize   int       // default 128
	Schedule    Schedule  // learning rate per epoch; Schedule.LR is required
	Optimizer   Optimizer // default SGD
	Seed        uint64    // data order and augmentation
	Regularizer lowrank.Regularizer
	Device      gotch.Device // default CPU
	EvalEvery   int          // default 1
	Perplexity  bool         // report exp(loss) as the metric instead of accuracy
	Log         logrus.FieldLogger
	// OnEpoch, when set, receives each epoch's metrics as soon as they exist.
	OnEpoch func(EpochMetrics) error
	// EarlyStop > 0 ends Fit after that many epochs without a better validation metric (Val).
	EarlyStop int
	// OnStep, when set, receives every training step's loss and learning rate with the global
	// step n (batches of this process so far, counted from 1).
	OnStep func(n int64, loss, lr float64) error
	// Until, when set, is asked after each epoch's OnEpoch whether the phase is over (a warm-up
	// whose switch came): Fit then returns the history without checkpointing that epoch, which
	// the next phase checkpoints as its start.
	Until func(EpochMetrics) (bool, error)
	// Val, when set, is evaluated with the test set; "best" is the best epoch on it. Without it
	// there is no "best": the test set reports, it never selects.
	Val data.Source
	// Checkpoint, when set, is called after every epoch with kind "last" (and again with "best"
	// when the validation metric improved), and with "last" when ctx is cancelled, after the step in
	// progress. optState is the optimizer's state (its own tensors).
	Checkpoint func(kind string, p Progress, optState checkpoint.Dict) error
	// Resume continues a run from a checkpoint's progress and optimizer state.
	Resume *Resume
	// Progress, when set, receives a progress display for every epoch (a live line on a
	// terminal, a line at each tenth of the epoch otherwise).
	Progress io.Writer
	// ChannelsLast stores the model's 4-d weights channels_last (NHWC) for the whole fit;
	// the batches' layout is the data source's (data.Options.ChannelsLast).
	ChannelsLast bool
	// Dist, when set, makes this process one rank of a data-parallel run: Fit starts from rank
	// 0's weights, trains on the rank's shard of every epoch (BatchSize per rank), averages the
	// gradients over the ranks after every backward, and reports metrics over all ranks.
	// OnEpoch and Checkpoint are called on every rank (Run writes on rank 0 only). Ranks stop
	// together: a cancelled ctx on any rank, or a non-finite loss on any, ends the run on all
	// of them after the same step.
	Dist *dist.Group
}

// Progress is where a run stands: Epoch epochs done, and Step batches of the next one (an
// interrupted epoch) with their running totals.
type Progress struct {
	Epoch     int            `json:"epoch"`
	Step      int            `json:"step"`
	Partial   Totals         `json:"partial"`
	History   []EpochMetrics `json:"history"`
	Best      float64        `json:"best_metric"`
	BestEpoch int            `json:"best_epoch"`
}

// Totals accumulate an epoch's losses and predictions.
type Totals struct {
	Loss     float64 `json:"loss"` // Σ batch loss · batch targets
	Targets  int     `json:"targets"`
	Correct  int     `json:"correct"`
	Examples int     `json:"examples"`
	Seconds  float64 `json:"seconds"`
}

// Resume is what a run continues from.
type Resume struct {
	Progress       Progress
	OptimizerState *OptimizerState // nil or empty: a fresh optimizer
}

// stepSeed is the libtorch seed of a step: dropout masks depend on (seed, epoch, step) alone,
// so a resumed run draws what the uninterrupted one would have.
func stepSeed(seed uint64, epoch, step int) int64 {
	x := seed*0x9e3779b97f4a7c15 ^ uint64(epoch)<<32 ^ uint64(step)
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 29
	return int64(x >> 1)
}

func (o Options) withDefaults() Options {
	if o.Epochs == 0 {
		o.Epochs = 1
	}
	if o.BatchSize == 0 {
		o.BatchSize = 128
	}
	if o.Schedule.Name == "" {
		o.Schedule.Name = "none"
	}
	if o.Schedule.Epochs == 0 {
		o.Schedule.Epochs = o.Epochs
	}
	if o.Device.Name == "" {
		o.Device = gotch.CPU
	}
	if o.EvalEvery == 0 {
		o.EvalEvery = 1
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	return o
}

// EpochMetrics are one epoch's results. Metric is accuracy, or perplexity with
// Options.Perplexity; test values are NaN in epochs without evaluation.
type EpochMetrics struct {
	Epoch       int     `json:"epoch"`
	LR          float64 `json:"lr"`
	TrainLoss   float64 `json:"train_loss"`
	TrainMetric float64 `json:"train_metric"`
	TestLoss    float64 `json:"test_loss"`
	TestMetric  float64 `json:"test_metric"`
	// Validation loss and metric (Options.Val), NaN without a validation set or evaluation.
	ValLoss       float64 `json:"val_loss"`
	ValMetric     float64 `json:"val_metric"`
	Seconds       float64 `json:"epoch_seconds"`
	SamplesPerSec float64 `json:"samples_per_sec"`
	// Distributed runs: processes, gradient bytes all-reduced per step, and the seconds per
	// step spent in the all-reduce (waiting for the slowest rank included).
	Processes       int     `json:"processes,omitempty"`
	AllReduceBytes  int64   `json:"allreduce_bytes_per_step,omitempty"`
	AllReduceSecond float64 `json:"allreduce_seconds_per_step,omitempty"`
	// OptimizerStateMB is the optimizer's state at the epoch's end, measured from its tensors.
	OptimizerStateMB float64 `json:"optimizer_state_mb,omitempty"`
}

// ErrInterrupted is returned when ctx is cancelled: the step in progress was finished.
var ErrInterrupted = errors.New("training interrupted")

// Fit trains model, whose parameters live in vs, on trainSet and evaluates it on testSet. All
// torch calls run on the calling goroutine's OS thread, locked for the duration. A NaN or
// infinite loss stops the run with an error naming the epoch and step.
func Fit(ctx context.Context, model models.Model, vs *nn.VarStore, trainSet, testSet data.Source, o Options) ([]EpochMetrics, error) {
	o = o.withDefaults()
	if o.Schedule.LR <= 0 {
		return nil, fmt.Errorf("train: learning rate %g must be positive", o.Schedule.LR)
	}
	if err := o.Schedule.Validate(); err != nil {
		return nil, err
	}
	if trainSet.Len() == 0 || testSet.Len() == 0 {
		return nil, fmt.Errorf("train: %w (%d training, %d test examples)", data.ErrEmpty, trainSet.Len(), testSet.Len())
	}
	defer backend.LockThread()()
	t, err := newTrainer(ctx, model, vs, trainSet, o)
	if err != nil {
		return nil, err
	}
	defer t.close()
	for epoch := t.p.Epoch + 1; epoch <= o.Epochs; epoch++ {
		sum, err := t.trainEpoch(epoch)
		if err != nil {
			return t.p.History, err
		}
		m, err := t.evaluate(epoch, sum, testSet)
		if err != nil {
			return t.p.History, err
		}
		if done, err := t.record(m); done || err != nil {
			return t.p.History, err
		}
	}
	return t.p.History, nil
}

func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// metricName is the metric's short name in logs.
func metricName(perplexity bool) string {
	if perplexity {
		return "ppl"
	}
	return "acc"
}

type stepStats struct {
	loss             float64
	targets, correct int
	examples         int
}

func (s *Totals) add(b stepStats) {
	s.Loss += b.loss * float64(b.targets)
	s.Targets += b.targets
	s.Correct += b.correct
	s.Examples += b.examples
}

func (s *Totals) meanLoss() float64 { return s.Loss / float64(s.Targets) }

func (s *Totals) metric(perplexity bool) float64 {
	if perplexity {
		return math.Exp(s.meanLoss())
	}
	return float64(s.Correct) / float64(s.Targets)
}

// startRank, in a data-parallel run g, gives the model rank 0's weights and returns the reducer
// of the optimizer's parameters' gradients; with g nil it does nothing and returns nil.
func startRank(g *dist.Group, vs *nn.VarStore, opt *optimizer) (*dist.Reducer, error) {
	if g == nil {
		return nil, nil
	}
	if err := g.BroadcastVars(vs.NamedVariables()); err != nil {
		return nil, err
	}
	return g.NewReducer(opt.params)
}

// sum adds the totals of every rank (with g nil, there is nothing to add). Seconds stay this rank's.
func (s *Totals) sum(g *dist.Group) error {
	if g == nil {
		return nil
	}
	v := []float64{s.Loss, float64(s.Targets), float64(s.Correct), float64(s.Examples)}
	if err := g.SumFloats(v); err != nil {
		return err
	}
	s.Loss, s.Targets, s.Correct, s.Examples = v[0], int(v[1]), int(v[2]), int(v[3])
	return nil
}

// trainStep runs one optimizer step on a batch; sync, when set, runs between backward and the
// update with the batch's loss.
func trainStep(model models.Model, opt *optimizer, hb data.HostBatch, o Options, sync func(float64) error) (stepStats, error) {
	b, err := hb.Tensors(o.Device)
	if err != nil {
		return stepStats{}, err
	}
	defer b.Drop()
	logits, err := model.Forward(b.X, true)
	if err != nil {
		return stepStats{}, err
	}
	defer logits.MustDrop()
	loss, err := logits.CrossEntropyLoss(b.Y, ts.None, 1, -100, 0, false)
	if err != nil {
		return stepStats{}, err
	}
	defer loss.MustDrop()
	value := loss.Float64Values()[0]
	total := loss
	pen, err := o.Regularizer.Penalty(model.Factorized())
	if err != nil {
		return stepStats{}, err
	}
	if pen != nil {
		total, err = loss.Add(pen, false)
		pen.MustDrop()
		if err != nil {
			return stepStats{}, err
		}
		defer total.MustDrop()
	}
	var between func() error
	if sync != nil {
		between = func() error { return sync(value) }
	}
	if err := opt.BackwardStep(total, between); err != nil {
		return stepStats{}, err
	}
	n, c := countCorrect(logits, hb.Y)
	return stepStats{loss: value, targets: n, correct: c, examples: hb.Size()}, nil
}

// countCorrect compares the arg-max over dimension 1 of logits, (B, C) or (B, C, T), with the
// targets (the host batch's labels, in the same order) and returns how many targets there are
// and how many match.
func countCorrect(logits *ts.Tensor, t []int64) (int, int) {
	pred, err := logits.Argmax([]int64{1}, false, false)
	if err != nil {
		return 0, 0
	}
	p := pred.Int64Values(true)
	n := 0
	for i := range p {
		if p[i] == t[i] {
			n++
		}
	}
	return len(t), n
}

// evaluateShard evaluates this rank's part of set and sums the totals over the ranks, after
// giving every rank rank 0's buffers (batch-norm statistics), as DDP's forward does.
func evaluateShard(model models.Model, vs *nn.VarStore, set data.Source, o Options, rank, world, epoch int) (Totals, error) {
	if o.Dist != nil {
		buffers := map[string]*ts.Tensor{}
		for n, v := range vs.NamedVariables() {
			if !vs.IsTrainable(n) {
				buffers[n] = v
			}
		}
		if len(buffers) > 0 {
			if err := o.Dist.BroadcastVars(buffers); err != nil {
				return Totals{}, err
			}
		}
	}
	loader := &data.Loader{Source: set, BatchSize: o.BatchSize, Seed: o.Seed, Rank: rank, World: world}
	bar := newProgress(o.Progress, o.Log, "eval", epoch, o.Epochs, loader.NumBatches(), o.Perplexity)
	defer bar.end()
	s, err := evaluate(model, set, o.BatchSize, o.Device, o.Seed, rank, world, bar)
	if err != nil {
		return s, err
	}
	return s, s.sum(o.Dist)
}

func evaluate(model models.Model, set data.Source, batchSize int, device gotch.Device, seed uint64, rank, world int, bar *progress) (Totals, error) {
	var s Totals
	var err error
	loader := &data.Loader{Source: set, BatchSize: batchSize, Seed: seed, Rank: rank, World: world}
	it := loader.Epoch(0, 0)
	defer it.Close()
	done := 0
	backend.NoGrad(func() {
		for {
			hb, more := it.Next()
			if !more {
				return
			}
			var b data.Batch
			if b, err = hb.Tensors(device); err != nil {
				return
			}
			var logits, l *ts.Tensor
			if logits, err = model.Forward(b.X, false); err == nil {
				l, err = logits.CrossEntropyLoss(b.Y, ts.None, 1, -100, 0, false)
			}
			if err != nil {
				b.Drop()
				if logits != nil {
					logits.MustDrop()
				}
				return
			}
			n, c := countCorrect(logits, hb.Y)
			s.add(stepStats{loss: l.Float64Values(true)[0], targets: n, correct: c, examples: hb.Size()})
			done++
			bar.update(done, s)
			logits.MustDrop()
			b.Drop()
		}
	})
	return s, err
}

// Evaluate returns the mean cross-entropy and metric (accuracy, or perplexity) of model on set.
func Evaluate(model models.Model, set data.Source, batchSize int, device gotch.Device, perplexity bool) (loss, metric float64, err error) {
	if set.Len() == 0 {
		return 0, 0, data.ErrEmpty
	}
	if device.Name == "" {
		device = gotch.CPU
	}
	defer backend.LockThread()()
	s, err := evaluate(model, set, batchSize, device, 0, 0, 1, nil)
	if err != nil {
		return 0, 0, err
	}
	return s.meanLoss(), s.metric(perplexity), nil
}
