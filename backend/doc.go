// Package backend reports and configures the libtorch that gotch is linked against: its version,
// the BLAS library it resolved at load time, the intra-op thread count, CUDA devices, and the ops
// that install-libtorch.sh had to disable because this libtorch cannot compile their wrappers.
//
// libtorch keeps some state per OS thread (grad mode, gotch's last-error slot). Code that runs a
// sequence of torch calls and checks their errors should stay on one locked OS thread; see
// LockThread.
package backend
