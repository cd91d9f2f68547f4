package config

import (
	"fmt"
	"strings"
)

// Config is one experiment.
type Config struct {
	Model     Model     `mapstructure:"model" json:"model"`
	LowRank   LowRank   `mapstructure:"lowrank" json:"lowrank"`
	Data      Data      `mapstructure:"data" json:"data"`
	Train     Train     `mapstructure:"train" json:"train"`
	Optimizer Optimizer `mapstructure:"optimizer" json:"optimizer"`
	Scheduler Scheduler `mapstructure:"scheduler" json:"scheduler"`
	Dist      Dist      `mapstructure:"dist" json:"dist"`
}

// Dist configures data-parallel training, used when the run has several processes (lowrank
// train --nproc N, or torchrun's RANK/WORLD_SIZE variables). train.batch_size is per process:
// the global batch is batch_size × processes.
type Dist struct {
	Backend string `mapstructure:"backend" json:"backend"` // auto (default: nccl on CUDA when built with it, else gloo) | gloo | nccl
	// Timeout is how long, in seconds, the rendezvous or a collective waits for a peer before
	// the run fails with an error (a peer that died or hangs); default 300.
	Timeout  float64 `mapstructure:"timeout" json:"timeout"`
	BucketMB float64 `mapstructure:"bucket_mb" json:"bucket_mb"` // gradient all-reduce bucket; default 25, as DDP
	Iface    string  `mapstructure:"iface" json:"iface"`         // network interface for Gloo (default: the host name's)
	// AllReduce is when gradient buckets are all-reduced: during_backward (as soon as a bucket's
	// gradients are ready, overlapping communication with the rest of backward, as DDP),
	// after_backward, or auto (default): during_backward on CUDA or when the ranks span several
	// machines (the network is the bottleneck), after_backward for CPU processes on one machine
	// (loopback communication competes with the computation for the same cores; measured in the
	// docs/distributed.md).
	AllReduce string `mapstructure:"allreduce" json:"allreduce"`
	// PowerSGDRank > 0 compresses every gradient matrix worth it to two rank-r factors before
	// the all-reduce (PowerSGD with error feedback, as torch.distributed's powerSGD_hook), after
	// PowerSGDStart plain steps (default 10); 0 (default) sends gradients whole.
	PowerSGDRank  int `mapstructure:"powersgd_rank" json:"powersgd_rank"`
	PowerSGDStart int `mapstructure:"powersgd_start" json:"powersgd_start"`
}

// Validate reports the section's problems.
func (d Dist) Validate() []string {
	p := oneOf("dist.backend", d.Backend, "auto", "gloo", "nccl")
	p = append(p, oneOf("dist.allreduce", d.AllReduce, "auto", "during_backward", "after_backward")...)
	if d.Timeout <= 0 {
		p = append(p, fmt.Sprintf("dist.timeout: %g seconds must be positive", d.Timeout))
	}
	if d.PowerSGDRank < 0 || d.PowerSGDStart < 0 {
		p = append(p, fmt.Sprintf("dist.powersgd_rank %d and dist.powersgd_start %d must not be negative", d.PowerSGDRank, d.PowerSGDStart))
	}
	if d.BucketMB <= 0 {
		p = append(p, fmt.Sprintf("dist.bucket_mb: %g must be positive", d.BucketMB))
	}
	return p
}

// Model selects the architecture.
type Model struct {
	Name        string `mapstructure:"name" json:"name"`                 // a registered model (lowrank configs lists them)
	Method      string `mapstructure:"method" json:"method"`             // original | low_rank (default low_rank)
	Compat      string `mapstructure:"compat" json:"compat"`             // correct (default) | reference (also: spatial scheme, ratio rule)
	Init        string `mapstructure:"init" json:"init"`                 // default | spectral
	HybridStart int    `mapstructure:"hybrid_start" json:"hybrid_start"` // first factorized layer (VGG from 1; others from 0)
	HybridBlock int    `mapstructure:"hybrid_block" json:"hybrid_block"` // ResNet (block, layer) rule: the first factorized block
	HybridLayer int    `mapstructure:"hybrid_layer" json:"hybrid_layer"` // ResNet: the first factorized layer within hybrid_block
	// Width multiplies VGG's channels and hidden units (default 1; 0.25: a narrow VGG for CPUs).
	Width float64 `mapstructure:"width" json:"width"`
}

