package dist

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/lowrank-dev/lowrank/dist/c10d"
)

// Env is a process's place in a distributed run.
type Env struct {
	Rank, World, LocalRank int
	LocalWorld             int    // processes on this machine (sharing its cores)
	Addr                   string // rank 0's host, which serves the rendezvous store
	Port                   int
	Timeout                time.Duration // rendezvous and collectives; default 300 s
	Backend                string        // gloo or nccl; default gloo
	Iface                  string        // network interface for Gloo (optional)
	BucketBytes            int64         // gradient bucket; default 25 MiB
	NoOverlap              bool          // all-reduce after backward instead of during it
	// PowerSGDRank > 0 compresses gradient matrices to that rank from step PowerSGDStart on
	// (with error feedback); it implies NoOverlap.
	PowerSGDRank, PowerSGDStart int
}

// Variables of the torchrun convention.
const (
	EnvRank       = "RANK"
	EnvWorldSize  = "WORLD_SIZE"
	EnvLocalRank  = "LOCAL_RANK"
	EnvLocalWorld = "LOCAL_WORLD_SIZE"
	EnvMasterAddr = "MASTER_ADDR"
	EnvMasterPort = "MASTER_PORT"
)

// FromEnv reads torchrun's variables. ok is false when WORLD_SIZE is unset or 1 (a single
// process); a set but malformed variable is an error naming it.
func FromEnv() (e Env, ok bool, err error) {
	ws := os.Getenv(EnvWorldSize)
	if ws == "" {
		return Env{}, false, nil
	}
	num := func(name string, def int) (int, error) {
		s := os.Getenv(name)
		if s == "" {
			if def < 0 {
				return 0, fmt.Errorf("%s is not set (with %s=%s every process needs %s, %s and %s)", name, EnvWorldSize, ws, EnvRank, EnvMasterAddr, EnvMasterPort)
			}
			return def, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%s=%q is not a non-negative integer", name, s)
		}
		return v, nil
	}
	if e.World, err = num(EnvWorldSize, -1); err != nil {
		return Env{}, false, err
	}
	if e.World <= 1 {
		return Env{}, false, nil
	}
	if e.Rank, err = num(EnvRank, -1); err != nil {
		return Env{}, false, err
	}
	if e.LocalRank, err = num(EnvLocalRank, e.Rank); err != nil {
		return Env{}, false, err
	}
	if e.LocalWorld, err = num(EnvLocalWorld, 1); err != nil {
		return Env{}, false, err
	}
	if e.Port, err = num(EnvMasterPort, -1); err != nil {
		return Env{}, false, err
	}
	if e.Addr = os.Getenv(EnvMasterAddr); e.Addr == "" {
		return Env{}, false, fmt.Errorf("%s is not set: the address of rank 0's machine", EnvMasterAddr)
	}
	return e, true, e.Validate()
}

// Validate checks that the ranks and port make sense.
func (e Env) Validate() error {
	if e.World < 1 || e.Rank < 0 || e.Rank >= e.World {
		return fmt.Errorf("rank %d is not in [0, world size %d)", e.Rank, e.World)
	}
	if e.Port < 1 || e.Port > 65535 {
		return fmt.Errorf("master port %d is not in [1, 65535]", e.Port)
	}
	return nil
}

func (e Env) withDefaults() Env {
	if e.Timeout <= 0 {
		e.Timeout = 300 * time.Second
	}
	if e.Backend == "" {
		e.Backend = "gloo"
	}
	if e.BucketBytes <= 0 {
		e.BucketBytes = 25 << 20
	}
	return e
}

// Backend resolves dist.backend: auto is nccl for a CUDA device when this build has NCCL (or
// when it has NCCL alone), gloo otherwise.
func Backend(name, device string) string {
	if name != "auto" && name != "" {
		return name
	}
	if strings.HasPrefix(device, "cuda") && c10d.HasNCCL() || !c10d.HasGloo() && c10d.HasNCCL() {
		return "nccl"
	}
	return "gloo"
}

// Settings are a run's choices for its process group, as a configuration's dist section holds
// them (config.Dist), with "auto" where the run decides.
type Settings struct {
	Backend   string  // auto | gloo | nccl
	Timeout   float64 // seconds
	BucketMB  float64 // gradient bucket
	Iface     string  // network interface for Gloo ("": the host name's)
	AllReduce string  // auto | during_backward | after_backward
	// PowerSGDRank > 0 compresses gradient matrices after PowerSGDStart plain steps.
	PowerSGDRank, PowerSGDStart int
}

// Configure applies settings to e (whose place, from FromEnv, it keeps), resolving auto choices
// for device (the run's train.device).
func (e Env) Configure(d Settings, device string) Env {
	e.Timeout = time.Duration(d.Timeout * float64(time.Second))
	e.Backend = Backend(d.Backend, device)
	e.Iface = d.Iface
	e.BucketBytes = int64(d.BucketMB * (1 << 20))
	e.NoOverlap = !Overlap(d.AllReduce, device, e)
	e.PowerSGDRank, e.PowerSGDStart = d.PowerSGDRank, d.PowerSGDStart
	return e
}

// Overlap resolves dist.allreduce: whether to all-reduce gradient buckets during backward.
// auto overlaps on CUDA and when the ranks span machines, not for CPU processes on one machine.
func Overlap(mode, device string, e Env) bool {
	switch mode {
	case "during_backward":
		return true
	case "after_backward":
		return false
	}
	return strings.HasPrefix(device, "cuda") || e.World > max(1, e.LocalWorld)
}

// Threads is the intra-op thread count of a rank: configured when set, otherwise its share of
// this machine's cores (the processes on it divide them).
func (e Env) Threads(configured int) int {
	if configured > 0 {
		return configured
	}
	return max(1, runtime.NumCPU()/max(1, e.LocalWorld))
}
