package train

import (
	"fmt"
	"math"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// Config configures a classification run. Zero values take the defaults written on the fields.
type Config struct {
	Epochs      int                 // default 1
	BatchSize   int                 // default 128
	LR          float64             // Adam learning rate; default 1e-3
	Seed        uint64              // data order and parameter init
	Regularizer lowrank.Regularizer // added to the loss; zero adds nothing
	Device      gotch.Device        // default CPU
	Log         logrus.FieldLogger  // default the standard logger
}

func (c Config) withDefaults() Config {
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = 128
	}
	if c.LR == 0 {
		c.LR = 1e-3
	}
	if c.Device.Name == "" {
		c.Device = gotch.CPU
	}
	if c.Log == nil {
		c.Log = logrus.StandardLogger()
	}
	return c
}

// EpochMetrics are one epoch's results.
type EpochMetrics struct {
	Epoch         int     `json:"epoch"`
	TrainLoss     float64 `json:"train_loss"`
	TrainAccuracy float64 `json:"train_accuracy"`
	TestLoss      float64 `json:"test_loss"`
	TestAccuracy  float64 `json:"test_accuracy"`
	Seconds       float64 `json:"epoch_seconds"`
	SamplesPerSec float64 `json:"samples_per_sec"`
}

// Classify trains model (whose parameters live in vs) on trainSet with Adam and evaluates it on
// testSet after every epoch. A NaN or infinite loss stops the run with an error naming the
// epoch and step.
func Classify(model models.Model, vs *nn.VarStore, trainSet, testSet *data.Images, cfg Config) ([]EpochMetrics, error) {
	cfg = cfg.withDefaults()
	if trainSet.Len() == 0 || testSet.Len() == 0 {
		return nil, data.ErrEmpty
	}
	defer backend.LockThread()()
	opt, err := nn.DefaultAdamConfig().Build(vs, cfg.LR)
	if err != nil {
		return nil, err
	}
	var history []EpochMetrics
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		start := time.Now()
		loader := &data.Loader{Source: trainSet, BatchSize: cfg.BatchSize, Train: true, Seed: cfg.Seed}
		var lossSum float64
		var correct, seen int
		it := loader.Epoch(epoch, 0)
		for step := 0; ; step++ {
			hb, more := it.Next()
			if !more {
				break
			}
			loss, ok, err := trainStep(model, opt, hb, cfg)
			if err == nil && (math.IsNaN(loss) || math.IsInf(loss, 0)) {
				err = fmt.Errorf("loss is %v; lower the learning rate (now %g) or check the data", loss, cfg.LR)
			}
			if err != nil {
				it.Close()
				return history, fmt.Errorf("epoch %d step %d: %w", epoch, step, err)
			}
			lossSum += loss * float64(hb.Size())
			correct += ok
			seen += hb.Size()
		}
		secs := time.Since(start).Seconds()
		testLoss, testAcc, err := Evaluate(model, testSet, cfg.BatchSize, cfg.Device)
		if err != nil {
			return history, fmt.Errorf("epoch %d evaluation: %w", epoch, err)
		}
		m := EpochMetrics{Epoch: epoch, TrainLoss: lossSum / float64(seen), TrainAccuracy: float64(correct) / float64(seen),
			TestLoss: testLoss, TestAccuracy: testAcc, Seconds: secs, SamplesPerSec: float64(seen) / secs}
		cfg.Log.WithFields(logrus.Fields{"epoch": epoch, "train_loss": round(m.TrainLoss), "train_acc": round(m.TrainAccuracy),
			"test_loss": round(m.TestLoss), "test_acc": round(m.TestAccuracy), "seconds": round(secs),
			"samples_per_s": int(m.SamplesPerSec)}).Info("epoch done")
		history = append(history, m)
	}
	return history, nil
}

func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }

// trainStep runs one optimizer step and returns the batch loss and the number of correct
// predictions.
func trainStep(model models.Model, opt *nn.Optimizer, hb data.HostBatch, cfg Config) (float64, int, error) {
	b, err := hb.Tensors(cfg.Device)
	if err != nil {
		return 0, 0, err
	}
	defer b.Drop()
	logits, err := model.Forward(b.X, true)
	if err != nil {
		return 0, 0, err
	}
	defer logits.MustDrop()
	loss, err := logits.CrossEntropyLoss(b.Y, ts.None, 1, -100, 0, false)
	if err != nil {
		return 0, 0, err
	}
	defer loss.MustDrop()
	value := loss.Float64Values()[0]
	total := loss
	if pen, err := cfg.Regularizer.Penalty(model.Factorized()); err != nil {
		return 0, 0, err
	} else if pen != nil {
		total, err = loss.Add(pen, false)
		pen.MustDrop()
		if err != nil {
			return 0, 0, err
		}
		defer total.MustDrop()
	}
	if err := opt.BackwardStep(total); err != nil {
		return 0, 0, err
	}
	return value, countCorrect(logits, b.Y), nil
}

func countCorrect(logits, y *ts.Tensor) int {
	pred, err := logits.Argmax([]int64{1}, false, false)
	if err != nil {
		return 0
	}
	p, t := pred.Int64Values(true), y.Int64Values()
	n := 0
	for i := range p {
		if p[i] == t[i] {
			n++
		}
	}
	return n
}

// Evaluate returns the mean cross-entropy and accuracy of model on set, without gradients.
func Evaluate(model models.Model, set *data.Images, batchSize int, device gotch.Device) (loss, acc float64, err error) {
	if set.Len() == 0 {
		return 0, 0, data.ErrEmpty
	}
	if device.Name == "" {
		device = gotch.CPU
	}
	defer backend.LockThread()()
	var lossSum float64
	correct := 0
	loader := &data.Loader{Source: set, BatchSize: batchSize}
	it := loader.Epoch(0, 0)
	defer it.Close()
	backend.NoGrad(func() {
		for {
			hb, more := it.Next()
			if !more {
				return
			}
			b, e := hb.Tensors(device)
			if e != nil {
				err = e
				return
			}
			logits, e := model.Forward(b.X, false)
			if e != nil {
				b.Drop()
				err = e
				return
			}
			l, e := logits.CrossEntropyLoss(b.Y, ts.None, 1, -100, 0, false)
			if e != nil {
				b.Drop()
				logits.MustDrop()
				err = e
				return
			}
			lossSum += l.Float64Values(true)[0] * float64(hb.Size())
			correct += countCorrect(logits, b.Y)
			logits.MustDrop()
			b.Drop()
		}
	})
	if err != nil {
		return 0, 0, err
	}
	return lossSum / float64(set.Len()), float64(correct) / float64(set.Len()), nil
}
