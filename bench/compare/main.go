// Command compare times lowrank's training steps side by side with PyTorch's on the same machine
// and threads, and writes the table the README shows.
//
//	go run ./bench/compare [-rounds 5] [-reference PATH] [-readme docs/performance.md,docs/distributed.md]
//
// For every model and method it alternates `bin/lowrank bench --json` (at its defaults, those of
// the built-in cifar10 low-rank configs) and bench/torch_bench.py (Debian's python3-torch, the
// same libtorch; the same modules, rank rule and memory layout as the Go side resolved, under
// the allocator bin/lowrank links, by LD_PRELOAD) for -rounds rounds, each a fresh process
// timing -steps steps after -warmup, and reports per model the Go/PyTorch ratio of the median
// step times (min, median and max over rounds). With -reference PATH, a checkout of
// Sherrylife/Low-rank_Model_Training, each round also times the reference's own classes
// (bench/reference_bench.py imports them from PATH; nothing is copied) as its users run them.
// It then checks the low-rank/full step-time ratio against the FLOP ratio and the multiply-add
// rate (VGG11, VGG16, ResNet18; both schemes), the low-rank LSTM (reconstructed and factored)
// against the dense one, and resident memory after a tenth of 5,000 steps and after all of
// them. -sections layout times every convolutional model contiguous and channels_last (the
// figures behind train.memory_format: auto), and -sections alloc the linked allocator against
// glibc's malloc and jemalloc. With -sections ddp it times data-parallel steps on this machine: `lowrank bench --nproc
// 2` against bench/torch_ddp.py (PyTorch DDP over Gloo), alternating, for VGG11 and ResNet18 full
// and low-rank, with the gradient bytes all-reduced per step. With -readme it replaces the text
// between "<!-- bench:begin -->" and "<!-- bench:end -->" with the tables (and the layout, alloc
// and ddp sections' between their own "<!-- NAME:begin -->" markers), in whichever of the
// listed files holds them.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/lowrank-dev/lowrank/internal/stats"
	"github.com/lowrank-dev/lowrank/internal/sysinfo"
	"github.com/lowrank-dev/lowrank/models"
)

