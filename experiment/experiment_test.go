package experiment_test

import (
	"strings"
	"testing"

	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/configs"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

func load(yaml string) (*experiment.Experiment, error) {
	return experiment.Load(config.Source{Name: "test.yaml", Text: []byte(yaml)}, nil, nil)
}

// Names and combinations are checked against the registries, in the same one error as the
// schema's problems.
func TestLoadChecksRegistries(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		wants      []string
	}{
		{"unknown names", "model: {name: alexnet}\ndata: {dataset: imagenet}\noptimizer: {lr: -1}\n",
			[]string{`model.name: "alexnet" is not one of mlp, cnn, vgg11`, `data.dataset: "imagenet" is not one of mnist, fashion-mnist`, "optimizer.lr: -1"}},
		{"incompatible", "model: {name: lstm}\ndata: {dataset: cifar10}\n",
			[]string{"data.dataset: model lstm takes characters to predict the next of (shakespeare), not cifar10"}},
		{"resnet on grey images", "model: {name: resnet18}\ndata: {dataset: mnist}\n",
			[]string{"data.dataset: model resnet18 takes 32×32 colour images (cifar10 or cifar100), not mnist"}},
		{"width", "model: {name: resnet18, width: 0.5}\ndata: {dataset: cifar10}\n",
			[]string{"model.width: 0.5 applies to vgg11 and vgg16 only, not resnet18"}},
		{"stride", "data: {stride: 4}\n", []string{"data.stride: applies to shakespeare only, not fashion-mnist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.yaml)
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
	if _, err := experiment.New(config.Default()); err != nil {
		t.Errorf("the default config: %v", err)
	}
}

// Every built-in config loads, its name says its dataset, model and variant, and the schema's
// default ratio is the layers' own.
func TestEmbeddedConfigsAreValid(t *testing.T) {
	if config.DefaultRatio != lowrank.DefaultRatio {
		t.Errorf("config.DefaultRatio %g, lowrank.DefaultRatio %g", config.DefaultRatio, lowrank.DefaultRatio)
	}
	names := configs.Names()
	if len(names) < 20 {
		t.Fatalf("only %d embedded configs", len(names))
	}
	for _, n := range names {
		src, err := config.Find(n)
		if err != nil {
			t.Fatal(err)
		}
		e, err := experiment.Load(src, nil, nil)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		c := e.Config
		// Names say <dataset>-<model>-<variant>.
		parts := strings.SplitN(n, "-", 3)
		if strings.ReplaceAll(c.Data.Dataset, "-", "") != parts[0] || c.Model.Name != parts[1] {
			t.Errorf("%s holds dataset %s and model %s", n, c.Data.Dataset, c.Model.Name)
		}
		// relora: a dense model trained by low-rank updates, validated as method low_rank.
		if lowRank := strings.HasPrefix(parts[2], "lowrank") || strings.HasPrefix(parts[2], "relora"); lowRank != (c.Model.Method == "low_rank") {
			t.Errorf("%s has method %s", n, c.Model.Method)
		}
		if strings.HasSuffix(n, "-fd") != (e.Regularizer().Frobenius > 0) {
			t.Errorf("%s: Frobenius decay %g", n, e.Regularizer().Frobenius)
		}
	}
}

// Each regularizer name turns on its terms with their coefficients.
func TestRegularizer(t *testing.T) {
	for _, tc := range []struct {
		name string
		want lowrank.Regularizer
	}{
		{"none", lowrank.Regularizer{}}, {"frobenius", lowrank.Regularizer{Frobenius: 1}},
		{"kronecker", lowrank.Regularizer{Kronecker: 2}}, {"l2", lowrank.Regularizer{L2: 3}},
		{"l2-fd", lowrank.Regularizer{L2: 3, Frobenius: 1}}, {"l2-kd", lowrank.Regularizer{L2: 3, Kronecker: 2}},
		{"fd-kd", lowrank.Regularizer{Frobenius: 1, Kronecker: 2}},
	} {
		c := config.Default()
		c.LowRank.Regularizer, c.LowRank.Frobenius, c.LowRank.Kronecker, c.LowRank.L2 = tc.name, 1, 2, 3
		e, err := experiment.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Regularizer(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// The registries agree with themselves: every model takes at least one dataset and its
// benchmark input is a registered dataset's; names are unique.
func TestRegistries(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range append(models.Names(), data.Names()...) {
		if seen[n] {
			t.Errorf("%s registered twice", n)
		}
		seen[n] = true
	}
	for _, n := range models.Names() {
		ms, _ := models.Lookup(n)
		if len(experiment.Datasets(ms)) == 0 {
			t.Errorf("model %s takes no registered dataset", n)
		}
		found := false
		for _, ds := range data.Specs() {
			found = found || experiment.Input(ds) == ms.Bench
		}
		if !found {
			t.Errorf("model %s: its benchmark input %+v is no registered dataset's", n, ms.Bench)
		}
	}
}