// LowRank configures the factorization and its regularizer.
type LowRank struct {
	RankRule    string  `mapstructure:"rank_rule" json:"rank_rule"`     // ratio (default) | fixed | budget
	Ratio       float64 `mapstructure:"ratio" json:"ratio"`             // rank_rule ratio: r = ⌊ratio·min(m, n)⌋, in (0, 1]; default 0.2
	Rank        int64   `mapstructure:"rank" json:"rank"`               // rank_rule fixed: every factorized layer's rank, ≥ 1
	Budget      float64 `mapstructure:"budget" json:"budget"`           // rank_rule budget: fraction of each layer's dense parameters kept, in (0, 1]
	ConvScheme  string  `mapstructure:"conv_scheme" json:"conv_scheme"` // spatial (default) | channel
	LSTMImpl    string  `mapstructure:"lstm_impl" json:"lstm_impl"`     // reconstructed (default) | factored
	Regularizer string  `mapstructure:"regularizer" json:"regularizer"` // none | frobenius | kronecker | l2 | l2-fd | l2-kd | fd-kd
	Frobenius   float64 `mapstructure:"frobenius" json:"frobenius"`     // coefficient of ‖UV‖²_F
	Kronecker   float64 `mapstructure:"kronecker" json:"kronecker"`     // coefficient of ‖U‖²_F‖V‖²_F
	L2          float64 `mapstructure:"l2" json:"l2"`                   // coefficient of ‖U‖²_F + ‖V‖²_F
	// Schedule: none (default: low-rank from the start), warmup (Pufferfish: WarmupEpochs
	// full-rank, then factorize by SVD at the rank rule), auto (Cuttlefish: full-rank until
	// every layer's stable rank settles, then factorize at ranks chosen from them) or relora
	// (low-rank updates of a dense model: the relora_* keys).
	Schedule      string  `mapstructure:"schedule" json:"schedule"`
	WarmupEpochs  int     `mapstructure:"warmup_epochs" json:"warmup_epochs"`
	AutoWindow    int     `mapstructure:"auto_window" json:"auto_window"`         // default 15
	AutoThreshold float64 `mapstructure:"auto_threshold" json:"auto_threshold"`   // default 0.1
	AutoScaler    float64 `mapstructure:"auto_scaler" json:"auto_scaler"`         // default 2.5
	AutoMinEpochs int     `mapstructure:"auto_min_epochs" json:"auto_min_epochs"` // default auto_window
	AutoMaxEpochs int     `mapstructure:"auto_max_epochs" json:"auto_max_epochs"` // default train.epochs − 1
	// Schedule relora (ReLoRA, Lialin et al. 2023): the model stays dense; after warmup_epochs of
	// full-rank training (0 allowed) every factorizable weight trains as W₀ + B·A at the rank
	// rule's rank, B·A merged into W₀ and the factors restarted every relora_every steps, their
	// Adam state pruned by relora_reset (a fraction), the learning rate re-warmed over
	// relora_warmup steps after each merge. Needs optimizer adam or adamw.
	ReLoRAEvery  int     `mapstructure:"relora_every" json:"relora_every"`   // default 500
	ReLoRAReset  float64 `mapstructure:"relora_reset" json:"relora_reset"`   // in [0, 1]; default 0.99
	ReLoRAWarmup int     `mapstructure:"relora_warmup" json:"relora_warmup"` // default 50, below relora_every
}

// Data selects the dataset.
type Data struct {
	Dataset string `mapstructure:"dataset" json:"dataset"` // a registered dataset (lowrank configs lists them)
	Dir     string `mapstructure:"dir" json:"dir"`         // default per dataset; env LOWRANK_DATA_DIR
	Limit   int    `mapstructure:"limit" json:"limit"`     // train on the first N examples (0: all)
	// ValSplit holds out this fraction of the training examples (chosen from train.seed alone)
	// as a validation set: the "best" checkpoint is the best on it. 0 (default) trains on the
	// whole training set, as the reference, and keeps no "best" checkpoint: test metrics are
	// reported, never used to select.
	ValSplit float64 `mapstructure:"val_split" json:"val_split"`
	// TestLimit evaluates on the first N test examples (0: all).
	TestLimit int `mapstructure:"test_limit" json:"test_limit"`
	// Stride spaces a text dataset's character windows (Shakespeare's 80: 1, every window, as
	// the reference; 80, non-overlapping windows over the whole text, 80× fewer).
	Stride int `mapstructure:"stride" json:"stride"`
}

