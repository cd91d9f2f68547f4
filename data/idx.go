package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// IDX is one array in the IDX format of MNIST and Fashion-MNIST: a 4-byte magic number
// (0, 0, type 0x08 = unsigned byte, number of dimensions), the dimensions as big-endian uint32,
// then the values.
type IDX struct {
	Dims []int
	Data []byte
}

// ReadIDX reads an IDX file of unsigned bytes, gzipped (.gz) or not.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: not a gzip file: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("%s: truncated before the magic number", path)
	}
	if magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 || magic[3] > 4 {
		return nil, fmt.Errorf("%s: wrong magic number % x, want 00 00 08 0n (an IDX file of unsigned bytes)", path, magic)
	}
	dims := make([]int, magic[3])
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("%s: truncated in the header", path)
		}
		dims[i] = int(d)
		// Checked before multiplying, so that the product cannot overflow.
		if d != 0 && total > maxIDXValues/int(d) {
			return nil, fmt.Errorf("%s: dimensions %v claim more than %d values: not an MNIST-format file (or a corrupt header)", path, dims[:i+1], maxIDXValues)
		}
		total *= int(d)
	}
	// The values are read as they come rather than into a buffer of the claimed size, so that a
	// header claiming more than the file holds costs no more memory than the file.
	buf, err := io.ReadAll(io.LimitReader(r, int64(total)+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the values: %w", path, err)
	}
	if len(buf) != total {
		what := "truncated"
		if len(buf) > total {
			what = "longer than its header says"
		}
		return nil, fmt.Errorf("%s: %s: the header's dimensions %v make %d values, the file holds %d", path, what, dims, total, min(len(buf), total+1))
	}
	return &IDX{Dims: dims, Data: buf}, nil
}

// maxIDXValues bounds what an IDX header may claim (2 GiB of bytes; MNIST's training images
// are 47 MB).
const maxIDXValues = 1 << 31
