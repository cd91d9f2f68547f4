package train

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/models"
)

// trainer is one Fit in progress: the model and its optimizer, the rank's place and gradient
// reducer in a data-parallel run, and where the run stands (p). Fit runs its epochs as a
// sequence of trainEpoch, evaluate and record.
type trainer struct {
	ctx         context.Context
	model       models.Model
	vs          *nn.VarStore
	o           Options
	opt         *optimizer
	red         *dist.Reducer // nil in a single process
	rank, world int
	loader      *data.Loader
	p           Progress
	stop        bool // a rank asked to stop (distributed runs)
	// The reducer's counters when the epoch began, for the epoch's all-reduce figures.
	commSteps int
	commSecs  float64
}

// newTrainer lays the weights out, makes the optimizer (with the resumed state), joins the
// data-parallel group and restores the progress to continue from.
func newTrainer(ctx context.Context, model models.Model, vs *nn.VarStore, trainSet data.Source, o Options) (*trainer, error) {
	if o.ChannelsLast {
		if err := setLayout(vs, true); err != nil {
			return nil, fmt.Errorf("train: channels_last layout: %w", err)
		}
	}
	opt, err := newOptimizer(o.Optimizer, vs, o.Schedule.At(0))
	if err != nil {
		return nil, err
	}
	t := &trainer{ctx: ctx, model: model, vs: vs, o: o, opt: opt}
	t.rank, t.world = o.Dist.Place()
	if t.red, err = startRank(o.Dist, vs, opt); err != nil {
		return nil, err
	}
	if o.Perplexity {
		t.p.Best = math.Inf(1)
	}
	if o.Resume != nil {
		t.p = o.Resume.Progress
		if t.rank > 0 {
			t.p.Partial = Totals{} // the saved partial totals are all ranks' sums: rank 0 carries them
		}
		if !o.Resume.OptimizerState.Empty() { // empty: a fresh optimizer (after a switch)
			if err := opt.LoadState(o.Resume.OptimizerState); err != nil {
				t.close()
				return nil, fmt.Errorf("resume: %w", err)
			}
		}
	}
	t.loader = &data.Loader{Source: trainSet, BatchSize: o.BatchSize, Train: true, Seed: o.Seed, Rank: t.rank, World: t.world}
	return t, nil
}

func (t *trainer) close() { t.red.Close() }

// save calls Options.Checkpoint with the progress and the optimizer's state.
func (t *trainer) save(kind string) error {
	if t.o.Checkpoint == nil {
		return nil
	}
	st, err := t.opt.State()
	if err != nil {
		return err
	}
	return t.o.Checkpoint(kind, t.p, st)
}

// sync runs between backward and the update in a distributed run: it averages the gradients
// and tells every rank whether any wants to stop or saw a non-finite loss.
func (t *trainer) sync(loss float64) error {
	flags := []float32{0, 0}
	if t.ctx.Err() != nil {
		flags[0] = 1
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		flags[1] = 1
	}
	if err := t.red.Reduce(flags); err != nil {
		return err
	}
	if flags[1] > 0 {
		return fmt.Errorf("loss is not finite on %d of %d ranks (%v here)", int(flags[1]), t.world, loss)
	}
	t.stop = flags[0] > 0
	return nil
}

// trainEpoch trains the rest of epoch (from p.Step) and returns its totals over all ranks, with
// this rank's seconds. Interrupted, it checkpoints "last" and returns ErrInterrupted.
func (t *trainer) trainEpoch(epoch int) (Totals, error) {
	o := t.o
	lr := o.Schedule.At(epoch - 1)
	t.opt.SetLR(lr)
	start := time.Now()
	bar := newProgress(o.Progress, o.Log, "epoch", epoch, o.Epochs, t.loader.NumBatches(), o.Perplexity)
	it := t.loader.Epoch(epoch, t.p.Step)
	defer it.Close()
	defer bar.end()
	var sync func(float64) error
	if t.red != nil {
		t.commSteps, t.commSecs = t.red.Steps, t.red.Seconds
		sync = t.sync
	}
	for step := t.p.Step; ; step++ {
		if t.stop || (t.red == nil && t.ctx.Err() != nil) {
			it.Close()
			bar.end() // before anything the checkpoint or the caller prints
			return Totals{}, t.interrupt(start)
		}
		hb, more := it.Next()
		if !more {
			break
		}
		backend.ManualSeed(stepSeed(o.Seed^uint64(t.rank)<<40, epoch, step))
		s, err := trainStep(t.model, t.opt, hb, o, sync)
		if err == nil && (math.IsNaN(s.loss) || math.IsInf(s.loss, 0)) {
			good := "no checkpoint was written yet (the first epoch had not finished)"
			if t.p.Epoch > 0 {
				good = fmt.Sprintf("the last checkpoint (epoch %d) is the last good state", t.p.Epoch)
			}
			err = fmt.Errorf("loss is %v; lower the learning rate (now %g) or check the data; %s", s.loss, lr, good)
		}
		if err != nil {
			return Totals{}, fmt.Errorf("epoch %d step %d: %w", epoch, step, err)
		}
		t.p.Partial.add(s)
		t.p.Step = step + 1
		if o.OnStep != nil {
			if err := o.OnStep(int64((epoch-1)*t.loader.NumBatches()+t.p.Step), s.loss, lr); err != nil {
				return Totals{}, err
			}
		}
		bar.update(t.p.Step, t.p.Partial)
	}
	sum := t.p.Partial
	sum.Seconds += time.Since(start).Seconds()
	return sum, sum.sum(o.Dist)
}

