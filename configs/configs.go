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

//go:embed suites/*.yaml
var suites embed.FS

// Suite returns the embedded run list name (".yaml" optional) that `lowrank report` runs.
func Suite(name string) ([]byte, bool) {
	if !strings.HasSuffix(name, ".yaml") {
		name += ".yaml"
	}
	raw, err := suites.ReadFile("suites/" + name)
	return raw, err == nil
}

// SuiteNames lists the embedded run lists.
func SuiteNames() []string {
	entries, _ := suites.ReadDir("suites")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return out
}

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
