package dist

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"github.com/lowrank-dev/lowrank/dist/c10d"
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// ErrUnavailable is wrapped by the errors of Join and CheckBackend for a backend this build
// lacks.
var ErrUnavailable = errors.New("not in this build")

// Group is this process's membership of a run's process group. Its methods are collectives:
// every rank calls them in the same order.
type Group struct {
	Env
	g *c10d.Group
}

// Join connects to the run's other processes (rank 0 serves the rendezvous at Addr:Port),
// waiting at most e.Timeout for all of them.
func Join(e Env) (*Group, error) {
	e = e.withDefaults()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := CheckBackend(e.Backend); err != nil {
		return nil, err
	}
	g, err := c10d.NewGroup(e.Addr, e.Port, e.Rank, e.World, e.Timeout, e.Iface, e.Backend)
	if err != nil {
		return nil, fmt.Errorf("rank %d of %d: joining the %s process group at %s:%d failed: %v (a rendezvous waits up to dist.timeout, %s, for all %d processes: check that they all start, with the same %s and %s, and that rank 0 can listen on that port)",
			e.Rank, e.World, e.Backend, e.Addr, e.Port, err, e.Timeout, e.World, EnvMasterAddr, EnvMasterPort)
	}
	return &Group{Env: e, g: g}, nil
}

// CheckBackend says whether this build has the backend (gloo or nccl), and what to do if not.
func CheckBackend(name string) error {
	switch {
	case name == "nccl" && !c10d.HasNCCL():
		return fmt.Errorf("dist.backend nccl: %w (gotch must be prepared against a CUDA libtorch with NCCL's nccl.h); use dist.backend gloo", ErrUnavailable)
	case name == "gloo" && !c10d.HasGloo():
		return fmt.Errorf("dist.backend gloo: %w (Gloo's headers were missing when gotch was prepared: apt-get install libgloo-dev and re-run ./install-libtorch.sh); use dist.backend nccl on CUDA", ErrUnavailable)
	}
	return nil
}

// Place returns the rank and the process count; a nil group is a single process (0, 1).
func (g *Group) Place() (rank, world int) {
	if g == nil {
		return 0, 1
	}
	return g.Rank, g.World
}

// Close leaves the group.
func (g *Group) Close() {
	if g != nil && g.g != nil {
		g.g.Close()
		g.g = nil
	}
}

// lost wraps a collective's failure with what it most likely means.
func (g *Group) lost(what string, err error) error {
	return fmt.Errorf("rank %d of %d: %s failed: %v; another rank exited or stopped responding (dist.timeout %s): see its output",
		g.Rank, g.World, what, err, g.Timeout)
}

// BroadcastVars overwrites every variable with rank 0's, by name (all ranks must hold the same
// names and shapes).
func (g *Group) BroadcastVars(vars map[string]*ts.Tensor) error {
	names := slices.Sorted(maps.Keys(vars))
	xs := make([]*ts.Tensor, len(names))
	for i, n := range names {
		xs[i] = vars[n]
	}
	if err := g.g.Broadcast(xs, 0); err != nil {
		return g.lost("broadcasting the weights from rank 0", err)
	}
	return nil
}

// SumFloats adds xs over the ranks, in place.
func (g *Group) SumFloats(xs []float64) error {
	t, err := ts.NewTensorFromData(xs, []int64{int64(len(xs))})
	if err != nil {
		return err
	}
	if g.Backend == "nccl" { // NCCL reduces CUDA tensors only
		c, err := t.To(gotch.CudaBuilder(uint(g.LocalRank)), true)
		if err != nil {
			return err
		}
		t = c
	}
	defer t.MustDrop()
	if err := g.g.AllReduce([]*ts.Tensor{t}, c10d.Sum); err != nil {
		return g.lost("summing epoch totals", err)
	}
	copy(xs, t.Float64Values(false))
	return nil
}

// Share gives every rank rank 0's value of *v (JSON-encoded through the rendezvous store,
// under key, which must be new).
func (g *Group) Share(key string, v any) error {
	key = "share/" + key
	if g.Rank == 0 {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := g.g.Set(key, raw); err != nil {
			return g.lost("sharing "+key, err)
		}
		return nil
	}
	raw, err := g.g.Get(key)
	if err != nil {
		return g.lost("receiving "+key+" from rank 0", err)
	}
	if p := reflect.ValueOf(v); p.Kind() == reflect.Pointer && !p.IsNil() {
		p.Elem().Set(reflect.Zero(p.Elem().Type())) // replace, not merge into, a map or slice
	}
	return json.Unmarshal(raw, v)
}

