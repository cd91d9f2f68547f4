// Collective communication over PyTorch's c10d: the engine under torch.distributed and DDP.
// A group is a TCPStore (rank 0 serves it at host:port, the others connect) and a process
// group on it: Gloo (CPU and CUDA tensors), or NCCL where this file was compiled with
// LOWRANK_WITH_NCCL. Every collective is bounded by the group's timeout, so a peer that died
// or hangs surfaces here as an exception, returned to Go as an error message.
//
// The reducer is data parallelism's gradient all-reduce, laid out as DDP lays it out: the
// parameters, in reverse order (roughly the order backward produces their gradients), are
// packed into flat buckets of up to bucket_bytes, and every gradient is made a view into its
// bucket, so backward accumulates straight into the buffers that are all-reduced (no packing
// copies). A gradient that was replaced since (set to a new tensor) is copied in and made a
// view again. Buckets are all-reduced asynchronously, all in flight at once, then divided by
// the world size.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef LOWRANK_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "c10d.h"

namespace {

at::Tensor &T(void *h) { return *static_cast<at::Tensor *>(h); }

char *message(const std::string &what) {
  char *m = static_cast<char *>(std::malloc(what.size() + 1));
  if (m != nullptr) std::memcpy(m, what.c_str(), what.size() + 1);
  return m;
}

template <typename F>
char *guarded(F f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error &e) {
    return message(e.what_without_backtrace());
  } catch (const std::exception &e) {
    return message(e.what());
  } catch (...) {
    return message("unknown C++ exception in c10d");
  }
}

struct Group {
  c10::intrusive_ptr<c10d::Store> store;  // the TCPStore
  c10::intrusive_ptr<c10d::Store> user;   // our keys, apart from the process group's
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0, world = 1;
};

Group &G(void *h) { return *static_cast<Group *>(h); }

bool loopback(const std::string &host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

void wait_all(std::vector<c10::intrusive_ptr<c10d::Work>> &works) {
  for (auto &w : works) w->wait();
}

struct Bucket {
  at::Tensor flat;
  std::vector<size_t> params;  // indices into Reducer::params
  std::vector<at::Tensor> views;
};

struct Reducer {
  Group *g;
  std::vector<at::Tensor> params;
  std::vector<Bucket> buckets;
};

// point makes parameter p's gradient the view v, keeping the values it had.
void point(at::Tensor &p, const at::Tensor &v) {
  const at::Tensor &g = p.grad();
  if (g.defined() && g.data_ptr() == v.data_ptr() && g.sizes() == v.sizes()) return;
  if (g.defined()) {
    v.copy_(g);
  } else {
    v.zero_();
  }
  p.mutable_grad() = v;
}

}  // namespace

extern "C" char *lowrank_group_new(const char *host, int port, int rank, int world, long long timeout_ms,
                                   const char *iface, const char *backend, void **out) {
  return guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = static_cast<std::size_t>(world);
    o.waitWorkers = true;
    o.timeout = timeout;
    auto g = std::make_unique<Group>();
    g->rank = rank;
    g->world = world;
    g->store = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
    g->user = c10::make_intrusive<c10d::PrefixStore>("lowrank", g->store);
    auto pgStore = c10::make_intrusive<c10d::PrefixStore>("pg", g->store);
    std::string b(backend);
    if (b == "nccl") {
#ifdef LOWRANK_WITH_NCCL
      // Without asynchronous error handling NCCL enforces no timeout: a dead peer would hang us.
      setenv("NCCL_ASYNC_ERROR_HANDLING", "1", 0);
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(pgStore, rank, world, opts);
#else
      throw std::runtime_error("this build has no NCCL (it needs a CUDA libtorch and nccl.h when gotch is prepared); use the gloo backend");
#endif
    } else if (b == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      std::string h(host), i(iface);
      if (!i.empty()) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(i));
      } else if (loopback(h)) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(h));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(pgStore, rank, world, opts);
    } else {
      throw std::runtime_error("unknown backend '" + b + "' (want gloo or nccl)");
    }
    *out = g.release();
  });
}

extern "C" void lowrank_group_free(void *g) { delete static_cast<Group *>(g); }

extern "C" int lowrank_has_nccl(void) {
#ifdef LOWRANK_WITH_NCCL
  return 1;
#else
  return 0;
#endif
}

extern "C" char *lowrank_allreduce(void *g, void **tensors, int n, int op) {
  return guarded([&] {
    c10d::AllreduceOptions o;
    o.reduceOp = op == 1 ? c10d::ReduceOp::MAX : op == 2 ? c10d::ReduceOp::MIN : c10d::ReduceOp::SUM;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (int i = 0; i < n; i++) {
      std::vector<at::Tensor> one{T(tensors[i])};
      works.push_back(G(g).pg->allreduce(one, o));
    }
    wait_all(works);
  });
}

