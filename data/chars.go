package data

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Printable is Python's string.printable, the reference's character vocabulary (100 symbols);
// a character's index here is its token.
const Printable = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ \t\n\r\x0b\x0c"

// ShakespeareSeqLen is the reference's chunk length.
const ShakespeareSeqLen = 80

// charIndex maps a byte to its token, or -1.
var charIndex = func() [256]int16 {
	var t [256]int16
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(Printable); i++ {
		t[Printable[i]] = int16(i)
	}
	return t
}()

// encodeChars maps text to tokens, reporting the first character outside the vocabulary.
func encodeChars(text, where string) ([]byte, error) {
	out := make([]byte, len(text))
	for i := 0; i < len(text); i++ {
		c := charIndex[text[i]]
		if c < 0 {
			return nil, fmt.Errorf("%s: byte %q at offset %d is not in the character vocabulary (Python's string.printable)", where, text[i], i)
		}
		out[i] = byte(c)
	}
	return out, nil
}

// CharStream is a character-level text: example i is the window of SeqLen characters starting
// at i·Stride, labelled with the window shifted by one (the next character at every position).
// Stride 1 (or 0) gives every window, as the reference's CharacterDataset; Stride SeqLen gives
// non-overlapping windows that still cover the whole text, SeqLen times fewer of them.
type CharStream struct {
	Tokens []byte
	SeqLen int
	Stride int
}

var _ Source = (*CharStream)(nil)

func (c *CharStream) stride() int { return max(1, c.Stride) }

// Len is the number of windows, ⌈max(0, len − SeqLen)/Stride⌉.
func (c *CharStream) Len() int {
	n := max(0, len(c.Tokens)-c.SeqLen)
	return (n + c.stride() - 1) / c.stride()
}

// Fill builds X (B, SeqLen) and Y (B, SeqLen) int64 tokens.
func (c *CharStream) Fill(idx []int, _ *rand.Rand, _ bool) HostBatch {
	l := c.SeqLen
	xs, ys := make([]int64, len(idx)*l), make([]int64, len(idx)*l)
	for b, w := range idx {
		i := w * c.stride()
		for t := 0; t < l; t++ {
			xs[b*l+t] = int64(c.Tokens[i+t])
			ys[b*l+t] = int64(c.Tokens[i+t+1])
		}
	}
	shape := []int64{int64(len(idx)), int64(l)}
	return HostBatch{XInt: xs, XShape: shape, Y: ys, YShape: shape}
}

// Limit keeps the first n windows.
func (c *CharStream) Limit(n int) {
	if n > 0 && n < c.Len() {
		c.Tokens = c.Tokens[:(n-1)*c.stride()+c.SeqLen+1]
	}
}

var multiSpace = regexp.MustCompile(`  +`)

// LoadTinyShakespeare splits tiny Shakespeare's input.txt as the reference: runs of spaces
// collapsed, the first 80% of the lines for training and the rest (at least one line) for
// testing, newlines turned into spaces.
func LoadTinyShakespeare(path string) (train, test *CharStream, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("%w; tiny Shakespeare is the input.txt of karpathy/char-rnn (data/tinyshakespeare); set data.dir to that file", err)
	}
	lines := strings.Split(multiSpace.ReplaceAllString(string(raw), " "), "\n")
	lines = lines[:len(lines)-1] // the reference drops what follows the last newline
	if len(lines) < 2 {
		return nil, nil, fmt.Errorf("%s: %d line(s) cannot be split into training and test text", path, len(lines))
	}
	nTest := max(1, int(0.2*float64(len(lines))))
	split := len(lines) - nTest
	trText := strings.ReplaceAll(strings.Join(lines[:split], "\n"), "\n", " ")
	teText := strings.ReplaceAll(strings.Join(lines[split:], "\n"), "\n", " ")
	tr, err := encodeChars(trText, path)
	if err != nil {
		return nil, nil, err
	}
	te, err := encodeChars(teText, path)
	if err != nil {
		return nil, nil, err
	}
	return &CharStream{Tokens: tr, SeqLen: ShakespeareSeqLen}, &CharStream{Tokens: te, SeqLen: ShakespeareSeqLen}, nil
}

