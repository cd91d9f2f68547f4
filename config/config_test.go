package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/config"
)

func load(t *testing.T, yaml string, env, sets []string) (config.Config, error) {
	t.Helper()
	return config.Load(config.Source{Name: "test.yaml", Text: []byte(yaml)}, env, sets)
}

func TestLoadValid(t *testing.T) {
	c, err := load(t, "model: {name: vgg11, method: original}\ndata: {dataset: cifar10}\noptimizer: {lr: 0.05}\n",
		[]string{"LOWRANK_TRAIN_BATCH_SIZE=64", "LOWRANK_UNRELATED=1", "PATH=/bin"},
		[]string{"train.epochs=3", "lowrank.ratio=0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.Name != "vgg11" || c.Optimizer.LR != 0.05 || c.Train.Epochs != 3 || c.Train.BatchSize != 64 || c.LowRank.Ratio != 0.5 {
		t.Errorf("loaded %+v", c)
	}
	// Defaults fill what the file leaves out.
	if c.Optimizer.Momentum != 0.9 || c.Optimizer.WeightDecay != 5e-4 || c.Scheduler.Name != "cosine" || c.Train.OutputDir != "runs/test" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		yaml  string
		env   []string
		sets  []string
		wants []string // every one must appear in the single error
	}{
		{"unknown keys", "model: {name: mlp, colour: red}\ntrian: {epochs: 2}\n", nil, nil,
			[]string{"colour", "trian"}},
		{"wrong types", "train: {epochs: ten}\noptimizer: {lr: fast}\n", nil, nil,
			[]string{"train.epochs", "optimizer.lr"}},
		{"out of range", "lowrank: {ratio: 1.5}\noptimizer: {lr: -1, momentum: 1.2}\ntrain: {batch_size: 0}\n", nil, nil,
			[]string{"lowrank.ratio: 1.5 is outside (0, 1]", "optimizer.lr: -1 must be positive", "optimizer.momentum", "train.batch_size: 0"}},
		{"bad names", "optimizer: {name: lbfgs}\nscheduler: {name: step}\n", nil, nil,
			[]string{"optimizer.name: \"lbfgs\"", "scheduler.name: \"step\""}},
		{"regularizer without coefficient", "lowrank: {regularizer: l2-fd, l2: 0.001}\n", nil, nil,
			[]string{"lowrank.frobenius: regularizer l2-fd needs a positive coefficient"}},
		{"spectral with original", "model: {method: original, init: spectral}\n", nil, nil,
			[]string{"spectral initialization needs model.method low_rank"}},
		{"bad overrides", "", []string{"LOWRANK_TRAIN_EPOCS=3"}, []string{"optimizer.lrr=1", "noequals"},
			[]string{"LOWRANK_TRAIN_EPOCS", "optimizer.lrr", "want key=value"}},
		{"not yaml", "model: [unclosed\n", nil, nil, []string{"not valid YAML"}},
		// NaN passed every range check and Inf reached the JSON encoder.
		{"not finite", "dist: {timeout: .inf}\nlowrank: {ratio: .nan}\n", nil, []string{"optimizer.momentum=.nan", "optimizer.lr=-.inf"},
			[]string{"dist.timeout: +Inf is not a finite number", "lowrank.ratio: NaN is not a finite number",
				"optimizer.momentum: NaN", "optimizer.lr: -Inf"}},
		{"bad memory format", "train: {memory_format: nhwc}\n", nil, nil,
			[]string{`train.memory_format: "nhwc" is not one of auto, contiguous, channels_last`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml, tc.env, tc.sets)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// A check passed to Load (the experiment layer's registry checks) reports with the schema's own
// problems, in the one error; a key that did not decode is not reported again.
func TestLoadChecks(t *testing.T) {
	check := func(c config.Config) []string { return []string{"model.name: checked " + c.Model.Name} }
	_, err := config.Load(config.Source{Name: "t.yaml", Text: []byte("model: {name: x}\noptimizer: {lr: -1}\n")}, nil, nil, check)
	if err == nil || !strings.Contains(err.Error(), "model.name: checked x") || !strings.Contains(err.Error(), "optimizer.lr") {
		t.Fatalf("err = %v", err)
	}
	if _, err := config.Load(config.Source{Name: "t.yaml", Text: []byte("model: {name: x}\n")}, nil, nil); err != nil {
		t.Errorf("the schema alone knows no model names: %v", err)
	}
}

// `base:` merges the named config first (a built-in name or a path relative to the file), in
// chains; a cycle and a missing base are refused, naming them.
func TestBaseConfigs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("mid.yaml", "base: cifar10-vgg11-lowrank\noptimizer: {lr: 0.02}\n")
	top := write("top.yaml", "base: mid.yaml\ntrain: {epochs: 3}\n")
	src, err := config.Find(top)
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(src, nil, []string{"train.batch_size=32"})
	if err != nil {
		t.Fatal(err)
	}
	builtin, _ := config.Find("cifar10-vgg11-lowrank")
	want, err := config.Load(builtin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want.Optimizer.LR, want.Train.Epochs, want.Train.BatchSize, want.Train.OutputDir = 0.02, 3, 32, "runs/top"
	if c != want {
		t.Errorf("loaded %+v\nwant   %+v", c, want)
	}
	a := write("a.yaml", "base: b.yaml\n")
	write("b.yaml", "base: a.yaml\n")
	src, _ = config.Find(a)
	if _, err := config.Load(src, nil, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("a cycle: %v", err)
	}
	src, _ = config.Find(write("c.yaml", "base: no-such-config\n"))
	if _, err := config.Load(src, nil, nil); err == nil || !strings.Contains(err.Error(), "base:") {
		t.Errorf("a missing base: %v", err)
	}
}

// The YAML that --print-config prints loads back to the same configuration.
func TestYAMLRoundTrip(t *testing.T) {
	src, _ := config.Find("cifar10-vgg11-lowrank")
	c, err := config.Load(src, nil, []string{"optimizer.weight_decay=0.0005", "train.seed=7"})
	if err != nil {
		t.Fatal(err)
	}
	text, err := config.YAML(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Load(config.Source{Name: "printed.yaml", Text: text}, nil, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if back != c {
		t.Errorf("printed config loads as %+v, want %+v\n%s", back, c, text)
	}
}
