// Fused optimizer steps: the update rules of torch.optim's single-tensor SGD, Adam, AdamW and
// RMSprop (PyTorch 1.13), applied to every parameter in one call, followed by zeroing the
// gradients in place (zero_grad's 1.13 default). Zeroing beats setting them to none here: the
// next backward then accumulates into the same buffers instead of allocating fresh pages (a
// dense MLP step at batch 128 took 4.0–5.8 ms with set-to-none, 2.9–3.1 ms with zeroing,
// `lowrank bench --models mlp --methods original`). Parameters without a
// gradient are skipped. Runs without recording gradients.
#include <cmath>
#include <vector>

#include "fused.h"
#include "guard.h"

namespace {

using lowrank::T;

template <typename F>
char *guarded(F f) {
  return lowrank::guarded("unknown C++ exception in a fused optimizer step", f);
}

// grad_of returns the parameter's gradient with weight decay applied (g + wd·p), or an
// undefined tensor when the parameter has none.
at::Tensor grad_of(at::Tensor &p, double wd) {
  const at::Tensor &g = p.grad();
  if (!g.defined()) return at::Tensor();
  return wd != 0 ? g.add(p, wd) : g;
}

void clear_grad(at::Tensor &p) {
  at::Tensor &g = p.mutable_grad();
  if (g.defined()) g.zero_();
}

// adam_into applies one torch.optim Adam/AdamW step (bias corrections bc1 and √bc2) to x with
// gradient g and moments m, v.
void adam_into(at::Tensor &x, const at::Tensor &g, at::Tensor &m, at::Tensor &v, double lr, double beta1, double beta2,
               double eps, double wd, bool decoupled, double bc1, double bc2_sqrt) {
  at::Tensor d = g;
  if (wd != 0) {
    if (decoupled) {
      x.mul_(1 - lr * wd);
    } else {
      d = g.add(x, wd);
    }
  }
  m.mul_(beta1).add_(d, 1 - beta1);
  v.mul_(beta2).addcmul_(d, d, 1 - beta2);
  x.addcdiv_(m, (v.sqrt() / bc2_sqrt).add_(eps), -lr / bc1);
}


}  // namespace

extern "C" char *lowrank_sgd_step(void **params, void **bufs, int n, double lr, double momentum, double wd) {
  return guarded([&] {
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      at::Tensor d = grad_of(p, wd);
      if (!d.defined()) continue;
      if (momentum != 0) {
        // A zero buffer makes the first step b = d, as torch's clone on the first step.
        at::Tensor &b = T(bufs[i]);
        b.mul_(momentum).add_(d);
        d = b;
      }
      p.add_(d, -lr);
      clear_grad(p);
    }
  });
}

extern "C" char *lowrank_adam_step(void **params, void **exp_avg, void **exp_avg_sq, int n, double lr, double beta1,
                                   double beta2, double eps, double wd, int decoupled, long long step) {
  return guarded([&] {
    const double bc1 = 1 - std::pow(beta1, double(step));
    const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, double(step)));
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      if (!p.grad().defined()) continue;
      adam_into(p, p.grad(), T(exp_avg[i]), T(exp_avg_sq[i]), lr, beta1, beta2, eps, wd, decoupled != 0, bc1, bc2_sqrt);
      clear_grad(p);
    }
  });
}

extern "C" char *lowrank_rmsprop_step(void **params, void **square_avg, void **bufs, int n, double lr, double alpha,
                                      double eps, double momentum, double wd) {
  return guarded([&] {
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      at::Tensor d = grad_of(p, wd);
      if (!d.defined()) continue;
      at::Tensor &s = T(square_avg[i]);
      s.mul_(alpha).addcmul_(d, d, 1 - alpha);
      at::Tensor avg = s.sqrt().add_(eps);
      if (momentum != 0) {
        at::Tensor &b = T(bufs[i]);
        b.mul_(momentum).addcdiv_(d, avg);
        p.add_(b, -lr);
      } else {
        p.addcdiv_(d, avg, -lr);
      }
      clear_grad(p);
    }
  });
}

// Gradient clipping as torch.nn.utils.clip_grad_norm_ (norm_type 2): the global norm
// ‖(‖g_1‖, …, ‖g_n‖)‖ over every parameter with a gradient, and each gradient scaled by
// min(1, max_norm / (norm + 1e-6)). The norm stays on the device (no read back to the host).
extern "C" char *lowrank_clip_grad_norm(void **params, int n, double max_norm) {
  return guarded([&] {
    std::vector<at::Tensor> norms;
    for (int i = 0; i < n; i++) {
      const at::Tensor &g = T(params[i]).grad();
      if (g.defined()) norms.push_back(g.norm(2));
    }
    if (norms.empty()) return;
    at::Tensor total = at::stack(norms).norm(2);
    at::Tensor coef = (max_norm / (total + 1e-6)).clamp_max(1.0);
    for (int i = 0; i < n; i++) {
      at::Tensor &g = T(params[i]).mutable_grad();
      if (g.defined()) g.mul_(coef);
    }
  });
}