// CharSamples are fixed character-level samples: inputs and targets of SeqLen tokens each.
type CharSamples struct {
	Inputs, Targets []byte // N×SeqLen
	SeqLen          int
}

var _ Source = (*CharSamples)(nil)

// Len is the number of samples.
func (c *CharSamples) Len() int { return len(c.Inputs) / c.SeqLen }

// Fill builds X (B, SeqLen) and Y (B, SeqLen).
func (c *CharSamples) Fill(idx []int, _ *rand.Rand, _ bool) HostBatch {
	l := c.SeqLen
	xs, ys := make([]int64, len(idx)*l), make([]int64, len(idx)*l)
	for b, i := range idx {
		for t := 0; t < l; t++ {
			xs[b*l+t] = int64(c.Inputs[i*l+t])
			ys[b*l+t] = int64(c.Targets[i*l+t])
		}
	}
	shape := []int64{int64(len(idx)), int64(l)}
	return HostBatch{XInt: xs, XShape: shape, Y: ys, YShape: shape}
}

// LoadLEAFShakespeare reads a LEAF Shakespeare JSON file ({"users": [...], "user_data":
// {user: {"x": [80-character strings], "y": [next characters]}}}), all users pooled in the
// order of "users". Each sample's target is its input shifted by one with y appended: the next
// character at every position.
func LoadLEAFShakespeare(path string) (*CharSamples, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w; LEAF's Shakespeare data comes from its preprocessing scripts (github.com/TalwalkarLab/leaf)", err)
	}
	var doc struct {
		Users    []string `json:"users"`
		UserData map[string]struct {
			X []string `json:"x"`
			Y []string `json:"y"`
		} `json:"user_data"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: not LEAF JSON: %w", path, err)
	}
	users := doc.Users
	if len(users) == 0 {
		for u := range doc.UserData {
			users = append(users, u)
		}
		sort.Strings(users)
	}
	out := &CharSamples{SeqLen: ShakespeareSeqLen}
	for _, u := range users {
		ud, ok := doc.UserData[u]
		if !ok {
			return nil, fmt.Errorf("%s: user %q is listed but has no user_data", path, u)
		}
		if len(ud.X) != len(ud.Y) {
			return nil, fmt.Errorf("%s: user %q has %d inputs and %d targets", path, u, len(ud.X), len(ud.Y))
		}
		for i, x := range ud.X {
			if len(x) != ShakespeareSeqLen || len(ud.Y[i]) != 1 {
				return nil, fmt.Errorf("%s: user %q sample %d: want an input of %d characters and a 1-character target, got %d and %d",
					path, u, i, ShakespeareSeqLen, len(x), len(ud.Y[i]))
			}
			in, err := encodeChars(x, path)
			if err != nil {
				return nil, err
			}
			tg, err := encodeChars(x[1:]+ud.Y[i], path)
			if err != nil {
				return nil, err
			}
			out.Inputs = append(out.Inputs, in...)
			out.Targets = append(out.Targets, tg...)
		}
	}
	return out, nil
}

// shakespeareSpec registers tiny Shakespeare: next-character prediction over Python's 100
// printable characters in windows of 80, as the reference.
var shakespeareSpec = Spec{
	Name: "shakespeare", Text: true, Vocab: int64(len(Printable)), SeqLen: ShakespeareSeqLen, Classes: int64(len(Printable)),
	Metric: "accuracy", Strided: true,
	DefaultDir: func() string { return filepath.Join("datasets", "tinyshakespeare", "input.txt") },
	Open: func(dir string, limit, stride int) (Splits, error) {
		tr, te, err := LoadTinyShakespeare(dir)
		if err != nil {
			return Splits{}, err
		}
		tr.Stride, te.Stride = stride, stride
		tr.Limit(limit)
		return Splits{Train: tr, Test: te}, nil
	},
}
