package models

import (
	"fmt"
	"strconv"

	"github.com/sugarme/gotch/nn"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/scope"
	"github.com/lowrank-dev/lowrank/lowrank"
)

// resnetBlocks are the residual blocks per stage. The reference builds both depths from basic
// blocks (two 3×3 convolutions); its "ResNet101" is [3, 4, 23, 3] basic blocks, not bottlenecks,
// and its parameter table counts that network.
var resnetBlocks = map[int][4]int{18: {2, 2, 2, 2}, 101: {3, 4, 23, 3}}

// ResNet is the reference's CIFAR ResNet: a 3×3 stem convolution with batch norm, four stages of
// basic blocks (64, 128, 256, 512 channels; strides 1, 2, 2, 2), global average pooling and a
// linear classifier. Input (B, 3, 32, 32).
//
// With LowRank, both convolutions of each residual block from (HybridBlock, HybridLayer) on are
// factorized; the stem, the 1×1 shortcut convolutions and the classifier stay dense. Convolutions
// are initialized N(0, 2/fan_out) (Kaiming, fan-out), batch norms to 1 and 0.
//
// Parameter names follow the reference: "head.0" (conv), "head.1" (batch norm),
// "body.<stage>.<block>.{conv1,bn1,conv2,bn2}", "body.<stage>.0.down_sample.{0,1}", "tail".
type ResNet struct {
	base
	head   *conv
	headBN *batchNorm
	blocks []*resBlock
	tail   *linear
	// aliases: the reference's second names for submodules (compat reference, low-rank).
	aliases map[string]string
}

type resBlock struct {
	conv1, conv2 *conv
	bn1, bn2     *batchNorm
	down         *conv
	downBN       *batchNorm
}

var _ Model = (*ResNet)(nil)

// NewResNet builds ResNet18 (depth 18) or the reference's ResNet101 (depth 101) under p.
func NewResNet(p *nn.Path, depth int, cfg Config) (*ResNet, error) {
	blocks, ok := resnetBlocks[depth]
	if !ok {
		return nil, fmt.Errorf("ResNet depth %d: want 18 or 101", depth)
	}
	track := cfg.Compat != Reference
	momentum := 0.1
	if !track {
		momentum = 0
	}
	m := &ResNet{}
	m.ranks = cfg.Ranks
	var err error
	size := int64(32)
	head := p.Sub("head")
	if m.head, err = m.addConv(head.Sub("0"), convSpec{in: 3, out: 64, k: 3, padding: 1, h: size, w: size}, false, lowrank.ConvConfig{}, vggConvInit); err != nil {
		return nil, err
	}
	if m.headBN, err = m.addBatchNorm(head.Sub("1"), 64, size, size, track, momentum); err != nil {
		return nil, err
	}
	in := int64(64)
	widths, strides := [4]int64{64, 128, 256, 512}, [4]int64{1, 2, 2, 2}
	for stage := 0; stage < 4; stage++ {
		for b := 0; b < blocks[stage]; b++ {
			factorize := cfg.Method == LowRank &&
				(stage > cfg.HybridBlock || (stage == cfg.HybridBlock && b >= cfg.HybridLayer))
			stride := int64(1)
			if b == 0 {
				stride = strides[stage]
			}
			bp := p.Sub("body").Sub(strconv.Itoa(stage)).Sub(strconv.Itoa(b))
			blk, out, err := m.addBlock(bp, in, widths[stage], stride, size, factorize, cfg, track, momentum)
			if err != nil {
				return nil, err
			}
			m.blocks = append(m.blocks, blk)
			in, size = widths[stage], out
		}
	}
	// fvcore counts global average pooling as one FLOP per input element.
	m.record("avgpool", "AdaptiveAvgPool2d", "1×1", 0, lowrank.Cost{FLOPs: in * size * size})
	if m.tail, err = m.addLinear(p.Sub("tail"), in, cfg.classes(), 1, false, cfg.Rank, true); err != nil {
		return nil, err
	}
	if cfg.Compat == Reference && cfg.Method == LowRank {
		m.aliases = referenceAliases(blocks, cfg.HybridBlock, cfg.HybridLayer)
	}
	return m, nil
}

