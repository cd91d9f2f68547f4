package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"

	"github.com/lowrank-dev/lowrank/internal/layout"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/config"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/experiment"
	"github.com/lowrank-dev/lowrank/internal/torchref"
	"github.com/lowrank-dev/lowrank/models"
)

// layoutStep is one SGD step of a freshly built model (seed 3) on hb, in float64 with double:
// the loss, every parameter's gradient (copied before the update zeroes it) and every parameter
// after the update, by name.
func layoutStep(t *testing.T, cfg config.Config, hb data.HostBatch, channelsLast, double bool) (float64, map[string][]float64, map[string][]float64) {
	t.Helper()
	backend.ManualSeed(3)
	vs := nn.NewVarStore(gotch.CPU)
	e, err := experiment.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	model, err := e.Build(vs.Root(), "")
	if err != nil {
		t.Fatal(err)
	}
	if double {
		if err := layout.SetDouble(tensorsOf(vs)); err != nil {
			t.Fatal(err)
		}
	}
	if err := setLayout(vs, channelsLast); err != nil {
		t.Fatal(err)
	}
	names := sortedNames(vs)
	for _, n := range names {
		// Only a tensor with several channels and a map larger than 1×1 stores the two layouts
		// differently.
		if p := vs.NamedVariables()[n]; p.Dim() == 4 && differs(p.MustSize()) && layout.IsChannelsLast(p) != channelsLast {
			t.Fatalf("%s: channels_last %v after setLayout(%v)", n, !channelsLast, channelsLast)
		}
	}
	opt, err := newOptimizer(Optimizer{Name: "sgd", Momentum: 0.9, WeightDecay: 5e-4}, vs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hb.InLayout(channelsLast).Tensors(gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Drop()
	if double {
		if err := layout.SetDouble([]*ts.Tensor{b.X}); err != nil {
			t.Fatal(err)
		}
	}
	if differs(b.X.MustSize()) && channelsLast != layout.IsChannelsLast(b.X) {
		t.Fatalf("batch channels_last = %v, want %v", !channelsLast, channelsLast)
	}
	logits, err := model.Forward(b.X, true)
	if err != nil {
		t.Fatal(err)
	}
	loss, err := logits.CrossEntropyLoss(b.Y, ts.None, 1, -100, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	grads, after := map[string][]float64{}, map[string][]float64{}
	vars := vs.NamedVariables()
	err = opt.BackwardStep(loss, func() error {
		for _, n := range names {
			if vs.IsTrainable(n) {
				grads[n] = vars[n].MustGrad(false).Float64Values()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		after[n] = vars[n].Float64Values()
	}
	value := loss.Float64Values()[0]
	loss.MustDrop()
	logits.MustDrop()
	return value, grads, after
}

func tensorsOf(vs *nn.VarStore) []*ts.Tensor {
	var out []*ts.Tensor
	for _, n := range sortedNames(vs) {
		out = append(out, vs.NamedVariables()[n])
	}
	return out
}

// differs reports whether an (N, C, H, W) shape is stored differently channels_last.
func differs(shape []int64) bool { return shape[1] > 1 && shape[2]*shape[3] > 1 }

func sortedNames(vs *nn.VarStore) []string {
	var names []string
	for n := range vs.NamedVariables() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// relDiff is max|a−b| / max(max|a|, floor): the difference relative to the tensor's scale, or
// to floor when the tensor is smaller (a convolution bias followed by batch norm has a gradient
// that is zero but for rounding).
func relDiff(a, b []float64, floor float64) float64 {
	var d, s float64
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		s = math.Max(s, math.Abs(a[i]))
	}
	return d / math.Max(s, math.Max(floor, 1e-30))
}

// maxAbs is the largest magnitude over every tensor of m.
func maxAbs(m map[string][]float64) float64 {
	var s float64
	for _, xs := range m {
		for _, x := range xs {
			s = math.Max(s, math.Abs(x))
		}
	}
	return s
}

// A training step in the channels_last layout computes what it computes in the contiguous one:
// the same loss, gradients and updated weights (the fused SGD update included), to 1e-5
// relative, for every convolutional model and both factorization schemes.
//
// The deep models are compared in float64: in float32 the two layouts sum in other orders, and
// through a dozen batch norms at initialization the rounding grows past 1e-5 on its own
// (PyTorch 1.13's own ResNet18 twin, contiguous against channels_last, differs by 0.066 relative
// in a gradient in float32 and by 1e-14 in float64). The CNN runs the float32 kernels.
func TestChannelsLastStepMatchesContiguous(t *testing.T) {
	defer backend.LockThread()()
	for _, tc := range []struct {
		name, model, method, scheme, dataset string
		width                                float64
		double                               bool
	}{
		{"cnn low-rank channel float32", "cnn", "low_rank", "channel", "fashion-mnist", 1, false},
		{"cnn dense float32", "cnn", "original", "spatial", "fashion-mnist", 1, false},
		{"vgg11 quarter low-rank channel", "vgg11", "low_rank", "channel", "cifar10", 0.25, true},
		{"vgg11 quarter low-rank spatial", "vgg11", "low_rank", "spatial", "cifar10", 0.25, true},
		{"vgg11 quarter dense", "vgg11", "original", "spatial", "cifar10", 0.25, true},
		{"resnet18 low-rank channel", "resnet18", "low_rank", "channel", "cifar10", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Model.Name, cfg.Model.Method, cfg.Model.Width, cfg.Data.Dataset = tc.model, tc.method, tc.width, tc.dataset
			cfg.LowRank.ConvScheme = tc.scheme
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			hb := BenchBatch(tc.dataset, 16, 9)
			l0, g0, w0 := layoutStep(t, cfg, hb, false, tc.double)
			l1, g1, w1 := layoutStep(t, cfg, hb, true, tc.double)
			if d := math.Abs(l1-l0) / math.Abs(l0); d > 1e-5 {
				t.Errorf("loss %g channels_last, %g contiguous (relative difference %.2g)", l1, l0, d)
			}
			if len(g0) == 0 || len(g0) != len(g1) {
				t.Fatalf("%d gradients contiguous, %d channels_last", len(g0), len(g1))
			}
			// Each tensor's difference relative to its own scale, or to a thousandth of the
			// model's largest gradient (weight) when it is smaller than that.
			gFloor, wFloor := 1e-3*maxAbs(g0), 1e-3*maxAbs(w0)
			worst, at := 0.0, ""
			for n := range g0 {
				if d := relDiff(g0[n], g1[n], gFloor); d > worst {
					worst, at = d, n
				}
				if d := relDiff(w0[n], w1[n], wFloor); d > 1e-5 {
					t.Errorf("%s after the SGD step: relative difference %.2g", n, d)
				}
			}
			if worst > 1e-5 {
				t.Errorf("gradient of %s: relative difference %.2g channels_last against contiguous", at, worst)
			}
			t.Logf("loss %.6f; largest gradient difference %.2g (%s)", l0, worst, at)
		})
	}
}

// The image batches of a channels_last run hold the same values as the contiguous ones, in
// (N, H, W, C) order: Images.Fill (with augmentation, from the same random stream) and
// HostBatch.InLayout agree, and the tensor they make is the contiguous batch's values.
func TestChannelsLastBatchesHoldTheSameImages(t *testing.T) {
	defer backend.LockThread()()
	const n, c, h, w = 3, 3, 5, 4
	im := &data.Images{C: c, H: h, W: w, Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{0.5, 0.6, 0.7},
		NumClasses: 10, Augment: data.Augment{CropPad: 1, Flip: true}, Labels: make([]int64, n)}
	for i := 0; i < n*c*h*w; i++ {
		im.Pixels = append(im.Pixels, byte(i*37%256))
	}
	idx := []int{2, 0, 1}
	plain := im.Fill(idx, newTestRand(), true)
	im.ChannelsLast = true
	nhwc := im.Fill(idx, newTestRand(), true)
	if !nhwc.ChannelsLast || plain.ChannelsLast {
		t.Fatalf("ChannelsLast flags %v, %v", plain.ChannelsLast, nhwc.ChannelsLast)
	}
	if d := relDiff(f64(plain.InLayout(true).X), f64(nhwc.X), 0); d != 0 {
		t.Errorf("InLayout differs from Fill's channels_last order by %g", d)
	}
	a, err := plain.Tensors(gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	b, err := nhwc.Tensors(gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if !layout.IsChannelsLast(b.X) || layout.IsChannelsLast(a.X) {
		t.Errorf("tensor layouts: plain channels_last=%v, nhwc channels_last=%v", layout.IsChannelsLast(a.X), layout.IsChannelsLast(b.X))
	}
	if d := relDiff(a.X.Float64Values(), b.X.Float64Values(), 0); d != 0 {
		t.Errorf("tensor values differ by %g", d)
	}
}

func f64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// A checkpoint written from a model whose weights are channels_last holds them in PyTorch's
// standard layout: PyTorch loads it with weights_only=True into the reference's LowRankVGG11
// twin (models/testdata/torch_models.py) with strict=True, every tensor contiguous, and gives
// the Go model's outputs.
func TestChannelsLastCheckpointLoadsInPyTorch(t *testing.T) {
	torchref.Require(t)
	defer backend.LockThread()()
	backend.ManualSeed(5)
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewVGG(vs.Root(), 11, models.Config{Method: models.LowRank, Compat: models.Reference})
	if err != nil {
		t.Fatal(err)
	}
	if err := setLayout(vs, true); err != nil {
		t.Fatal(err)
	}
	if w := vs.NamedVariables()["feature_layers.4.conv.0.weight"]; !layout.IsChannelsLast(w) {
		t.Fatal("the factor weights are not channels_last")
	}
	hb := BenchBatch("cifar10", 2, 4)
	b, err := hb.InLayout(true).Tensors(gotch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Drop()
	for i := 0; i < 2; i++ { // move the batch-norm statistics away from 0 and 1
		y, err := m.Forward(b.X, true)
		if err != nil {
			t.Fatal(err)
		}
		y.MustDrop()
	}
	var got *ts.Tensor
	backend.NoGrad(func() { got, err = m.Forward(b.X, false) })
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.pt")
	if err := checkpoint.Save(path, vs.NamedVariables()); err != nil {
		t.Fatal(err)
	}
	want, shape := torchref.RunCheckpoint(t, "../models/testdata/torch_models.py", []string{"vgg11_low_rank_reference"}, path, b.X)
	if fmt.Sprint(shape) != fmt.Sprint(got.MustSize()) {
		t.Fatalf("PyTorch output shape %v, Go %v", shape, got.MustSize())
	}
	if diff, scale := torchref.MaxDiff(got.Float64Values(), want); diff > 1e-4*max(1, scale) {
		t.Errorf("PyTorch outputs differ from Go's by %g (scale %g)", diff, scale)
	}
}
