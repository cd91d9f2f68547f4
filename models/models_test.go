package models_test

import (
	"fmt"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
)

// zoo lists every architecture with a tiny input batch and its label shape.
type zooEntry struct {
	name  string
	build func(p *nn.Path, cfg models.Config) (models.Model, error)
	input func(t *testing.T) *ts.Tensor
	out   []int64 // expected logits shape for batch 2
}

func images(c, h int64) func(t *testing.T) *ts.Tensor {
	return func(t *testing.T) *ts.Tensor {
		x, err := ts.Randn([]int64{2, c, h, h}, gotch.Float, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}

func tokens(vocab, n int64) func(t *testing.T) *ts.Tensor {
	return func(t *testing.T) *ts.Tensor {
		x, err := ts.Randint(vocab, []int64{2, n}, gotch.Int64, gotch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
}

var zoo = []zooEntry{
	{"mlp", func(p *nn.Path, c models.Config) (models.Model, error) { return models.NewMLP(p, 784, nil, c) }, images(1, 28), []int64{2, 10}},
	{"cnn", func(p *nn.Path, c models.Config) (models.Model, error) { return models.NewCNN(p, c) }, images(1, 28), []int64{2, 10}},
	{"vgg11", func(p *nn.Path, c models.Config) (models.Model, error) { return models.NewVGG(p, 11, c) }, images(3, 32), []int64{2, 10}},
	{"vgg16", func(p *nn.Path, c models.Config) (models.Model, error) { return models.NewVGG(p, 16, c) }, images(3, 32), []int64{2, 10}},
	{"resnet18", func(p *nn.Path, c models.Config) (models.Model, error) { return models.NewResNet(p, 18, c) }, images(3, 32), []int64{2, 10}},
	{"resnet101", func(p *nn.Path, c models.Config) (models.Model, error) { return models.NewResNet(p, 101, c) }, images(3, 32), []int64{2, 10}},
	{"lstm", func(p *nn.Path, c models.Config) (models.Model, error) {
		return models.NewCharLSTM(p, models.LSTMConfig{}, c)
	}, tokens(100, 20), []int64{2, 100, 20}},
	{"transformer", func(p *nn.Path, c models.Config) (models.Model, error) {
		return models.NewTransformer(p, models.TransformerConfig{Vocab: 500}, c)
	}, tokens(500, 16), []int64{2, 500, 16}},
	{"vit", func(p *nn.Path, c models.Config) (models.Model, error) {
		return models.NewViT(p, models.ViTConfig{}, c)
	}, images(3, 32), []int64{2, 10}},
}

// loss is the training-mode cross-entropy of m on (x, y). Reseeding first gives every call the
// same dropout masks, and batch norm uses the batch's statistics, so two calls are comparable.
func loss(t *testing.T, m models.Model, x, y *ts.Tensor) *ts.Tensor {
	t.Helper()
	backend.ManualSeed(42)
	logits, err := m.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	l, err := logits.CrossEntropyLoss(y, ts.None, 1, -100, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestShapesAndOneStepLowersLoss(t *testing.T) {
	for _, z := range zoo {
		for _, method := range []models.Method{models.Original, models.LowRank} {
			t.Run(z.name+"/"+method.String(), func(t *testing.T) {
				unlock := backend.LockThread()
				defer unlock()
				backend.ManualSeed(3)
				vs := nn.NewVarStore(gotch.CPU)
				m, err := z.build(vs.Root(), models.Config{Method: method})
				if err != nil {
					t.Fatal(err)
				}
				x := z.input(t)
				logits, err := m.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				if got := logits.MustSize(); fmt.Sprint(got) != fmt.Sprint(z.out) {
					t.Fatalf("logits shape %v, want %v", got, z.out)
				}
				classes := z.out[1]
				labelShape := append([]int64{z.out[0]}, z.out[2:]...)
				y, _ := ts.Randint(classes, labelShape, gotch.Int64, gotch.CPU)
				opt, err := nn.DefaultSGDConfig().Build(vs, 1e-3)
				if err != nil {
					t.Fatal(err)
				}
				before := loss(t, m, x, y)
				if err := opt.BackwardStep(before); err != nil {
					t.Fatal(err)
				}
				after := loss(t, m, x, y)
				b, a := before.Float64Values()[0], after.Float64Values()[0]
				if !(a < b) {
					t.Errorf("loss %g → %g after one SGD step", b, a)
				}
			})
		}
	}
}

func TestCorrectModeCounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		build  func(p *nn.Path) (models.Model, error)
		params int64
	}{
		// The low-rank VGG11 with one output per class (the reference's last layer has 512) and
		// one bias per convolution (the reference has one per factor: ranks 1+38+76+153+153+3·307).
		{"vgg11 low_rank", func(p *nn.Path) (models.Model, error) {
			return models.NewVGG(p, 11, models.Config{Method: models.LowRank})
		}, 3751325 - 1342},
		// The reference's LSTM rule: r = 4h·ratio = 204 for both matrices, decoder r = 20.
		{"lstm low_rank reference", func(p *nn.Path) (models.Model, error) {
			return models.NewCharLSTM(p, models.LSTMConfig{}, models.Config{Method: models.LowRank, Compat: models.Reference})
		}, 1006024},
		// The min rule: ranks 1 (8-wide input), 51, 51, 51.
		{"lstm low_rank", func(p *nn.Path) (models.Model, error) {
			return models.NewCharLSTM(p, models.LSTMConfig{}, models.Config{Method: models.LowRank})
		}, 209008},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := build(t, tc.build).Cost().Params; got != tc.params {
				t.Errorf("params %d, want %d", got, tc.params)
			}
		})
	}
}

// The reference never passes the ratio to VGG's convolutions; the default does.
func TestRatioReachesConvolutions(t *testing.T) {
	for _, tc := range []struct {
		compat models.Compat
		want   int64 // rank of the 64→128 convolution at ratio 0.5
	}{{models.Reference, 38}, {models.Correct, 96}} {
		m := build(t, func(p *nn.Path) (models.Model, error) {
			return models.NewVGG(p, 11, models.Config{Method: models.LowRank, Compat: tc.compat, Rank: lowrank.Rank{Ratio: 0.5}})
		})
		for _, l := range m.Layers() {
			if l.Name == "feature_layers.4" && l.Rank != tc.want {
				t.Errorf("%v: feature_layers.4 rank %d, want %d", tc.compat, l.Rank, tc.want)
			}
		}
	}
}

func TestHybrid(t *testing.T) {
	// ResNet18 with (block, layer) = (1, 1): the first stage and block 1.0 stay dense.
	m := build(t, func(p *nn.Path) (models.Model, error) {
		return models.NewResNet(p, 18, models.Config{Method: models.LowRank, HybridBlock: 1, HybridLayer: 1})
	})
	dense, factorized := 0, 0
	for _, l := range m.Layers() {
		switch l.Type {
		case "Conv2d":
			dense++
		case "LowRankConv2d/spatial":
			factorized++
		}
	}
	// stem + 2·2 (stage 0) + 2 (block 1.0) + 3 shortcut convolutions are dense; 5 blocks · 2 factorized.
	if dense != 1+4+2+3 || factorized != 10 {
		t.Errorf("dense convs %d, factorized %d; want 10 and 10", dense, factorized)
	}
	if len(m.Factorized()) != factorized {
		t.Errorf("Factorized() lists %d layers, want %d", len(m.Factorized()), factorized)
	}
}

func TestPerLayerRanks(t *testing.T) {
	m := build(t, func(p *nn.Path) (models.Model, error) {
		return models.NewCNN(p, models.Config{Method: models.LowRank, Ranks: map[string]int64{"conv2": 7, "fc1": 0}})
	})
	got := map[string]string{}
	for _, l := range m.Layers() {
		got[l.Name] = fmt.Sprintf("%s/%d", l.Type, l.Rank)
	}
	// conv1 keeps the rule (ratio 0.2: floor(0.2·min(32·5, 1·5)) = 1), conv2 takes 7, fc1 stays dense.
	want := map[string]string{"conv1": "LowRankConv2d/spatial/1", "conv2": "LowRankConv2d/spatial/7", "fc1": "Linear/0", "fc2": "Linear/0"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	if len(m.Factorized()) != 2 {
		t.Errorf("%d factorized layers, want 2", len(m.Factorized()))
	}
}
