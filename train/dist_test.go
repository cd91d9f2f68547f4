package train_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/nn"

	"github.com/lowrank-dev/lowrank/checkpoint"
	"github.com/lowrank-dev/lowrank/dist"
	"github.com/lowrank-dev/lowrank/models"
	"github.com/lowrank-dev/lowrank/train"
)

// lowRankMLP builds the low-rank MLP for Fashion-MNIST.
func lowRankMLP(p *nn.Path) (models.Model, error) {
	return models.NewMLP(p, 784, nil, models.Config{Method: models.LowRank})
}

// fitRanks runs Fit as both ranks of a two-process group inside this process (one goroutine and
// OS thread each) on 1,024 Fashion-MNIST images, the model of each rank built by build and
// wrapped by wrap. It returns each rank's error and variable store, and the step count of the
// last checkpoint each asked for.
func fitRanks(t *testing.T, build func(*nn.Path) (models.Model, error), wrap func(rank int, m models.Model) models.Model,
	ctxOf func(rank int) context.Context) ([2]error, [2]*nn.VarStore, [2]int) {
	t.Helper()
	tr, te := fashion(t, 1024)
	port, err := dist.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var errs [2]error
	var stores [2]*nn.VarStore
	var steps [2]int
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := dist.Join(dist.Env{Rank: r, World: 2, Addr: "127.0.0.1", Port: port, Timeout: 30 * time.Second})
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			vs := nn.NewVarStore(gotch.CPU)
			stores[r] = vs
			m, err := build(vs.Root())
			if err != nil {
				errs[r] = err
				return
			}
			_, errs[r] = train.Fit(ctxOf(r), wrap(r, m), vs, tr, te, train.Options{Epochs: 2, BatchSize: 64, Log: quietLog(),
				Schedule: train.Schedule{LR: 0.01}, Dist: g,
				Checkpoint: func(_ string, p train.Progress, _ checkpoint.Dict) error { steps[r] = p.Step; return nil }})
		}()
	}
	wg.Wait()
	if errors.Is(errs[0], dist.ErrUnavailable) {
		t.Skip(errs[0])
	}
	return errs, stores, steps
}

// A non-finite loss on one rank stops both, after the same step, with the same error.
func TestDistNaNOnOneRankStopsBoth(t *testing.T) {
	armed := true
	errs, _, _ := fitRanks(t, lowRankMLP, func(rank int, m models.Model) models.Model {
		if rank == 1 {
			return nanAfter{m, &armed}
		}
		return m
	}, func(int) context.Context { return context.Background() })
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "epoch 1 step 0") || !strings.Contains(err.Error(), "loss is not finite on 1 of 2 ranks") {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// Cancelling one rank (its Ctrl-C) interrupts both after the same step: the first, whose
// all-reduce carries the stop flag.
func TestDistCancelOneRankStopsBoth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	errs, _, steps := fitRanks(t, lowRankMLP, func(_ int, m models.Model) models.Model { return m }, func(rank int) context.Context {
		if rank == 0 {
			return ctx
		}
		return context.Background()
	})
	for r, err := range errs {
		if !errors.Is(err, train.ErrInterrupted) || steps[r] != 1 {
			t.Errorf("rank %d: %v after %d steps, want interrupted after 1", r, err, steps[r])
		}
	}
}

// Batch norm trains on each rank's own batches, so the ranks' running statistics part; before
// evaluating, every rank takes rank 0's (as DDP's forward broadcasts them), so all evaluate the
// same model.
func TestDistBatchNormStatisticsFromRankZero(t *testing.T) {
	narrowVGG := func(p *nn.Path) (models.Model, error) {
		return models.NewVGG(p, 11, models.Config{Width: 0.125, InChannels: 1, InSize: 28})
	}
	errs, stores, _ := fitRanks(t, narrowVGG, func(_ int, m models.Model) models.Model { return m },
		func(int) context.Context { return context.Background() })
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	v0, v1 := stores[0].NamedVariables(), stores[1].NamedVariables()
	buffers := 0
	for name, x := range v0 {
		if stores[0].IsTrainable(name) {
			continue
		}
		buffers++
		a, b := x.Float64Values(false), v1[name].Float64Values(false)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: rank 0 %g, rank 1 %g", name, i, a[i], b[i])
			}
		}
	}
	if buffers == 0 {
		t.Fatal("the model has no buffers")
	}
}
