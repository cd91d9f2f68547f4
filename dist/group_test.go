package dist

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// inGroups runs f as every rank of a world-process group, each on its own goroutine and OS
// thread of this process, and returns their errors.
func inGroups(t *testing.T, world int, env Env, f func(g *Group) error) {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := 0; r < world; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			e := env
			e.Rank, e.World, e.Addr, e.Port, e.Timeout, e.BucketBytes = r, world, "127.0.0.1", port, 20*time.Second, 40
			g, err := Join(e)
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			errs[r] = f(g)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if errors.Is(err, ErrUnavailable) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
}

func values(x *ts.Tensor) []float64 { return x.Float64Values(false) }

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-6 {
			return false
		}
	}
	return true
}

func TestSumBroadcastShare(t *testing.T) {
	inGroups(t, 3, Env{}, func(g *Group) error {
		r := float64(g.Rank)
		v := []float64{r + 1, 10 * r}
		if err := g.SumFloats(v); err != nil {
			return err
		}
		if !slices.Equal(v, []float64{6, 30}) {
			return fmt.Errorf("rank %d: sum %v, want [6 30]", g.Rank, v)
		}
		a, _ := ts.NewTensorFromData([]float32{float32(r), 1}, []int64{2})
		b, _ := ts.NewTensorFromData([]float32{float32(r) * 2}, []int64{1})
		if err := g.BroadcastVars(map[string]*ts.Tensor{"b": b, "a": a}); err != nil {
			return err
		}
		if !near(values(a), []float64{0, 1}) || !near(values(b), []float64{0}) {
			return fmt.Errorf("rank %d: after broadcast a %v b %v, want rank 0's", g.Rank, values(a), values(b))
		}
		m := map[string]int64{"layer": int64(g.Rank) + 7, fmt.Sprint("only", g.Rank): 1}
		if err := g.Share("m", &m); err != nil {
			return err
		}
		if len(m) != 2 || m["layer"] != 7 || m["only0"] != 1 {
			return fmt.Errorf("rank %d: shared %v, want rank 0's map[layer:7 only0:1]", g.Rank, m)
		}
		return nil
	})
}

// The reducer averages gradients (closed form: the gradient of Σ cᵣ·p is cᵣ), keeps them views
// of its buckets so that the next backward accumulates into them, all-reduces from the
// accumulation hooks once it knows the order, handles a parameter without a gradient, and sums
// the flags.
// With PowerSGD at rank 1 from the first step the same closed forms hold: every gradient matrix
// here (cᵣ times ones) has rank 1, so its two factors carry it exactly.
func TestReducerAverages(t *testing.T) {
	cases := []struct {
		name       string
		env        Env
		overlapped []int
		bytes      int64
		buckets    int
		tol        float64
	}{
		{"during-backward", Env{}, []int{0, 2, 0}, 60, 2, 1e-6}, // round 3: bucket 0 = {p0, p1} waits for Reduce, bucket 1 after it
		{"after-backward", Env{NoOverlap: true}, []int{0, 0, 0}, 60, 2, 1e-6},
		// p0 (3×2) as factors of 3 + 2 values, p1 and p2 whole: 14 floats in 3 all-reduces.
		{"powersgd", Env{PowerSGDRank: 1}, []int{0, 0, 0}, 56, 3, 1e-5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testReducer(t, c.env, c.overlapped, c.bytes, c.buckets, c.tol) })
	}
}