type result struct {
	Model           string  `json:"model"`
	Method          string  `json:"method"`
	Batch           int     `json:"batch"`
	Threads         int     `json:"threads"`
	Params          int64   `json:"params"`
	FLOPsPerExample int64   `json:"flops_per_example"`
	StepMedianMs    float64 `json:"step_median_ms"`
	GFLOPS          float64 `json:"gflops"`
	InferMs         float64 `json:"infer_ms"`
	Infer1Ms        float64 `json:"infer1_ms"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	RSSTenthMB      float64 `json:"rss_tenth_mb"`
	RSSLastMB       float64 `json:"rss_last_mb"`
	Torch           string  `json:"torch"`
	// The low-rank settings and layout the Go side resolved; the PyTorch twin is run with them.
	ConvScheme   string  `json:"conv_scheme"`
	RankRule     string  `json:"rank_rule"`
	Ratio        float64 `json:"ratio"`
	Budget       float64 `json:"budget"`
	MemoryFormat string  `json:"memory_format"`
}

type options struct {
	bin, python, script string
	reference           string // a checkout of the reference implementation, for its column
	allocLib            string // the allocator library bin/lowrank runs with (PyTorch gets it too)
	allocName           string
	layoutModels        []string
	allocModels         []string
	memoryModels        []string
	rounds, steps       int
	warmup, threads     int
	models              []string
	batch               map[string]int
	sections            map[string]bool
	ddpModels           []string
	ddpBatch, nproc     int
}

func main() {
	var o options
	var models, readme, batches string
	flag.StringVar(&o.bin, "bin", "bin/lowrank", "the lowrank binary")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with torch (Debian's python3-torch)")
	flag.StringVar(&o.script, "script", "bench/torch_bench.py", "the PyTorch side")
	flag.StringVar(&o.reference, "reference", "", "a checkout of Sherrylife/Low-rank_Model_Training: adds a column timing its own classes (bench/reference_bench.py runs them from there)")
	layoutModels := flag.String("layout-models", "cnn,vgg11,resnet18", "models of the layout section")
	allocModels := flag.String("alloc-models", "vgg11,resnet18", "models of the alloc section")
	memoryModels := flag.String("memory-models", "mlp,cnn", "models of the memory section")
	flag.IntVar(&o.rounds, "rounds", 5, "alternating rounds per model and method")
	flag.IntVar(&o.steps, "steps", 10, "timed steps per process")
	flag.IntVar(&o.warmup, "warmup", 3, "untimed steps per process")
	flag.IntVar(&o.threads, "threads", runtime.NumCPU(), "intra-op threads on both sides")
	flag.StringVar(&models, "models", "mlp,cnn,vgg11,vgg16,resnet18,lstm,transformer", "models")
	flag.StringVar(&batches, "batch", "128,transformer=32", "batch size, and per-model overrides")
	flag.StringVar(&readme, "readme", "", "rewrite the sections' tables between their markers in these files (comma-separated; docs/performance.md,docs/distributed.md)")
	sections := flag.String("sections", "steps,lowrank,lstm,memory", "what to measure: steps (Go vs PyTorch, and the reference with -reference), lowrank (low-rank/full vs FLOPs; needs steps), lstm, memory, layout (contiguous vs channels_last per model and scheme), alloc (the linked allocator vs glibc and jemalloc), ddp (data-parallel Go vs PyTorch DDP)")
	ddpModels := flag.String("ddp-models", "vgg11,resnet18", "models of the ddp section")
	flag.IntVar(&o.ddpBatch, "ddp-batch", 64, "batch per process in the ddp section")
	flag.IntVar(&o.nproc, "nproc", 2, "processes in the ddp section")
	quick := flag.Bool("quick", false, "one round of one step per model (proves the comparison runs; CI)")
	flag.Parse()
	o.models = strings.Split(models, ",")
	o.ddpModels = strings.Split(*ddpModels, ",")
	o.layoutModels, o.allocModels = strings.Split(*layoutModels, ","), strings.Split(*allocModels, ",")
	o.memoryModels = strings.Split(*memoryModels, ",")
	if o.reference != "" {
		if _, err := os.Stat(o.reference + "/model/low_rank_base.py"); err != nil {
			fail(fmt.Errorf("-reference %s is not a checkout of Sherrylife/Low-rank_Model_Training (no model/low_rank_base.py)", o.reference))
		}
	}
	var doc struct {
		Allocator        string `json:"allocator"`
		AllocatorLibrary string `json:"allocator_library"`
	}
	if err := runJSON(o.bin, []string{"doctor", "--json"}, &doc); err != nil {
		fail(err)
	}
	o.allocName, o.allocLib = doc.Allocator, doc.AllocatorLibrary
	o.sections = map[string]bool{}
	for _, s := range strings.Split(*sections, ",") {
		o.sections[s] = true
	}
	o.batch = map[string]int{}
	for _, b := range strings.Split(batches, ",") {
		k, v, ok := strings.Cut(b, "=")
		if !ok {
			k, v = "", b
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			fail(fmt.Errorf("-batch %q: %v", batches, err))
		}
		o.batch[k] = n
	}
	if *quick {
		o.rounds, o.steps, o.warmup = 1, 1, 0
		for k := range o.batch {
			o.batch[k] = 4
		}
	}
	// Each section's tables, spliced with -readme between its own markers, so that a section can
	// be measured again alone.
	var md, layoutMD, allocMD, ddpMD bytes.Buffer
	if err := run(o, &md, *quick); err != nil {
		fail(err)
	}
	if o.sections["layout"] {
		if err := layouts(o, &layoutMD); err != nil {
			fail(err)
		}
	}
	if o.sections["alloc"] {
		if err := allocators(o, &allocMD); err != nil {
			fail(err)
		}
	}
	if o.sections["ddp"] {
		if err := ddp(o, &ddpMD); err != nil {
			fail(err)
		}
	}
	fmt.Print(md.String(), layoutMD.String(), allocMD.String(), ddpMD.String())
	if readme == "" {
		return
	}
	for _, sec := range []struct {
		section, marker string
		text            *bytes.Buffer
	}{{"steps", "bench", &md}, {"layout", "layout", &layoutMD}, {"alloc", "alloc", &allocMD}, {"ddp", "ddp", &ddpMD}} {
		if o.sections[sec.section] {
			if err := spliceAny(strings.Split(readme, ","), sec.marker, sec.text.String()); err != nil {
				fail(err)
			}
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

func (o options) batchOf(model string) int {
	if b, ok := o.batch[model]; ok {
		return b
	}
	return o.batch[""]
}

// goBench runs one `lowrank bench` process.
func (o options) goBench(model, method string, batch, steps, warmup int, extra ...string) (result, error) {
	return o.goBenchEnv(nil, model, method, batch, steps, warmup, extra...)
}

// goBenchEnv runs one `lowrank bench` process with env added to its environment.
func (o options) goBenchEnv(env []string, model, method string, batch, steps, warmup int, extra ...string) (result, error) {
	args := append([]string{"bench", "--json", "--models", model, "--methods", method, "--batch", strconv.Itoa(batch),
		"--steps", strconv.Itoa(steps), "--warmup", strconv.Itoa(warmup), "--threads", strconv.Itoa(o.threads)}, extra...)
	var rs []result
	if err := runJSONEnv(env, o.bin, args, &rs); err != nil {
		return result{}, err
	}
	if len(rs) != 1 {
		return result{}, fmt.Errorf("%s bench printed %d results", o.bin, len(rs))
	}
	return rs[0], nil
}

// torchBench runs one bench/torch_bench.py process: the twin of the Go result g (the same
// scheme, rank rule and layout), under the allocator bin/lowrank runs with.
func (o options) torchBench(g result, batch int, extra ...string) (result, error) {
	args := append([]string{o.script, "--model", g.Model, "--method", g.Method, "--batch", strconv.Itoa(batch),
		"--steps", strconv.Itoa(o.steps), "--warmup", strconv.Itoa(o.warmup), "--threads", strconv.Itoa(o.threads)}, extra...)
	if g.ConvScheme != "" {
		args = append(args, "--conv-scheme", g.ConvScheme)
	}
	if g.RankRule != "" {
		args = append(args, "--rank-rule", g.RankRule, "--budget", strconv.FormatFloat(g.Budget, 'g', -1, 64))
	}
	if g.MemoryFormat != "" {
		args = append(args, "--memory-format", g.MemoryFormat)
	}
	var r result
	return r, runJSONEnv(o.preload(), o.python, args, &r)
}

// preload is the environment that gives a Python process bin/lowrank's allocator.
func (o options) preload() []string {
	if o.allocLib == "" || o.allocName == "glibc" {
		return nil
	}
	return []string{"LD_PRELOAD=" + o.allocLib}
}

// hasReference reports whether the reference implementation has the model (its CNN, MLP, LSTM
// and Transformer are built differently from the twins, so only these are compared).
func hasReference(model string) bool {
	switch model {
	case "vgg11", "vgg16", "resnet18", "resnet101":
		return true
	}
	return false
}

// referenceBench runs one bench/reference_bench.py process: the reference's own class, as its
// users run it (its layout, glibc's malloc).
func (o options) referenceBench(model, method string, batch int) (result, error) {
	script := strings.Replace(o.script, "torch_bench.py", "reference_bench.py", 1)
	args := []string{script, "--reference", o.reference, "--model", model, "--method", method, "--batch", strconv.Itoa(batch),
		"--steps", strconv.Itoa(o.steps), "--warmup", strconv.Itoa(o.warmup), "--threads", strconv.Itoa(o.threads)}
	var r result
	return r, runJSON(o.python, args, &r)
}

func runJSON(name string, args []string, v any) error { return runJSONEnv(nil, name, args, v) }

func runJSONEnv(env []string, name string, args []string, v any) error {
	cmd := exec.Command(name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s %s printed %q: %v", name, strings.Join(args, " "), out, err)
	}
	return nil
}

// pair is one model and method measured on both sides over the rounds.
type pair struct {
	model, method string
	batch         int
	goMs, pyMs    []float64
	refMs         []float64 // the reference's own class, with -reference
	ratios        []float64
	last          result // the last Go result (params, FLOPs, memory)
	pyParams      int64
}

func run(o options, md *bytes.Buffer, quick bool) error {
	if !o.sections["steps"] {
		return nil
	}
	var pairs []*pair
	for _, m := range o.models {
		for _, method := range []string{"original", "low_rank"} {
			pairs = append(pairs, &pair{model: m, method: method, batch: o.batchOf(m)})
		}
	}
	var torchVersion string
	for round := 0; round < o.rounds; round++ {
		for _, p := range pairs {
			g, err := o.goBench(p.model, p.method, p.batch, o.steps, o.warmup)
			if err != nil {
				return err
			}
			t, err := o.torchBench(g, p.batch)
			if err != nil {
				return err
			}
			if g.Params != t.Params {
				return fmt.Errorf("%s %s: Go counts %d parameters, PyTorch %d: the modules differ", p.model, p.method, g.Params, t.Params)
			}
			p.goMs, p.pyMs = append(p.goMs, g.StepMedianMs), append(p.pyMs, t.StepMedianMs)
			p.ratios = append(p.ratios, g.StepMedianMs/t.StepMedianMs)
			p.last, p.pyParams, torchVersion = g, t.Params, t.Torch
			ref := ""
			if o.reference != "" && hasReference(p.model) {
				r, err := o.referenceBench(p.model, p.method, p.batch)
				if err != nil {
					return err
				}
				p.refMs = append(p.refMs, r.StepMedianMs)
				ref = fmt.Sprintf(", reference %.1f ms", r.StepMedianMs)
			}
			fmt.Fprintf(os.Stderr, "round %d %s %s: Go %.1f ms, PyTorch %.1f ms%s\n", round+1, p.model, p.method, g.StepMedianMs, t.StepMedianMs, ref)
		}
	}
	cmdline := "go run ./bench/compare -readme docs/performance.md,docs/distributed.md"
	refNote := ""
	if o.reference != "" {
		cmdline = "go run ./bench/compare -reference PATH -readme docs/performance.md,docs/distributed.md"
		refNote = " The reference column times the reference implementation's own classes (LowRankVGG11, LowRankResNet18, ... from a checkout " +
			"of Sherrylife/Low-rank_Model_Training at PATH, run by bench/reference_bench.py, ratio 0.2, its spatial scheme, contiguous layout, glibc's malloc: as its users run it) " +
			"on the same batch, threads and step, in the same rounds."
	}
	fmt.Fprintf(md, "Measured by `%s` on %s (%d cores), %d intra-op threads on all sides, "+
		"libtorch 1.13 (PyTorch %s, Debian) with OpenBLAS; %d rounds, each side a fresh process timing %d SGD steps after %d warm-up steps, "+
		"the sides alternating. Step: batch to tensors, forward, cross-entropy, backward, SGD (momentum 0.9, weight decay 5e-4), "+
		"loss and predictions read back. Go runs `lowrank bench`'s defaults (those of the built-in cifar10 low-rank configs: conv scheme, rank rule, memory format) "+
		"with its linked allocator (%s); the PyTorch twin (bench/torch_bench.py) runs the same modules in the same layout under the same allocator (LD_PRELOAD).%s\n\n",
		cmdline, sysinfo.CPUModel(), runtime.NumCPU(), o.threads, torchVersion, o.rounds, o.steps, o.warmup, o.allocName, refNote)
	md.WriteString("| model | method | scheme, layout | batch | parameters | Go step ms (median) | PyTorch step ms | Go/PyTorch (min / median / max) |")
	sep := "|---|---|---|---:|---:|---:|---:|---|"
	if o.reference != "" {
		md.WriteString(" reference step ms | Go/reference |")
		sep += "---:|---:|"
	}
	md.WriteString(" Go GFLOP/s | Go inference ms (batch / 1) | Go peak RSS MB |\n" + sep + "---:|---:|---:|\n")
	for _, p := range pairs {
		lo, med, hi := stats.Summary(p.ratios)
		fmt.Fprintf(md, "| %s | %s | %s | %d | %d | %.1f | %.1f | %.2f / **%.2f** / %.2f |", p.model, p.method, setting(p.last), p.batch,
			p.last.Params, stats.Median(p.goMs), stats.Median(p.pyMs), lo, med, hi)
		if o.reference != "" {
			if len(p.refMs) > 0 {
				fmt.Fprintf(md, " %.1f | **%.2f** |", stats.Median(p.refMs), stats.Median(p.goMs)/stats.Median(p.refMs))
			} else {
				md.WriteString(" – | – |")
			}
		}
		fmt.Fprintf(md, " %.1f | %.1f / %.2f | %.0f |\n", p.last.GFLOPS, p.last.InferMs, p.last.Infer1Ms, p.last.PeakRSSMB)
	}
	if o.sections["lowrank"] {
		if err := lowRankRatios(o, md, pairs); err != nil {
			return err
		}
	}
	if o.sections["lstm"] {
		if err := lstmImpls(o, md); err != nil {
			return err
		}
	}
	if o.sections["memory"] {
		return memory(o, md, quick)
	}
	return nil
}

// setting describes a Go result's low-rank scheme and layout, e.g. "channel, budget 0.4,
// channels_last" (the layout alone for a model without factorized convolutions).
func setting(r result) string {
	if ms, _ := models.Lookup(r.Model); r.Method != "low_rank" || !ms.Convolutional {
		return r.MemoryFormat
	}
	ratio := r.Ratio
	if ratio == 0 {
		ratio = 0.2 // lowrank's default
	}
	rule := fmt.Sprintf("ratio %g", ratio)
	if r.RankRule == "budget" {
		rule = fmt.Sprintf("budget %g", r.Budget)
	}
	return fmt.Sprintf("%s, %s, %s", r.ConvScheme, rule, r.MemoryFormat)
}

// lowRankRatios compares each low-rank model with its dense one: the step-time ratio against the
// FLOP ratio, and the multiply-add rate (GFLOP/s) reached, for the default scheme (from the
// rounds above) and the other scheme (measured here, in its auto layout).
func lowRankRatios(o options, md *bytes.Buffer, pairs []*pair) error {
	byKey := map[string]*pair{}
	for _, p := range pairs {
		byKey[p.model+" "+p.method] = p
	}
	md.WriteString("\nLow-rank against full-rank (Go, medians over the rounds; targets: time ratio ≤ 1.15 × FLOP ratio, and the low-rank model's " +
		"multiply-add rate ≥ 0.75 × the dense one's):\n\n")
	md.WriteString("| model | low-rank setting | FLOP ratio | step-time ratio | time ratio / FLOP ratio | GFLOP/s low-rank / dense | rate ratio |\n|---|---|---:|---:|---:|---:|---:|\n")
	row := func(m string, full *pair, low result, lowMs float64) {
		fr := float64(low.FLOPsPerExample) / float64(full.last.FLOPsPerExample)
		tr := lowMs / stats.Median(full.goMs)
		denseRate := 3 * float64(full.last.FLOPsPerExample) * float64(full.batch) / stats.Median(full.goMs) / 1e6
		lowRate := 3 * float64(low.FLOPsPerExample) * float64(full.batch) / lowMs / 1e6
		fmt.Fprintf(md, "| %s | %s | %.3f | %.3f | %.2f | %.1f / %.1f | **%.2f** |\n", m, setting(low), fr, tr, tr/fr, lowRate, denseRate, lowRate/denseRate)
	}
	for _, m := range []string{"vgg11", "vgg16", "resnet18"} {
		full, low := byKey[m+" original"], byKey[m+" low_rank"]
		if full == nil || low == nil {
			continue
		}
		row(m, full, low.last, stats.Median(low.goMs))
		other := "channel"
		if low.last.ConvScheme == "channel" {
			other = "spatial"
		}
		var ms []float64
		var res result
		for round := 0; round < o.rounds; round++ {
			r, err := o.goBench(m, "low_rank", full.batch, o.steps, o.warmup, "--conv-scheme", other)
			if err != nil {
				return err
			}
			ms, res = append(ms, r.StepMedianMs), r
		}
		row(m, full, res, stats.Median(ms))
	}
	return nil
}

// layouts times every convolutional model in both layouts: dense, and low-rank with each scheme,
// alternating contiguous and channels_last round by round; the figures train.memory_format's
// auto rule (experiment.Experiment.ChannelsLast) follows.
func layouts(o options, md *bytes.Buffer) error {
	type cell struct {
		model, method, scheme string
		ms                    map[string][]float64
	}
	var cells []*cell
	for _, m := range o.layoutModels {
		cells = append(cells, &cell{model: m, method: "original", scheme: "spatial", ms: map[string][]float64{}})
		for _, sc := range []string{"spatial", "channel"} {
			cells = append(cells, &cell{model: m, method: "low_rank", scheme: sc, ms: map[string][]float64{}})
		}
	}
	formats := []string{"contiguous", "channels_last"}
	for round := 0; round < o.rounds; round++ {
		for _, c := range cells {
			for _, f := range formats {
				r, err := o.goBench(c.model, c.method, o.batchOf(c.model), o.steps, o.warmup, "--conv-scheme", c.scheme, "--memory-format", f)
				if err != nil {
					return err
				}
				c.ms[f] = append(c.ms[f], r.StepMedianMs)
				fmt.Fprintf(os.Stderr, "layout round %d %s %s %s %s: %.1f ms\n", round+1, c.model, c.method, c.scheme, f, r.StepMedianMs)
			}
		}
	}
	fmt.Fprintf(md, "Memory format (`go run ./bench/compare -sections layout -readme docs/performance.md,docs/distributed.md`, Go, %d rounds alternating the layouts, medians of each round's %d steps after %d, batch 128, the rank rule of `lowrank bench`'s defaults, the linked allocator):\n\n", o.rounds, o.steps, o.warmup)
	md.WriteString("| model | method | scheme | contiguous ms | channels_last ms | channels_last / contiguous |\n|---|---|---|---:|---:|---:|\n")
	for _, c := range cells {
		a, b := stats.Median(c.ms["contiguous"]), stats.Median(c.ms["channels_last"])
		scheme := c.scheme
		if c.method == "original" {
			scheme = "–"
		}
		fmt.Fprintf(md, "| %s | %s | %s | %.1f | %.1f | **%.2f** |\n", c.model, c.method, scheme, a, b, b/a)
	}
	return nil
}

// allocators times Go steps under the linked allocator, glibc's malloc and jemalloc (each put
// first by LD_PRELOAD), alternating, for the alloc models, dense and low-rank at the defaults.
func allocators(o options, md *bytes.Buffer) error {
	kinds := []struct{ name, lib string }{{o.allocName + " (linked)", ""}, {"glibc", "libc.so.6"}, {"jemalloc", "libjemalloc.so.2"}}
	for _, k := range kinds[1:] {
		var doc struct {
			Allocator string `json:"allocator"`
		}
		if err := runJSONEnv([]string{"LD_PRELOAD=" + k.lib}, o.bin, []string{"doctor", "--json"}, &doc); err != nil || doc.Allocator != k.name {
			return fmt.Errorf("LD_PRELOAD=%s does not give bin/lowrank %s's malloc (it reports %q): install it (Debian: libjemalloc2; ./install-libtorch.sh --test does)", k.lib, k.name, doc.Allocator)
		}
	}
	type cell struct {
		model, method string
		ms            [][]float64
	}
	var cells []*cell
	for _, m := range o.allocModels {
		for _, method := range []string{"original", "low_rank"} {
			cells = append(cells, &cell{model: m, method: method, ms: make([][]float64, len(kinds))})
		}
	}
	for round := 0; round < o.rounds; round++ {
		for _, c := range cells {
			for i, k := range kinds {
				var env []string
				if k.lib != "" {
					env = []string{"LD_PRELOAD=" + k.lib}
				}
				r, err := o.goBenchEnv(env, c.model, c.method, o.batchOf(c.model), o.steps, o.warmup)
				if err != nil {
					return fmt.Errorf("%s under %s: %w", c.model, k.name, err)
				}
				c.ms[i] = append(c.ms[i], r.StepMedianMs)
				fmt.Fprintf(os.Stderr, "alloc round %d %s %s %s: %.1f ms\n", round+1, c.model, c.method, k.name, r.StepMedianMs)
			}
		}
	}
	fmt.Fprintf(md, "Allocator (`go run ./bench/compare -sections alloc -readme docs/performance.md,docs/distributed.md`, Go, %d rounds alternating, medians, step time relative to glibc's malloc):\n\n", o.rounds)
	md.WriteString("| model | method |")
	sep := "|---|---|"
	for _, k := range kinds {
		md.WriteString(" " + k.name + " ms |")
		sep += "---:|"
	}
	md.WriteString(" linked / glibc | jemalloc / glibc |\n" + sep + "---:|---:|\n")
	for _, c := range cells {
		fmt.Fprintf(md, "| %s | %s |", c.model, c.method)
		for i := range kinds {
			fmt.Fprintf(md, " %.1f |", stats.Median(c.ms[i]))
		}
		g := stats.Median(c.ms[1])
		fmt.Fprintf(md, " **%.2f** | %.2f |\n", stats.Median(c.ms[0])/g, stats.Median(c.ms[2])/g)
	}
	return nil
}

// lstmImpls times the dense LSTM and both low-rank implementations.
func lstmImpls(o options, md *bytes.Buffer) error {
	b := o.batchOf("lstm")
	var dense, rec, fac []float64
	for round := 0; round < o.rounds; round++ {
		for _, c := range []struct {
			method, impl string
			into         *[]float64
		}{{"original", "reconstructed", &dense}, {"low_rank", "reconstructed", &rec}, {"low_rank", "factored", &fac}} {
			r, err := o.goBench("lstm", c.method, b, o.steps, o.warmup, "--lstm-impl", c.impl)
			if err != nil {
				return err
			}
			*c.into = append(*c.into, r.StepMedianMs)
		}
	}
	d := stats.Median(dense)
	fmt.Fprintf(md, "\nLSTM (Go, batch %d, 80 characters, medians): dense %.1f ms; low-rank `reconstructed` %.1f ms (%.2f× dense; target ≤ 1.2×); "+
		"low-rank `factored` %.1f ms (%.2f×).\n", b, d, stats.Median(rec), stats.Median(rec)/d, stats.Median(fac), stats.Median(fac)/d)
	return nil
}

// memory runs 5,000 Adam steps of the low-rank MLP and compares resident memory after 500.
func memory(o options, md *bytes.Buffer, quick bool) error {
	steps := 5000
	if quick {
		steps = 20
	}
	md.WriteString("\nMemory (resident set after a tenth of the steps and after all, Adam, batch 128, the linked allocator; target within 5%):")
	for _, m := range o.memoryModels {
		r, err := o.goBench(m, "low_rank", 128, steps, 0, "--optimizer", "adam")
		if err != nil {
			return err
		}
		fmt.Fprintf(md, " %d steps of the low-rank %s (%s): %.1f MB after %d, %.1f MB after %d (%+.1f%%);", steps, m, r.MemoryFormat,
			r.RSSTenthMB, steps/10, r.RSSLastMB, steps, 100*(r.RSSLastMB-r.RSSTenthMB)/r.RSSTenthMB)
	}
	md.Truncate(md.Len() - 1)
	md.WriteString(".\n")
	return nil
}

// ddpResult is one data-parallel measurement, from either side.
type ddpResult struct {
	Params            int64   `json:"params"`
	Threads           int     `json:"threads"`
	StepMedianMs      float64 `json:"step_median_ms"`
	SamplesPerSec     float64 `json:"samples_per_sec"`
	AllReduceBytes    int64   `json:"allreduce_bytes"`
	AllReduceMedianMs float64 `json:"allreduce_median_ms"`
	Overlapped        int     `json:"allreduce_overlapped_buckets"`
	Torch             string  `json:"torch"`
}

// ddp alternates `lowrank bench --nproc` and bench/torch_ddp.py per model and method.
func ddp(o options, md *bytes.Buffer) error {
	type row struct {
		model, method   string
		goMs, pyMs, arr []float64
		otherMs         []float64 // the other all-reduce timing than the default's
		ratios          []float64
		last            ddpResult
	}
	var rows []*row
	for _, m := range o.ddpModels {
		for _, method := range []string{"original", "low_rank"} {
			rows = append(rows, &row{model: m, method: method})
		}
	}
	script := strings.Replace(o.script, "torch_bench.py", "torch_ddp.py", 1)
	var torchVersion, mode string
	threads := 0
	for round := 0; round < o.rounds; round++ {
		for _, r := range rows {
			var gs, ns []ddpResult
			args := []string{"bench", "--json", "--nproc", strconv.Itoa(o.nproc), "--models", r.model, "--methods", r.method,
				"--batch", strconv.Itoa(o.ddpBatch), "--steps", strconv.Itoa(o.steps), "--warmup", strconv.Itoa(o.warmup)}
			if err := runJSON(o.bin, args, &gs); err != nil { // the default: auto
				return err
			}
			if len(gs) != 1 {
				return fmt.Errorf("%s bench printed %d results", o.bin, len(gs))
			}
			defaultMode, other := "after_backward", "during_backward"
			if gs[0].Overlapped > 0 {
				defaultMode, other = other, defaultMode
			}
			if err := runJSON(o.bin, append(args, "--allreduce", other), &ns); err != nil {
				return err
			}
			if len(ns) != 1 {
				return fmt.Errorf("%s bench printed %d results", o.bin, len(ns))
			}
			r.otherMs = append(r.otherMs, ns[0].StepMedianMs)
			mode = defaultMode
			var t ddpResult
			if err := runJSON(o.python, []string{script, "--model", r.model, "--method", r.method, "--batch", strconv.Itoa(o.ddpBatch),
				"--nproc", strconv.Itoa(o.nproc), "--steps", strconv.Itoa(o.steps), "--warmup", strconv.Itoa(o.warmup)}, &t); err != nil {
				return err
			}
			g := gs[0]
			if g.Params != t.Params || g.AllReduceBytes != t.AllReduceBytes {
				return fmt.Errorf("%s %s: Go %d parameters (%d bytes all-reduced), PyTorch %d (%d)", r.model, r.method, g.Params, g.AllReduceBytes, t.Params, t.AllReduceBytes)
			}
			r.goMs, r.pyMs, r.arr = append(r.goMs, g.StepMedianMs), append(r.pyMs, t.StepMedianMs), append(r.arr, g.AllReduceMedianMs)
			r.ratios = append(r.ratios, g.StepMedianMs/t.StepMedianMs)
			r.last, torchVersion, threads = g, t.Torch, g.Threads
			fmt.Fprintf(os.Stderr, "ddp round %d %s %s: Go %.1f ms (all-reduce wait %.1f; %.1f ms with the other all-reduce timing), PyTorch DDP %.1f ms\n", round+1, r.model, r.method,
				g.StepMedianMs, g.AllReduceMedianMs, ns[0].StepMedianMs, t.StepMedianMs)
		}
	}
	fmt.Fprintf(md, "Measured by `go run ./bench/compare -sections ddp -readme docs/performance.md,docs/distributed.md` on %s (%d cores): %d processes on loopback, "+
		"%d intra-op thread(s) each, batch %d per process, SGD; Gloo on both sides (PyTorch %s DDP, 25 MB buckets); %d rounds, "+
		"each side %d timed steps after %d, alternating (Go with its default all-reduce timing, %s here, then with the other one, then PyTorch). Rank 0's figures; the all-reduce wait is the time after backward until the gradients are "+
		"averaged (the communication backward did not hide, and waiting for the other rank).\n\n",
		sysinfo.CPUModel(), runtime.NumCPU(), o.nproc, threads, o.ddpBatch, torchVersion, o.rounds, o.steps, o.warmup, mode)
	md.WriteString("| model | method | parameters | MB all-reduced per step | Go step ms | Go all-reduce wait ms (share) | Go step ms, other timing | PyTorch DDP step ms (overlapped) | Go/PyTorch (min / median / max) | Go samples/s |\n")
	md.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range rows {
		lo, med, hi := stats.Summary(r.ratios)
		g := stats.Median(r.goMs)
		fmt.Fprintf(md, "| %s | %s | %d | %.2f | %.1f | %.1f (%.0f%%) | %.1f | %.1f | %.2f / **%.2f** / %.2f | %.0f |\n", r.model, r.method, r.last.Params,
			float64(r.last.AllReduceBytes)/1e6, g, stats.Median(r.arr), 100*stats.Median(r.arr)/g, stats.Median(r.otherMs), stats.Median(r.pyMs), lo, med, hi,
			float64(o.nproc*o.ddpBatch)/g*1e3)
	}
	return nil
}

// spliceAny splices table into the first of paths that has name's markers.
func spliceAny(paths []string, name, table string) error {
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(raw), "<!-- "+name+":begin -->") {
			return splice(p, name, table)
		}
	}
	return fmt.Errorf("none of %s has a <!-- %s:begin --> … <!-- %s:end --> section", strings.Join(paths, ", "), name, name)
}

// splice replaces the text between path's markers named name.
func splice(path, name, table string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	s := string(raw)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, begin, end)
	}
	out := s[:i+len(begin)] + "\n" + table + "\n" + s[j:]
	return os.WriteFile(path, []byte(out), 0o644)
}
