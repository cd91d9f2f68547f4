package main

import (
	"fmt"
	"os"
	"strings"
)

const (
	pathSubAliasing = "\tpath := p.path\n\tpath = append(path, str)\n"
	pathSubCopy     = "\tpath := append(append(make([]string, 0, len(p.path)+1), p.path...), str)\n"
)

// patchPathSub makes nn.Path.Sub copy its parent's path instead of appending to it in place.
func patchPathSub(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	src := string(raw)
	if strings.Count(src, pathSubAliasing) != 1 {
		return fmt.Errorf("%s: Path.Sub does not read as in gotch v0.9.1; the aliasing fix cannot be applied (update tools/gotchprep/pathsub.go)", file)
	}
	return os.WriteFile(file, []byte(strings.Replace(src, pathSubAliasing, pathSubCopy, 1)), 0o644)
}
