"""Time training steps of the reference implementation's own models, run from a checkout of it.

Usage: /usr/bin/python3 bench/reference_bench.py --reference PATH --model vgg11 --method low_rank
       [--batch 128 --threads 2 --steps 10 --warmup 3]

PATH is a checkout of Sherrylife/Low-rank_Model_Training; its code is imported from there and
never copied into this repository. The models are built as its main.py builds them for CIFAR-10
with its default arguments (ratio_LR 0.2, decom_rule [0, 0], so every layer it can factorize is
factorized): LowRankVGG11 / VGG11, LowRankVGG16 / VGG16, LowRankResNet18 / ResNet18 and
LowRankResNet101 / ResNet101. The step is torch_bench.py's (the one `lowrank bench` times), so the
columns compare the same work; prints one JSON object with torch_bench.py's fields plus
"source": "reference". It needs torchvision (the reference imports its transforms).
"""
import json
import os
import resource
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench  # noqa: E402  (the shared step and batch)

BUILDERS = {
    ('vgg11', 'low_rank'): ('model.VGG', 'LowRankVGG11'), ('vgg11', 'original'): ('model.VGG', 'VGG11'),
    ('vgg16', 'low_rank'): ('model.VGG', 'LowRankVGG16'), ('vgg16', 'original'): ('model.VGG', 'VGG16'),
    ('resnet18', 'low_rank'): ('model.ResNet', 'LowRankResNet18'),
    ('resnet18', 'original'): ('model.ResNet', 'ResNet18'),
    ('resnet101', 'low_rank'): ('model.ResNet', 'LowRankResNet101'),
    ('resnet101', 'original'): ('model.ResNet', 'ResNet101'),
}


def build(reference, model, method):
    """Imports the reference's constructor from the checkout and builds the model on the CPU."""
    if not os.path.isfile(os.path.join(reference, 'model', 'low_rank_base.py')):
        sys.exit(f'reference_bench.py: {reference} is not a checkout of Low-rank_Model_Training '
                 '(no model/low_rank_base.py)')
    if (model, method) not in BUILDERS:
        sys.exit(f'reference_bench.py: no reference model for {model} {method}; '
                 f'have {sorted(BUILDERS)}')
    sys.path.insert(0, os.path.abspath(reference))
    module, name = BUILDERS[(model, method)]
    try:
        ctor = getattr(__import__(module, fromlist=[name]), name)
    except ModuleNotFoundError as e:
        sys.exit(f'reference_bench.py: the reference needs {e.name} (Debian: apt-get install python3-torchvision)')
    args = {'dataset': 'cifar10', 'device': 'cpu', 'ratio_LR': 0.2, 'decom_rule': [0, 0]}
    if method == 'low_rank':
        return ctor(ratio_LR=args['ratio_LR'], decom_rule=args['decom_rule'], args=args)
    return ctor(args=args)


def main():
    ap = torch_bench.parser()
    ap.add_argument('--reference', required=True, help='a checkout of Sherrylife/Low-rank_Model_Training')
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(12345)
    m = build(a.reference, a.model, a.method)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(1)
    xb, yb = torch_bench.batch(a.model, a.batch, rng)
    times = torch_bench.timed_steps(m, opt, xb, yb, a.warmup, a.steps)
    med = float(np.median(times))
    print(json.dumps({
        'model': a.model, 'method': a.method, 'batch': a.batch, 'threads': torch.get_num_threads(),
        'params': sum(p.numel() for p in m.parameters()), 'source': 'reference',
        'step_median_ms': med, 'step_min_ms': min(times), 'step_max_ms': max(times),
        'samples_per_sec': a.batch / med * 1e3,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'torch': torch.__version__}))


if __name__ == '__main__':
    main()
