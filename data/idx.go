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
		total *= int(d)
	}
	if total > 1<<31 {
		return nil, fmt.Errorf("%s: dimensions %v are implausibly large", path, dims)
	}
	buf := make([]byte, total)
	if n, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%s: truncated: %d of %d values for dimensions %v", path, n, total, dims)
	}
	return &IDX{Dims: dims, Data: buf}, nil
}
