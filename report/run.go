package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/internal/sysinfo"
	"github.com/lowrank-dev/lowrank/train"
)

// Record is what a finished run produced, kept as report.json in its run folder.
type Record struct {
	Group       string   `json:"group"`
	Name        string   `json:"name"`
	Config      string   `json:"config"`
	Set         []string `json:"set,omitempty"`
	Model       string   `json:"model"`
	Method      string   `json:"method"`
	Dataset     string   `json:"dataset"`
	Schedule    string   `json:"schedule"`
	Regularizer string   `json:"regularizer"`
	Metric      string   `json:"metric"` // accuracy or perplexity
	Params      int64    `json:"params"`
	FLOPs       int64    `json:"flops_per_example"`
	// History is every epoch's metrics, as metrics.jsonl holds them.
	History []train.EpochMetrics `json:"history"`
	// WallSeconds is the run's wall time, data loading and evaluation included; 0 when the run
	// was resumed (its epochs' own times are still in History).
	WallSeconds   float64          `json:"wall_seconds"`
	SwitchedAfter int              `json:"switched_after,omitempty"`
	Ranks         map[string]int64 `json:"ranks,omitempty"`
	Dir           string           `json:"dir"`
	Machine       string           `json:"machine"`
	Finished      time.Time        `json:"finished"`
	Processes     int              `json:"processes,omitempty"` // data-parallel processes (absent: 1)
	// Seed is the run's train.seed when the suite repeats it over seeds (absent: one run).
	Seed uint64 `json:"seed,omitempty"`
}

// Final is the last epoch's test metric.
func (r Record) Final() float64 { return r.History[len(r.History)-1].TestMetric }

// TrainSeconds is the training time summed over epochs (evaluation excluded).
func (r Record) TrainSeconds() float64 {
	var s float64
	for _, e := range r.History {
		s += e.Seconds
	}
	return s
}

// Options control a suite's run.
type Options struct {
	Out      string            // results folder: runs/<group>/<run>/, README.md and the plots
	Sets     []string          // --set overrides applied to every run, after the suite's
	DataDirs map[string]string // dataset → data.dir
	Groups   []string          // run only these groups (all when empty); the report shows all finished ones
	Rerun    bool              // train again runs that already finished
	Log      logrus.FieldLogger
	Progress io.Writer // per-step progress; nil for none
}

// RecordFile is the name of a finished run's record in its folder.
const RecordFile = "report.json"

// RunDir is where a run of the suite writes: runs/<group>/<run>, and runs/<group>/<run>/seed-<S>
// for each seed of a run repeated over seeds.
func RunDir(out string, g Group, r Spec) string {
	return filepath.Join(out, "runs", g.Name, Slug(r.Name))
}

// seedDir is the folder of the run with seed (0 and no seeds: RunDir).
func seedDir(out string, g Group, r Spec, seed uint64) string {
	if len(r.Seeds) == 0 {
		return RunDir(out, g, r)
	}
	return filepath.Join(RunDir(out, g, r), fmt.Sprintf("seed-%d", seed))
}

// seedsOf are the runs of r: one per seed, or one with the config's seed (0).
func seedsOf(r Spec) []uint64 {
	if len(r.Seeds) == 0 {
		return []uint64{0}
	}
	return r.Seeds
}

// Run trains every run of the selected groups that has not finished (resuming one that was
// interrupted), and returns the records of every finished run of the suite in suite order.
func Run(ctx context.Context, s *Suite, o Options) ([]Record, error) {
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	only := map[string]bool{}
	for _, g := range o.Groups {
		only[g] = true
	}
	for _, name := range o.Groups {
		found := false
		for _, g := range s.Groups {
			found = found || g.Name == name
		}
		if !found {
			return nil, fmt.Errorf("--group %s: the suite has no such group", name)
		}
	}
	for _, g := range s.Groups {
		if len(only) > 0 && !only[g.Name] {
			continue
		}
		for _, r := range g.Runs {
			for _, seed := range seedsOf(r) {
				if err := runOne(ctx, g, r, seed, o); err != nil {
					if seed != 0 {
						return nil, fmt.Errorf("%s / %s (seed %d): %w", g.Name, r.Name, seed, err)
					}
					return nil, fmt.Errorf("%s / %s: %w", g.Name, r.Name, err)
				}
			}
		}
	}
	return Collect(s, o.Out)
}

