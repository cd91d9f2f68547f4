// Collective communication over PyTorch's c10d: the engine under torch.distributed and DDP.
// A group is a TCPStore (rank 0 serves it at host:port, the others connect) and a process
// group on it: Gloo (CPU and CUDA tensors), or NCCL where this file was compiled with
// LOWRANK_WITH_NCCL. Every collective is bounded by the group's timeout, so a peer that died
// or hangs surfaces here as an exception, returned to Go as an error message.
//
// The reducer is data parallelism's gradient all-reduce, laid out as DDP lays it out. The
// parameters are packed into flat buckets of up to bucket_bytes, and every gradient is made a
// view into its bucket, so backward accumulates straight into the buffers that are all-reduced
// (no packing copies; a gradient replaced since is copied in and made a view again). A hook on
// each parameter's gradient accumulator marks it ready during backward, and a bucket whose
// gradients are all ready is all-reduced at once, asynchronously, while backward goes on with
// the layers below: communication overlaps computation. Buckets are launched strictly in bucket
// order, so every rank issues the same collectives in the same order. The first step only
// records the order in which gradients become ready; the buckets are then rebuilt in rank 0's
// recorded order (broadcast, so that all ranks agree), and the later steps overlap. After
// backward, reduce launches the buckets still waiting (parameters without a gradient this step
// count as zeros), waits for all, and divides by the world size.
//
// Compiled with LOWRANK_WITH_GLOO (Gloo's headers present) and/or LOWRANK_WITH_NCCL (a CUDA
// libtorch with nccl.h), for libtorch 1.13 and 2.x (whose process groups are Backends).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef LOWRANK_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#ifdef LOWRANK_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "c10d.h"

namespace {

// The process groups' common base: ProcessGroup in libtorch 1.x, Backend from 2.0 on.
#if TORCH_VERSION_MAJOR >= 2
using PG = c10d::Backend;
#else
using PG = c10d::ProcessGroup;
#endif

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
  c10::intrusive_ptr<PG> pg;
  int rank = 0, world = 1;
};

Group &G(void *h) { return *static_cast<Group *>(h); }

