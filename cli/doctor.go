package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lowrank-dev/lowrank/backend"
)

type doctor struct {
	g      *globalFlags
	asJSON bool
}

func newDoctor(g *globalFlags) *doctor { return &doctor{g: g} }

func (d *doctor) command() *cobra.Command {
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Report the libtorch, BLAS, threads and devices this build uses",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return d.run(cmd) },
	}
	c.Flags().BoolVar(&d.asJSON, "json", false, "print JSON")
	return c
}

func (d *doctor) run(cmd *cobra.Command) error {
	defer backend.LockThread()()
	backend.SetThreads(d.g.threads)
	info := backend.Describe()
	out := cmd.OutOrStdout()
	if d.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	kind := "CPU"
	if info.BuiltWithCUDA {
		kind = "CUDA"
	}
	fmt.Fprintf(out, "libtorch:          %s (%s build) in %s\n", info.LibtorchVersion, kind, info.LibtorchDir)
	blas := info.BLAS
	if blas == "" {
		blas = "none mapped (statically linked or MKL inside libtorch)"
	}
	fmt.Fprintf(out, "BLAS:              %s [%s]\n", blas, backend.BLASKind(info.BLAS))
	fmt.Fprintf(out, "allocator:         %s (%s)\n", info.Allocator, info.AllocatorLibrary)
	fmt.Fprintf(out, "intra-op threads:  %d (CPU cores: %d)\n", info.Threads, runtime.NumCPU())
	fmt.Fprintf(out, "CUDA:              available=%v devices=%d\n", info.CUDAAvailable, info.CUDADevices)
	fmt.Fprintf(out, "disabled ops:      %d (gotch wrappers this libtorch cannot compile)\n", len(info.DisabledOps))
	dist := strings.Join(info.DistBackends, ", ")
	if dist == "" {
		dist = "none (no Gloo headers when gotch was prepared: apt-get install libgloo-dev, re-run ./install-libtorch.sh)"
	}
	fmt.Fprintf(out, "distributed:       %s (c10d; lowrank train --nproc N)\n", dist)
	if backend.BLASKind(info.BLAS) == "reference" {
		fmt.Fprintln(out, "warning: the reference BLAS is about 11x slower; install libopenblas0-openmp (./install-libtorch.sh does)")
	}
	if info.Allocator == "glibc" {
		fmt.Fprintln(out, "note: glibc's malloc refaults a tensor's pages every step; with libtcmalloc-minimal4 installed, re-run ./install-libtorch.sh to link tcmalloc (steps 0.66-0.79x as long)")
	}
	return nil
}