// referenceAliases are the second names the reference's HyperResNet gives its submodules with
// decom_rule (block, layer): common holds head, the dense stages before block and the dense
// residual blocks of stage block before layer; personalized holds the factorized blocks of
// stage block, the later stages, and tail.
func referenceAliases(blocks [4]int, block, layer int) map[string]string {
	al := map[string]string{"common.0.": "head."}
	c := 1
	for i := 0; i < block && i < 4; i++ {
		al["common."+strconv.Itoa(c)+"."] = "body." + strconv.Itoa(i) + "."
		c++
	}
	pz := 0
	if block >= 0 && block < 4 {
		for j := 0; j < blocks[block]; j++ {
			own := "body." + strconv.Itoa(block) + "." + strconv.Itoa(j) + "."
			if j < layer {
				al["common."+strconv.Itoa(c)+"."] = own
				c++
			} else {
				al["personalized."+strconv.Itoa(pz)+"."] = own
				pz++
			}
		}
	}
	for i := max(block+1, 0); i < 4; i++ {
		al["personalized."+strconv.Itoa(pz)+"."] = "body." + strconv.Itoa(i) + "."
		pz++
	}
	al["personalized."+strconv.Itoa(pz)+"."] = "tail."
	return al
}

func (m *ResNet) aliasPrefixes() map[string]string { return m.aliases }

func (m *ResNet) addBlock(p *nn.Path, in, planes, stride, size int64, factorize bool, cfg Config, track bool, momentum float64) (*resBlock, int64, error) {
	blk := &resBlock{}
	out := lowrank.ConvOutSize(size, 3, stride, 1, 1)
	cc := convConfig(cfg, cfg.referenceRank())
	var err error
	if blk.conv1, err = m.addConv(p.Sub("conv1"), convSpec{in: in, out: planes, k: 3, stride: stride, padding: 1, h: size, w: size}, factorize, cc, vggConvInit); err != nil {
		return nil, 0, err
	}
	if blk.bn1, err = m.addBatchNorm(p.Sub("bn1"), planes, out, out, track, momentum); err != nil {
		return nil, 0, err
	}
	if blk.conv2, err = m.addConv(p.Sub("conv2"), convSpec{in: planes, out: planes, k: 3, padding: 1, h: out, w: out}, factorize, cc, vggConvInit); err != nil {
		return nil, 0, err
	}
	if blk.bn2, err = m.addBatchNorm(p.Sub("bn2"), planes, out, out, track, momentum); err != nil {
		return nil, 0, err
	}
	if stride != 1 || in != planes {
		dp := p.Sub("down_sample")
		if blk.down, err = m.addConv(dp.Sub("0"), convSpec{in: in, out: planes, k: 1, stride: stride, h: size, w: size}, false, lowrank.ConvConfig{}, vggConvInit); err != nil {
			return nil, 0, err
		}
		if blk.downBN, err = m.addBatchNorm(dp.Sub("1"), planes, out, out, track, momentum); err != nil {
			return nil, 0, err
		}
	}
	return blk, out, nil
}

// Forward maps x (B, 3, 32, 32) to logits (B, classes).
func (m *ResNet) Forward(x *ts.Tensor, train bool) (out *ts.Tensor, err error) {
	err = scope.Run(func(s *scope.Scope) {
		h := s.Keep(m.head.forward(x))
		// ReLU and the residual sum in place, as torchvision's BasicBlock: batch norm's backward
		// needs its input, not its output, so autograd allows overwriting the output.
		h = s.Keep(m.headBN.forward(h, train))
		s.Check(h.Relu_())
		for _, b := range m.blocks {
			y := s.Keep(b.conv1.forward(h))
			y = s.Keep(b.bn1.forward(y, train))
			s.Check(y.Relu_())
			y = s.Keep(b.bn2.forward(s.Keep(b.conv2.forward(y)), train))
			res := h
			if b.down != nil {
				res = s.Keep(b.downBN.forward(s.Keep(b.down.forward(h)), train))
			}
			s.Check(y.Add_(res))
			s.Check(y.Relu_())
			h = y
		}
		h = s.Keep(s.Keep(h.AdaptiveAvgPool2d([]int64{1, 1}, false)).Flatten(1, -1, false))
		out = s.Release(s.Keep(m.tail.forward(h)))
	})
	return out, err
}

// resnet18Spec and resnet101Spec register the ResNets on CIFAR's 32×32 colour images.
var (
	resnet18Spec = Spec{Name: "resnet18", Accepts: colour32, Bench: benchColour32, Convolutional: true,
		Build: func(p *nn.Path, _ Input, cfg Config) (Model, error) { return NewResNet(p, 18, cfg) }}
	resnet101Spec = Spec{Name: "resnet101", Accepts: colour32, Bench: benchColour32, Convolutional: true,
		Build: func(p *nn.Path, _ Input, cfg Config) (Model, error) { return NewResNet(p, 101, cfg) }}
)