// Train configures the run.
type Train struct {
	Epochs    int    `mapstructure:"epochs" json:"epochs"`         // default 10
	BatchSize int    `mapstructure:"batch_size" json:"batch_size"` // default 128
	Seed      uint64 `mapstructure:"seed" json:"seed"`             // default 12345, as the reference
	Device    string `mapstructure:"device" json:"device"`         // cpu (default), cuda, cuda:N, auto
	Threads   int    `mapstructure:"threads" json:"threads"`       // 0: one per core
	EvalEvery int    `mapstructure:"eval_every" json:"eval_every"` // epochs between evaluations; default 1
	OutputDir string `mapstructure:"output_dir" json:"output_dir"` // default runs/<config name>
	// MemoryFormat is the layout of convolutional models' 4-d weights and image batches:
	// contiguous (NCHW), channels_last (NHWC) or auto (default: what measured faster for the
	// model and scheme, ChannelsLast). Checkpoints are written contiguous either way.
	MemoryFormat string `mapstructure:"memory_format" json:"memory_format"`
	// ClipGradNorm > 0 scales the gradients before every update so that their global L2 norm
	// is at most this, as torch.nn.utils.clip_grad_norm_; 0 (default): no clipping.
	ClipGradNorm float64 `mapstructure:"clip_grad_norm" json:"clip_grad_norm"`
	// EarlyStop > 0 ends the run after this many epochs without a better validation metric
	// (it needs data.val_split); the best checkpoint stays. 0 (default): train every epoch.
	EarlyStop int `mapstructure:"early_stop" json:"early_stop"`
}

// Optimizer configures the optimizer; the defaults are the reference's SGD settings.
type Optimizer struct {
	Name        string  `mapstructure:"name" json:"name"`                 // sgd (default) | adam | adamw | rmsprop | galore-adamw
	LR          float64 `mapstructure:"lr" json:"lr"`                     // default 0.01
	Momentum    float64 `mapstructure:"momentum" json:"momentum"`         // SGD and RMSprop; default 0.9
	WeightDecay float64 `mapstructure:"weight_decay" json:"weight_decay"` // default 5e-4
	// GaLore (galore-adamw): each weight matrix whose smaller side exceeds galore_rank (a
	// convolution's kernel as out × in·k·k) steps in its gradient's top-galore_rank subspace,
	// refreshed by SVD every galore_every steps, its update scaled by galore_scale; Adam's
	// moments live in that subspace. Other parameters take GaLore's AdamW unprojected.
	GaloreRank  int     `mapstructure:"galore_rank" json:"galore_rank"`   // default 128
	GaloreEvery int     `mapstructure:"galore_every" json:"galore_every"` // steps between projector refreshes; default 200
	GaloreScale float64 `mapstructure:"galore_scale" json:"galore_scale"` // default 0.25
}

// Scheduler configures the learning-rate schedule, as the reference's.
type Scheduler struct {
	Name         string  `mapstructure:"name" json:"name"`                   // none | sqrt | linear | cosine (default) | multistep
	MinLR        float64 `mapstructure:"min_lr" json:"min_lr"`               // cosine floor; default 1e-5
	Factor       float64 `mapstructure:"factor" json:"factor"`               // multistep decay at T/2 and 3T/4; default 0.1
	WarmupEpochs int     `mapstructure:"warmup_epochs" json:"warmup_epochs"` // gradual linear warm-up; default 0
}

// DefaultRatio is lowrank.ratio's default, the reference's (lowrank.DefaultRatio).
const DefaultRatio = 0.2