bool loopback(const std::string &host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

void wait_all(std::vector<c10::intrusive_ptr<c10d::Work>> &works) {
  for (auto &w : works) w->wait();
}

// point makes parameter p's gradient the view v, keeping the values it had (zeros if none).
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

struct Bucket {
  at::Tensor flat;
  std::vector<size_t> params;  // indices into Reducer::params
  std::vector<at::Tensor> views;
  size_t pending = 0;  // gradients not yet ready this step
};

// PowerSGD (Vogels et al. 2019, as torch.distributed's powerSGD_hook): after `start` plain
// steps, every gradient matrix M (n×m, the parameter's first dimension by the rest) worth
// compressing (n·m > r·(n+m)) is sent as two rank-r factors instead of n·m values: P = M·Q is
// all-reduced and orthonormalized, Q = Mᵀ·P is all-reduced and averaged, and the gradient
// becomes P·Qᵀ; what that misses is kept and added to the next step's gradient (error feedback),
// and Q starts the next step (warm start). Vectors and small matrices are all-reduced whole.
struct PowerSGD {
  int64_t rank = 4, start = 10, steps = 0;
  uint64_t seed = 0;
  bool ready = false;
  std::vector<size_t> comp, raw;  // parameter indices
  std::vector<int64_t> rows, cols, ranks;
  std::vector<at::Tensor> Q, err;
  at::Tensor rawflat, pflat, qflat;
};

// orthonormalize makes the columns of P (n×r) orthonormal in place (Gram-Schmidt).
void orthonormalize(at::Tensor &P) {
  for (int64_t j = 0; j < P.size(1); j++) {
    at::Tensor col = P.narrow(1, j, 1);
    if (j > 0) {
      at::Tensor prev = P.narrow(1, 0, j);
      col.sub_(prev.mm(prev.t().mm(col)));
    }
    col.div_(col.norm() + 1e-8);
  }
}

struct Reducer {
  Group *g = nullptr;
  std::unique_ptr<PowerSGD> psgd;
  long long cap = 0;
  std::vector<at::Tensor> params;
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of;  // parameter → bucket
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // kept alive: they hold the hooks
  std::mutex mu;
  std::vector<char> ready;     // parameter's gradient ready this step
  std::vector<int64_t> order;  // parameters in the order their gradients became ready (first step)
  size_t next = 0;             // the next bucket to launch
  bool hooks = true;           // overlap asked for: gradient-ready hooks installed
  bool overlap = false;        // from the second step on
  std::vector<c10::intrusive_ptr<c10d::Work>> works;

  // build packs the parameters, in the given order, into buckets by dtype and device; a bucket
  // closes when the next gradient would overflow it. Gradients keep their values.
  void build(const std::vector<int64_t> &by) {
    std::map<std::string, std::vector<size_t>> open;
    std::map<std::string, long long> fill;
    std::vector<std::vector<size_t>> groups;
    for (int64_t i : by) {
      const at::Tensor &p = params[i];
      std::string key = std::string(c10::toString(p.scalar_type())) + "|" + p.device().str();
      long long bytes = static_cast<long long>(p.numel()) * p.element_size();
      if (!open[key].empty() && fill[key] + bytes > cap) {
        groups.push_back(open[key]);
        open[key].clear();
        fill[key] = 0;
      }
      open[key].push_back(i);
      fill[key] += bytes;
    }
    for (auto &kv : open)
      if (!kv.second.empty()) groups.push_back(kv.second);
    std::vector<Bucket> out;
    for (auto &idx : groups) {
      Bucket b;
      b.params = idx;
      int64_t total = 0;
      for (size_t i : idx) total += params[i].numel();
      b.flat = at::empty({total}, params[idx[0]].options().requires_grad(false));
      int64_t off = 0;
      for (size_t i : idx) {
        at::Tensor &p = params[i];
        at::Tensor v = b.flat.narrow(0, off, p.numel()).view(p.sizes());
        point(p, v);
        b.views.push_back(v);
        bucket_of[i] = out.size();
        off += p.numel();
      }
      b.pending = idx.size();
      out.push_back(std::move(b));
    }
    buckets = std::move(out);
  }

  // launch all-reduces bucket k (its gradients made views again if something replaced them).
  void launch(size_t k) {
    Bucket &b = buckets[k];
    for (size_t j = 0; j < b.params.size(); j++) point(params[b.params[j]], b.views[j]);
    std::vector<at::Tensor> one{b.flat};
    works.push_back(g->pg->allreduce(one));
  }

  // prepare sorts the parameters into compressed and whole, and draws the first factors.
  void prepare() {
    PowerSGD &s = *psgd;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
    int64_t nraw = 0, np = 0, nq = 0;
    for (size_t i = 0; i < params.size(); i++) {
      const at::Tensor &p = params[i];
      int64_t n = p.dim() >= 2 ? p.size(0) : 0, m = n > 0 ? p.numel() / n : 0;
      if (n > 0 && n * m > s.rank * (n + m)) {
        int64_t r = std::min(s.rank, std::min(n, m));
        s.comp.push_back(i);
        s.rows.push_back(n);
        s.cols.push_back(m);
        s.ranks.push_back(r);
        s.Q.push_back(at::randn({m, r}, gen, at::TensorOptions().dtype(p.scalar_type())).to(p.device()));
        s.err.push_back(at::zeros({n, m}, p.options().requires_grad(false)));
        np += n * r;
        nq += m * r;
      } else {
        s.raw.push_back(i);
        nraw += p.numel();
      }
    }
    auto o = params[0].options().requires_grad(false);
    s.rawflat = at::empty({nraw}, o);
    s.pflat = at::empty({np}, o);
    s.qflat = at::empty({nq}, o);
    s.ready = true;
  }

  // compress averages the gradients with PowerSGD; works holds the flags' all-reduce, if any,
  // which is waited for with the first gradient data. Returns the bytes sent.
  long long compress(std::vector<c10::intrusive_ptr<c10d::Work>> &works) {
    PowerSGD &s = *psgd;
    for (size_t k = 0; k < buckets.size(); k++)
      for (size_t j = 0; j < buckets[k].params.size(); j++) point(params[buckets[k].params[j]], buckets[k].views[j]);
    if (!s.ready) prepare();
    int64_t off = 0;
    for (size_t i : s.raw) {
      s.rawflat.narrow(0, off, params[i].numel()).copy_(params[i].grad().reshape(-1));
      off += params[i].numel();
    }
    std::vector<at::Tensor> M, P, Q;
    int64_t po = 0, qo = 0;
    for (size_t k = 0; k < s.comp.size(); k++) {
      M.push_back(params[s.comp[k]].grad().reshape({s.rows[k], s.cols[k]}) + s.err[k]);
      P.push_back(s.pflat.narrow(0, po, s.rows[k] * s.ranks[k]).view({s.rows[k], s.ranks[k]}));
      Q.push_back(s.qflat.narrow(0, qo, s.cols[k] * s.ranks[k]).view({s.cols[k], s.ranks[k]}));
      at::mm_out(P[k], M[k], s.Q[k]);
      po += s.rows[k] * s.ranks[k];
      qo += s.cols[k] * s.ranks[k];
    }
    for (at::Tensor *t : {&s.rawflat, &s.pflat}) {
      if (t->numel() == 0) continue;
      std::vector<at::Tensor> one{*t};
      works.push_back(g->pg->allreduce(one));
    }
    for (auto &w : works) w->wait();
    works.clear();
    s.rawflat.div_(g->world);
    off = 0;
    for (size_t i : s.raw) {
      params[i].mutable_grad().copy_(s.rawflat.narrow(0, off, params[i].numel()).view_as(params[i]));
      off += params[i].numel();
    }
    for (size_t k = 0; k < s.comp.size(); k++) {
      orthonormalize(P[k]);
      at::mm_out(Q[k], M[k].t(), P[k]);
    }
    if (s.qflat.numel() > 0) {
      std::vector<at::Tensor> one{s.qflat};
      g->pg->allreduce(one)->wait();
      s.qflat.div_(g->world);
    }
    for (size_t k = 0; k < s.comp.size(); k++) {
      at::Tensor approx = P[k].mm(Q[k].t());
      s.err[k] = M[k] - approx;
      params[s.comp[k]].mutable_grad().copy_(approx.view_as(params[s.comp[k]]));
      s.Q[k] = Q[k].clone();
    }
    return (s.rawflat.numel() + s.pflat.numel() + s.qflat.numel()) * static_cast<long long>(s.pflat.element_size());
  }

  // send_flags starts summing extra[0..n) over the ranks; the tensor it returns holds the sum
  // once its work (appended to works) is done. Undefined when n is 0.
  at::Tensor send_flags(const float *extra, int n, std::vector<c10::intrusive_ptr<c10d::Work>> &works) {
    if (n <= 0) return at::Tensor();
    at::Tensor t = at::from_blob(const_cast<float *>(extra), {n}, at::kFloat).clone();
    if (!params.empty()) t = t.to(params[0].device());
    std::vector<at::Tensor> one{t};
    works.push_back(g->pg->allreduce(one));
    return t;
  }

  // ready is the hook: parameter i's gradient is accumulated for this step.
  void mark_ready(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    if (ready[i]) return;
    ready[i] = 1;
    if (!overlap) {
      order.push_back(static_cast<int64_t>(i));
      return;
    }
    at::NoGradGuard no_grad;
    buckets[bucket_of[i]].pending--;
    while (next < buckets.size() && buckets[next].pending == 0) launch(next++);
  }
};

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
#if TORCH_VERSION_MAJOR >= 2
      setenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1", 0);
#else
      setenv("NCCL_ASYNC_ERROR_HANDLING", "1", 0);
#endif
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(pgStore, rank, world, opts);
#else
      throw std::runtime_error("this build has no NCCL (it needs a CUDA libtorch and nccl.h when ./install-libtorch.sh runs); use the gloo backend");
#endif
    } else if (b == "gloo") {
#ifdef LOWRANK_WITH_GLOO
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
#else
      throw std::runtime_error("this build has no Gloo: its headers (gloo/config.h) were missing when ./install-libtorch.sh ran; install them (Debian: apt-get install libgloo-dev) and run it again, or use the nccl backend");
#endif
    } else {
      throw std::runtime_error("unknown backend '" + b + "' (want gloo or nccl)");
    }
    *out = g.release();
  });
}

