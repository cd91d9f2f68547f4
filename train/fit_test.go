package train_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/data"
	"github.com/lowrank-dev/lowrank/lowrank"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

func fashion(t *testing.T, n int) (*data.Images, *data.Images) {
	t.Helper()
	if _, err := os.Stat(data.DefaultFashionMNISTDir); err != nil {
		t.Skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
	}
	tr, err := data.LoadIDXImages(data.DefaultFashionMNISTDir, "train", data.FashionMNISTMean, data.FashionMNISTStd)
	if err != nil {
		t.Fatal(err)
	}
	te, err := data.LoadIDXImages(data.DefaultFashionMNISTDir, "t10k", data.FashionMNISTMean, data.FashionMNISTStd)
	if err != nil {
		t.Fatal(err)
	}
	tr.Limit(n)
	te.Limit(2000)
	return tr, te
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// A low-rank MLP learns Fashion-MNIST: well above chance (10%) after one epoch on 6000 images.
func TestLowRankMLPLearnsFashionMNIST(t *testing.T) {
	tr, te := fashion(t, 6000)
	defer backend.LockThread()()
	backend.ManualSeed(1)
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewMLP(vs.Root(), 784, nil, models.Config{Method: models.LowRank})
	if err != nil {
		t.Fatal(err)
	}
	hist, err := train.Fit(context.Background(), m, vs, tr, te, train.Options{Epochs: 2, Seed: 1, Log: quietLog(),
		Schedule: train.Schedule{LR: 1e-3}, Optimizer: train.Optimizer{Name: "adam"},
		Regularizer: lowrank.Regularizer{Frobenius: 1e-4}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[1].TrainLoss >= hist[0].TrainLoss {
		t.Errorf("train loss did not fall: %+v", hist)
	}
	if acc := hist[1].TestMetric; acc < 0.75 {
		t.Errorf("test accuracy %.3f after 2 epochs on 6000 images, want ≥ 0.75", acc)
	}
}

func TestNaNLossStopsWithEpochAndStep(t *testing.T) {
	tr, te := fashion(t, 256)
	defer backend.LockThread()()
	vs := nn.NewVarStore(gotch.CPU)
	m, err := models.NewMLP(vs.Root(), 784, nil, models.Config{})
	if err != nil {
		t.Fatal(err)
	}
	armed := true
	_, err = train.Fit(context.Background(), nanAfter{m, &armed}, vs, tr, te, train.Options{Log: quietLog(), Schedule: train.Schedule{LR: 0.01}})
	if err == nil || !strings.Contains(err.Error(), "epoch 1 step 0") || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("err = %v, want a NaN error naming epoch 1 step 0", err)
	}
}
