// Memory layouts of 4-d tensors (lowrank's extension of gotch). Tensors are gotch handles
// (torch::Tensor*). Functions that can fail return NULL, or an error message allocated with
// malloc that the caller frees.
#ifndef LOWRANK_LAYOUT_H
#define LOWRANK_LAYOUT_H
#ifdef __cplusplus
extern "C" {
#endif

char *lowrank_set_layout(void **tensors, int n, int channels_last);
int lowrank_is_channels_last(void *tensor);
char *lowrank_set_double(void **tensors, int n);

#ifdef __cplusplus
}
#endif
#endif