// Default is the configuration every file starts from.
func Default() Config {
	return Config{
		Model: Model{Name: "mlp", Method: "low_rank", Compat: "correct", Init: "default", Width: 1},
		LowRank: LowRank{RankRule: "ratio", Ratio: DefaultRatio, ConvScheme: "spatial", LSTMImpl: "reconstructed", Regularizer: "none",
			Schedule: "none", AutoWindow: 15, AutoThreshold: 0.1, AutoScaler: 2.5, ReLoRAEvery: 500, ReLoRAReset: 0.99, ReLoRAWarmup: 50},
		Data:      Data{Dataset: "fashion-mnist", Stride: 1},
		Train:     Train{Epochs: 10, BatchSize: 128, Seed: 12345, Device: "cpu", EvalEvery: 1, MemoryFormat: "auto"},
		Optimizer: Optimizer{Name: "sgd", LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4, GaloreRank: 128, GaloreEvery: 200, GaloreScale: 0.25},
		Scheduler: Scheduler{Name: "cosine", MinLR: 1e-5, Factor: 0.1},
		Dist:      Dist{Backend: "auto", Timeout: 300, BucketMB: 25, AllReduce: "auto", PowerSGDStart: 10},
	}
}

func oneOf(key, v string, allowed ...string) []string {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: %q is not one of %s", key, v, strings.Join(allowed, ", "))}
}

// Validate reports the section's problems.
func (m Model) Validate() []string {
	p := oneOf("model.method", m.Method, "original", "low_rank")
	p = append(p, oneOf("model.compat", m.Compat, "correct", "reference")...)
	p = append(p, oneOf("model.init", m.Init, "default", "spectral")...)
	if m.HybridStart < 0 || m.HybridLayer < 0 || m.HybridBlock < -1 {
		p = append(p, "model.hybrid_*: hybrid_start and hybrid_layer must be ≥ 0, hybrid_block ≥ -1")
	}
	if m.Width <= 0 || m.Width > 4 {
		p = append(p, fmt.Sprintf("model.width: %g is outside (0, 4]", m.Width))
	}
	if m.Init == "spectral" && m.Method != "low_rank" {
		p = append(p, "model.init: spectral initialization needs model.method low_rank")
	}
	return p
}

// Validate reports the section's problems.
func (l LowRank) Validate() []string {
	p := oneOf("lowrank.rank_rule", l.RankRule, "ratio", "fixed", "budget")
	p = append(p, oneOf("lowrank.conv_scheme", l.ConvScheme, "spatial", "channel")...)
	p = append(p, oneOf("lowrank.lstm_impl", l.LSTMImpl, "reconstructed", "factored")...)
	p = append(p, oneOf("lowrank.regularizer", l.Regularizer, "none", "frobenius", "kronecker", "l2", "l2-fd", "l2-kd", "fd-kd")...)
	switch l.RankRule {
	case "ratio":
		if l.Ratio <= 0 || l.Ratio > 1 {
			p = append(p, fmt.Sprintf("lowrank.ratio: %g is outside (0, 1]", l.Ratio))
		}
	case "fixed":
		if l.Rank < 1 {
			p = append(p, fmt.Sprintf("lowrank.rank: %d must be ≥ 1 with rank_rule fixed", l.Rank))
		}
	case "budget":
		if l.Budget <= 0 || l.Budget > 1 {
			p = append(p, fmt.Sprintf("lowrank.budget: %g is outside (0, 1]", l.Budget))
		}
	}
	for _, c := range []struct {
		key string
		v   float64
	}{{"lowrank.frobenius", l.Frobenius}, {"lowrank.kronecker", l.Kronecker}, {"lowrank.l2", l.L2}} {
		if c.v < 0 {
			p = append(p, fmt.Sprintf("%s: coefficient %g is negative", c.key, c.v))
		}
	}
	need := map[string][]string{"frobenius": {"frobenius"}, "kronecker": {"kronecker"}, "l2": {"l2"},
		"l2-fd": {"l2", "frobenius"}, "l2-kd": {"l2", "kronecker"}, "fd-kd": {"frobenius", "kronecker"}}
	coef := map[string]float64{"frobenius": l.Frobenius, "kronecker": l.Kronecker, "l2": l.L2}
	for _, term := range need[l.Regularizer] {
		if coef[term] == 0 {
			p = append(p, fmt.Sprintf("lowrank.%s: regularizer %s needs a positive coefficient", term, l.Regularizer))
		}
	}
	return p
}

