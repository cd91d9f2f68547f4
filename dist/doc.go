// Package dist runs data-parallel training over PyTorch's c10d (Gloo on CPU, NCCL on CUDA),
// the engine torch.distributed and DDP use, bound by gotch's c10d package (which lowrank's
// tools/gotchprep adds).
//
// A run is W processes (ranks 0…W−1), each with the whole model: every rank trains on its own
// shard of each epoch (data.Shard, PyTorch's DistributedSampler order), gradients are averaged
// after backward (Group.NewReducer), weights start equal (Group.BroadcastVars from rank 0), and
// rank 0 alone writes metrics and checkpoints. Processes find each other as torchrun's do
// (FromEnv: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), and Launch
// starts the processes of one machine.
//
// The Reducer lays gradients out as DDP does: flat buckets the gradients are views of, each
// all-reduced during backward as soon as its gradients are ready (Env.NoOverlap: after
// backward), divided by W. With Env.PowerSGDRank it sends every gradient matrix worth it as two
// rank-r factors instead (PowerSGD with error feedback). Every collective is bounded by
// Env.Timeout, so a rank that dies or hangs makes the others fail with an error naming it
// instead of waiting forever.
package dist