// interrupt ends an epoch cut short: its partial totals go into the "last" checkpoint, from
// which a resume continues at the next step.
func (t *trainer) interrupt(start time.Time) error {
	t.p.Partial.Seconds += time.Since(start).Seconds()
	if err := t.p.Partial.sum(t.o.Dist); err != nil {
		return err
	}
	if err := t.save("last"); err != nil {
		return fmt.Errorf("interrupted, and the checkpoint failed: %w", err)
	}
	return ErrInterrupted
}

// evaluate makes the epoch's metrics from its training totals and, when the epoch evaluates,
// the test set's and the validation set's, and logs them.
func (t *trainer) evaluate(epoch int, sum Totals, testSet data.Source) (EpochMetrics, error) {
	o := t.o
	secs := sum.Seconds
	m := EpochMetrics{Epoch: epoch, LR: o.Schedule.At(epoch - 1), TrainLoss: sum.meanLoss(), TrainMetric: sum.metric(o.Perplexity),
		TestLoss: math.NaN(), TestMetric: math.NaN(), ValLoss: math.NaN(), ValMetric: math.NaN(), Seconds: secs, SamplesPerSec: float64(sum.Examples) / secs,
		OptimizerStateMB: float64(t.opt.StateBytes()) / 1e6}
	fields := logrus.Fields{}
	if red := t.red; red != nil {
		m.Processes, m.AllReduceBytes = t.world, red.Bytes
		if n := red.Steps - t.commSteps; n > 0 {
			m.AllReduceSecond = (red.Seconds - t.commSecs) / float64(n)
		}
		fields["processes"] = t.world
		fields["allreduce_MB_per_step"] = round(float64(m.AllReduceBytes) / 1e6)
		fields["allreduce_ms_per_step"] = round(1e3 * m.AllReduceSecond)
		fields["allreduce_share"] = round(float64(red.Steps-t.commSteps) * m.AllReduceSecond / secs)
	}
	if epoch%o.EvalEvery == 0 || epoch == o.Epochs {
		test, err := evaluateShard(t.model, t.vs, testSet, o, t.rank, t.world, epoch)
		if err != nil {
			return m, fmt.Errorf("epoch %d evaluation: %w", epoch, err)
		}
		m.TestLoss, m.TestMetric = test.meanLoss(), test.metric(o.Perplexity)
		if o.Val != nil {
			val, err := evaluateShard(t.model, t.vs, o.Val, o, t.rank, t.world, epoch)
			if err != nil {
				return m, fmt.Errorf("epoch %d validation: %w", epoch, err)
			}
			m.ValLoss, m.ValMetric = val.meanLoss(), val.metric(o.Perplexity)
			fields["val_loss"], fields["val_"+metricName(o.Perplexity)] = round(m.ValLoss), round(m.ValMetric)
		}
	}
	name := metricName(o.Perplexity)
	o.Log.WithFields(fields).WithFields(logrus.Fields{"epoch": epoch, "lr": m.LR, "train_loss": round(m.TrainLoss), "train_" + name: round(m.TrainMetric),
		"test_loss": round(m.TestLoss), "test_" + name: round(m.TestMetric), "seconds": round(secs),
		"samples_per_s": int(m.SamplesPerSec)}).Info("epoch done")
	return m, nil
}

// record adds the epoch to the progress, hands it to OnEpoch, and checkpoints "last" (and
// "best" when the validation metric improved; "best" is selected on validation, never on the
// test set it would then report). done: Until ended the phase.
func (t *trainer) record(m EpochMetrics) (done bool, err error) {
	o := t.o
	t.p.Epoch, t.p.Step, t.p.Partial = m.Epoch, 0, Totals{}
	t.p.History = append(t.p.History, m)
	improved := !math.IsNaN(m.ValMetric) && ((o.Perplexity && m.ValMetric < t.p.Best) || (!o.Perplexity && m.ValMetric > t.p.Best))
	if improved {
		t.p.Best, t.p.BestEpoch = m.ValMetric, m.Epoch
	}
	if o.OnEpoch != nil {
		if err := o.OnEpoch(m); err != nil {
			return false, err
		}
	}
	if o.Until != nil {
		if done, err := o.Until(m); done || err != nil {
			return done, err
		}
	}
	if err := t.save("last"); err != nil {
		return false, fmt.Errorf("epoch %d checkpoint: %w", m.Epoch, err)
	}
	if improved {
		if err := t.save("best"); err != nil {
			return false, fmt.Errorf("epoch %d checkpoint: %w", m.Epoch, err)
		}
	}
	if o.EarlyStop > 0 && t.p.BestEpoch > 0 && m.Epoch-t.p.BestEpoch >= o.EarlyStop && m.Epoch < o.Epochs {
		o.Log.WithFields(logrus.Fields{"epoch": m.Epoch, "best_epoch": t.p.BestEpoch, "patience": o.EarlyStop}).Info("early stop: no better validation metric")
		return true, nil
	}
	return false, nil
}
