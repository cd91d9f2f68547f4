package tfevents

import (
	"bytes"
	"errors"
	"math"
	"os"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The CRC is CRC-32C (Castagnoli): its standard check value, then TFRecord's mask.
func TestMaskedCRC(t *testing.T) {
	c := uint32(0xe3069283) // CRC-32C of "123456789"
	if got, want := MaskedCRC([]byte("123456789")), ((c>>15)|(c<<17))+0xa282ead8; got != want {
		t.Fatalf("masked CRC %#x, want %#x", got, want)
	}
}

// fields decodes one protobuf message into its fields by number (the last of each).
func fields(t *testing.T, b []byte) map[protowire.Number]any {
	t.Helper()
	out := map[protowire.Number]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		var v any
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			v, n = protowire.ConsumeFixed32(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("wire type %v", typ)
		}
		if n < 0 {
			t.Fatalf("bad field %d: %v", num, protowire.ParseError(n))
		}
		out[num] = v
		b = b[n:]
	}
	return out
}

// A file written here reads back record by record with every CRC checked: the version event,
// then scalars and text with their tags, steps and values, as TensorBoard's reader decodes them;
// a flipped byte or a truncated record is refused.
func TestWriteReadBack(t *testing.T) {
	w, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Scalar("train/loss", 7, 0.625); err != nil {
		t.Fatal(err)
	}
	if err := w.Text("config", 0, "model: mlp"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadRecords(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	if v := fields(t, recs[0])[3]; string(v.([]byte)) != "brain.Event:2" {
		t.Errorf("first event's file_version %q", v)
	}
	ev := fields(t, recs[1])
	if wall := math.Float64frombits(ev[1].(uint64)); wall < 1.7e9 {
		t.Errorf("wall time %v", wall)
	}
	if ev[2].(uint64) != 7 {
		t.Errorf("step %v", ev[2])
	}
	val := fields(t, fields(t, ev[5].([]byte))[1].([]byte))
	if string(val[1].([]byte)) != "train/loss" || math.Float32frombits(val[2].(uint32)) != 0.625 {
		t.Errorf("scalar value %v", val)
	}
	text := fields(t, fields(t, fields(t, recs[2])[5].([]byte))[1].([]byte))
	tensor := fields(t, text[8].([]byte))
	plugin := fields(t, fields(t, text[9].([]byte))[1].([]byte))
	if string(text[1].([]byte)) != "config" || tensor[1].(uint64) != 7 || string(tensor[8].([]byte)) != "model: mlp" || string(plugin[1].([]byte)) != "text" {
		t.Errorf("text value %v, tensor %v, plugin %v", text, tensor, plugin)
	}
	for _, bad := range [][]byte{flip(raw, 5), flip(raw, len(raw)-6), raw[:len(raw)-2]} {
		if _, err := ReadRecords(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("a corrupt file read with %v", err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}

// Two writers in one folder within the same second (a run resumed at once) get two files.
func TestCreateTwiceInOneSecond(t *testing.T) {
	dir := t.TempDir()
	a, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Path == b.Path {
		t.Fatalf("both wrote %s", a.Path)
	}
}
