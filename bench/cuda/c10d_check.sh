#!/usr/bin/env bash
# bench/cuda/c10d_check.sh: builds lowrank's c10d binding (dist/c10d/c10d.cpp) with
# bench/cuda/c10d_check.cpp against the libtorch inside a Python torch (CUDA, NCCL, 2.x: what the
# development machines lack) and runs it: NCCL on the GPU, and Gloo on CUDA and CPU tensors with
# two ranks. Run from the repository root on a machine with a GPU; also writes its output to
# $OUT/c10d_check.log when OUT is set.
#
#   bash bench/cuda/c10d_check.sh [python3]
set -uo pipefail
py=${1:-python3}
[ -n "${OUT:-}" ] && exec > >(tee "$OUT/c10d_check.log") 2>&1
torch=$("$py" -c 'import torch, os; print(os.path.dirname(torch.__file__))') || exit 1
"$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "devices", torch.cuda.device_count(), "ABI", int(torch._C._GLIBCXX_USE_CXX11_ABI))'
abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
flags=()
inc=(-I"$torch/include" -I"$torch/include/torch/csrc/api/include")
for d in "$torch/include" /usr/include /usr/local/include; do
  if [ -f "$d/gloo/config.h" ]; then flags+=(-DLOWRANK_WITH_GLOO); echo "Gloo headers: $d/gloo"; break; fi
done
# NCCL's own header (not torch/csrc/cuda/nccl.h, PyTorch's wrapper of it), only with CUDA.
nccl_h=""
[ -f "$torch/lib/libtorch_cuda.so" ] &&
  nccl_h=$(find "$(dirname "$torch")/nvidia" /usr/include /usr/local/cuda/include -name nccl.h -not -path '*torch/csrc*' 2>/dev/null | head -1)
if [ -n "$nccl_h" ]; then
  flags+=(-DLOWRANK_WITH_NCCL); inc+=(-I"$(dirname "$nccl_h")"); echo "NCCL header: $nccl_h"
fi
for d in /usr/local/cuda/include "$(dirname "$torch")"/nvidia/cu*/include "$(dirname "$torch")"/nvidia/cuda_runtime/include; do
  [ -d "$d" ] && inc+=(-I"$d")
done
libs=(-L"$torch/lib" -Wl,-rpath,"$torch/lib" -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10)
[ -f "$torch/lib/libtorch_cuda.so" ] && libs+=(-ltorch_cuda -lc10_cuda)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin="$work/c10d_check"
built=0
for std in c++17 c++20; do
  echo "building with -std=$std ${flags[*]}"
  cxx=(g++ -std=$std -O1 -D_GLIBCXX_USE_CXX11_ABI="$abi" -Wno-deprecated-declarations "${flags[@]}" "${inc[@]}")
  "${cxx[@]}" -c dist/c10d/c10d.cpp -o "$work/c10d.o" 2> "$work/build1.err" & p1=$!
  "${cxx[@]}" -c bench/cuda/c10d_check.cpp -o "$work/check.o" 2> "$work/build2.err" & p2=$!
  if wait $p1 && wait $p2 && g++ "$work/c10d.o" "$work/check.o" "${libs[@]}" -o "$bin" 2> "$work/build3.err"; then
    built=1; break
  fi
  grep -h -m 20 -E "error" "$work"/build[123].err
done
[ $built = 1 ] || { echo "build failed"; exit 1; }
rc=0
run() { echo "== c10d_check $*"; timeout 120 "$bin" "$@" || { echo "FAILED: $*"; rc=1; }; }
[[ " ${flags[*]} " == *LOWRANK_WITH_NCCL* ]] && run nccl cuda 1
if [[ " ${flags[*]} " == *LOWRANK_WITH_GLOO* ]]; then
  [ -f "$torch/lib/libtorch_cuda.so" ] && run gloo cuda 2
  run gloo cpu 2
fi
exit $rc