extern "C" char *lowrank_broadcast(void *g, void **tensors, int n, int root) {
  return guarded([&] {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (int i = 0; i < n; i++) {
      std::vector<at::Tensor> one{T(tensors[i])};
      works.push_back(G(g).pg->broadcast(one, o));
    }
    wait_all(works);
  });
}

extern "C" char *lowrank_barrier(void *g) {
  return guarded([&] { G(g).pg->barrier()->wait(); });
}

extern "C" char *lowrank_store_set(void *g, const char *key, const void *data, long long n) {
  return guarded([&] {
    const auto *p = static_cast<const uint8_t *>(data);
    G(g).user->set(key, std::vector<uint8_t>(p, p + n));
  });
}

extern "C" char *lowrank_store_get(void *g, const char *key, void **data, long long *n) {
  return guarded([&] {
    std::vector<uint8_t> v = G(g).user->get(key);
    void *m = std::malloc(v.empty() ? 1 : v.size());
    if (m == nullptr) throw std::runtime_error("out of memory reading store key " + std::string(key));
    if (!v.empty()) std::memcpy(m, v.data(), v.size());
    *data = m;
    *n = static_cast<long long>(v.size());
  });
}

extern "C" char *lowrank_store_delete(void *g, const char *key) {
  return guarded([&] { G(g).user->deleteKey(key); });
}

extern "C" char *lowrank_reducer_new(void *g, void **params, int n, long long bucket_bytes, void **out) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    auto r = std::make_unique<Reducer>();
    r->g = static_cast<Group *>(g);
    for (int i = 0; i < n; i++) r->params.push_back(T(params[i]));
    // Open buckets by dtype and device; a bucket closes when the next gradient would overflow it.
    std::map<std::string, std::vector<size_t>> open;
    std::map<std::string, long long> fill;
    std::vector<std::vector<size_t>> groups;
    for (int i = n - 1; i >= 0; i--) {
      const at::Tensor &p = r->params[i];
      std::string key = std::string(p.dtype().name()) + "|" + p.device().str();
      long long bytes = static_cast<long long>(p.numel()) * p.element_size();
      if (!open[key].empty() && fill[key] + bytes > bucket_bytes) {
        groups.push_back(open[key]);
        open[key].clear();
        fill[key] = 0;
      }
      open[key].push_back(i);
      fill[key] += bytes;
    }
    for (auto &kv : open)
      if (!kv.second.empty()) groups.push_back(kv.second);
    for (auto &idx : groups) {
      Bucket b;
      b.params = idx;
      int64_t total = 0;
      for (size_t i : idx) total += r->params[i].numel();
      const at::Tensor &first = r->params[idx[0]];
      b.flat = at::zeros({total}, first.options().requires_grad(false));
      int64_t off = 0;
      for (size_t i : idx) {
        at::Tensor &p = r->params[i];
        at::Tensor v = b.flat.narrow(0, off, p.numel()).view(p.sizes());
        point(p, v);
        b.views.push_back(v);
        off += p.numel();
      }
      r->buckets.push_back(std::move(b));
    }
    *out = r.release();
  });
}

extern "C" void lowrank_reducer_free(void *r) { delete static_cast<Reducer *>(r); }

extern "C" char *lowrank_reducer_reduce(void *rh, float *extra, int n_extra, long long *bytes, int *buckets) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    Reducer &r = *static_cast<Reducer *>(rh);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    at::Tensor ext;
    if (n_extra > 0) {
      ext = at::from_blob(extra, {n_extra}, at::kFloat).clone();
      if (!r.buckets.empty()) ext = ext.to(r.buckets[0].flat.device());
      std::vector<at::Tensor> one{ext};
      works.push_back(r.g->pg->allreduce(one));
    }
    long long sent = 0;
    for (auto &b : r.buckets) {
      for (size_t k = 0; k < b.params.size(); k++) point(r.params[b.params[k]], b.views[k]);
      std::vector<at::Tensor> one{b.flat};
      works.push_back(r.g->pg->allreduce(one));
      sent += static_cast<long long>(b.flat.numel()) * b.flat.element_size();
    }
    wait_all(works);
    for (auto &b : r.buckets) b.flat.div_(r.g->world);
    if (n_extra > 0) {
      at::Tensor host = ext.cpu().contiguous();
      std::memcpy(extra, host.data_ptr<float>(), sizeof(float) * n_extra);
    }
    *bytes = sent;
    *buckets = static_cast<int>(r.buckets.size());
  });
}