// Validate reports the section's problems.
func (d Data) Validate() []string {
	var p []string
	if d.Limit < 0 {
		p = append(p, fmt.Sprintf("data.limit: %d is negative", d.Limit))
	}
	if d.TestLimit < 0 {
		p = append(p, fmt.Sprintf("data.test_limit: %d is negative", d.TestLimit))
	}
	if d.ValSplit < 0 || d.ValSplit >= 1 {
		p = append(p, fmt.Sprintf("data.val_split: %g is outside [0, 1) (a fraction of the training set, e.g. 0.1)", d.ValSplit))
	}
	if d.Stride < 0 {
		p = append(p, fmt.Sprintf("data.stride: %d is negative", d.Stride))
	}
	return p
}

// Validate reports the section's problems.
func (t Train) Validate() []string {
	var p []string
	if t.Epochs < 1 {
		p = append(p, fmt.Sprintf("train.epochs: %d must be ≥ 1", t.Epochs))
	}
	if t.BatchSize < 1 {
		p = append(p, fmt.Sprintf("train.batch_size: %d must be ≥ 1", t.BatchSize))
	}
	if t.Threads < 0 {
		p = append(p, fmt.Sprintf("train.threads: %d is negative", t.Threads))
	}
	if t.EvalEvery < 1 {
		p = append(p, fmt.Sprintf("train.eval_every: %d must be ≥ 1", t.EvalEvery))
	}
	if d := t.Device; !(d == "cpu" || d == "cuda" || d == "auto" || strings.HasPrefix(d, "cuda:")) {
		p = append(p, fmt.Sprintf("train.device: %q is not cpu, cuda, cuda:N or auto", d))
	}
	p = append(p, oneOf("train.memory_format", t.MemoryFormat, "auto", "contiguous", "channels_last")...)
	if t.ClipGradNorm < 0 {
		p = append(p, fmt.Sprintf("train.clip_grad_norm: %g is negative (0 turns clipping off)", t.ClipGradNorm))
	}
	if t.EarlyStop < 0 {
		p = append(p, fmt.Sprintf("train.early_stop: %d is negative (0 turns it off)", t.EarlyStop))
	}
	return p
}

// Validate reports the section's problems.
func (o Optimizer) Validate() []string {
	p := oneOf("optimizer.name", o.Name, "sgd", "adam", "adamw", "rmsprop", "galore-adamw")
	if o.GaloreRank < 1 || o.GaloreEvery < 1 || o.GaloreScale <= 0 {
		p = append(p, fmt.Sprintf("optimizer.galore_*: galore_rank %d and galore_every %d must be ≥ 1, galore_scale %g positive", o.GaloreRank, o.GaloreEvery, o.GaloreScale))
	}
	if o.LR <= 0 {
		p = append(p, fmt.Sprintf("optimizer.lr: %g must be positive", o.LR))
	}
	if o.Momentum < 0 || o.Momentum >= 1 {
		p = append(p, fmt.Sprintf("optimizer.momentum: %g is outside [0, 1)", o.Momentum))
	}
	if o.WeightDecay < 0 {
		p = append(p, fmt.Sprintf("optimizer.weight_decay: %g is negative", o.WeightDecay))
	}
	return p
}

// Validate reports the section's problems.
func (s Scheduler) Validate() []string {
	p := oneOf("scheduler.name", s.Name, "none", "sqrt", "linear", "cosine", "multistep")
	if s.MinLR < 0 {
		p = append(p, fmt.Sprintf("scheduler.min_lr: %g is negative", s.MinLR))
	}
	if s.Factor <= 0 || s.Factor > 1 {
		p = append(p, fmt.Sprintf("scheduler.factor: %g is outside (0, 1]", s.Factor))
	}
	if s.WarmupEpochs < 0 {
		p = append(p, fmt.Sprintf("scheduler.warmup_epochs: %d is negative", s.WarmupEpochs))
	}
	return p
}

