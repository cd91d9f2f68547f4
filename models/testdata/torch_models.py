"""PyTorch modules equivalent to lowrank's Go models, for the equivalence tests.

Written for these tests after the reference implementation's architecture (module names give
the state_dict keys). Usage: torch_models.py MODEL DIR, where DIR holds manifest.json and the raw
tensors the Go test wrote; the script loads them with load_state_dict(strict=True), runs the
model in eval mode on DIR's input and writes output.bin and output.json. torch_models.py
--order MODEL prints the names of MODEL's parameters() in order, as JSON.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class FactorizedLinear(nn.Module):
    def __init__(self, n_in, n_out, ratio=0.2, bias=True):
        super().__init__()
        r = int(min(n_in, n_out) * ratio)
        self.linear = nn.Sequential(nn.Linear(n_in, r, bias=bias), nn.Linear(r, n_out, bias=bias))

    def forward(self, x):
        return self.linear(x)


class SpatialConv(nn.Module):
    """A k×k convolution as a 1×k then a k×1 convolution through r channels."""

    def __init__(self, c_in, c_out, k=3, stride=1, padding=1, ratio=0.2, bias=False):
        super().__init__()
        r = int(min(c_in * k, c_out * k) * ratio)
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, r, (1, k), stride=(1, stride), padding=(0, padding), bias=bias),
            nn.Conv2d(r, c_out, (k, 1), stride=(stride, 1), padding=(padding, 0), bias=bias))

    def forward(self, x):
        return self.conv(x)


class LowRankVGG11(nn.Module):
    """The reference's low-rank VGG11: a bias on each conv factor, and a last layer of 512."""

    def __init__(self, classes=512):
        super().__init__()
        feats, c_in = [], 3
        for v in [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M']:
            if v == 'M':
                feats.append(nn.MaxPool2d(2, 2))
            else:
                feats += [SpatialConv(c_in, v, bias=True), nn.BatchNorm2d(v), nn.ReLU()]
                c_in = v
        self.feature_layers = nn.Sequential(*feats)
        self.classifier = nn.Sequential(
            nn.Dropout(), FactorizedLinear(512, 512), nn.ReLU(),
            nn.Dropout(), FactorizedLinear(512, 512), nn.ReLU(),
            nn.Linear(512, classes))

    def forward(self, x):
        return self.classifier(self.feature_layers(x).flatten(1))


def batch_norm(c):
    return nn.BatchNorm2d(c, momentum=0.0, track_running_stats=False)


class LowRankBasicBlock(nn.Module):
    def __init__(self, c_in, planes, stride):
        super().__init__()
        self.conv1 = SpatialConv(c_in, planes, stride=stride)
        self.bn1 = batch_norm(planes)
        self.conv2 = SpatialConv(planes, planes)
        self.bn2 = batch_norm(planes)
        self.down_sample = None
        if stride != 1 or c_in != planes:
            self.down_sample = nn.Sequential(nn.Conv2d(c_in, planes, 1, stride=stride, bias=False), batch_norm(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        res = x if self.down_sample is None else self.down_sample(x)
        return F.relu(out + res)


class LowRankResNet18(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), batch_norm(64))
        stages, c_in = [], 64
        for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            stages.append(nn.Sequential(LowRankBasicBlock(c_in, planes, stride), LowRankBasicBlock(planes, planes, 1)))
            c_in = planes
        self.body = nn.Sequential(*stages)
        self.tail = nn.Linear(512, classes)

    def forward(self, x):
        x = self.body(F.relu(self.head(x)))
        return self.tail(F.adaptive_avg_pool2d(x, 1).flatten(1))


class AliasedLowRankResNet18(LowRankResNet18):
    """LowRankResNet18 with the reference HyperResNet's second names at decom_rule (0, 0): head
    also as common.0; stage 0's blocks, stages 1-3 and tail also as personalized.0-5."""

    def __init__(self, classes=10):
        super().__init__(classes)
        self.common = nn.Sequential(self.head)
        b = self.body
        self.personalized = nn.Sequential(b[0][0], b[0][1], b[1], b[2], b[3], self.tail)


class Attention(nn.Module):
    def __init__(self, e, heads):
        super().__init__()
        self.heads = heads
        for n in ['linear_q', 'linear_k', 'linear_v', 'linear_o']:
            setattr(self, n, nn.Linear(e, e))

    def forward(self, x):
        b, s, e = x.shape
        d = e // self.heads
        split = lambda t: t.reshape(b, s, self.heads, d).permute(0, 2, 1, 3)
        q, k, v = split(self.linear_q(x)), split(self.linear_k(x)), split(self.linear_v(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d)
        scores = scores.masked_fill(torch.tril(torch.ones(s, s)) == 0, float('-inf'))
        out = (F.softmax(scores, -1) @ v).permute(0, 2, 1, 3).reshape(b, s, e)
        return self.linear_o(out)


class EncoderLayer(nn.Module):
    def __init__(self, e, heads, hidden):
        super().__init__()
        self.mha = Attention(e, heads)
        self.norm1 = nn.LayerNorm(e)
        self.linear1 = nn.Linear(e, hidden)
        self.linear2 = nn.Linear(hidden, e)
        self.norm2 = nn.LayerNorm(e)

    def forward(self, x):
        x = self.norm1(x + self.mha(x))
        return self.norm2(x + self.linear2(F.gelu(self.linear1(x))))


class Transformer(nn.Module):
    def __init__(self, vocab, e=128, heads=8, hidden=2048, layers=3, seq=64):
        super().__init__()
        emb = nn.Module()
        emb.embedding = nn.Embedding(vocab + 1, e)
        emb.positional_embedding = nn.Module()
        emb.positional_embedding.positional_embedding = nn.Embedding(seq, e)
        emb.norm = nn.LayerNorm(e)
        self.transformer_embedding = emb
        self.transformer_encoder = nn.Module()
        self.transformer_encoder.layers = nn.ModuleList([EncoderLayer(e, heads, hidden) for _ in range(layers)])
        self.decoder = nn.Module()
        self.decoder.linear1 = nn.Linear(e, e)
        self.decoder.norm1 = nn.LayerNorm(e)
        self.decoder.linear2 = nn.Linear(e, vocab)

    def forward(self, tokens):
        emb = self.transformer_embedding
        pos = torch.arange(tokens.shape[1]).unsqueeze(0).expand_as(tokens)
        x = emb.norm(emb.embedding(tokens) + emb.positional_embedding.positional_embedding(pos))
        for layer in self.transformer_encoder.layers:
            x = layer(x)
        d = self.decoder
        return d.linear2(d.norm1(F.gelu(d.linear1(x)))).permute(0, 2, 1)


class LowRankCell(nn.Module):
    def __init__(self, n_in, h, r):
        super().__init__()
        self.weight_ih_VT = nn.Parameter(torch.empty(r, n_in))
        self.weight_ih_U = nn.Parameter(torch.empty(4 * h, r))
        self.weight_hh_VT = nn.Parameter(torch.empty(r, h))
        self.weight_hh_U = nn.Parameter(torch.empty(4 * h, r))
        self.bias_ih = nn.Parameter(torch.empty(4 * h))
        self.bias_hh = nn.Parameter(torch.empty(4 * h))

    def forward(self, x, h, c):
        g = x @ self.weight_ih_VT.t() @ self.weight_ih_U.t() + self.bias_ih \
            + h @ self.weight_hh_VT.t() @ self.weight_hh_U.t() + self.bias_hh
        i, f, gg, o = g.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        return torch.sigmoid(o) * torch.tanh(c), c


class CharLSTM(nn.Module):
    def __init__(self, low_rank, vocab=100, embed=8, hidden=256, layers=2, ratio=0.2):
        super().__init__()
        self.low_rank, self.hidden = low_rank, hidden
        self.encoder = nn.Embedding(vocab, embed)
        if low_rank:
            r = int(4 * hidden * ratio)
            self.rnn = nn.Module()
            cells = []
            for k in range(layers):
                m = nn.Module()
                m.cell = LowRankCell(embed if k == 0 else hidden, hidden, r)
                cells.append(m)
            self.rnn.layers = nn.ModuleList(cells)
            rd = int(vocab * ratio)
            self.decoder = nn.Module()
            self.decoder.linear_VT = nn.Linear(hidden, rd)
            self.decoder.linear_U = nn.Linear(rd, vocab)
        else:
            self.rnn = nn.LSTM(embed, hidden, layers, batch_first=True)
            self.decoder = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        x = self.encoder(tokens)
        if not self.low_rank:
            return self.decoder(self.rnn(x)[0]).permute(0, 2, 1)
        b, t, _ = x.shape
        for layer in self.rnn.layers:
            h = torch.zeros(b, self.hidden)
            c = torch.zeros(b, self.hidden)
            outs = []
            for s in range(t):
                h, c = layer.cell(x[:, s], h, c)
                outs.append(h)
            x = torch.stack(outs, 1)
        return self.decoder.linear_U(self.decoder.linear_VT(x)).permute(0, 2, 1)


BUILD = {
    'vgg11_low_rank_reference': lambda: LowRankVGG11(),
    'resnet18_low_rank_reference': lambda: LowRankResNet18(),
    'resnet18_low_rank_reference_aliased': lambda: AliasedLowRankResNet18(),
    'transformer_original': lambda: Transformer(vocab=500),
    'lstm_original': lambda: CharLSTM(False),
    'lstm_low_rank_reference': lambda: CharLSTM(True),
}

DTYPES = {'float32': np.float32, 'int64': np.int64}


def load(d, entry):
    raw = np.fromfile(os.path.join(d, entry['file']), dtype=DTYPES[entry['dtype']])
    return torch.from_numpy(raw.reshape(entry['shape']).copy())


def main():
    if sys.argv[1] == '--order':  # the model's parameters() order, by name
        print(json.dumps([n for n, _ in BUILD[sys.argv[2]]().named_parameters()]))
        return
    name, d = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    with open(os.path.join(d, 'manifest.json')) as f:
        manifest = json.load(f)
    model = BUILD[name]()
    if manifest.get('checkpoint'):
        # A torch.save file as a user's program loads it: no pickled code, standard layout.
        state = torch.load(manifest['checkpoint'], weights_only=True)
        bad = [k for k, v in state.items() if not v.is_contiguous()]
        assert not bad, 'not contiguous: %s' % bad
    else:
        state = {e['name']: load(d, e) for e in manifest['tensors']}
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        out = model(load(d, manifest['input']))
    out.numpy().astype(np.float32).tofile(os.path.join(d, 'output.bin'))
    with open(os.path.join(d, 'output.json'), 'w') as f:
        json.dump({'shape': list(out.shape)}, f)


if __name__ == '__main__':
    main()
