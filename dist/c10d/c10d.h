// Collective communication over PyTorch's c10d (lowrank's extension of gotch): a TCPStore
// rendezvous, a ProcessGroupGloo (NCCL where built for it), all-reduce, broadcast and barrier
// on gotch tensor handles (torch::Tensor*), and a bucketed gradient reducer. Each function
// returns NULL, or an error message allocated with malloc that the caller frees.
#ifndef LOWRANK_C10D_H
#define LOWRANK_C10D_H
#ifdef __cplusplus
extern "C" {
#endif

// lowrank_group_new joins the group of world processes that rendezvous at host:port (rank 0
// serves the store there), with timeout_ms bounding the rendezvous and every collective.
// iface, when not empty, names the network interface Gloo uses; backend is "gloo" or "nccl".
char *lowrank_group_new(const char *host, int port, int rank, int world, long long timeout_ms, const char *iface,
                        const char *backend, void **out);
void lowrank_group_free(void *g);
// lowrank_has_gloo and lowrank_has_nccl are 1 when this file was compiled with that backend.
int lowrank_has_gloo(void);
int lowrank_has_nccl(void);
// op: 0 sum, 1 max, 2 min.
char *lowrank_allreduce(void *g, void **tensors, int n, int op);
char *lowrank_broadcast(void *g, void **tensors, int n, int root);
char *lowrank_barrier(void *g);
char *lowrank_store_set(void *g, const char *key, const void *data, long long n);
// lowrank_store_get waits (up to the group's timeout) for key; *data is malloc'ed.
char *lowrank_store_get(void *g, const char *key, void **data, long long *n);
char *lowrank_store_delete(void *g, const char *key);

// lowrank_reducer_new buckets the gradients of params (up to bucket_bytes per bucket) into flat
// buffers that the gradients become views of, and hooks their accumulation (see c10d.cpp).
// With overlap 0 the buckets are all-reduced after backward, in lowrank_reducer_reduce.
char *lowrank_reducer_new(void *g, void **params, int n, long long bucket_bytes, int overlap, void **out);
void lowrank_reducer_free(void *r);
// lowrank_reducer_powersgd compresses gradients with PowerSGD at the given rank from step start
// on (steps before it all-reduce plainly); the reducer must have been created without overlap.
char *lowrank_reducer_powersgd(void *r, int rank, int start, unsigned long long seed);
// lowrank_reducer_reduce averages every parameter's gradient over the group, with extra[0..n_extra)
// summed alongside; it returns the bytes all-reduced, the buckets, and how many of them were
// launched during backward (overlapped with it).
char *lowrank_reducer_reduce(void *r, float *extra, int n_extra, long long *bytes, int *buckets, int *early);

#ifdef __cplusplus
}
#endif
#endif
