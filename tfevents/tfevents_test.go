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

// A file written here reads back record by record with every CRC checked: the version event,
// then a scalar and a text value with their tags, steps and values (the text a DT_STRING tensor);
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
	var version string
	var wall float64
	if err := eachField(recs[0], func(num protowire.Number, v []byte, x uint64) {
		switch num {
		case 1:
			wall = math.Float64frombits(x)
		case 3:
			version = string(v)
		}
	}); err != nil || version != "brain.Event:2" || wall < 1.7e9 {
		t.Errorf("first event: file_version %q, wall time %v (%v)", version, wall, err)
	}
	var vals []Value
	for _, r := range recs[1:] {
		v, err := ParseEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, v...)
	}
	want := []Value{{Tag: "train/loss", Step: 7, Scalar: 0.625}, {Tag: "config", IsText: true, Text: "model: mlp", Plugin: "text"}}
	if len(vals) != 2 || vals[0] != want[0] || vals[1] != want[1] {
		t.Errorf("values %+v, want %+v", vals, want)
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
