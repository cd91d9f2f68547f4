package models_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/models"
)

// build constructs a model on a fresh VarStore and checks that its layer table and the
// VarStore agree on the parameter count.
func build(t *testing.T, f func(p *nn.Path) (models.Model, error)) models.Model {
	t.Helper()
	unlock := backend.LockThread()
	t.Cleanup(unlock)
	backend.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	m, err := f(vs.Root())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range vs.TrainableVariables() {
		n += int64(v.Numel())
	}
	if n != m.Cost().Params {
		t.Fatalf("VarStore holds %d trainable parameters, the layer table counts %d", n, m.Cost().Params)
	}
	return m
}

func TestReferenceTable(t *testing.T) {
	ref := models.Config{Compat: models.Reference}
	low := models.Config{Compat: models.Reference, Method: models.LowRank}
	vgg := func(depth int, cfg models.Config) func(p *nn.Path) (models.Model, error) {
		return func(p *nn.Path) (models.Model, error) { return models.NewVGG(p, depth, cfg) }
	}
	resnet := func(depth int, cfg models.Config) func(p *nn.Path) (models.Model, error) {
		return func(p *nn.Path) (models.Model, error) { return models.NewResNet(p, depth, cfg) }
	}
	lstm := func(cfg models.Config) func(p *nn.Path) (models.Model, error) {
		return func(p *nn.Path) (models.Model, error) { return models.NewCharLSTM(p, models.LSTMConfig{}, cfg) }
	}
	vit := func(cfg models.Config) func(p *nn.Path) (models.Model, error) {
		return func(p *nn.Path) (models.Model, error) { return models.NewViT(p, models.ViTConfig{}, cfg) }
	}
	tf := func(cfg models.Config) func(p *nn.Path) (models.Model, error) {
		return func(p *nn.Path) (models.Model, error) {
			return models.NewTransformer(p, models.TransformerConfig{}, cfg)
		}
	}
	for _, tc := range []struct {
		name   string
		build  func(p *nn.Path) (models.Model, error)
		params float64 // millions, as the reference table prints them
		flops  float64 // millions
	}{
		{"vgg11/original", vgg(11, ref), 9.76, 154},
		{"vgg11/low_rank", vgg(11, low), 4.01, 55.96},
		{"vgg16/original", vgg(16, ref), 15.25, 315},
		{"vgg16/low_rank", vgg(16, low), 6.21, 120},
		{"resnet18/original", resnet(18, ref), 11.17, 559},
		{"resnet18/low_rank", resnet(18, low), 4.42, 229},
		{"resnet101/original", resnet(101, ref), 41.35, 2451},
		{"resnet101/low_rank", resnet(101, low), 16.46, 985},
		{"lstm/original", lstm(ref), 0.83, 0}, // the table rounds 0.825M to three places
		{"vit/original", vit(ref), 9.52, 643},
		{"vit/low_rank", vit(low), 3.22, 233},
		{"transformer/original", tf(ref), 10.36, 390},
		{"transformer/low_rank", tf(low), 8.98, 302},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, tc.build)
			c := m.Cost()
			if got := math.Round(float64(c.Params)/1e4) / 100; got != tc.params {
				t.Errorf("params %d = %.2fM, reference table %.2fM", c.Params, got, tc.params)
			}
			if rel := math.Abs(float64(c.FLOPs)/1e6-tc.flops) / tc.flops; tc.flops > 0 && rel > 0.02 {
				t.Errorf("FLOPs %.2fM, reference table %gM (%.1f%% off)", float64(c.FLOPs)/1e6, tc.flops, 100*rel)
			}
			fmt.Printf("%-16s params %10d  FLOPs %12d\n", tc.name, c.Params, c.FLOPs)
		})
	}
}

// TestNarrowVGGOnFashionMNIST: VGG11 at width 0.25 on 1×28×28 images (padded to 32×32) has the
// closed-form parameter count of its 16…128-channel layers and maps a batch to class logits.
func TestNarrowVGGOnFashionMNIST(t *testing.T) {
	cfg := models.Config{Width: 0.25, InChannels: 1, InSize: 28}
	m := build(t, func(p *nn.Path) (models.Model, error) { return models.NewVGG(p, 11, cfg) })
	var want int64
	in := int64(1)
	for _, out := range []int64{16, 32, 64, 64, 128, 128, 128, 128} {
		want += 9*in*out + out + 2*out // 3×3 conv with bias, batch norm γ and β
		in = out
	}
	want += 2*(128*128+128) + 128*10 + 10
	if got := m.Cost().Params; got != want {
		t.Errorf("narrow VGG11: %d parameters, closed form %d", got, want)
	}
	x := ts.MustRandn([]int64{4, 1, 28, 28}, gotch.Float, gotch.CPU)
	y, err := m.Forward(x, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := y.MustSize(); len(got) != 2 || got[0] != 4 || got[1] != 10 {
		t.Errorf("output shape %v, want [4 10]", got)
	}
	low := build(t, func(p *nn.Path) (models.Model, error) {
		c := cfg
		c.Method = models.LowRank
		c.HybridStart = 2
		return models.NewVGG(p, 11, c)
	})
	if lp := low.Cost().Params; lp >= want {
		t.Errorf("low-rank narrow VGG11 has %d parameters, not fewer than the dense %d", lp, want)
	}
}
