"""Time PyTorch training steps of the models `lowrank bench` times, for side-by-side comparison.

Usage: /usr/bin/python3 bench/torch_bench.py --model vgg11 --method low_rank --batch 128
       --threads 2 --steps 10 --warmup 3 [--conv-scheme spatial] [--rank-rule budget --budget 0.4]
       [--memory-format channels_last]

Prints one JSON object with the same fields as `lowrank bench --json` (params, step median /
min / max in ms, samples/s, inference ms). The modules are written here to do the same
computation as lowrank's models (the rank rule everywhere, a factorized layer's bias on its last
factor, batch norms tracking statistics, ReLU in place as lowrank runs it), in the same memory
layout (channels_last: the weights, and the batch made from an NHWC array without a copy);
bench/compare passes the settings the Go side resolved and checks that both sides count the
same parameters. A step is what lowrank's trainer does: batch to tensors
(torch.from_numpy), forward, cross-entropy, loss.item(), backward, SGD (momentum 0.9, weight
decay 5e-4) step, zero_grad, and the predictions compared with the labels on the host.
"""
import argparse
import json
import math
import resource
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RATIO = 0.2
# The rank rule of every factorized layer, lowrank.rank_rule: ratio (r = ⌊0.2·min(m, n)⌋) or
# budget (r = ⌊b·m·n/(m+n)⌋, a fraction b of the dense parameters); set by --rank-rule, --budget.
RULE = {'name': 'ratio', 'budget': 0.4}


def rank(m, n):
    if RULE['name'] == 'budget':
        return max(1, int(RULE['budget'] * m * n / (m + n)))
    return max(1, int(min(m, n) * RATIO))


def linear(n_in, n_out, low, bias=True):
    if not low:
        return nn.Linear(n_in, n_out, bias=bias)
    r = rank(n_out, n_in)
    return nn.Sequential(nn.Linear(n_in, r, bias=bias), nn.Linear(r, n_out, bias=bias))


def conv(c_in, c_out, k, stride=1, padding=0, low=False, bias=True, scheme='spatial'):
    if not low:
        return nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=bias)
    if scheme == 'channel':
        r = rank(c_out, c_in * k * k)
        return nn.Sequential(nn.Conv2d(c_in, r, k, stride=stride, padding=padding, bias=False),
                             nn.Conv2d(r, c_out, 1, bias=bias))
    r = rank(c_out * k, c_in * k)
    return nn.Sequential(
        nn.Conv2d(c_in, r, (1, k), stride=(1, stride), padding=(0, padding), bias=False),
        nn.Conv2d(r, c_out, (k, 1), stride=(stride, 1), padding=(padding, 0), bias=bias))


class MLP(nn.Module):
    def __init__(self, low):
        super().__init__()
        self.layers = nn.Sequential(linear(784, 512, low), nn.ReLU(True), linear(512, 256, low), nn.ReLU(True), nn.Linear(256, 10))

    def forward(self, x):
        return self.layers(x.flatten(1))


class CNN(nn.Module):
    def __init__(self, low, scheme):
        super().__init__()
        self.net = nn.Sequential(
            conv(1, 32, 5, padding=2, low=low, scheme=scheme), nn.ReLU(True), nn.MaxPool2d(2),
            conv(32, 64, 5, padding=2, low=low, scheme=scheme), nn.ReLU(True), nn.MaxPool2d(2), nn.Flatten(),
            linear(3136, 512, low), nn.ReLU(True), nn.Linear(512, 10))

    def forward(self, x):
        return self.net(x)


VGG = {11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
       16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']}


class VGGNet(nn.Module):
    def __init__(self, depth, low, scheme):
        super().__init__()
        layers, c_in = [], 3
        for v in VGG[depth]:
            if v == 'M':
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [conv(c_in, v, 3, padding=1, low=low, scheme=scheme), nn.BatchNorm2d(v), nn.ReLU(True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(), linear(512, 512, low), nn.ReLU(True),
                                        nn.Dropout(), linear(512, 512, low), nn.ReLU(True), nn.Linear(512, 10))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class Block(nn.Module):
    def __init__(self, c_in, planes, stride, low, scheme):
        super().__init__()
        self.conv1 = conv(c_in, planes, 3, stride, 1, low, False, scheme)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, 1, 1, low, False, scheme)
        self.bn2 = nn.BatchNorm2d(planes)
        self.down = None
        if stride != 1 or c_in != planes:
            self.down = nn.Sequential(nn.Conv2d(c_in, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)), inplace=True)))
        out += x if self.down is None else self.down(x)
        return F.relu(out, inplace=True)