extern "C" void lowrank_group_free(void *g) {
  Group *grp = static_cast<Group *>(g);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
  try {
    grp->pg->shutdown();  // NCCL in 2.x warns (and may leak) when destroyed without it
  } catch (...) {
  }
#endif
  delete grp;
}

extern "C" int lowrank_has_gloo(void) {
#ifdef LOWRANK_WITH_GLOO
  return 1;
#else
  return 0;
#endif
}

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

extern "C" char *lowrank_reducer_new(void *g, void **params, int n, long long bucket_bytes, int overlap, void **out) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    auto r = std::make_shared<Reducer>();
    r->g = static_cast<Group *>(g);
    r->cap = bucket_bytes;
    for (int i = 0; i < n; i++) r->params.push_back(T(params[i]));
    r->bucket_of.assign(n, 0);
    r->ready.assign(n, 0);
    std::vector<int64_t> reverse;  // until the first step shows the real order
    for (int i = n - 1; i >= 0; i--) reverse.push_back(i);
    r->build(reverse);
    r->hooks = overlap != 0;
    std::weak_ptr<Reducer> weak = r;
    for (int i = 0; r->hooks && i < n; i++) {
      auto acc = torch::autograd::impl::grad_accumulator(r->params[i]);
      if (!acc) throw std::runtime_error("parameter " + std::to_string(i) + " does not require a gradient");
      acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
          [weak, i](const torch::autograd::variable_list &outputs, const torch::autograd::variable_list &) {
            if (auto live = weak.lock()) live->mark_ready(static_cast<size_t>(i));
            return outputs;
          }));
      r->accumulators.push_back(std::move(acc));
    }
    *out = new std::shared_ptr<Reducer>(std::move(r));
  });
}

