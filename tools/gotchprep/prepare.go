package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// config holds what install-libtorch.sh found about the libtorch to build against.
type config struct {
	src, dst        string
	include, libdir string
	version         string
	abi             int
	cuda            bool
	cudaDir         string
	cxx             string
	force           bool
	repo            string // lowrank's repository root, where its C++ packages' cgo files go
}

// patchLevel changes whenever this tool's rewriting logic changes, so that old copies are
// rebuilt (the stamp also hashes the sources the copy embeds).
const patchLevel = "16"

func (c config) validate() error {
	var errs []error
	if c.src == "" {
		errs = append(errs, errors.New("-src is required"))
	} else if _, err := os.Stat(filepath.Join(c.src, "libtch", "torch_api.cpp")); err != nil {
		errs = append(errs, fmt.Errorf("-src %s is not a gotch module directory: %w", c.src, err))
	}
	if c.include == "" || c.libdir == "" || c.version == "" {
		errs = append(errs, errors.New("-include, -libdir and -version are required"))
	}
	if c.abi != 0 && c.abi != 1 {
		errs = append(errs, fmt.Errorf("-abi must be 0 or 1, got %d", c.abi))
	}
	return errors.Join(errs...)
}

// stamp identifies the inputs of a prepared copy.
func (c config) stamp() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%d|%v|%s|%s", c.src, c.include, c.libdir, c.version, c.abi, c.cuda, c.cudaDir, patchLevel)
	// The texts the copy embeds verbatim count too, so that editing them needs no patchLevel bump.
	for _, text := range []string{newTensorPatched, freePatched, float64ValuesFixed, liveTensorsFile} {
		h.Write([]byte(text))
	}
	return fmt.Sprintf("%x\n", h.Sum(nil))
}

func run(c config) error {
	if err := c.validate(); err != nil {
		return err
	}
	stampFile := filepath.Join(c.dst, ".lowrank-stamp")
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == c.stamp() && !c.force {
		disabled, err := readDisabled(c.dst)
		if err == nil {
			fmt.Printf("gotch copy in %s is up to date (%d ops disabled)\n", c.dst, len(disabled))
			return writeCgoFiles(c, c.repo, disabled)
		}
	}
	tmp := c.dst + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.CopyFS(tmp, os.DirFS(c.src)); err != nil {
		return fmt.Errorf("copying gotch from %s: %w", c.src, err)
	}
	lib := filepath.Join(tmp, "libtch")
	if err := os.WriteFile(filepath.Join(lib, "lib.go"), []byte(cgoFlagsFile(c)), 0o644); err != nil {
		return err
	}
	disabled, err := disableUncompilable(c, lib)
	if err != nil {
		return err
	}
	patched, err := patchOutputArrays(filepath.Join(tmp, "ts"))
	if err != nil {
		return err
	}
	inplace, err := rewriteGoFiles(filepath.Join(tmp, "ts"), freeInplaceHandles)
	if err != nil {
		return err
	}
	ints, err := patchCIntReads(lib)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, disabledList), []byte(strings.Join(disabled, "\n")), 0o644); err != nil {
		return err
	}
	if err := patchVarStore(filepath.Join(tmp, "nn", "varstore.go")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "nn", "lowrank_ext.go"), []byte(nnExtFile), 0o644); err != nil {
		return err
	}
	if err := patchTensorBookkeeping(filepath.Join(tmp, "ts")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".lowrank-stamp"), []byte(c.stamp()), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(c.dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.dst); err != nil {
		return err
	}
	if err := writeCgoFiles(c, c.repo, disabled); err != nil {
		return err
	}
	fmt.Printf("gotch copy written to %s: %d ops disabled, %d output arrays, %d in-place handles and %d C int reads fixed\n",
		c.dst, len(disabled), patched, inplace, ints)
	return nil
}

// disabledList is the file of a prepared copy that names its disabled wrappers, one a line.
const disabledList = ".lowrank-disabled"

// readDisabled reads the disabled wrappers' names back from a prepared copy.
func readDisabled(dst string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dst, disabledList))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	return strings.Split(string(b), "\n"), nil
}