func runOne(ctx context.Context, g Group, r Spec, seed uint64, o Options) error {
	dir := seedDir(o.Out, g, r, seed)
	recPath := filepath.Join(dir, RecordFile)
	if _, err := os.Stat(recPath); err == nil && !o.Rerun {
		o.Log.WithFields(logrus.Fields{"group": g.Name, "run": r.Name, "dir": dir}).Info("finished before; skipped (--rerun trains it again)")
		return nil
	}
	sets := o.Sets
	if seed != 0 {
		sets = append(append([]string(nil), sets...), fmt.Sprintf("train.seed=%d", seed))
	}
	cfg, err := r.Load(dir, sets)
	if err != nil {
		return err
	}
	if d, ok := o.DataDirs[cfg.Data.Dataset]; ok {
		cfg.Data.Dir = d
	}
	resume := false
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "last", "trainer.json")); err == nil && !o.Rerun {
		resume = true
	} else if err := os.RemoveAll(dir); err != nil {
		return err
	}
	o.Log.WithFields(logrus.Fields{"group": g.Name, "run": r.Name, "config": r.Config, "resume": resume}).Info("run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The run writes its own train.log (rank 0 of a launched run does).
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	start := time.Now()
	var res *train.Result
	if r.Processes > 1 {
		res, err = launch(ctx, cfg, dir, resume, r.Processes, os.Stderr)
	} else {
		res, err = train.Run(ctx, cfg, log, resume, o.Progress)
	}
	if err != nil {
		return err
	}
	e, err := experiment.New(cfg)
	if err != nil {
		return err
	}
	if len(res.History) == 0 || res.History[len(res.History)-1].Epoch != cfg.Train.Epochs {
		return errors.New("the run ended before its last epoch")
	}
	rec := Record{Group: g.Name, Name: r.Name, Config: r.Config, Set: r.Set,
		Model: cfg.Model.Name, Method: cfg.Model.Method, Dataset: cfg.Data.Dataset, Schedule: cfg.LowRank.Schedule,
		Regularizer: cfg.LowRank.Regularizer, Metric: e.Metric(), Params: res.Cost.Params, FLOPs: res.Cost.FLOPs,
		History: res.History, SwitchedAfter: res.SwitchedAfter, Ranks: res.Ranks, Dir: dir,
		Machine: Machine(cfg.Train.Threads, r.Processes), Finished: time.Now().UTC(), Processes: max(1, r.Processes), Seed: seed}
	if !resume {
		rec.WallSeconds = time.Since(start).Seconds()
	}
	raw, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return checkpoint.WriteFileAtomic(recPath, append(raw, '\n'))
}

// launch trains the run in n data-parallel processes of this executable's train command (the
// configuration passed as JSON, which is YAML), then reads its result from the run folder.
func launch(ctx context.Context, cfg config.Config, dir string, resume bool, n int, w io.Writer) (*train.Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"train", "--resume", dir}
	if !resume {
		raw, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "launch-config.json")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			return nil, err
		}
		args = []string{"train", "-c", path}
	}
	l := dist.Launch{NProc: n, Timeout: time.Duration(cfg.Dist.Timeout * float64(time.Second))}
	if err := l.Run(ctx, exe, args, w, w); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, train.ErrInterrupted
	}
	return train.ReadResult(dir, cfg)
}

// Collect reads the records of the suite's finished runs under out, in suite order.
func Collect(s *Suite, out string) ([]Record, error) {
	var recs []Record
	for _, g := range s.Groups {
		for _, r := range g.Runs {
			for _, seed := range seedsOf(r) {
				path := filepath.Join(seedDir(out, g, r, seed), RecordFile)
				raw, err := os.ReadFile(path)
				if errors.Is(err, os.ErrNotExist) {
					continue
				} else if err != nil {
					return nil, err
				}
				var rec Record
				if err := json.Unmarshal(raw, &rec); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
				if len(rec.History) == 0 {
					return nil, fmt.Errorf("%s: no epochs recorded", path)
				}
				rec.Group, rec.Name, rec.Seed = g.Name, r.Name, seed
				recs = append(recs, rec)
			}
		}
	}
	return recs, nil
}

// Machine describes where the runs ran: CPU model and cores, libtorch, BLAS and the intra-op
// threads (0: one per core, shared by the processes of a data-parallel run).
func Machine(threads, processes int) string {
	processes = max(1, processes)
	if threads <= 0 {
		threads = max(1, runtime.NumCPU()/processes)
	}
	info := backend.Describe()
	m := fmt.Sprintf("%s, %d cores; libtorch %s, BLAS %s, %d intra-op threads", sysinfo.CPUModel(), runtime.NumCPU(),
		info.LibtorchVersion, blas(info.BLAS), threads)
	if processes > 1 {
		m += fmt.Sprintf(" × %d processes", processes)
	}
	return m
}

// blas names the BLAS library of the paths backend.BLAS lists: "OpenBLAS (libopenblasp-r0.3.21.so)".
func blas(paths string) string {
	for _, p := range strings.Split(paths, ", ") {
		switch backend.BLASKind(p) {
		case "openblas":
			return "OpenBLAS (" + filepath.Base(p) + ")"
		case "mkl":
			return "MKL (" + filepath.Base(p) + ")"
		}
	}
	if paths == "" {
		return "none mapped"
	}
	return "reference BLAS (" + paths + ")"
}