// GaLore's AdamW (Zhao et al. 2024; as the reference galore_torch.AdamW, proj_type "std"): for a
// parameter with a projector P, its gradient in matrix form G (m×n: a convolution's kernel as
// out × in·k·k) is projected, R = G·Pᵀ with P = the first r rows of Vᵀ (m ≥ n) or R = Pᵀ·G with
// P = the first r columns of U (m < n), from G = U·S·Vᵀ recomputed at steps 1, 1 + every, ...;
// Adam's moments live in R's shape; the update N = m̂ / (√v + ε) is projected back (N·P or P·N)
// and scaled by scale. Every parameter then steps by −lr·√(1−β₂ᵗ)/(1−β₁ᵗ)·N and decays after,
// p −= lr·wd·p. A parameter without a projector (nullptr) takes the same rule unprojected.
extern "C" char *lowrank_galore_step(void **params, void **exp_avg, void **exp_avg_sq, void **projs, int n, double lr,
                                     double beta1, double beta2, double eps, double wd, long long step, int every,
                                     double scale) {
  return guarded([&] {
    const double bc1 = 1 - std::pow(beta1, double(step));
    const double bc2 = 1 - std::pow(beta2, double(step));
    const double step_size = lr * std::sqrt(bc2) / bc1;
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      const at::Tensor &g = p.grad();
      if (!g.defined()) continue;
      at::Tensor &m = T(exp_avg[i]), &v = T(exp_avg_sq[i]);
      at::Tensor update;
      if (projs[i] == nullptr) {
        m.mul_(beta1).add_(g, 1 - beta1);
        v.mul_(beta2).addcmul_(g, g, 1 - beta2);
        update = m / (v.sqrt() + eps);
      } else {
        at::Tensor &proj = T(projs[i]);
        at::Tensor G = g.reshape({p.size(0), -1});
        const bool right = G.size(0) >= G.size(1);
        if ((step - 1) % every == 0) {
          auto usv = at::linalg_svd(G.to(at::kFloat), false);
          const int64_t r = right ? proj.size(0) : proj.size(1);
          if (right) {
            proj.copy_(std::get<2>(usv).narrow(0, 0, r));
          } else {
            proj.copy_(std::get<0>(usv).narrow(1, 0, r));
          }
        }
        at::Tensor R = right ? G.mm(proj.t()) : proj.t().mm(G);
        m.mul_(beta1).add_(R, 1 - beta1);
        v.mul_(beta2).addcmul_(R, R, 1 - beta2);
        at::Tensor N = m / (v.sqrt() + eps);
        update = (right ? N.mm(proj) : proj.mm(N)).mul_(scale).reshape(p.sizes());
      }
      p.add_(update, -step_size);
      if (wd != 0) p.add_(p, -lr * wd);
      clear_grad(p);
    }
  });
}


// ReLoRA's step (Lialin et al. 2023) for weights trained as W = W₀ + B·A: from W's gradient in
// matrix form G (m×n; a kernel as out × in·k·k), the factors' gradients ∂A = Bᵀ·G (r×n) and
// ∂B = G·Aᵀ (m×r), one Adam/AdamW step of each (step t, for the bias corrections), and W moved by
// the change of B·A, so that W − W₀ = B·A holds after every step. W's gradient is zeroed.
extern "C" char *lowrank_relora_step(void **weights, void **as, void **bs, void **m_a, void **v_a, void **m_b, void **v_b,
                                     int n, double lr, double beta1, double beta2, double eps, double wd, int decoupled,
                                     long long step) {
  return guarded([&] {
    const double bc1 = 1 - std::pow(beta1, double(step));
    const double bc2_sqrt = std::sqrt(1 - std::pow(beta2, double(step)));
    for (int i = 0; i < n; i++) {
      at::Tensor &w = T(weights[i]);
      const at::Tensor &g = w.grad();
      if (!g.defined()) continue;
      at::Tensor &a = T(as[i]), &b = T(bs[i]);
      at::Tensor G = g.reshape({w.size(0), -1});
      at::Tensor ga = b.t().mm(G), gb = G.mm(a.t());
      at::Tensor before = b.mm(a);
      adam_into(a, ga, T(m_a[i]), T(v_a[i]), lr, beta1, beta2, eps, wd, decoupled != 0, bc1, bc2_sqrt);
      adam_into(b, gb, T(m_b[i]), T(v_b[i]), lr, beta1, beta2, eps, wd, decoupled != 0, bc1, bc2_sqrt);
      w.add_((b.mm(a) - before).reshape(w.sizes()));
      clear_grad(w);
    }
  });
}

// ReLoRA's merge and restart: B·A is already in W (W₀ becomes W), so B restarts at zero and A
// from U(−1/√n, 1/√n) (kaiming_uniform_ with a = √5, as LoRA's); each factor's Adam moments are
// pruned together, keeping the entries whose |m| is above the reset quantile (pruning m and v
// apart would leave a moment over a zeroed second moment, an unbounded step).
extern "C" char *lowrank_relora_restart(void **as, void **bs, void **m_a, void **v_a, void **m_b, void **v_b, int n,
                                        double reset) {
  return guarded([&] {
    for (int i = 0; i < n; i++) {
      at::Tensor &a = T(as[i]), &b = T(bs[i]);
      b.zero_();
      const double bound = 1 / std::sqrt(double(a.size(1)));
      a.uniform_(-bound, bound);
      for (auto mv : {std::make_pair(m_a[i], v_a[i]), std::make_pair(m_b[i], v_b[i])}) {
        at::Tensor &m = T(mv.first), &v = T(mv.second);
        const int64_t k = int64_t(reset * double(m.numel()));
        if (k <= 0) continue;
        if (k >= m.numel()) {
          m.zero_();
          v.zero_();
          continue;
        }
        at::Tensor mag = m.abs();
        at::Tensor thr = std::get<0>(mag.flatten().kthvalue(k));
        at::Tensor keep = mag.gt(thr).to(m.scalar_type());
        m.mul_(keep);
        v.mul_(keep);
      }
    }
  });
}
