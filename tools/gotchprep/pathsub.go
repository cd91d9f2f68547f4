package main

import (
	"fmt"
	"os"
	"strings"
)

// varstoreEdit is one textual change to gotch v0.9.1's nn/varstore.go: old must occur exactly once.
type varstoreEdit struct{ what, old, new string }

const (
	pathSubAliasing = "\tpath := p.path\n\tpath = append(path, str)\n"
	pathSubCopy     = "\tpath := append(append(make([]string, 0, len(p.path)+1), p.path...), str)\n"
	varStoreFields  = "\tdevice gotch.Device\n\tvars   map[string]Var\n}\n"
	varStoreOrdered = "\tdevice gotch.Device\n\tvars   map[string]Var\n\torder  []string // names in the order they were added (lowrank's gotchprep)\n}\n"
	pathAddStore    = "\tp.varstore.vars[path] = v\n\n\treturn tensor, nil\n"
	pathAddOrdered  = "\tp.varstore.vars[path] = v\n\tp.varstore.order = append(p.varstore.order, path)\n\n\treturn tensor, nil\n"
)

// varstoreEdits are the changes to nn/varstore.go (main.go's changes 7 and 13).
var varstoreEdits = []varstoreEdit{
	{"the Path.Sub aliasing fix", pathSubAliasing, pathSubCopy},
	{"the VarStore's registration order (field)", varStoreFields, varStoreOrdered},
	{"the VarStore's registration order (Path.add)", pathAddStore, pathAddOrdered},
}

// patchVarStore makes nn.Path.Sub copy its parent's path instead of appending to it in place,
// and makes the VarStore remember the order its variables were added in.
func patchVarStore(file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	src := string(raw)
	for _, e := range varstoreEdits {
		if strings.Count(src, e.old) != 1 {
			return fmt.Errorf("%s: nn/varstore.go does not read as in gotch v0.9.1; %s cannot be applied (update tools/gotchprep/pathsub.go)", file, e.what)
		}
		src = strings.Replace(src, e.old, e.new, 1)
	}
	return os.WriteFile(file, []byte(src), 0o644)
}
