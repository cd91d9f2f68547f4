"""Where a training step's time goes, by libtorch operator, for a model of bench/torch_bench.py.

Usage: /usr/bin/python3 bench/torch_profile.py --model vgg11 [--method low_rank] [--batch 128]
       [--threads 2] [--conv-scheme spatial] [--rank-rule budget --budget 0.4]
       [--memory-format channels_last] [--top 12]

lowrank and PyTorch run the same libtorch kernels, so this profile of the PyTorch module (same
layers, same shapes) also says where lowrank's step time goes. Prints the operators with the
most self CPU time over 3 profiled steps (after 2 warm-up steps), with their share of the total.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

import torch_bench as tb


def main():
    ap = tb.parser()
    ap.add_argument('--top', type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    tb.RULE.update(name=a.rank_rule, budget=a.budget)
    m = tb.build(a.model, a.method == 'low_rank', a.conv_scheme)
    xb, yb = tb.batch(a.model, a.batch, np.random.default_rng(1))
    m, xb = tb.to_layout(m, xb, a.memory_format, a.model)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x, y = tb.host_tensor(xb, tb.channels_last(a.model, a.memory_format)), torch.from_numpy(yb)

    def step():
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    print(f'{a.model} {a.method} ({a.conv_scheme}, {a.rank_rule}, {a.memory_format}), batch {a.batch}, {a.threads} threads: '
          f'{total / 3 / 1e3:.1f} ms of operator time per step')
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:a.top]:
        print(f'  {e.key:45s} {e.self_cpu_time_total / 3 / 1e3:8.1f} ms  {100 * e.self_cpu_time_total / total:5.1f}%')


if __name__ == '__main__':
    main()
