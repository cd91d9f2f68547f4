// Package train runs the training loop: batches in, loss and regularizer, backward, optimizer
// step, per-epoch evaluation and metrics. All torch calls of a run happen on one locked OS
// thread, since libtorch's grad mode and gotch's error slot are thread-local.
package train
