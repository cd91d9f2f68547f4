// Package experiment turns a configuration (package config, a plain schema) into what a command
// needs: the registered model and dataset it names, checked against each other; the dataset's
// splits; the model, from the rank rule or from the ranks a run chose; the regularizer, the
// metric, the memory layout and the distributed settings. config knows no model, dataset or
// layer; the registries (models.Spec, data.Spec) know no configuration; this layer joins them.
package experiment

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// Experiment is a validated configuration with the model and dataset registrations it names.
type Experiment struct {
	Config config.Config
	Model  models.Spec
	Data   data.Spec
}

// New validates cfg, its names and their combination, and returns the experiment. Every
// problem is listed in one *config.Error.
func New(cfg config.Config) (*Experiment, error) {
	var problems []string
	if err := cfg.Validate(); err != nil {
		ce, ok := err.(*config.Error)
		if !ok {
			return nil, err
		}
		problems = ce.Problems
	}
	problems = append(problems, Check(cfg)...)
	if len(problems) > 0 {
		return nil, &config.Error{Problems: problems}
	}
	return of(cfg), nil
}

// of is the experiment of a configuration that passed Validate and Check.
func of(cfg config.Config) *Experiment {
	e := &Experiment{Config: cfg}
	e.Model, _ = models.Lookup(cfg.Model.Name)
	e.Data, _ = data.Lookup(cfg.Data.Dataset)
	return e
}

// Load reads a configuration as config.Load does, with the registries' checks among its
// problems, and returns the experiment.
func Load(src config.Source, env, sets []string) (*Experiment, error) {
	cfg, err := config.Load(src, env, sets, Check) // validated, registries included
	if err != nil {
		return nil, err
	}
	return of(cfg), nil
}

// Check reports what the registries say of cfg: unknown model or dataset names, a dataset the
// model cannot take, and keys that do not apply to the model or dataset.
func Check(cfg config.Config) []string {
	var p []string
	ms, mok := models.Lookup(cfg.Model.Name)
	if !mok {
		p = append(p, fmt.Sprintf("model.name: %q is not one of %s", cfg.Model.Name, strings.Join(models.Names(), ", ")))
	}
	ds, dok := data.Lookup(cfg.Data.Dataset)
	if !dok {
		p = append(p, fmt.Sprintf("data.dataset: %q is not one of %s", cfg.Data.Dataset, strings.Join(data.Names(), ", ")))
	}
	if mok && dok {
		if err := ms.Accepts(Input(ds)); err != nil {
			p = append(p, fmt.Sprintf("data.dataset: model %s takes %v (%s), not %s", ms.Name, err, strings.Join(Datasets(ms), " or "), ds.Name))
		}
	}
	if mok && cfg.Model.Width != 1 && cfg.Model.Width > 0 && !ms.Widthable {
		p = append(p, fmt.Sprintf("model.width: %g applies to %s only, not %s; remove it", cfg.Model.Width, strings.Join(widthable(), " and "), ms.Name))
	}
	if dok && cfg.Data.Stride > 1 && !ds.Strided {
		p = append(p, fmt.Sprintf("data.stride: applies to %s only, not %s; remove it", strings.Join(strided(), " and "), ds.Name))
	}
	return p
}

// Input is what a model built for the dataset ds takes.
func Input(ds data.Spec) models.Input {
	return models.Input{Text: ds.Text, Channels: ds.Channels, Size: ds.Size, Vocab: ds.Vocab, SeqLen: ds.SeqLen,
		FillMask: ds.FillMask, Classes: ds.Classes}
}

// Datasets lists the registered datasets the model takes.
func Datasets(ms models.Spec) []string {
	var out []string
	for _, ds := range data.Specs() {
		if ms.Accepts(Input(ds)) == nil {
			out = append(out, ds.Name)
		}
	}
	return out
}

func widthable() []string {
	var out []string
	for _, n := range models.Names() {
		if s, _ := models.Lookup(n); s.Widthable {
			out = append(out, n)
		}
	}
	return out
}

func strided() []string {
	var out []string
	for _, ds := range data.Specs() {
		if ds.Strided {
			out = append(out, ds.Name)
		}
	}
	return out
}

// ModelConfig converts the model and lowrank sections into models.Config for the dataset's input.
func (e *Experiment) ModelConfig() (models.Config, error) {
	c := e.Config
	method, err := models.ParseMethod(c.Model.Method)
	if err != nil {
		return models.Config{}, err
	}
	compat, err := models.ParseCompat(c.Model.Compat)
	if err != nil {
		return models.Config{}, err
	}
	rule, err := lowrank.ParseRankRule(c.LowRank.RankRule)
	if err != nil {
		return models.Config{}, err
	}
	scheme, err := lowrank.ParseConvScheme(c.LowRank.ConvScheme)
	if err != nil {
		return models.Config{}, err
	}
	impl, err := lowrank.ParseLSTMImpl(c.LowRank.LSTMImpl)
	if err != nil {
		return models.Config{}, err
	}
	if compat == models.Reference {
		// The reference's layers: the spatial scheme and the ratio rule, whatever a config built
		// for the correct default (the cifar10 configs' channel scheme at budget 0.4) says.
		scheme = lowrank.Spatial
		if rule == lowrank.BudgetRule {
			rule = lowrank.RatioRule
		}
	}
	return models.Config{Method: method, Compat: compat, Scheme: scheme, LSTMImpl: impl, Classes: e.Data.Classes,
		InChannels: e.Data.Channels, InSize: e.Data.Size,
		Rank:        lowrank.Rank{Rule: rule, Ratio: c.LowRank.Ratio, Rank: c.LowRank.Rank, Budget: c.LowRank.Budget},
		HybridStart: c.Model.HybridStart, HybridBlock: c.Model.HybridBlock, HybridLayer: c.Model.HybridLayer, Width: c.Model.Width}, nil
}

