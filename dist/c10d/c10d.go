// Package c10d binds PyTorch's c10d collectives: a TCPStore rendezvous, a Gloo (or NCCL)
// process group, all-reduce, broadcast, barrier and a bucketed gradient reducer. See c10d.cpp.
// Its cgo flags are in cgo_generated.go, which install-libtorch.sh writes (tools/gotchprep):
// with -DLOWRANK_WITH_GLOO where Gloo's headers are installed, -DLOWRANK_WITH_NCCL for a CUDA
// libtorch with nccl.h. Built with neither, HasGloo and HasNCCL report false and a process
// group cannot be made (the error says what to install).
package c10d

// #include <stdlib.h>
// #include "c10d.h"
import "C"

import (
	"runtime"
	"time"
	"unsafe"

	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/internal/cxx"
)

// HasGloo reports whether this build can use the gloo backend.
func HasGloo() bool { return C.lowrank_has_gloo() == 1 }

// HasNCCL reports whether this build can use the nccl backend.
func HasNCCL() bool { return C.lowrank_has_nccl() == 1 }

// Op is a reduction.
type Op int

const (
	Sum Op = iota
	Max
	Min
)

func handles(xs []*ts.Tensor) []unsafe.Pointer { return cxx.Handles(xs) }

func result(msg *C.char) error { return cxx.Error(unsafe.Pointer(msg)) }

// Group is this process's membership of a process group.
type Group struct {
	h     unsafe.Pointer
	Rank  int
	World int
}

// NewGroup joins the world processes that rendezvous at host:port; rank 0 serves the store
// there. timeout bounds the rendezvous and every collective. iface (optional) names the network
// interface; backend is "gloo" or "nccl".
func NewGroup(host string, port, rank, world int, timeout time.Duration, iface, backend string) (*Group, error) {
	ch, ci, cb := C.CString(host), C.CString(iface), C.CString(backend)
	defer C.free(unsafe.Pointer(ch))
	defer C.free(unsafe.Pointer(ci))
	defer C.free(unsafe.Pointer(cb))
	var h unsafe.Pointer
	if err := result(C.lowrank_group_new(ch, C.int(port), C.int(rank), C.int(world), C.longlong(timeout.Milliseconds()), ci, cb, &h)); err != nil {
		return nil, err
	}
	return &Group{h: h, Rank: rank, World: world}, nil
}

// Close leaves the group.
func (g *Group) Close() {
	if g.h != nil {
		C.lowrank_group_free(g.h)
		g.h = nil
	}
}

// AllReduce reduces every tensor in place across the group.
func (g *Group) AllReduce(xs []*ts.Tensor, op Op) error {
	h := handles(xs)
	err := result(C.lowrank_allreduce(g.h, (*unsafe.Pointer)(unsafe.Pointer(&h[0])), C.int(len(xs)), C.int(op)))
	runtime.KeepAlive(xs)
	return err
}

// Broadcast overwrites every tensor with root's.
func (g *Group) Broadcast(xs []*ts.Tensor, root int) error {
	h := handles(xs)
	err := result(C.lowrank_broadcast(g.h, (*unsafe.Pointer)(unsafe.Pointer(&h[0])), C.int(len(xs)), C.int(root)))
	runtime.KeepAlive(xs)
	return err
}

// Barrier returns once every rank has called it.
func (g *Group) Barrier() error { return result(C.lowrank_barrier(g.h)) }

// Set stores value under key in the group's store.
func (g *Group) Set(key string, value []byte) error {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var p unsafe.Pointer
	if len(value) > 0 {
		p = C.CBytes(value)
		defer C.free(p)
	}
	return result(C.lowrank_store_set(g.h, ck, p, C.longlong(len(value))))
}

// Get waits (up to the group's timeout) for key and returns its value.
func (g *Group) Get(key string) ([]byte, error) {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	var p unsafe.Pointer
	var n C.longlong
	if err := result(C.lowrank_store_get(g.h, ck, &p, &n)); err != nil {
		return nil, err
	}
	defer C.free(p)
	return C.GoBytes(p, C.int(n)), nil
}

// Delete removes key from the store.
func (g *Group) Delete(key string) error {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	return result(C.lowrank_store_delete(g.h, ck))
}

// Reducer averages gradients over the group in flat buckets that the gradients are views of,
// all-reducing each bucket as soon as backward has produced its gradients (from the second step
// on, in the order the first step showed).
type Reducer struct {
	h      unsafe.Pointer
	params []*ts.Tensor
}

// NewReducer buckets params' gradients, up to bucketBytes per bucket; with overlap, buckets are
// all-reduced during backward.
func (g *Group) NewReducer(params []*ts.Tensor, bucketBytes int64, overlap bool) (*Reducer, error) {
	h := handles(params)
	var r unsafe.Pointer
	ov := 0
	if overlap {
		ov = 1
	}
	err := result(C.lowrank_reducer_new(g.h, (*unsafe.Pointer)(unsafe.Pointer(&h[0])), C.int(len(params)), C.longlong(bucketBytes), C.int(ov), &r))
	if err != nil {
		return nil, err
	}
	return &Reducer{h: r, params: params}, nil
}

// Reduce averages every gradient over the group and sums extra (in place) alongside. It returns
// the gradient bytes all-reduced, the number of buckets, and how many of them were all-reduced
// during backward, overlapping it. Call it once after each backward.
func (r *Reducer) Reduce(extra []float32) (bytes int64, buckets, overlapped int, err error) {
	var b C.longlong
	var nb, early C.int
	var p *C.float
	if len(extra) > 0 {
		p = (*C.float)(unsafe.Pointer(&extra[0]))
	}
	err = result(C.lowrank_reducer_reduce(r.h, p, C.int(len(extra)), &b, &nb, &early))
	runtime.KeepAlive(extra)
	return int64(b), int(nb), int(early), err
}

// PowerSGD makes Reduce send rank-rank factors of every gradient matrix worth compressing,
// with error feedback, from step start on (PowerSGD, as torch.distributed's powerSGD_hook).
// The reducer must have been created without overlap. seed draws the first factors, the same on
// every rank.
func (r *Reducer) PowerSGD(rank, start int, seed uint64) error {
	return result(C.lowrank_reducer_powersgd(r.h, C.int(rank), C.int(start), C.ulonglong(seed)))
}

// Close frees the buckets (the gradients stay valid: they hold the buffers).
func (r *Reducer) Close() {
	if r.h != nil {
		C.lowrank_reducer_free(r.h)
		r.h = nil
	}
}
