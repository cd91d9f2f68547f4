package checkpoint

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
)

// storageClass names the torch storage type of a dtype.
func storageClass(dt gotch.DType) (string, int, error) {
	switch dt {
	case gotch.Float:
		return "FloatStorage", 4, nil
	case gotch.Double:
		return "DoubleStorage", 8, nil
	case gotch.Half:
		return "HalfStorage", 2, nil
	case gotch.BFloat16:
		return "BFloat16Storage", 2, nil
	case gotch.Int64:
		return "LongStorage", 8, nil
	}
	return "", 0, fmt.Errorf("dtype %v cannot be saved (float32, float64, float16, bfloat16 and int64 can)", dt)
}

// tensorBytes returns t's elements as little-endian bytes in row-major order, read on the CPU
// through a uint8 view of a contiguous copy.
func tensorBytes(t *ts.Tensor) ([]byte, error) {
	if _, _, err := storageClass(t.DType()); err != nil {
		return nil, err
	}
	var raw []byte
	err := scope.Run(func(s *scope.Scope) {
		c := s.Keep(t.To(gotch.CPU, false))
		c = s.Keep(c.Contiguous(false))
		c = s.Keep(c.Reshape([]int64{-1}, false))
		u := s.Keep(c.ViewDtype(gotch.Uint8, false))
		n := int(u.Numel())
		raw = make([]byte, n)
		if n > 0 {
			s.Check(u.CopyDataUint8(raw, uint(n)))
		}
	})
	return raw, err
}

// Save writes tensors as a torch.save state dict at path, atomically: the file appears whole
// (temporary file, fsync, rename) or not at all. Keys are written in sorted order. Keys that
// hold the same *ts.Tensor share one storage, as torch.save writes a module registered under
// two names.
func Save(path string, tensors map[string]*ts.Tensor) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	d := make(Dict, len(names))
	for i, n := range names {
		d[i] = Item{n, tensors[n]}
	}
	var w objectWriter
	w.p.header()
	w.p.global("collections", "OrderedDict")
	w.p.op(opEmptyTuple)
	w.p.op(opReduce)
	if err := w.items(d); err != nil {
		return fmt.Errorf("checkpoint %s: tensor %w", path, err)
	}
	raw, err := w.archive(path)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, raw)
}

// archiveName is the top-level folder: the file's base name without extension, as torch.save.
func archiveName(path string) string {
	base := filepath.Base(path)
	if ext := filepath.Ext(base); ext != "" {
		base = base[:len(base)-len(ext)]
	}
	if base == "" {
		return "archive"
	}
	return base
}

func contiguousStrides(size []int64) []int64 {
	st := make([]int64, len(size))
	acc := int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= size[i]
	}
	return st
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeStored adds an uncompressed entry whose data starts at a multiple of 64 bytes in the
// file, padding the local header's extra field as PyTorch's writer does.
func writeStored(zw *zip.Writer, cw *countingWriter, name string, data []byte) error {
	if err := zw.Flush(); err != nil {
		return err
	}
	// Local header: 30 bytes + name + extra (4-byte extra header + padding).
	pos := cw.n + 30 + int64(len(name)) + 4
	pad := (64 - pos%64) % 64
	extra := make([]byte, 4+pad)
	binary.LittleEndian.PutUint16(extra[0:], 0xF0F0) // an unregistered ID, as PyTorch uses ("FB")
	binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	fh := &zip.FileHeader{Name: name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data)), Extra: extra}
	w, err := zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// WriteFileAtomic writes raw to path through a temporary file in the same folder, fsync and
// rename, so that readers see the old file or the new one, never half of it. The file gets
// mode 0666 less the umask (0644 usually), as os.WriteFile's would: os.CreateTemp's 0600 made
// checkpoints unreadable to the rest of a group sharing runs.
func WriteFileAtomic(path string, raw []byte) error {
	tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// createTemp creates a new file beside path, named .<name>.tmp<random>, with mode 0666 less the
// umask.
func createTemp(path string) (*os.File, error) {
	for try := 0; ; try++ {
		name := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.tmp%d", filepath.Base(path), rand.Uint32()))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if os.IsExist(err) && try < 100 {
			continue
		}
		return f, err
	}
}
