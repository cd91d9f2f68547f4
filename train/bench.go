package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/internal/stats"
	"github.com/lowrank-dev/lowrank/internal/sysinfo"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// BenchDataset is the registered dataset whose input is the model's registered benchmark input
// (models.Spec.Bench: its shapes only, the data is random), and whether there is one.
func BenchDataset(model string) (data.Spec, bool) {
	ms, ok := models.Lookup(model)
	if !ok {
		return data.Spec{}, false
	}
	for _, ds := range data.Specs() {
		if experiment.Input(ds) == ms.Bench {
			return ds, true
		}
	}
	return data.Spec{}, false
}

// BenchSpec selects what Bench measures.
type BenchSpec struct {
	Model      string `json:"model"`
	Method     string `json:"method"` // original or low_rank
	Batch      int    `json:"batch"`
	Threads    int    `json:"threads"` // 0: one per core
	Device     string `json:"device"`
	Steps      int    `json:"steps"`  // timed steps
	Warmup     int    `json:"warmup"` // untimed steps first
	Optimizer  string `json:"optimizer"`
	ConvScheme string `json:"conv_scheme"` // spatial or channel
	LSTMImpl   string `json:"lstm_impl"`   // reconstructed or factored
	// RankRule (ratio or budget) with Ratio or Budget: the factorized layers' ranks; empty and
	// zero take the config defaults (ratio 0.2).
	RankRule string  `json:"rank_rule,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	Budget   float64 `json:"budget,omitempty"`
	// MemoryFormat is train.memory_format (auto, contiguous, channels_last); the result holds
	// the layout it resolved to.
	MemoryFormat string `json:"memory_format"`
}

// BenchResult is one model's speed. A training step is exactly Fit's: the host batch copied to
// tensors, forward, cross-entropy, the loss read back, backward, the optimizer's update, and the
// predictions read back for accuracy. FLOPs count one multiply-add as one FLOP (fvcore's
// convention, as the reference's table); a training step is counted as 3× the forward.
type BenchResult struct {
	BenchSpec
	Params          int64   `json:"params"`
	FLOPsPerExample int64   `json:"flops_per_example"`
	FLOPsPerStep    float64 `json:"flops_per_step"`
	StepMedianMs    float64 `json:"step_median_ms"`
	StepMinMs       float64 `json:"step_min_ms"`
	StepMaxMs       float64 `json:"step_max_ms"`
	SamplesPerSec   float64 `json:"samples_per_sec"`
	GFLOPS          float64 `json:"gflops"`    // FLOPsPerStep / median step
	InferMs         float64 `json:"infer_ms"`  // forward without gradients at Batch, median
	Infer1Ms        float64 `json:"infer1_ms"` // the same at batch 1
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	// Resident memory after a tenth of the timed training steps and after all of them: equal
	// when a long run keeps its memory flat.
	RSSTenthMB float64 `json:"rss_tenth_mb"`
	RSSLastMB  float64 `json:"rss_last_mb"`
	// OptimizerStateMB is the optimizer's state after the steps, measured from its tensors
	// (momentum buffers, Adam's moments, GaLore's projected moments and projectors).
	OptimizerStateMB float64 `json:"optimizer_state_mb"`
	// Data-parallel runs (BenchDist; rank 0's figures): processes, the gradient bytes and
	// buckets all-reduced per step (and how many of them during backward), and the median time
	// per step spent waiting for the all-reduce after backward (the communication backward did
	// not hide, waiting for the slowest rank included). Batch is per process; SamplesPerSec
	// counts all processes.
	Processes         int     `json:"processes,omitempty"`
	AllReduceBytes    int64   `json:"allreduce_bytes,omitempty"`
	AllReduceBuckets  int     `json:"allreduce_buckets,omitempty"`
	AllReduceOverlap  int     `json:"allreduce_overlapped_buckets,omitempty"` // launched during backward
	AllReduceMedianMs float64 `json:"allreduce_median_ms,omitempty"`
}

// benchConfig is the configuration a benchmark trains with: the defaults, the model's dataset
// and the spec's choices.
func benchConfig(s BenchSpec) (*experiment.Experiment, error) {
	ds, ok := BenchDataset(s.Model)
	if !ok {
		return nil, fmt.Errorf("model %q: want one of %s", s.Model, strings.Join(models.Names(), ", "))
	}
	c := config.Default()
	c.Model.Name, c.Model.Method, c.Data.Dataset = s.Model, s.Method, ds.Name
	c.Train.BatchSize, c.Train.Threads, c.Train.Device = s.Batch, s.Threads, s.Device
	if s.Optimizer != "" {
		c.Optimizer.Name = s.Optimizer
	}
	if s.ConvScheme != "" {
		c.LowRank.ConvScheme = s.ConvScheme
	}
	if s.LSTMImpl != "" {
		c.LowRank.LSTMImpl = s.LSTMImpl
	}
	if s.RankRule != "" {
		c.LowRank.RankRule = s.RankRule
	}
	if s.Ratio != 0 {
		c.LowRank.Ratio = s.Ratio
	}
	if s.Budget != 0 {
		c.LowRank.Budget = s.Budget
	}
	if s.MemoryFormat != "" {
		c.Train.MemoryFormat = s.MemoryFormat
	}
	if s.Steps < 1 || s.Warmup < 0 {
		return nil, fmt.Errorf("steps %d, warmup %d: want at least one timed step and no negative warm-up", s.Steps, s.Warmup)
	}
	return experiment.New(c)
}

// BenchBatch is a random host batch shaped like the registered dataset's: images N(0, 1) with
// labels below the class count, or token windows with next-token targets.
func BenchBatch(dataset string, batch int, seed uint64) data.HostBatch {
	rng := rand.New(rand.NewPCG(seed, 1))
	spec, _ := data.Lookup(dataset)
	b := int64(batch)
	if spec.SeqLen > 0 {
		n := int(b * spec.SeqLen)
		x, y := make([]int64, n), make([]int64, n)
		for i := range x {
			x[i], y[i] = rng.Int64N(spec.Classes), rng.Int64N(spec.Classes)
		}
		shape := []int64{b, spec.SeqLen}
		return data.HostBatch{XInt: x, XShape: shape, Y: y, YShape: shape}
	}
	x := make([]float32, b*spec.Channels*spec.Size*spec.Size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]int64, b)
	for i := range y {
		y[i] = rng.Int64N(spec.Classes)
	}
	return data.HostBatch{X: x, XShape: []int64{b, spec.Channels, spec.Size, spec.Size}, Y: y, YShape: []int64{b}}
}

// Bench measures one model: Warmup untimed training steps, then Steps timed ones, then the same
// number of forward passes without gradients at Batch and at batch 1. Peak RSS is the process's
// high-water mark since Bench started (reset through /proc/self/clear_refs where Linux allows),
// so run one Bench per process for a clean figure (lowrank bench does).
func Bench(s BenchSpec) (BenchResult, error) { return BenchDist(s, nil) }

// BenchDist is Bench as one rank of the data-parallel group g: every step also averages the
// gradients over the ranks (as Fit does), and the all-reduce is timed on its own. Inference is
// not measured.
func BenchDist(s BenchSpec, g *dist.Group) (BenchResult, error) {
	e, err := benchConfig(s)
	if err != nil {
		return BenchResult{}, err
	}
	cfg := e.Config
	res := BenchResult{BenchSpec: s}
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM; best effort
	device, err := backend.Device(cfg.Train.Device)
	if err != nil {
		return res, err
	}
	defer backend.LockThread()()
	threads := cfg.Train.Threads
	if g != nil {
		threads = g.Threads(threads)
	}
	backend.SetThreads(threads)
	res.Threads = backend.Threads()
	backend.ManualSeed(int64(cfg.Train.Seed))
	vs := nn.NewVarStore(device)
	model, err := e.Build(vs.Root(), "")
	if err != nil {
		return res, err
	}
	channelsLast := e.ChannelsLast()
	res.MemoryFormat = "contiguous"
	if channelsLast {
		res.MemoryFormat = "channels_last"
		if err := setLayout(vs, true); err != nil {
			return res, err
		}
	}
	c := model.Cost()
	res.Params, res.FLOPsPerExample = c.Params, c.FLOPs
	res.FLOPsPerStep = 3 * float64(c.FLOPs) * float64(s.Batch)
	opt, err := newOptimizer(optimizerFor(cfg.Optimizer), vs, cfg.Optimizer.LR)
	if err != nil {
		return res, err
	}
	o := Options{Device: device, Regularizer: lowrank.Regularizer{}}
	var sync func(float64) error
	var comm []float64
	rank, _ := g.Place()
	red, err := startRank(g, vs, opt)
	if err != nil {
		return res, err
	}
	defer red.Close()
	if red != nil {
		sync = func(float64) error { return red.Reduce(nil) }
	}
	hb := BenchBatch(cfg.Data.Dataset, s.Batch, 1+uint64(rank)).InLayout(channelsLast)
	times := make([]float64, 0, s.Steps)
	for i := 0; i < s.Warmup+s.Steps; i++ {
		start := time.Now()
		before := 0.0
		if red != nil {
			before = red.Seconds
		}
		st, err := trainStep(model, opt, hb, o, sync)
		if err != nil {
			return res, fmt.Errorf("training step %d: %w", i+1, err)
		}
		if math.IsNaN(st.loss) {
			return res, fmt.Errorf("training step %d: loss is NaN", i+1)
		}
		if i >= s.Warmup {
			times = append(times, time.Since(start).Seconds()*1e3)
			if red != nil {
				comm = append(comm, (red.Seconds-before)*1e3)
			}
		}
		if i+1 == s.Warmup+max(1, s.Steps/10) {
			res.RSSTenthMB = sysinfo.StatusMB("VmRSS")
		}
	}
	res.RSSLastMB = sysinfo.StatusMB("VmRSS")
	res.OptimizerStateMB = float64(opt.StateBytes()) / 1e6
	res.StepMinMs, res.StepMedianMs, res.StepMaxMs = stats.Summary(times)
	res.SamplesPerSec = float64(s.Batch) / (res.StepMedianMs / 1e3)
	res.GFLOPS = res.FLOPsPerStep / (res.StepMedianMs / 1e3) / 1e9
	if g != nil {
		res.Processes, res.AllReduceBytes, res.AllReduceBuckets, res.AllReduceOverlap = g.World, red.Bytes, red.Buckets, red.Overlapped
		res.AllReduceMedianMs = stats.Median(comm)
		res.SamplesPerSec *= float64(g.World)
		res.PeakRSSMB = sysinfo.StatusMB("VmHWM")
		return res, nil
	}
	infer := func(batch int) (float64, error) {
		hb := BenchBatch(cfg.Data.Dataset, batch, 2).InLayout(channelsLast)
		b, err := hb.Tensors(device)
		if err != nil {
			return 0, err
		}
		defer b.Drop()
		var ms []float64
		for i := 0; i < s.Warmup+s.Steps; i++ {
			start := time.Now()
			backend.NoGrad(func() {
				out, ferr := model.Forward(b.X, false)
				if ferr != nil {
					err = ferr
					return
				}
				out.MustDrop()
			})
			if err != nil {
				return 0, err
			}
			if i >= s.Warmup {
				ms = append(ms, time.Since(start).Seconds()*1e3)
			}
		}
		return stats.Median(ms), nil
	}
	if res.InferMs, err = infer(s.Batch); err != nil {
		return res, err
	}
	if res.Infer1Ms, err = infer(1); err != nil {
		return res, err
	}
	res.PeakRSSMB = sysinfo.StatusMB("VmHWM")
	return res, nil
}
