package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/lowrank-dev/lowrank/backend"
)

// versionString is `lowrank --version`: the module version and commit (from the build's own
// information), and the libtorch it links with CUDA or not.
func versionString() string {
	version, commit, dirty := "(devel)", "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+modified"
				}
			}
		}
	}
	info := backend.Describe()
	cuda := "CPU only"
	if info.BuiltWithCUDA {
		cuda = fmt.Sprintf("CUDA (%d devices)", info.CUDADevices)
	}
	return fmt.Sprintf("lowrank %s, commit %s%s, libtorch %s (%s), %s\n", version, commit, dirty, info.LibtorchVersion, info.LibtorchDir, cuda)
}