class ResNet18(nn.Module):
    def __init__(self, low, scheme):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64))
        blocks, c_in = [], 64
        for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [Block(c_in, planes, stride, low, scheme), Block(planes, planes, 1, low, scheme)]
            c_in = planes
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Linear(512, 10)

    def forward(self, x):
        x = self.body(F.relu(self.head(x), inplace=True))
        return self.tail(F.adaptive_avg_pool2d(x, 1).flatten(1))


class CharLSTM(nn.Module):
    """Embedding 8, two LSTM layers of 256, a linear decoder; low-rank: every LSTM weight is U·Vᵀ
    (rank ⌊0.2·min(4h, n)⌋), rebuilt each forward and run by libtorch's LSTM kernel, and the
    decoder factorized (rank ⌊0.2·vocab⌋)."""

    def __init__(self, low, vocab=100, embed=8, hidden=256, layers=2):
        super().__init__()
        self.low, self.hidden, self.layers = low, hidden, layers
        self.encoder = nn.Embedding(vocab, embed)
        if low:
            self.factors = nn.ParameterList()
            self.biases = nn.ParameterList()
            for k in range(layers):
                for n_in in [embed if k == 0 else hidden, hidden]:
                    r = rank(4 * hidden, n_in)
                    self.factors.append(nn.Parameter(torch.randn(4 * hidden, r) * 0.05))
                    self.factors.append(nn.Parameter(torch.randn(r, n_in) * 0.05))
                    self.biases.append(nn.Parameter(torch.zeros(4 * hidden)))
            rd = int(vocab * RATIO)
            self.decoder = nn.Sequential(nn.Linear(hidden, rd), nn.Linear(rd, vocab))
        else:
            self.rnn = nn.LSTM(embed, hidden, layers, batch_first=True)
            self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        x = self.encoder(tokens)
        if not self.low:
            return self.decoder(self.rnn(x)[0]).permute(0, 2, 1)
        f, b = self.factors, self.biases
        weights = []
        for k in range(self.layers):
            weights += [f[4 * k] @ f[4 * k + 1], f[4 * k + 2] @ f[4 * k + 3], b[2 * k], b[2 * k + 1]]
        z = torch.zeros(self.layers, x.shape[0], self.hidden)
        y = torch._VF.lstm(x, (z, z), weights, True, self.layers, 0.0, self.training, False, True)[0]
        return self.decoder(y).permute(0, 2, 1)


class Attention(nn.Module):
    def __init__(self, e, heads, low):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (linear(e, e, low) for _ in range(4))

    def forward(self, x, mask):
        b, s, e = x.shape
        d = e // self.heads
        split = lambda t: t.view(b, s, self.heads, d).permute(0, 2, 1, 3)
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d) + mask[:s, :s]
        return self.o((F.softmax(scores, -1) @ v).permute(0, 2, 1, 3).reshape(b, s, e))


class Transformer(nn.Module):
    def __init__(self, low, vocab=33279, e=128, heads=8, hidden=2048, layers=3, seq=64, p=0.1):
        super().__init__()
        self.p = p
        self.tok = nn.Embedding(vocab + 1, e)
        self.pos = nn.Parameter(torch.randn(seq, e) * 0.02)
        self.norm = nn.LayerNorm(e)
        self.layers = nn.ModuleList()
        for _ in range(layers):
            l = nn.Module()
            l.mha, l.norm1, l.norm2 = Attention(e, heads, low), nn.LayerNorm(e), nn.LayerNorm(e)
            l.linear1, l.linear2 = linear(e, hidden, low), linear(hidden, e, low)
            self.layers.append(l)
        self.dec1, self.dec_norm, self.dec2 = linear(e, e, low), nn.LayerNorm(e), nn.Linear(e, vocab)
        self.register_buffer('mask', torch.triu(torch.full((seq, seq), float('-inf')), 1))

    def forward(self, tokens):
        drop = lambda t: F.dropout(t, self.p, self.training)
        h = drop(self.norm(self.tok(tokens) + self.pos[:tokens.shape[1]]))
        for l in self.layers:
            h = l.norm1(h + drop(l.mha(h, self.mask)))
            h = l.norm2(h + drop(l.linear2(drop(F.gelu(l.linear1(h))))))
        return self.dec2(self.dec_norm(F.gelu(self.dec1(h)))).permute(0, 2, 1)


