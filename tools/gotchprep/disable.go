package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const generatedHeader = "torch_api_generated.cpp.h"

// disabledMarker starts the body of every disabled wrapper.
const disabledMarker = "/* disabled by lowrank gotchprep */"

var (
	errorLineRE = regexp.MustCompile(regexp.QuoteMeta(generatedHeader) + `:(\d+):`)
	funcStartRE = regexp.MustCompile(`^[a-z][A-Za-z0-9_]*\s*\*?\s*(atg_[A-Za-z0-9_]+)\(`)
)

// wrapper is one generated C++ function: lines [start, end] of the file, end holding its "}".
type wrapper struct {
	name       string
	start, end int
	void       bool
}

// parseWrappers finds the generated functions of torch_api_generated.cpp.h (0-based lines).
func parseWrappers(lines []string) []wrapper {
	var ws []wrapper
	for i := 0; i < len(lines); i++ {
		m := funcStartRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		w := wrapper{name: m[1], start: i, void: strings.HasPrefix(lines[i], "void ")}
		for j := i + 1; j < len(lines); j++ {
			if lines[j] == "}" {
				w.end = j
				break
			}
		}
		if w.end == 0 {
			break
		}
		ws = append(ws, w)
		i = w.end
	}
	return ws
}

// failingWrappers maps the generated-file line numbers (1-based) in a compiler's output to the
// wrappers that contain them.
func failingWrappers(compilerOutput string, ws []wrapper) map[string]wrapper {
	bad := map[string]wrapper{}
	for _, m := range errorLineRE.FindAllStringSubmatch(compilerOutput, -1) {
		n, _ := strconv.Atoi(m[1])
		line := n - 1
		i := sort.Search(len(ws), func(i int) bool { return ws[i].end >= line })
		if i < len(ws) && ws[i].start <= line {
			bad[ws[i].name] = ws[i]
		}
	}
	return bad
}

// disableWrappers replaces the bodies of the named wrappers by code that reports the op as
// unavailable through gotch's error slot.
func disableWrappers(lines []string, bad map[string]wrapper, version string) []string {
	byStart := map[int]wrapper{}
	for _, w := range bad {
		byStart[w.start] = w
	}
	out := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		w, ok := byStart[i]
		if !ok {
			out = append(out, lines[i])
			continue
		}
		// The signature may span lines up to the one that opens the body.
		j := i
		for !strings.HasSuffix(strings.TrimSpace(lines[j]), "{") && j < w.end {
			j++
		}
		out = append(out, lines[i:j+1]...)
		msg := fmt.Sprintf("%s is not available in libtorch %s: gotch v0.9.1 was generated for "+
			"libtorch 2.1.0 and this wrapper does not compile against %s (disabled by lowrank's "+
			"install-libtorch.sh; use a libtorch 2.1 via LIBTORCH=... to enable it)", w.name, version, version)
		out = append(out, "  "+disabledMarker, fmt.Sprintf("  torch_last_err = strdup(%s);", strconv.Quote(msg)))
		if !w.void {
			out = append(out, "  return 0;")
		}
		out = append(out, "}")
		i = w.end
	}
	return out
}

// disableUncompilable compiles the wrappers with the chosen libtorch and disables each one the
// compiler rejects, repeating until the file compiles. It returns the disabled names.
func disableUncompilable(c config, libDir string) ([]string, error) {
	path := filepath.Join(libDir, generatedHeader)
	var all []string
	for round := 1; round <= 6; round++ {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		args := append(cxxFlags(c), "-I"+libDir, "-fsyntax-only", "-fmax-errors=0",
			filepath.Join(libDir, "torch_api.cpp"))
		cmd := exec.Command(c.cxx, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		fmt.Printf("probing gotch's wrappers against libtorch %s (round %d)...\n", c.version, round)
		runErr := cmd.Run()
		if runErr == nil {
			return all, nil
		}
		if _, ok := runErr.(*exec.ExitError); !ok {
			return nil, fmt.Errorf("running %s: %w (install g++: apt-get install g++)", c.cxx, runErr)
		}
		lines := strings.Split(string(raw), "\n")
		bad := failingWrappers(out.String(), parseWrappers(lines))
		if len(bad) == 0 {
			return nil, fmt.Errorf("gotch's C++ API does not compile against libtorch %s outside the "+
				"generated wrappers, so it cannot be prepared automatically; compiler output:\n%s",
				c.version, tail(out.String(), 40))
		}
		for name := range bad {
			all = append(all, name)
		}
		if err := os.WriteFile(path, []byte(strings.Join(disableWrappers(lines, bad, c.version), "\n")), 0o644); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("the wrappers still do not compile after 6 rounds of disabling")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
