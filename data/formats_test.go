package data_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/lowrank-dev/lowrank/data"
)

// writeCIFAR writes n records of the binary format: label bytes then 3072 pixels, pixel value
// (record+position) mod 256 and labels record mod classes.
func writeCIFAR(t *testing.T, path string, n, labelBytes, classes, first int) {
	t.Helper()
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		for j := 0; j < labelBytes; j++ {
			buf.WriteByte(byte((first + i + j) % classes))
		}
		for p := 0; p < 3072; p++ {
			buf.WriteByte(byte(first + i + p))
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCIFAR(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin")
	os.Mkdir(dir, 0o755)
	for i := 1; i <= 5; i++ {
		writeCIFAR(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)), 3, 1, 10, 3*(i-1))
	}
	writeCIFAR(t, filepath.Join(dir, "test_batch.bin"), 4, 1, 10, 100)
	c100 := filepath.Join(root, "cifar-100-binary")
	os.Mkdir(c100, 0o755)
	writeCIFAR(t, filepath.Join(c100, "train.bin"), 5, 2, 100, 0)
	writeCIFAR(t, filepath.Join(c100, "test.bin"), 2, 2, 20, 7)

	for _, tc := range []struct {
		name        string
		load        func() (*data.Images, error)
		n           int
		first, last int64
		classes     int64
	}{
		{"cifar10 train (parent dir)", func() (*data.Images, error) { return data.LoadCIFAR10(root, "train") }, 15, 0, 4, 10},
		{"cifar10 test", func() (*data.Images, error) { return data.LoadCIFAR10(dir, "test") }, 4, 0, 3, 10},
		{"cifar100 fine", func() (*data.Images, error) { return data.LoadCIFAR100(root, "train", true) }, 5, 1, 5, 100},
		{"cifar100 coarse", func() (*data.Images, error) { return data.LoadCIFAR100(c100, "test", false) }, 2, 7, 8, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tc.load()
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tc.n || d.C != 3 || d.H != 32 || len(d.Pixels) != tc.n*3072 || d.NumClasses != tc.classes {
				t.Fatalf("%d examples, %d pixels, %d classes", d.Len(), len(d.Pixels), d.NumClasses)
			}
			if d.Labels[0] != tc.first || d.Labels[d.Len()-1] != tc.last {
				t.Errorf("labels %d…%d, want %d…%d", d.Labels[0], d.Labels[d.Len()-1], tc.first, tc.last)
			}
			hb := d.Fill([]int{1}, nil, false)
			// Pixel 5 of channel 0 of record 1 is byte (first+1+5); normalized with channel 0's constants.
			want := (float32(byte(int(d.Pixels[0])+1+5))/255 - d.Mean[0]) / d.Std[0]
			if fmt.Sprint(hb.XShape) != "[1 3 32 32]" || math.Abs(float64(hb.X[5]-want)) > 1e-6 {
				t.Errorf("batch %v, x[5] = %g want %g", hb.XShape, hb.X[5], want)
			}
		})
	}
	bad := filepath.Join(root, "bad")
	os.Mkdir(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "test_batch.bin"), make([]byte, 3073*2+10), 0o644)
	if _, err := data.LoadCIFAR10(bad, "test"); err == nil || !strings.Contains(err.Error(), "not a whole number of 3073-byte records") {
		t.Errorf("truncated file: %v", err)
	}
	if _, err := data.LoadCIFAR10(filepath.Join(root, "none"), "train"); err == nil || !strings.Contains(err.Error(), "cs.toronto.edu") {
		t.Errorf("missing data: %v, want where to get it", err)
	}
	writeCIFAR(t, filepath.Join(bad, "test_batch.bin"), 2, 1, 256, 20) // labels 20, 21
	if _, err := data.LoadCIFAR10(bad, "test"); err == nil || !strings.Contains(err.Error(), "label 20") {
		t.Errorf("bad label: %v", err)
	}
}

