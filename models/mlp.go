package models

import (
	"fmt"
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/lowrank"
)

// Method says whether a model is built full-rank or factorized.
type Method int

const (
	// Original builds every layer dense.
	Original Method = iota
	// LowRank factorizes the layers the architecture marks as factorizable.
	LowRank
)

func (m Method) String() string {
	if m == LowRank {
		return "low_rank"
	}
	return "original"
}

// ParseMethod parses "original" or "low_rank".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "original":
		return Original, nil
	case "low_rank":
		return LowRank, nil
	}
	return 0, fmt.Errorf("method %q: want original or low_rank", s)
}

// Classifier is a model mapping a batch of inputs to class logits.
type Classifier interface {
	// Forward maps x to logits (B, classes); the result belongs to the caller.
	Forward(x *ts.Tensor, train bool) (*ts.Tensor, error)
	// Factorized lists the model's factorized layers, for regularizers.
	Factorized() []lowrank.Factorized
	// Cost is the parameter count and forward FLOPs for one example.
	Cost() lowrank.Cost
}

// MLPConfig configures an MLP. Zero values: hidden layers 512 and 256, ratio 0.2.
type MLPConfig struct {
	Method Method
	Hidden []int64 // default [512, 256]
	Rank   lowrank.Rank
}

// MLP flattens its input and applies Linear-ReLU layers and a dense classifier. With LowRank,
// every hidden layer is a lowrank.Linear; the classifier stays dense.
//
// Parameter names: "layers.<i>.weight"/"bias" (dense) or "layers.<i>.linear.{0,1}.*"
// (factorized), and "classifier.weight"/"classifier.bias".
type MLP struct {
	hidden     []layer
	classifier *denseLinear
	factorized []lowrank.Factorized
	cost       lowrank.Cost
}

type layer interface {
	Forward(x *ts.Tensor) (*ts.Tensor, error)
}

var _ Classifier = (*MLP)(nil)

// NewMLP builds an MLP from in features to classes under p.
func NewMLP(p *nn.Path, in, classes int64, cfg MLPConfig) (*MLP, error) {
	hidden := cfg.Hidden
	if len(hidden) == 0 {
		hidden = []int64{512, 256}
	}
	m := &MLP{}
	prev := in
	for i, h := range hidden {
		lp := p.Sub("layers").Sub(strconv.Itoa(i))
		if cfg.Method == LowRank {
			l, err := lowrank.NewLinear(lp, prev, h, lowrank.LinearConfig{Rank: cfg.Rank})
			if err != nil {
				return nil, err
			}
			m.hidden = append(m.hidden, l)
			m.factorized = append(m.factorized, l)
			m.cost = m.cost.Add(l.Cost(1))
		} else {
			l, err := newDenseLinear(lp, prev, h)
			if err != nil {
				return nil, err
			}
			m.hidden = append(m.hidden, l)
			m.cost = m.cost.Add(lowrank.DenseLinearCost(prev, h, 1, true))
		}
		prev = h
	}
	c, err := newDenseLinear(p.Sub("classifier"), prev, classes)
	if err != nil {
		return nil, err
	}
	m.classifier = c
	m.cost = m.cost.Add(lowrank.DenseLinearCost(prev, classes, 1, true))
	return m, nil
}

// Forward maps x (B, ...) to logits (B, classes).
func (m *MLP) Forward(x *ts.Tensor, train bool) (*ts.Tensor, error) {
	h, err := x.Flatten(1, -1, false)
	if err != nil {
		return nil, err
	}
	for _, l := range m.hidden {
		y, err := l.Forward(h)
		h.MustDrop()
		if err != nil {
			return nil, err
		}
		if h, err = y.Relu(true); err != nil {
			return nil, err
		}
	}
	out, err := m.classifier.Forward(h)
	h.MustDrop()
	return out, err
}

// Factorized lists the factorized hidden layers.
func (m *MLP) Factorized() []lowrank.Factorized { return m.factorized }

// Cost is the parameter count and FLOPs for one example.
func (m *MLP) Cost() lowrank.Cost { return m.cost }