// Build constructs the configured model under p; method ("original" or "low_rank") overrides
// model.method when not empty.
func (e *Experiment) Build(p *nn.Path, method string) (models.Model, error) {
	return e.build(p, method, nil)
}

// BuildRanks constructs the low-rank model with per-layer ranks (dense name → rank; 0 keeps
// the layer dense), as an automatic rank selection chose them.
func (e *Experiment) BuildRanks(p *nn.Path, ranks map[string]int64) (models.Model, error) {
	return e.build(p, "low_rank", ranks)
}

func (e *Experiment) build(p *nn.Path, method string, ranks map[string]int64) (models.Model, error) {
	x := *e
	if method != "" {
		x.Config.Model.Method = method
	}
	mc, err := x.ModelConfig()
	if err != nil {
		return nil, err
	}
	mc.Ranks = ranks
	return e.Model.Build(p, Input(e.Data), mc)
}

// Regularizer is the lowrank section's regularizer.
func (e *Experiment) Regularizer() lowrank.Regularizer {
	l := e.Config.LowRank
	var r lowrank.Regularizer
	for _, t := range strings.Split(l.Regularizer, "-") {
		switch t {
		case "frobenius", "fd":
			r.Frobenius = l.Frobenius
		case "kronecker", "kd":
			r.Kronecker = l.Kronecker
		case "l2":
			r.L2 = l.L2
		}
	}
	return r
}

// Metric is what the run reports on its test set: the dataset's ("accuracy" or "perplexity").
func (e *Experiment) Metric() string { return e.Data.Metric }

// ChannelsLast resolves train.memory_format: whether the model's 4-d weights and the image
// batches are stored channels_last (NHWC). auto picks what measured faster on CPU with
// libtorch 1.13 and oneDNN (docs/performance.md's memory-format table, `go run ./bench/compare -sections
// layout`): channels_last for every low-rank convolutional model, with either scheme (0.72–0.89×
// the contiguous step: oneDNN runs the thin factor convolutions in NHWC without reordering
// between them), and for the dense CNN and ResNet18 (0.86×, 0.97×); contiguous for the dense
// models registered DenseContiguous, the VGGs (0.99× there, 1.03× in an earlier run: no gain).
func (e *Experiment) ChannelsLast() bool {
	if !e.Model.Convolutional {
		return false
	}
	switch e.Config.Train.MemoryFormat {
	case "channels_last":
		return true
	case "contiguous":
		return false
	}
	dense := e.Config.Model.Method != "low_rank"
	return !(dense && e.Model.DenseContiguous)
}

// DataOptions are the data section as data.Open takes it, with the batches' layout.
func (e *Experiment) DataOptions() data.Options {
	d := e.Config.Data
	return data.Options{Dir: d.Dir, Limit: d.Limit, TestLimit: d.TestLimit, Stride: d.Stride, ChannelsLast: e.ChannelsLast()}
}

// Open loads the dataset's splits as the configuration selects them and checks their images
// against what the model is built for.
func (e *Experiment) Open(o data.Options) (data.Splits, error) {
	s, err := data.Open(e.Data.Name, o)
	if err != nil {
		return s, err
	}
	return s, e.CheckData(s)
}

// CheckData compares the images of the opened dataset with what the model is built for (the
// dataset's registered channels and side), before anything trains: a folder of MNIST-format
// files with 32×32 images, say, otherwise failed at the first step with a libtorch backtrace.
func (e *Experiment) CheckData(s data.Splits) error {
	spec := e.Data
	if spec.Size == 0 {
		return nil
	}
	for _, split := range []struct {
		name string
		src  data.Source
	}{{"training", s.Train}, {"test", s.Test}} {
		src := split.src
		if sub, ok := src.(data.Subset); ok { // data.test_limit, data.val_split
			src = sub.Source
		}
		im, ok := src.(*data.Images)
		if !ok {
			continue
		}
		if im.C != spec.Channels || im.H != spec.Size || im.W != spec.Size {
			dir := e.Config.Data.Dir
			if dir == "" {
				dir = spec.DefaultDir()
			}
			return fmt.Errorf("data.dataset %s: the %s images in %s are %d×%d×%d (channels×height×width); %s models are built for %d×%d×%d: point data.dir at %s files, or choose the dataset these are",
				spec.Name, split.name, dir, im.C, im.H, im.W, e.Model.Name, spec.Channels, spec.Size, spec.Size, spec.Name)
		}
	}
	return nil
}

// DistSettings are the dist section as package dist takes it.
func (e *Experiment) DistSettings() dist.Settings {
	d := e.Config.Dist
	return dist.Settings{Backend: d.Backend, Timeout: d.Timeout, BucketMB: d.BucketMB, Iface: d.Iface,
		AllReduce: d.AllReduce, PowerSGDRank: d.PowerSGDRank, PowerSGDStart: d.PowerSGDStart}
}
