"""Time PyTorch DDP training steps (Gloo, processes on this machine), for side-by-side comparison
with `lowrank bench --nproc N`.

Usage: /usr/bin/python3 bench/torch_ddp.py --model vgg11 --method low_rank --batch 64 --nproc 2
       --steps 6 --warmup 2

Each of --nproc processes builds the model of bench/torch_bench.py with the same seed, wraps it in
DistributedDataParallel (Gloo over loopback, default 25 MB buckets; DDP overlaps the all-reduce
with backward) and times what `lowrank bench` times per step on its own random batch of --batch
examples. The machine's cores are divided among the processes. Prints rank 0's figures as one
JSON object: step median / min / max in ms, samples/s over all processes, and the gradient bytes
all-reduced per step (4 bytes per parameter).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_bench  # noqa: E402


def rank_main(rank, a, port, out):
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // a.nproc))
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=a.nproc)
    torch.manual_seed(12345)
    m = torch_bench.build(a.model, a.method == 'low_rank', a.conv_scheme)
    ddp = DDP(m)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    xb, yb = torch_bench.batch(a.model, a.batch, np.random.default_rng(1 + rank))
    times = torch_bench.timed_steps(ddp, opt, xb, yb, a.warmup, a.steps)
    if rank == 0:
        med = float(np.median(times))
        params = sum(p.numel() for p in m.parameters())
        out.put({'model': a.model, 'method': a.method, 'batch': a.batch, 'processes': a.nproc,
                 'threads': torch.get_num_threads(), 'params': params,
                 'step_median_ms': med, 'step_min_ms': min(times), 'step_max_ms': max(times),
                 'samples_per_sec': a.nproc * a.batch / med * 1e3, 'allreduce_bytes': 4 * params,
                 'torch': torch.__version__})
    dist.barrier()
    dist.destroy_process_group()


def main():
    ap = torch_bench.parser()
    ap.add_argument('--nproc', type=int, default=2)
    ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--warmup', type=int, default=2)
    a = ap.parse_args()
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    ctx = mp.get_context('spawn')
    out = ctx.SimpleQueue()
    mp.start_processes(rank_main, args=(a, port, out), nprocs=a.nproc, start_method='spawn')
    print(json.dumps(out.get()))


if __name__ == '__main__':
    main()
