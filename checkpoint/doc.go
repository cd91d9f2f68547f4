// Package checkpoint reads and writes PyTorch's torch.save format, so that models move between
// lowrank and PyTorch in both directions.
//
// A torch.save file is a zip archive of STORED entries under one top-level folder:
// <name>/data.pkl, a pickle (protocol 2) of the state dict, an OrderedDict whose values are
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks) calls
// with storages given as persistent ids ('storage', torch.FloatStorage, key, 'cpu', numel);
// <name>/data/<key>, each storage's raw little-endian bytes (aligned to 64 bytes in the file);
// <name>/byteorder ("little") and <name>/version ("3"). Write emits only opcodes that
// torch.load(weights_only=True) accepts.
package checkpoint
