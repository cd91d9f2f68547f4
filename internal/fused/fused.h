// Fused optimizer steps over many parameters in one call (lowrank's C++ over libtorch).
// Tensors are gotch handles (torch::Tensor*). Each function returns NULL, or an error message
// allocated with malloc that the caller frees.
#ifndef LOWRANK_FUSED_H
#define LOWRANK_FUSED_H
#ifdef __cplusplus
extern "C" {
#endif

char *lowrank_sgd_step(void **params, void **bufs, int n, double lr, double momentum, double wd);
char *lowrank_adam_step(void **params, void **exp_avg, void **exp_avg_sq, int n, double lr, double beta1,
                        double beta2, double eps, double wd, int decoupled, long long step);
char *lowrank_rmsprop_step(void **params, void **square_avg, void **bufs, int n, double lr, double alpha,
                           double eps, double momentum, double wd);
char *lowrank_clip_grad_norm(void **params, int n, double max_norm);
char *lowrank_galore_step(void **params, void **exp_avg, void **exp_avg_sq, void **projs, int n, double lr,
                          double beta1, double beta2, double eps, double wd, long long step, int every, double scale);
char *lowrank_relora_step(void **weights, void **as, void **bs, void **m_a, void **v_a, void **m_b, void **v_b, int n,
                          double lr, double beta1, double beta2, double eps, double wd, int decoupled, long long step);
char *lowrank_relora_restart(void **as, void **bs, void **m_a, void **v_a, void **m_b, void **v_b, int n, double reset);

#ifdef __cplusplus
}
#endif
#endif
