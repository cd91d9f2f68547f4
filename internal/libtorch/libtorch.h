// libtorch's global settings that gotch's Go API does not reach.
#ifndef LOWRANK_LIBTORCH_H
#define LOWRANK_LIBTORCH_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
int lowrank_get_num_threads(void);
void lowrank_set_num_threads(int n);
void lowrank_manual_seed(int64_t seed);
#ifdef __cplusplus
}
#endif
#endif
