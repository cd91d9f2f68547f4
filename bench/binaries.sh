#!/usr/bin/env bash
# Compare lowrank binaries built from different versions (e.g. before and after a gotch patch),
# alternating them round by round so that machine noise hits all alike.
#
#   bench/binaries.sh ROUNDS "MODEL:METHOD ..." NAME=BINARY ...
#   bench/binaries.sh 5 "mlp:low_rank cnn:low_rank" before=../old-checkout/bin/lowrank after=bin/lowrank
#
# Prints, per model and binary, the median over rounds of each process's median step time (ms),
# and each binary's ratio to the first one. Extra `lowrank bench` flags go in BENCH_FLAGS
# (default: --steps 20 --warmup 5 --threads 2 --batch 128).
set -euo pipefail
rounds=$1 pairs=$2
shift 2
flags=${BENCH_FLAGS:---steps 20 --warmup 5 --threads 2 --batch 128}
out=$(mktemp)
for ((r = 1; r <= rounds; r++)); do
  for pair in $pairs; do
    for nb in "$@"; do
      name=${nb%%=*} bin=${nb#*=}
      ms=$("$bin" bench --json --models "${pair%%:*}" --methods "${pair#*:}" $flags 2>/dev/null |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["step_median_ms"])')
      echo "$pair $name $ms" >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" "$@" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    pair, name, ms = line.split()
    rows[(pair, name)].append(float(ms))
names = [a.split('=', 1)[0] for a in sys.argv[2:]]
for pair in dict.fromkeys(p for p, _ in rows):
    base = statistics.median(rows[(pair, names[0])])
    cells = [f'{n} {statistics.median(rows[(pair, n)]):.2f} ms ({statistics.median(rows[(pair, n)]) / base:.2f}×)' for n in names]
    print(f'{pair:22s} ' + '   '.join(cells))
PY
rm -f "$out"
