package data

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Vocab maps words to tokens.
type Vocab struct {
	Words []string
	index map[string]int64
}

// Len is the number of words.
func (v *Vocab) Len() int { return len(v.Words) }

// ID returns the token of w, adding w when it is new.
func (v *Vocab) add(w string) int64 {
	if id, ok := v.index[w]; ok {
		return id
	}
	id := int64(len(v.Words))
	v.Words = append(v.Words, w)
	v.index[w] = id
	return id
}

// WikiText2 holds the three splits of WikiText-2 as token streams over one vocabulary.
type WikiText2 struct {
	Vocab              *Vocab
	Train, Valid, Test []int64
}

// Task selects what a token stream is used for.
type Task int

const (
	// FillMask is the reference's task: a fraction of the tokens is replaced by a mask token
	// (the vocabulary size) and every position predicts its original token.
	FillMask Task = iota
	// NextToken is plain language modelling: every position predicts the following token.
	NextToken
)

const wikiHelp = "download WikiText-2 (the tokenized version, wikitext-2-v1.zip) and set data.dir to the folder holding wiki.train.tokens, wiki.valid.tokens and wiki.test.tokens"

// LoadWikiText2 reads wiki.{train,valid,test}.tokens from dir (or dir/wikitext-2). Every line
// is split on white space and ends with "<eos>"; the files already spell unknown words "<unk>".
// The vocabulary lists words in order of first appearance, train then valid then test (33,279
// words for the real dataset, as the reference's num_tokens).
func LoadWikiText2(dir string) (*WikiText2, error) {
	dir = findDir(dir, "wikitext-2", "wiki.train.tokens")
	v := &Vocab{index: map[string]int64{}}
	w := &WikiText2{Vocab: v}
	for _, s := range []struct {
		name string
		dst  *[]int64
	}{{"wiki.train.tokens", &w.Train}, {"wiki.valid.tokens", &w.Valid}, {"wiki.test.tokens", &w.Test}} {
		path := filepath.Join(dir, s.name)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w; %s", err, wikiHelp)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			for _, word := range strings.Fields(sc.Text()) {
				*s.dst = append(*s.dst, v.add(word))
			}
			*s.dst = append(*s.dst, v.add("<eos>"))
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(*s.dst) == 0 {
			return nil, fmt.Errorf("%s is empty; %s", path, wikiHelp)
		}
	}
	if _, ok := v.index["<unk>"]; !ok {
		return nil, fmt.Errorf("%s has no <unk> token: not the tokenized WikiText-2 (wiki.*.tokens from wikitext-2-v1)", dir)
	}
	return w, nil
}

// TokenChunks serves a token stream in consecutive chunks of SeqLen tokens (the reference's
// bptt of 64) for a Task.
type TokenChunks struct {
	Tokens   []int64
	SeqLen   int
	Task     Task
	Vocab    int64   // the mask token's id (FillMask)
	MaskRate float64 // fraction of tokens masked (FillMask); the reference's 0.15
}

var _ Source = (*TokenChunks)(nil)

// Len is the number of whole chunks.
func (c *TokenChunks) Len() int {
	if c.Task == NextToken {
		return (len(c.Tokens) - 1) / c.SeqLen
	}
	return len(c.Tokens) / c.SeqLen
}

// Fill builds X (B, SeqLen) and Y (B, SeqLen). FillMask masks each input token with
// probability MaskRate, drawn from rng, in training and evaluation alike (as the reference).
func (c *TokenChunks) Fill(idx []int, rng *rand.Rand, _ bool) HostBatch {
	l := c.SeqLen
	xs, ys := make([]int64, len(idx)*l), make([]int64, len(idx)*l)
	for b, i := range idx {
		src := c.Tokens[i*l : i*l+l]
		for t, tok := range src {
			if c.Task == NextToken {
				xs[b*l+t], ys[b*l+t] = tok, c.Tokens[i*l+t+1]
				continue
			}
			ys[b*l+t] = tok
			xs[b*l+t] = tok
			if rng.Float64() < c.MaskRate {
				xs[b*l+t] = c.Vocab
			}
		}
	}
	shape := []int64{int64(len(idx)), int64(l)}
	return HostBatch{XInt: xs, XShape: shape, Y: ys, YShape: shape}
}

// wikiText2Vocab is WikiText-2's vocabulary (wikitext-2-v1, with <unk> and <eos>).
const wikiText2Vocab = 33279

// wikiText2Spec registers WikiText-2: the reference's fill-mask task over windows of 64 tokens
// (15% masked), reported as perplexity.
var wikiText2Spec = Spec{
	Name: "wikitext2", Text: true, FillMask: true, Vocab: wikiText2Vocab, SeqLen: 64, Classes: wikiText2Vocab,
	Metric:     "perplexity",
	DefaultDir: func() string { return filepath.Join("datasets", "wikitext-2") },
	Open: func(dir string, limit, _ int) (Splits, error) {
		w, err := LoadWikiText2(dir)
		if err != nil {
			return Splits{}, err
		}
		chunks := func(tokens []int64) *TokenChunks {
			return &TokenChunks{Tokens: tokens, SeqLen: 64, Task: FillMask, Vocab: int64(w.Vocab.Len()), MaskRate: 0.15}
		}
		tr := chunks(w.Train)
		if limit > 0 && limit < tr.Len() {
			tr.Tokens = tr.Tokens[:limit*tr.SeqLen]
		}
		return Splits{Train: tr, Test: chunks(w.Test)}, nil
	},
}
