// c10d_check exercises lowrank's c10d binding (tools/gotchprep/c10d/c10d.cpp) through its C API
// on one backend and device, without Go: for checking a libtorch that the development machines
// lack (CUDA, NCCL, libtorch 2.x). c10d_check.sh builds and runs it.
//
//	c10d_check BACKEND DEVICE WORLD    (gloo|nccl, cpu|cuda, 1 or 2; 2 forks a second rank)
//
// Every rank: all-reduce and broadcast closed forms, a barrier, the store, and the gradient
// reducer on three parameters (several buckets) over two steps, the second overlapping
// backward, against gradients averaged by hand. Exits non-zero on the first mismatch.
#include <ATen/ATen.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../../tools/gotchprep/c10d/c10d.h"

static int fail(int rank, const std::string &what) {
  std::fprintf(stderr, "rank %d: FAIL %s\n", rank, what.c_str());
  return 1;
}

static bool check(int rank, char *err, const char *what) {
  if (err == nullptr) return true;
  std::fprintf(stderr, "rank %d: FAIL %s: %s\n", rank, what, err);
  std::free(err);
  return false;
}

static int run(const std::string &backend, const std::string &dev, int rank, int world, int port) {
  at::Device device(dev == "cuda" ? at::kCUDA : at::kCPU, 0);
  auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  void *g = nullptr;
  if (!check(rank, lowrank_group_new("127.0.0.1", port, rank, world, 60000, "", backend.c_str(), &g), "group")) return 1;
  // all-reduce: Σ (r+1) = world(world+1)/2
  at::Tensor a = at::full({5}, rank + 1.0, opts);
  void *ha[] = {&a};
  if (!check(rank, lowrank_allreduce(g, ha, 1, 0), "allreduce")) return 1;
  double want = world * (world + 1) / 2.0;
  if (a.cpu().max().item<double>() != want || a.cpu().min().item<double>() != want)
    return fail(rank, "allreduce gave " + std::to_string(a.cpu().max().item<double>()));
  at::Tensor b = at::full({3}, 10.0 + rank, opts);
  void *hb[] = {&b};
  if (!check(rank, lowrank_broadcast(g, hb, 1, 0), "broadcast")) return 1;
  if (b.cpu().max().item<double>() != 10.0) return fail(rank, "broadcast");
  if (!check(rank, lowrank_barrier(g), "barrier")) return 1;
  if (rank == 0 && !check(rank, lowrank_store_set(g, "k", "value", 5), "store set")) return 1;
  void *data = nullptr;
  long long n = 0;
  if (!check(rank, lowrank_store_get(g, "k", &data, &n), "store get")) return 1;
  if (n != 5 || std::string(static_cast<char *>(data), 5) != "value") return fail(rank, "store value");
  std::free(data);

  // The reducer: loss_r = mean(((x_r w1) w2 + c)²) with x_r = r + 1.
  at::manual_seed(7);
  std::vector<at::Tensor> params = {at::randn({16, 12}).to(device), at::randn({12, 6}).to(device), at::randn({6}).to(device)};
  for (auto &p : params) p.set_requires_grad(true);
  auto loss_of = [&](int r, const std::vector<at::Tensor> &ps) {
    at::Tensor x = at::full({4, 16}, r + 1.0, opts);
    return (x.mm(ps[0]).mm(ps[1]) + ps[2]).pow(2).mean();
  };
  // Expected: the mean over ranks of each rank's gradient, computed here on copies.
  std::vector<at::Tensor> expect(3);
  for (int r = 0; r < world; r++) {
    std::vector<at::Tensor> copies;
    for (auto &p : params) copies.push_back(p.detach().clone().set_requires_grad(true));
    loss_of(r, copies).backward();
    for (int i = 0; i < 3; i++) expect[i] = expect[i].defined() ? expect[i] + copies[i].grad() : copies[i].grad().clone();
  }
  for (auto &e : expect) e = e / world;
  void *hp[] = {&params[0], &params[1], &params[2]};
  void *red = nullptr;
  if (!check(rank, lowrank_reducer_new(g, hp, 3, 256, 1, &red), "reducer")) return 1;  // 256 bytes: 3 buckets
  for (int step = 1; step <= 2; step++) {
    for (auto &p : params)
      if (p.grad().defined()) p.mutable_grad().zero_();
    loss_of(rank, params).backward();
    float flags[2] = {static_cast<float>(rank), 1};
    long long bytes = 0;
    int buckets = 0, early = 0;
    if (!check(rank, lowrank_reducer_reduce(red, flags, 2, &bytes, &buckets, &early), "reduce")) return 1;
    double worst = 0;
    for (int i = 0; i < 3; i++) worst = std::max(worst, (params[i].grad() - expect[i]).abs().max().cpu().item<double>());
    std::printf("rank %d step %d: %d buckets (%d during backward), %lld bytes, flags %g %g, largest gradient error %.3g\n", rank,
                step, buckets, early, bytes, flags[0], flags[1], worst);
    if (worst > 1e-4) return fail(rank, "gradients differ from the hand-averaged ones");
    if (flags[1] != world || flags[0] != world * (world - 1) / 2.0) return fail(rank, "flags");
    if (bytes != 4 * (16 * 12 + 12 * 6 + 6) || buckets != 3) return fail(rank, "bytes or buckets");
    if (step == 2 && early != buckets) return fail(rank, "the second step did not all-reduce during backward");
  }
  lowrank_reducer_free(red);
  lowrank_group_free(g);
  std::printf("rank %d: %s on %s, world %d: ok\n", rank, backend.c_str(), dev.c_str(), world);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: c10d_check gloo|nccl cpu|cuda 1|2\n");
    return 2;
  }
  std::string backend = argv[1], dev = argv[2];
  int world = std::atoi(argv[3]);
  std::printf("gloo %d, nccl %d\n", lowrank_has_gloo(), lowrank_has_nccl());
  std::fflush(stdout);
  int port = 29600 + (getpid() % 1000);
  if (world == 1) return run(backend, dev, 0, 1, port);
  pid_t child = fork();  // before any CUDA call
  if (child == 0) {
    int rc = run(backend, dev, 1, world, port);
    std::fflush(stdout);
    _exit(rc);
  }
  int rc = run(backend, dev, 0, world, port);
  int status = 0;
  waitpid(child, &status, 0);
  return rc != 0 ? rc : (WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
