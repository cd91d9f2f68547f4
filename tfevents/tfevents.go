// Package tfevents writes TensorBoard event files: scalars and text that `tensorboard --logdir`
// shows. No well-kept Go writer exists (the TensorFlow Go bindings carry all of TensorFlow), so
// this is a small one over protowire (google.golang.org/protobuf's wire encoding).
//
// A file is a sequence of TFRecords: uint64 length (little-endian), uint32 masked CRC-32C of the
// length bytes, the data, uint32 masked CRC-32C of the data, where mask(c) = ((c >> 15) | (c <<
// 17)) + 0xa282ead8. Each record is a tensorflow.Event protobuf: wall_time (1, double), step (2,
// int64), and file_version (3, "brain.Event:2", the first record) or summary (5). A Summary holds
// values (1): tag (1), and simple_value (2, float) for a scalar, or metadata (9, plugin "text")
// and tensor (8, a DT_STRING TensorProto) for text.
package tfevents

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MaskedCRC is TFRecord's masked CRC-32C of b.
func MaskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// Writer appends events to one file. Its methods are not safe for concurrent use.
type Writer struct {
	f    *os.File
	w    *bufio.Writer
	Path string
}

// Create starts events.out.tfevents.<unix seconds>.<host>.<pid> in dir with the file-version
// event.
func Create(dir string) (*Writer, error) {
	host, _ := os.Hostname()
	name := fmt.Sprintf("events.out.tfevents.%d.%s.%d", time.Now().Unix(), host, os.Getpid())
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	// A second file in the same second by the same process (a run resumed at once) gets a
	// suffix: TensorBoard reads every file whose name holds "tfevents".
	for i := 1; os.IsExist(err) && i < 1000; i++ {
		path = filepath.Join(dir, fmt.Sprintf("%s.%d", name, i))
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	}
	if err != nil {
		return nil, err
	}
	w := &Writer{f: f, w: bufio.NewWriter(f), Path: path}
	ev := event(time.Now(), 0)
	ev = protowire.AppendTag(ev, 3, protowire.BytesType)
	ev = protowire.AppendString(ev, "brain.Event:2")
	if err := w.record(ev); err != nil {
		f.Close()
		return nil, err
	}
	return w, w.Flush()
}

// event starts an Event with its wall time (seconds) and step.
func event(wall time.Time, step int64) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(float64(wall.UnixNano())/1e9))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(step))
}

// record frames data as a TFRecord.
func (w *Writer) record(data []byte) error {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], MaskedCRC(head[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], MaskedCRC(data))
	for _, b := range [][]byte{head[:], data, tail[:]} {
		if _, err := w.w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// summary writes an Event with step whose summary holds value (an encoded Summary.Value).
func (w *Writer) summary(step int64, value []byte) error {
	var s []byte
	s = protowire.AppendTag(s, 1, protowire.BytesType)
	s = protowire.AppendBytes(s, value)
	ev := event(time.Now(), step)
	ev = protowire.AppendTag(ev, 5, protowire.BytesType)
	ev = protowire.AppendBytes(ev, s)
	return w.record(ev)
}

// Scalar records v under tag at step (TensorBoard's Scalars tab; stored as float32).
func (w *Writer) Scalar(tag string, step int64, v float64) error {
	var val []byte
	val = protowire.AppendTag(val, 1, protowire.BytesType)
	val = protowire.AppendString(val, tag)
	val = protowire.AppendTag(val, 2, protowire.Fixed32Type)
	val = protowire.AppendFixed32(val, math.Float32bits(float32(v)))
	return w.summary(step, val)
}

// Text records text (Markdown) under tag at step (TensorBoard's Text tab).
func (w *Writer) Text(tag string, step int64, text string) error {
	var plugin, meta, tensor, val []byte
	plugin = protowire.AppendTag(plugin, 1, protowire.BytesType)
	plugin = protowire.AppendString(plugin, "text")
	meta = protowire.AppendTag(meta, 1, protowire.BytesType)
	meta = protowire.AppendBytes(meta, plugin)
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, 7) // DT_STRING
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, nil) // a scalar: a shape without dimensions
	tensor = protowire.AppendTag(tensor, 8, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, []byte(text))
	val = protowire.AppendTag(val, 1, protowire.BytesType)
	val = protowire.AppendString(val, tag)
	val = protowire.AppendTag(val, 9, protowire.BytesType)
	val = protowire.AppendBytes(val, meta)
	val = protowire.AppendTag(val, 8, protowire.BytesType)
	val = protowire.AppendBytes(val, tensor)
	return w.summary(step, val)
}

