package train

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/lowrank-dev/lowrank/tfevents"
)

// runLog is a run's log: every entry goes to the caller's logger as before, and the entries at
// info level and above are also appended to the run folder's train.log, as text without colours.
type runLog struct {
	*logrus.Logger
	file *os.File
}

// openRunLog starts the run's log in dir/train.log (appending: a resumed run continues it).
func openRunLog(dir string, to logrus.FieldLogger) (*runLog, error) {
	f, err := os.OpenFile(filepath.Join(dir, "train.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.TraceLevel)
	if base := loggerOf(to); base != nil {
		l.Formatter = base.Formatter // progress reporting reads it (JSON or text)
	}
	l.AddHook(&teeHook{to: to, file: f, format: &logrus.TextFormatter{DisableColors: true, FullTimestamp: true}})
	return &runLog{Logger: l, file: f}, nil
}

func (r *runLog) Close() error { return r.file.Close() }

func loggerOf(log logrus.FieldLogger) *logrus.Logger {
	switch x := log.(type) {
	case *logrus.Logger:
		return x
	case *logrus.Entry:
		return x.Logger
	case *runLog:
		return x.Logger
	}
	return nil
}

// teeHook forwards every entry to the caller's logger and writes the info-and-above ones to the
// file.
type teeHook struct {
	to     logrus.FieldLogger
	file   *os.File
	format logrus.Formatter
}

func (h *teeHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *teeHook) Fire(e *logrus.Entry) error {
	fwd := h.to.WithFields(e.Data)
	switch e.Level {
	case logrus.TraceLevel, logrus.DebugLevel:
		fwd.Debug(e.Message)
	case logrus.InfoLevel:
		fwd.Info(e.Message)
	case logrus.WarnLevel:
		fwd.Warn(e.Message)
	default:
		fwd.Error(e.Message)
	}
	if e.Level > logrus.InfoLevel {
		return nil
	}
	line, err := h.format.Format(e)
	if err != nil {
		return err
	}
	_, err = h.file.Write(line)
	return err
}

// events is a run's TensorBoard log: per step the training loss and learning rate, per epoch
// the train, validation and test loss and metric, samples/s and all-reduce bytes, and the
// configuration as text.
type events struct{ w *tfevents.Writer }

// openEvents starts a new event file in dir (a resumed run adds one; TensorBoard reads them all).
func openEvents(dir string, cfg any) (*events, error) {
	w, err := tfevents.Create(dir)
	if err != nil {
		return nil, err
	}
	raw, _ := json.MarshalIndent(cfg, "", "  ")
	if err := w.Text("config", 0, "```\n"+string(raw)+"\n```"); err != nil {
		w.Close()
		return nil, err
	}
	return &events{w: w}, w.Flush()
}

// step records a training step's loss and learning rate at global step n.
func (e *events) step(n int64, loss, lr float64) error {
	if err := e.w.Scalar("loss/train_step", n, loss); err != nil {
		return err
	}
	return e.w.Scalar("lr", n, lr)
}

// epoch records an epoch's metrics at global step n (the steps trained so far) and flushes.
func (e *events) epoch(n int64, m EpochMetrics, metric string) error {
	for _, s := range []struct {
		tag string
		v   float64
	}{
		{"loss/train", m.TrainLoss}, {metric + "/train", m.TrainMetric},
		{"loss/test", m.TestLoss}, {metric + "/test", m.TestMetric},
		{"loss/val", m.ValLoss}, {metric + "/val", m.ValMetric},
		{"samples_per_s", m.SamplesPerSec}, {"epoch", float64(m.Epoch)},
		{"allreduce/bytes_per_step", float64(m.AllReduceBytes)},
	} {
		if s.v != s.v || (s.tag == "allreduce/bytes_per_step" && m.Processes == 0) { // NaN: not evaluated
			continue
		}
		if err := e.w.Scalar(s.tag, n, s.v); err != nil {
			return fmt.Errorf("%s: %w", e.w.Path, err)
		}
	}
	return e.w.Flush()
}

func (e *events) Close() error {
	if e == nil {
		return nil
	}
	return e.w.Close()
}