// Validate checks every section and the combinations between them, and returns one error
// listing every problem, or nil.
func (c Config) Validate() error {
	if p := nonFinite(c); len(p) > 0 { // range checks are meaningless for NaN and Inf
		return &Error{Problems: p}
	}
	var p []string
	p = append(p, c.Model.Validate()...)
	p = append(p, c.LowRank.Validate()...)
	p = append(p, c.Data.Validate()...)
	p = append(p, c.Train.Validate()...)
	p = append(p, c.Optimizer.Validate()...)
	p = append(p, c.Scheduler.Validate()...)
	p = append(p, c.Dist.Validate()...)
	if c.Scheduler.WarmupEpochs >= c.Train.Epochs && c.Scheduler.WarmupEpochs > 0 {
		p = append(p, fmt.Sprintf("scheduler.warmup_epochs: %d leaves no epoch after warm-up (train.epochs %d)", c.Scheduler.WarmupEpochs, c.Train.Epochs))
	}
	p = append(p, oneOf("lowrank.schedule", c.LowRank.Schedule, "none", "warmup", "auto", "relora")...)
	if c.Train.EarlyStop > 0 && c.Data.ValSplit == 0 {
		p = append(p, fmt.Sprintf("train.early_stop: %d epochs of patience on the validation metric needs a validation set: set data.val_split (e.g. 0.1)", c.Train.EarlyStop))
	}
	l := c.LowRank
	if l.Schedule != "none" && c.Model.Method != "low_rank" {
		p = append(p, fmt.Sprintf("lowrank.schedule: %s switches to a low-rank model; set model.method low_rank", l.Schedule))
	}
	if l.Schedule != "none" && c.Model.Init == "spectral" {
		p = append(p, "model.init: spectral initialization does not apply with a warm-up schedule (the switch decomposes the trained model)")
	}
	if l.Schedule == "relora" {
		if l.ReLoRAEvery < 1 || l.ReLoRAReset < 0 || l.ReLoRAReset > 1 || l.ReLoRAWarmup < 0 || l.ReLoRAWarmup >= l.ReLoRAEvery {
			p = append(p, fmt.Sprintf("lowrank.relora_*: relora_every %d must be ≥ 1, relora_reset %g in [0, 1], relora_warmup %d in [0, relora_every)", l.ReLoRAEvery, l.ReLoRAReset, l.ReLoRAWarmup))
		}
		if l.WarmupEpochs < 0 || l.WarmupEpochs >= c.Train.Epochs {
			p = append(p, fmt.Sprintf("lowrank.warmup_epochs: %d full-rank epochs before ReLoRA must be in [0, train.epochs − 1 = %d]", l.WarmupEpochs, c.Train.Epochs-1))
		}
		if c.Optimizer.Name != "adam" && c.Optimizer.Name != "adamw" {
			p = append(p, fmt.Sprintf("optimizer.name: lowrank.schedule relora trains its factors with Adam; set adam or adamw, not %s", c.Optimizer.Name))
		}
	}
	if l.Schedule == "warmup" && (l.WarmupEpochs < 1 || l.WarmupEpochs >= c.Train.Epochs) {
		p = append(p, fmt.Sprintf("lowrank.warmup_epochs: %d must be in [1, train.epochs − 1 = %d]", l.WarmupEpochs, c.Train.Epochs-1))
	}
	if l.Schedule == "auto" {
		if l.AutoWindow < 2 || l.AutoThreshold <= 0 || l.AutoScaler <= 0 {
			p = append(p, "lowrank.auto_*: auto_window must be ≥ 2, auto_threshold and auto_scaler positive")
		}
		if lo, hi := c.AutoMinEpochs(), c.AutoMaxEpochs(); lo > hi || hi >= c.Train.Epochs {
			p = append(p, fmt.Sprintf("lowrank.auto_min_epochs %d and auto_max_epochs %d must satisfy min ≤ max < train.epochs (%d)", lo, hi, c.Train.Epochs))
		}
	}
	if len(p) == 0 {
		return nil
	}
	return &Error{Problems: p}
}

// Error lists every problem found in a configuration.
type Error struct {
	Source   string
	Problems []string
}

func (e *Error) Error() string {
	src := "configuration"
	if e.Source != "" {
		src = e.Source
	}
	return fmt.Sprintf("%s has %d problem(s):\n  %s", src, len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// AutoMinEpochs is the fewest full-rank epochs before an automatic switch (default the window).
func (c Config) AutoMinEpochs() int {
	if c.LowRank.AutoMinEpochs > 0 {
		return c.LowRank.AutoMinEpochs
	}
	return c.LowRank.AutoWindow
}

// AutoMaxEpochs is the most full-rank epochs before the automatic switch is forced (default
// train.epochs − 1).
func (c Config) AutoMaxEpochs() int {
	if c.LowRank.AutoMaxEpochs > 0 {
		return c.LowRank.AutoMaxEpochs
	}
	return c.Train.Epochs - 1
}
