// Command configdoc writes docs/config.md, the configuration key reference, from config/config.go
// (run from the repository root: go run ./tools/configdoc).
package main

import (
	"fmt"
	"os"

	"github.com/lowrank-dev/lowrank/internal/configdoc"
)

func main() {
	src, err := os.ReadFile("config/config.go")
	if err == nil {
		var doc []byte
		if doc, err = configdoc.Generate(src); err == nil {
			err = os.WriteFile("docs/config.md", doc, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}