func TestAugmentation(t *testing.T) {
	d := &data.Images{C: 1, H: 4, W: 4, Mean: []float32{0}, Std: []float32{1}, Labels: []int64{0},
		Pixels: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, Augment: data.Augment{CropPad: 1, Flip: true}}
	seen := map[string]bool{}
	for seed := uint64(0); seed < 200; seed++ {
		a := d.Fill([]int{0}, rand.New(rand.NewPCG(seed, 1)), true)
		b := d.Fill([]int{0}, rand.New(rand.NewPCG(seed, 1)), true)
		if fmt.Sprint(a.X) != fmt.Sprint(b.X) {
			t.Fatal("the same seed gave different augmentations")
		}
		// Every output is a shifted (by -1..1), possibly mirrored, copy with zero padding.
		ok := false
		for dy := -1; dy <= 1 && !ok; dy++ {
			for dx := -1; dx <= 1 && !ok; dx++ {
				for _, flip := range []bool{false, true} {
					match := true
					for y := 0; y < 4; y++ {
						for x := 0; x < 4; x++ {
							sx := x + dx
							if flip {
								sx = 3 - x + dx
							}
							var want float32
							if sy := y + dy; sy >= 0 && sy < 4 && sx >= 0 && sx < 4 {
								want = float32(sy*4+sx) / 255
							}
							if math.Abs(float64(a.X[y*4+x]-want)) > 1e-7 {
								match = false
							}
						}
					}
					ok = ok || match
				}
			}
		}
		if !ok {
			t.Fatalf("seed %d: %v is no crop/flip of the image", seed, a.X)
		}
		seen[fmt.Sprint(a.X)] = true
	}
	if len(seen) < 12 {
		t.Errorf("only %d distinct augmentations in 200 draws; want most of the 18", len(seen))
	}
	plain := d.Fill([]int{0}, rand.New(rand.NewPCG(1, 1)), false)
	if plain.X[5] != 5.0/255 {
		t.Errorf("evaluation batches must not be augmented: %v", plain.X)
	}
}

// shakespearePath is tiny Shakespeare in the workplace's shared data (CI has it).
const shakespearePath = "../../shared/data/tinyshakespeare/input.txt"