func testReducer(t *testing.T, env Env, overlapped []int, wantBytes int64, wantBuckets int, tol float64) {
	inGroups(t, 2, env, func(g *Group) error {
		c := float32(g.Rank + 1)              // 1 and 2: mean 1.5
		shapes := [][]int64{{3, 2}, {4}, {5}} // 24, 16, 20 bytes: buckets of ≤ 40 bytes → 2
		var params []*ts.Tensor
		for _, s := range shapes {
			z, err := ts.Zeros(s, gotch.Float, gotch.CPU)
			if err != nil {
				return err
			}
			p, err := z.SetRequiresGrad(true, false)
			if err != nil {
				return err
			}
			params = append(params, p)
		}
		red, err := g.NewReducer(params)
		if err != nil {
			return err
		}
		defer red.Close()
		backward := func(skip int) error {
			for k, p := range params {
				if k == skip {
					continue
				}
				l, err := p.MulScalar(ts.FloatScalar(float64(c)), false)
				if err != nil {
					return err
				}
				s, err := l.Sum(gotch.Float, false)
				if err != nil {
					return err
				}
				if err := s.Backward(); err != nil {
					return err
				}
			}
			return nil
		}
		// Round 1 records the order gradients become ready in and rebuilds the buckets; round 2
		// overlaps (buckets all-reduced from the hooks) and accumulates onto round 1's averages;
		// in round 3 parameter 1 gets no gradient, so its bucket waits for Reduce.
		for round, want := range [][]float64{{1.5, 1.5, 1.5}, {3, 3, 3}, {4.5, 3, 4.5}} {
			skip := -1
			if round == 2 {
				skip = 1
			}
			if err := backward(skip); err != nil {
				return err
			}
			flags := []float32{float32(g.Rank), 1}
			if err := red.Reduce(flags); err != nil {
				return err
			}
			if flags[0] != 1 || flags[1] != 2 {
				return fmt.Errorf("flags %v, want [1 2]", flags)
			}
			if red.Overlapped != overlapped[round] {
				return fmt.Errorf("round %d: %d buckets all-reduced during backward, want %d", round+1, red.Overlapped, overlapped[round])
			}
			for i, p := range params {
				gr, err := p.Grad(false)
				if err != nil {
					return err
				}
				for _, v := range values(gr) {
					if math.Abs(v-want[i]) > tol {
						return fmt.Errorf("rank %d round %d param %d: gradient %v, want %g", g.Rank, round+1, i, values(gr), want[i])
					}
				}
			}
		}
		if red.Bytes != wantBytes || red.Buckets != wantBuckets || red.Steps != 3 {
			return fmt.Errorf("%d bytes in %d all-reduces over %d steps, want %d in %d over 3", red.Bytes, red.Buckets, red.Steps, wantBytes, wantBuckets)
		}
		return nil
	})
}

func TestFromEnv(t *testing.T) {
	cases := []struct {
		env     map[string]string
		ok      bool
		wantErr string
		want    Env
	}{
		{env: map[string]string{}, ok: false},
		{env: map[string]string{"WORLD_SIZE": "1"}, ok: false},
		{env: map[string]string{"WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}, ok: true,
			want: Env{Rank: 1, World: 2, LocalRank: 1, LocalWorld: 1, Addr: "10.0.0.1", Port: 29500}},
		{env: map[string]string{"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, ok: true,
			want: Env{Rank: 3, World: 4, LocalRank: 1, LocalWorld: 2, Addr: "h", Port: 1}},
		{env: map[string]string{"WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, wantErr: "RANK is not set"},
		{env: map[string]string{"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, wantErr: "rank 2 is not in [0, world size 2)"},
		{env: map[string]string{"WORLD_SIZE": "two"}, wantErr: `WORLD_SIZE="two" is not a non-negative integer`},
		{env: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "MASTER_PORT": "1"}, wantErr: "MASTER_ADDR is not set"},
		{env: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "h", "MASTER_PORT": "70000"}, wantErr: "master port 70000"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for _, k := range []string{EnvRank, EnvWorldSize, EnvLocalRank, EnvLocalWorld, EnvMasterAddr, EnvMasterPort} {
				t.Setenv(k, c.env[k])
			}
			e, ok, err := FromEnv()
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || ok != c.ok || (ok && e != c.want) {
				t.Fatalf("FromEnv = %+v, %v, %v; want %+v, %v", e, ok, err, c.want, c.ok)
			}
		})
	}
}

func TestOverlapMode(t *testing.T) {
	one := Env{World: 2, LocalWorld: 2}
	many := Env{World: 4, LocalWorld: 2}
	cases := []struct {
		mode, device string
		e            Env
		want         bool
	}{
		{"auto", "cpu", one, false}, // loopback: the cores are busy computing
		{"auto", "cpu", many, true}, // the network is the bottleneck
		{"auto", "cuda", one, true},
		{"during_backward", "cpu", one, true},
		{"after_backward", "cuda", many, false},
	}
	for _, c := range cases {
		if got := Overlap(c.mode, c.device, c.e); got != c.want {
			t.Errorf("Overlap(%s, %s, %d of %d local) = %v", c.mode, c.device, c.e.World, c.e.LocalWorld, got)
		}
	}
}