// Flush writes buffered events to the file.
func (w *Writer) Flush() error { return w.w.Flush() }

// Close flushes and closes the file.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ErrCorrupt is ReadRecords' error for a record whose length or CRC does not check.
var ErrCorrupt = errors.New("tfevents: corrupt record")

// maxRecord bounds one record's length as read (events here are small; a corrupt length must
// not allocate gigabytes).
const maxRecord = 64 << 20

// ReadRecords reads every TFRecord of r, checking both CRCs of each; a truncated last record is
// an error too.
func ReadRecords(r io.Reader) ([][]byte, error) {
	br := bufio.NewReader(r)
	var out [][]byte
	for {
		var head [12]byte
		if _, err := io.ReadFull(br, head[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("%w: record %d: %v", ErrCorrupt, len(out), err)
		}
		n := binary.LittleEndian.Uint64(head[:8])
		if binary.LittleEndian.Uint32(head[8:]) != MaskedCRC(head[:8]) {
			return out, fmt.Errorf("%w: record %d: length CRC", ErrCorrupt, len(out))
		}
		if n > maxRecord {
			return out, fmt.Errorf("%w: record %d: length %d", ErrCorrupt, len(out), n)
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(br, data); err != nil {
			return out, fmt.Errorf("%w: record %d: %v", ErrCorrupt, len(out), err)
		}
		if binary.LittleEndian.Uint32(data[n:]) != MaskedCRC(data[:n]) {
			return out, fmt.Errorf("%w: record %d: data CRC", ErrCorrupt, len(out))
		}
		out = append(out, data[:n])
	}
}

// Value is one summary value of an event, as ParseEvent decodes it: a scalar, or text.
type Value struct {
	Tag    string
	Step   int64
	Scalar float32
	Text   string
	IsText bool
	Plugin string // the summary metadata's plugin ("text" for text)
}

// ParseEvent decodes the summary values of an Event record (none for the file-version event).
func ParseEvent(rec []byte) ([]Value, error) {
	var step int64
	var summary []byte
	err := eachField(rec, func(num protowire.Number, v []byte, x uint64) {
		switch num {
		case 2:
			step = int64(x)
		case 5:
			summary = v
		}
	})
	if err != nil || summary == nil {
		return nil, err
	}
	var out []Value
	err = eachField(summary, func(num protowire.Number, v []byte, _ uint64) {
		if num != 1 {
			return
		}
		val := Value{Step: step}
		_ = eachField(v, func(num protowire.Number, b []byte, x uint64) {
			switch num {
			case 1:
				val.Tag = string(b)
			case 2:
				val.Scalar = math.Float32frombits(uint32(x))
			case 9:
				_ = eachField(b, func(num protowire.Number, pd []byte, _ uint64) {
					if num == 1 {
						_ = eachField(pd, func(num protowire.Number, name []byte, _ uint64) {
							if num == 1 {
								val.Plugin = string(name)
							}
						})
					}
				})
			case 8:
				val.IsText = true
				_ = eachField(b, func(num protowire.Number, s []byte, _ uint64) {
					if num == 8 {
						val.Text = string(s)
					}
				})
			}
		})
		out = append(out, val)
	})
	return out, err
}

// eachField calls f with each field of the message b: its bytes (length-delimited fields) or
// its number (varint and fixed).
func eachField(b []byte, f func(num protowire.Number, v []byte, x uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var y uint32
			y, n = protowire.ConsumeFixed32(b)
			x = uint64(y)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			return fmt.Errorf("%w: wire type %v", ErrCorrupt, typ)
		}
		if n < 0 {
			return fmt.Errorf("%w: %v", ErrCorrupt, protowire.ParseError(n))
		}
		f(num, v, x)
		b = b[n:]
	}
	return nil
}