def build(model, low, scheme):
    return {
        'mlp': lambda: MLP(low), 'cnn': lambda: CNN(low, scheme),
        'vgg11': lambda: VGGNet(11, low, scheme), 'vgg16': lambda: VGGNet(16, low, scheme),
        'resnet18': lambda: ResNet18(low, scheme), 'lstm': lambda: CharLSTM(low),
        'transformer': lambda: Transformer(low),
    }[model]()


def batch(model, b, rng):
    if model in ('lstm', 'transformer'):
        vocab, seq = (100, 80) if model == 'lstm' else (33279, 64)
        return rng.integers(0, vocab, (b, seq)), rng.integers(0, vocab, (b, seq))
    shape = (b, 1, 28, 28) if model in ('mlp', 'cnn') else (b, 3, 32, 32)
    return rng.standard_normal(shape, dtype=np.float32), rng.integers(0, 10, (b,))


def parser():
    """The options that pick a model and its step, shared with torch_profile.py."""
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', required=True)
    ap.add_argument('--method', default='original')
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--conv-scheme', default='spatial')
    ap.add_argument('--rank-rule', default='ratio', choices=['ratio', 'budget'])
    ap.add_argument('--budget', type=float, default=0.4)
    ap.add_argument('--memory-format', default='contiguous', choices=['contiguous', 'channels_last'],
                    help='channels_last: weights and batches of convolutional models in NHWC layout')
    return ap


def channels_last(model, memory_format):
    """Whether model's 4-d weights and image batches use the channels_last layout."""
    return memory_format == 'channels_last' and model not in ('mlp', 'lstm', 'transformer')


def to_layout(m, xb, memory_format, model):
    """Puts the module's weights in the layout and the host batch in the matching order: an NHWC
    array whose NCHW view torch.from_numpy(...).permute gives without a copy, as lowrank's batcher
    does."""
    if not channels_last(model, memory_format):
        return m, xb
    m = m.to(memory_format=torch.channels_last)
    return m, np.ascontiguousarray(xb.transpose(0, 2, 3, 1))


def host_tensor(xb, nhwc):
    x = torch.from_numpy(xb)
    return x.permute(0, 3, 1, 2) if nhwc else x


def timed_steps(m, opt, xb, yb, warmup, steps, nhwc=False):
    """Trains m on the host batch (xb, yb) for warmup + steps steps as lowrank's trainer does and
    returns the last steps' times in ms. With nhwc, xb is in (N, H, W, C) order."""
    m.train()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        x, y = host_tensor(xb, nhwc), torch.from_numpy(yb)
        logits = m(x)
        loss = F.cross_entropy(logits, y)
        loss.item()
        loss.backward()
        opt.step()
        opt.zero_grad()
        (logits.argmax(1).numpy() == yb).sum()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    ap = parser()
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(12345)
    RULE.update(name=a.rank_rule, budget=a.budget)
    m = build(a.model, a.method == 'low_rank', a.conv_scheme)
    rng = np.random.default_rng(1)
    xb, yb = batch(a.model, a.batch, rng)
    m, xb = to_layout(m, xb, a.memory_format, a.model)
    nhwc = channels_last(a.model, a.memory_format)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    times = timed_steps(m, opt, xb, yb, a.warmup, a.steps, nhwc)
    m.eval()

    def infer(b):
        x = torch.from_numpy(to_layout(m, batch(a.model, b, rng)[0], a.memory_format, a.model)[1])
        x = x.permute(0, 3, 1, 2) if nhwc else x
        ms = []
        with torch.no_grad():
            for i in range(a.warmup + a.steps):
                t0 = time.perf_counter()
                m(x)
                if i >= a.warmup:
                    ms.append((time.perf_counter() - t0) * 1e3)
        return float(np.median(ms))

    med = float(np.median(times))
    print(json.dumps({
        'model': a.model, 'method': a.method, 'batch': a.batch, 'threads': torch.get_num_threads(),
        'conv_scheme': a.conv_scheme, 'memory_format': a.memory_format if nhwc else 'contiguous',
        'params': sum(p.numel() for p in m.parameters()),
        'step_median_ms': med, 'step_min_ms': min(times), 'step_max_ms': max(times),
        'samples_per_sec': a.batch / med * 1e3, 'infer_ms': infer(a.batch), 'infer1_ms': infer(1),
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'torch': torch.__version__}))


if __name__ == '__main__':
    main()
