package main

import (
	"os"
	"path/filepath"
)

// rewriteGoFiles applies fix to every Go file in dir, writing back the files it changed, and
// returns the total count fix reports.
func rewriteGoFiles(dir string, fix func(src string) (string, int)) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return 0, err
	}
	total := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		out, n := fix(string(raw))
		if n == 0 {
			continue
		}
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
