// Package configs embeds the experiment configurations shipped with lowrank, so that
// `lowrank train -c NAME` works from any directory, and the suites of runs `lowrank report`
// trains (suites/).
package configs

import (
	"embed"
	"path"
	"sort"
	"strings"
)

//go:embed *.yaml suites/*.yaml
var files embed.FS

// read returns the embedded YAML file name (".yaml" optional) in dir.
func read(dir, name string) ([]byte, bool) {
	if strings.Contains(name, "/") {
		return nil, false // a path, not a name: config.Find reads files itself
	}
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	raw, err := files.ReadFile(path.Join(dir, name))
	return raw, err == nil
}

// names lists the YAML files in dir without their extension, sorted.
func names(dir string) []string {
	entries, _ := files.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
		}
	}
	sort.Strings(out)
	return out
}

// Lookup returns the embedded configuration name (".yaml" optional).
func Lookup(name string) ([]byte, bool) { return read(".", name) }

// Names lists the embedded configurations.
func Names() []string { return names(".") }

// Suite returns the embedded run list name (".yaml" optional) that `lowrank report` runs.
func Suite(name string) ([]byte, bool) { return read("suites", name) }

// SuiteNames lists the embedded run lists.
func SuiteNames() []string { return names("suites") }