// Barrier waits for every rank.
func (g *Group) Barrier() error {
	if err := g.g.Barrier(); err != nil {
		return g.lost("barrier", err)
	}
	return nil
}

// ShareFiles gives every rank rank 0's copy of the named files in dir, through the rendezvous
// store (so ranks on other machines need no shared disk): rank 0 returns dir itself; the others
// receive the files into a new temporary folder they return, which the caller removes. A file
// missing on rank 0, or rank 0's readErr, is an error on every rank.
func (g *Group) ShareFiles(dir string, names []string, readErr error) (string, error) {
	key := func(n string) string { return "files/" + n }
	var problem string
	blobs := make([][]byte, len(names))
	for i := 0; g.Rank == 0 && readErr == nil && i < len(names); i++ {
		blobs[i], readErr = os.ReadFile(filepath.Join(dir, names[i]))
	}
	if readErr != nil {
		problem = readErr.Error()
	}
	if err := g.Share("files/problem", &problem); err != nil {
		return "", err
	}
	if problem != "" {
		return "", fmt.Errorf("rank 0: %s", problem)
	}
	if g.Rank == 0 {
		for i, n := range names {
			if err := g.g.Set(key(n), blobs[i]); err != nil {
				return "", g.lost("sharing "+n, err)
			}
		}
		if err := g.Barrier(); err != nil { // every rank has its copy
			return "", err
		}
		for _, n := range names {
			g.g.Delete(key(n))
		}
		return dir, nil
	}
	tmp, err := os.MkdirTemp("", fmt.Sprintf("lowrank-rank%d-", g.Rank))
	if err != nil {
		return "", err
	}
	for _, n := range names {
		raw, err := g.g.Get(key(n))
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, n), raw, 0o600)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return "", g.lost("receiving "+n+" from rank 0", err)
		}
	}
	if err := g.Barrier(); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return tmp, nil
}

// Reducer averages a model's gradients over the group, in buckets of Env.BucketBytes that the
// gradients are views of (backward accumulates straight into them). From the second step on, a
// bucket is all-reduced during backward as soon as its gradients are ready, overlapping
// communication with the rest of backward; Reduce then waits for what is left.
type Reducer struct {
	g *Group
	r *c10d.Reducer
	// Bytes is the gradient data all-reduced per step; Buckets the number of all-reduces, of
	// which Overlapped (in the last step) ran during backward.
	Bytes      int64
	Buckets    int
	Overlapped int
	// Steps and Seconds accumulate the reductions done and the time spent in Reduce: the
	// communication backward did not hide, waiting for the slowest rank included.
	Steps   int
	Seconds float64
}

// NewReducer prepares the buckets of params' gradients.
func (g *Group) NewReducer(params []*ts.Tensor) (*Reducer, error) {
	r, err := g.g.NewReducer(params, g.BucketBytes, !g.NoOverlap && g.PowerSGDRank == 0)
	if err != nil {
		return nil, fmt.Errorf("rank %d: preparing gradient buckets: %w", g.Rank, err)
	}
	if g.PowerSGDRank > 0 {
		if err := r.PowerSGD(g.PowerSGDRank, g.PowerSGDStart, 0x5eed); err != nil {
			r.Close()
			return nil, fmt.Errorf("rank %d: PowerSGD: %w", g.Rank, err)
		}
	}
	return &Reducer{g: g, r: r}, nil
}

// Reduce averages every gradient over the ranks and sums flags (small values every rank
// contributes, such as "stop after this step") alongside, in place.
func (r *Reducer) Reduce(flags []float32) error {
	start := time.Now()
	b, n, early, err := r.r.Reduce(flags)
	if err != nil {
		return r.g.lost("all-reducing gradients", err)
	}
	r.Bytes, r.Buckets, r.Overlapped = b, n, early
	r.Steps++
	r.Seconds += time.Since(start).Seconds()
	return nil
}

// Close frees the reducer (the gradients stay valid).
func (r *Reducer) Close() {
	if r != nil {
		r.r.Close()
	}
}
