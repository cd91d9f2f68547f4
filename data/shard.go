package data

// Shard returns rank's part of an epoch's example order, as PyTorch's DistributedSampler
// (drop_last false) does: the order is padded by repeating its start until its length is a
// multiple of world, and rank takes every world-th example from position rank on. Every rank
// gets ⌈n/world⌉ examples, so all take the same number of steps, and batch b of every rank
// together are examples [b·B·world, (b+1)·B·world) of the padded order: one process with batch
// B·world sees the same examples per step.
func Shard(order []int, rank, world int) []int {
	if world <= 1 || len(order) == 0 {
		return order
	}
	per := (len(order) + world - 1) / world
	out := make([]int, per)
	for i := range out {
		out[i] = order[(i*world+rank)%len(order)]
	}
	return out
}

// Split returns rank's part of order without padding (every world-th example from position
// rank on): for evaluation, where each example must count once.
func Split(order []int, rank, world int) []int {
	if world <= 1 {
		return order
	}
	var out []int
	for i := rank; i < len(order); i += world {
		out = append(out, order[i])
	}
	return out
}
