// Package configs embeds the experiment configurations shipped with lowrank, so that
// `lowrank train -c NAME` works from any directory.
package configs

import (
	"embed"
	"sort"
	"strings"
)

//go:embed *.yaml
var files embed.FS

// Lookup returns the embedded configuration name (".yaml" optional).
func Lookup(name string) ([]byte, bool) {
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	raw, err := files.ReadFile(name)
	return raw, err == nil
}

// Names lists the embedded configurations.
func Names() []string {
	entries, _ := files.ReadDir(".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}
