package configdoc

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// docs/config.md is what the schema generates now: every key of config.Default(), with its
// comment, so that adding a key without regenerating the file fails here.
func TestConfigDocIsCurrent(t *testing.T) {
	src, err := os.ReadFile("../../config/config.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/config.md is stale: run `go run ./tools/configdoc`")
	}
	for _, key := range []string{"`optimizer.lr` | number | 0.01 |", "`train.memory_format` | string | `auto` |", "`lowrank.schedule`"} {
		if !strings.Contains(string(want), key) {
			t.Errorf("the reference lacks %s", key)
		}
	}
}