func TestTinyShakespeareMatchesReferenceSplit(t *testing.T) {
	if _, err := os.Stat(shakespearePath); err != nil {
		t.Skip("tiny Shakespeare not found at " + shakespearePath)
	}
	train, test, err := data.LoadTinyShakespeare(shakespearePath)
	if err != nil {
		t.Fatal(err)
	}
	// The reference's preprocessing (generate_data.py) and CharacterDataset, run in Python.
	script := `
import re, string, sys
t = re.sub(r"  +", " ", open(sys.argv[1]).read())
lines = t.split("\n")[:-1]
n_test = max(1, int(0.2 * len(lines)))
tr = "\n".join(lines[:len(lines) - n_test]).replace("\n", " ")
te = "\n".join(lines[len(lines) - n_test:]).replace("\n", " ")
idx = {c: i for i, c in enumerate(string.printable)}
print(len(string.printable), len(tr) - 80, len(te) - 80, [idx[c] for c in tr[:81]], [idx[c] for c in te[-81:]])
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, shakespearePath).Output()
	if err != nil {
		t.Skipf("python3: %v", err)
	}
	x0 := train.Fill([]int{0}, nil, true)
	xl := test.Fill([]int{test.Len() - 1}, nil, false)
	toks := func(x, y []int64) string {
		s := make([]string, 0, 81)
		for _, v := range x {
			s = append(s, fmt.Sprint(v))
		}
		s = append(s, fmt.Sprint(y[len(y)-1]))
		return "[" + strings.Join(s, ", ") + "]"
	}
	got := fmt.Sprintf("%d %d %d %s %s\n", len(data.Printable), train.Len(), test.Len(), toks(x0.XInt, x0.Y), toks(xl.XInt, xl.Y))
	if got != string(out) {
		t.Errorf("Go:     %.300s\nPython: %.300s", got, out)
	}
	for i := 0; i < 79; i++ {
		if x0.Y[i] != x0.XInt[i+1] {
			t.Fatal("targets are not the inputs shifted by one")
		}
	}
}

func TestLEAFShakespeare(t *testing.T) {
	x := strings.Repeat("abcd", 20)
	doc := map[string]any{"users": []string{"u2", "u1"}, "user_data": map[string]any{
		"u1": map[string]any{"x": []string{x}, "y": []string{"Z"}},
		"u2": map[string]any{"x": []string{x, strings.Repeat("A", 80)}, "y": []string{"e", "!"}},
	}}
	raw, _ := json.Marshal(doc)
	path := filepath.Join(t.TempDir(), "all_data.json")
	os.WriteFile(path, raw, 0o644)
	d, err := data.LoadLEAFShakespeare(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 {
		t.Fatalf("%d samples", d.Len())
	}
	hb := d.Fill([]int{0, 2}, nil, true)
	idx := func(c byte) int64 { return int64(strings.IndexByte(data.Printable, c)) }
	// u2 comes first: sample 0 targets end with 'e'; sample 2 is u1's, ending with 'Z'.
	if hb.Y[79] != idx('e') || hb.Y[159] != idx('Z') || hb.Y[0] != idx('b') || hb.XInt[0] != idx('a') {
		t.Errorf("targets %v…", hb.Y[:3])
	}
	for _, bad := range []string{`{"users": ["u"], "user_data": {"u": {"x": ["short"], "y": ["a"]}}}`, `{"users": ["v"], "user_data": {}}`, `[1,`} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := data.LoadLEAFShakespeare(path); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestWikiText2(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wikitext-2")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "wiki.train.tokens"), []byte(" = Title = \n\n the cat sat <unk> . \n"), 0o644)
	os.WriteFile(filepath.Join(dir, "wiki.valid.tokens"), []byte(" the dog \n"), 0o644)
	os.WriteFile(filepath.Join(dir, "wiki.test.tokens"), []byte(" a cat \n"), 0o644)
	w, err := data.LoadWikiText2(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	// = Title <eos> the cat sat <unk> . dog a: 10 words; train is 3 lines.
	if w.Vocab.Len() != 10 || len(w.Train) != 4+1+6 || len(w.Valid) != 3 || len(w.Test) != 3 {
		t.Fatalf("vocab %v, train %v", w.Vocab.Words, w.Train)
	}
	if w.Vocab.Words[w.Train[3]] != "<eos>" || w.Vocab.Words[w.Test[0]] != "a" {
		t.Errorf("tokens %v", w.Train)
	}
	os.WriteFile(filepath.Join(dir, "wiki.test.tokens"), nil, 0o644)
	if _, err := data.LoadWikiText2(dir); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty split: %v", err)
	}

	stream := make([]int64, 64*500)
	for i := range stream {
		stream[i] = int64(i % 97)
	}
	fm := &data.TokenChunks{Tokens: stream, SeqLen: 64, Task: data.FillMask, Vocab: 97, MaskRate: 0.15}
	idx := make([]int, fm.Len())
	for i := range idx {
		idx[i] = i
	}
	hb := fm.Fill(idx, rand.New(rand.NewPCG(1, 2)), true)
	masked := 0
	for i, x := range hb.XInt {
		if hb.Y[i] != stream[i] {
			t.Fatal("fill-mask labels must be the original tokens")
		}
		if x == 97 {
			masked++
		} else if x != stream[i] {
			t.Fatal("an unmasked input changed")
		}
	}
	// 32,000 Bernoulli(0.15) draws: standard deviation 0.002.
	if rate := float64(masked) / float64(len(hb.XInt)); math.Abs(rate-0.15) > 0.01 {
		t.Errorf("masking rate %.4f, want 0.15", rate)
	}
	lm := &data.TokenChunks{Tokens: stream, SeqLen: 64, Task: data.NextToken}
	hb = lm.Fill([]int{3}, nil, false)
	if lm.Len() != (len(stream)-1)/64 || hb.Y[0] != hb.XInt[1] || hb.Y[63] != stream[3*64+64] {
		t.Errorf("next-token targets wrong")
	}
}

func TestLoaderDeterministicAndPrefetching(t *testing.T) {
	d := &data.Images{C: 1, H: 2, W: 2, Mean: []float32{0}, Std: []float32{1}, Augment: data.Augment{Flip: true}}
	for i := 0; i < 50; i++ {
		d.Labels = append(d.Labels, int64(i%10))
		d.Pixels = append(d.Pixels, byte(i), byte(i+1), byte(i+2), byte(i+3))
	}
	epoch := func(l *data.Loader, e, skip int) []string {
		var out []string
		it := l.Epoch(e, skip)
		for hb, ok := it.Next(); ok; hb, ok = it.Next() {
			out = append(out, fmt.Sprint(hb.X, hb.Y))
		}
		return out
	}
	l := &data.Loader{Source: d, BatchSize: 8, Train: true, Seed: 3, Prefetch: 3}
	a, b := epoch(l, 1, 0), epoch(l, 1, 0)
	if len(a) != 7 || l.NumBatches() != 7 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("%d batches; same seed equal: %v", len(a), fmt.Sprint(a) == fmt.Sprint(b))
	}
	if fmt.Sprint(epoch(l, 2, 0)) == fmt.Sprint(a) {
		t.Error("another epoch gave the same batches")
	}
	if fmt.Sprint(epoch(l, 1, 4)) != fmt.Sprint(a[4:]) {
		t.Error("resuming at batch 4 must give the epoch's remaining batches")
	}
	it := l.Epoch(1, 0)
	it.Next()
	it.Close() // must not block or leak the producer
}

// TestCharStreamStride: window w starts at w·Stride; Len counts the windows whose next-character
// target still exists; Limit and First keep leading windows.
func TestCharStreamStride(t *testing.T) {
	text := []byte("abcdefghij") // 10 characters, windows of 3 need a 4th for the target
	for _, tc := range []struct {
		stride, wantLen int
		window2         string // inputs of window 2
		limit, limLen   int
	}{
		{0, 7, "cde", 4, 4},
		{1, 7, "cde", 4, 4},
		{3, 3, "ghi", 2, 2},
		{4, 2, "", 1, 1},
		{7, 1, "", 5, 1},
	} {
		c := &data.CharStream{Tokens: text, SeqLen: 3, Stride: tc.stride}
		if got := c.Len(); got != tc.wantLen {
			t.Errorf("stride %d: Len %d, want %d", tc.stride, got, tc.wantLen)
		}
		last := c.Fill([]int{c.Len() - 1}, nil, false)
		if end := last.Y[2]; int(end) > int('j') {
			t.Errorf("stride %d: last window's target %q is past the text", tc.stride, rune(end))
		}
		if tc.window2 != "" {
			b := c.Fill([]int{2}, nil, false)
			got := string([]byte{byte(b.XInt[0]), byte(b.XInt[1]), byte(b.XInt[2])})
			next := string([]byte{byte(b.Y[0]), byte(b.Y[1]), byte(b.Y[2])})
			if got != tc.window2 || next != tc.window2[1:]+string(rune(tc.window2[2]+1)) {
				t.Errorf("stride %d: window 2 = %q → %q, want %q shifted by one", tc.stride, got, next, tc.window2)
			}
		}
		if got := data.First(c, 2).Len(); got != min(2, tc.wantLen) {
			t.Errorf("stride %d: First(2) has %d windows", tc.stride, got)
		}
		c.Limit(tc.limit)
		if got := c.Len(); got != tc.limLen {
			t.Errorf("stride %d: after Limit(%d) Len %d, want %d", tc.stride, tc.limit, got, tc.limLen)
		}
	}
}

// TestTensorOf: one copy of the slice into a tensor of the shape, values and dtype intact, and
// clear errors for mismatched shapes.
func TestTensorOf(t *testing.T) {
	f := []float32{1.5, -2, 3, 4, 5, 6.25}
	x, err := data.TensorOf(f, []int64{2, 3})
	if err != nil {
		t.Fatal(err)
	}
	got := x.Float64Values()
	for i := range f {
		if got[i] != float64(f[i]) {
			t.Fatalf("float values %v, want %v", got, f)
		}
	}
	if x.DType() != gotch.Float {
		t.Errorf("dtype %v", x.DType())
	}
	f[0] = 99 // the tensor holds a copy
	if x.Float64Values()[0] != 1.5 {
		t.Error("the tensor aliases the slice")
	}
	y, err := data.TensorOf([]int64{7, 1 << 40, -3}, []int64{3})
	if err != nil {
		t.Fatal(err)
	}
	if v := y.Int64Values(); v[0] != 7 || v[1] != 1<<40 || v[2] != -3 || y.DType() != gotch.Int64 {
		t.Errorf("int values %v, dtype %v", v, y.DType())
	}
	for _, shape := range [][]int64{{4}, {}, {2, 2}} {
		if _, err := data.TensorOf([]int64{1, 2, 3}, shape); err == nil {
			t.Errorf("shape %v accepted for 3 values", shape)
		}
	}
}