extern "C" char *lowrank_reducer_powersgd(void *rh, int rank, int start, unsigned long long seed) {
  return guarded([&] {
    Reducer &r = **static_cast<std::shared_ptr<Reducer> *>(rh);
    if (r.hooks) throw std::runtime_error("PowerSGD compresses after backward: create the reducer without overlap");
    if (rank < 1 || start < 0) throw std::runtime_error("PowerSGD needs a rank ≥ 1 and a start step ≥ 0");
    if (r.params.empty()) return;
    r.psgd = std::make_unique<PowerSGD>();
    r.psgd->rank = rank;
    r.psgd->start = start;
    r.psgd->seed = seed;
  });
}

extern "C" void lowrank_reducer_free(void *r) { delete static_cast<std::shared_ptr<Reducer> *>(r); }

extern "C" char *lowrank_reducer_reduce(void *rh, float *extra, int n_extra, long long *bytes, int *buckets, int *early) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    Reducer &r = **static_cast<std::shared_ptr<Reducer> *>(rh);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    at::Tensor ext;
    auto flags_back = [&] {
      if (!ext.defined()) return;
      at::Tensor host = ext.cpu().contiguous();
      std::memcpy(extra, host.data_ptr<float>(), sizeof(float) * n_extra);
    };
    if (r.psgd && r.psgd->steps++ >= r.psgd->start) {
      ext = r.send_flags(extra, n_extra, works);
      *bytes = r.compress(works);
      *buckets = (r.psgd->rawflat.numel() > 0) + (r.psgd->pflat.numel() > 0) + (r.psgd->qflat.numel() > 0);
      *early = 0;
      flags_back();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(r.mu);
      // Buckets still waiting (all of them in the first step; any with a parameter that got
      // no gradient later), in order, then the flags.
      *early = static_cast<int>(r.next);
      while (r.next < r.buckets.size()) r.launch(r.next++);
      ext = r.send_flags(extra, n_extra, r.works);
      works.swap(r.works);
    }
    long long sent = 0;
    for (auto &w : works) w->wait();
    for (auto &b : r.buckets) {
      b.flat.div_(r.g->world);
      sent += static_cast<long long>(b.flat.numel()) * b.flat.element_size();
    }
    flags_back();
    *bytes = sent;
    *buckets = static_cast<int>(r.buckets.size());
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.hooks && !r.overlap) {
      // First step done: rebuild the buckets in the order gradients became ready, rank 0's
      // (unused parameters last), and overlap from now on.
      std::vector<char> seen(r.params.size(), 0);
      std::vector<int64_t> by;
      for (int64_t i : r.order)
        if (!seen[i]) seen[i] = 1, by.push_back(i);
      for (int64_t i = static_cast<int64_t>(r.params.size()) - 1; i >= 0; i--)
        if (!seen[i]) by.push_back(i);
      at::Tensor t = at::tensor(by, at::kLong);
      if (!r.buckets.empty()) t = t.to(r.buckets[0].flat.device());
      std::vector<at::Tensor> one{t};
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      r.g->pg->broadcast(one, o)->wait();
      at::Tensor host = t.cpu().contiguous();
      by.assign(host.data_ptr<int64_t>(), host.data_ptr<int64_t>() + host.numel());
      r.build(by);
      r.overlap = true;
    }
    for (auto &b : r.buckets) b.pending = b.params.size();
    std::fill(r.ready.begin(), r.ready.end(), 0);
    r.next = 0;
  });
}
