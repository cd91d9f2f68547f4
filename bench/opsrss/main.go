// Command opsrss runs a long loop of libtorch ops through gotch, multi-output ops included
// (svd returns 3 tensors, lstm 3), drops every result, and prints the process RSS as it goes, to
// show that memory stays flat: no per-op leak from gotch's output arrays or tensor bookkeeping.
//
//	go run ./bench/opsrss -ops 1000000
package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/internal/sysinfo"
)

func main() {
	ops := flag.Int("ops", 1000000, "number of ops to run")
	flag.Parse()
	defer backend.LockThread()()
	backend.SetThreads(1)
	x, _ := ts.Randn([]int64{8, 8}, gotch.Float, gotch.CPU)
	seq, _ := ts.Randn([]int64{4, 2, 8}, gotch.Float, gotch.CPU)
	h0, _ := ts.Zeros([]int64{1, 2, 8}, gotch.Float, gotch.CPU)
	var params []*ts.Tensor
	for _, s := range [][]int64{{32, 8}, {32, 8}, {32}, {32}} {
		p, _ := ts.Randn(s, gotch.Float, gotch.CPU)
		params = append(params, p)
	}
	// One round is 10 ops: 8 single-output ops, one svd, one lstm.
	const perRound = 10
	rounds := *ops / perRound
	start := time.Now()
	fmt.Printf("%10s %10s %8s\n", "ops", "RSS_MB", "secs")
	for r := 0; r <= rounds; r++ {
		if r%(rounds/10) == 0 {
			runtime.GC()
			fmt.Printf("%10d %10.1f %8.1f\n", r*perRound, sysinfo.StatusMB("VmRSS"), time.Since(start).Seconds())
		}
		if r == rounds {
			break
		}
		for i := 0; i < 8; i++ {
			y, err := x.Add(x, false)
			if err != nil {
				panic(err)
			}
			y.MustDrop()
		}
		u, s, v, err := x.Svd(true, true, false)
		if err != nil {
			panic(err)
		}
		u.MustDrop()
		s.MustDrop()
		v.MustDrop()
		out, h, c, err := ts.Lstm(seq, []*ts.Tensor{h0, h0}, params, true, 1, 0, false, false, false)
		if err != nil {
			panic(err)
		}
		out.MustDrop()
		h.MustDrop()
		c.MustDrop()
	}
}
