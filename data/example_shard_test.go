package data_test

import (
	"fmt"

	"github.com/lowrank-dev/lowrank/data"
)

// Two ranks split an epoch of 7 examples as PyTorch's DistributedSampler does: the order is
// padded with its start to 8, and each rank takes every other example.
func ExampleShard() {
	order := []int{7, 3, 9, 0, 5, 1, 8}
	fmt.Println(data.Shard(order, 0, 2), data.Shard(order, 1, 2))
	fmt.Println(data.Split(order, 0, 2), data.Split(order, 1, 2))
	// Output:
	// [7 9 5 8] [3 0 1 7]
	// [7 9 5 8] [3 0 1]
}
