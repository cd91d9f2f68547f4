package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/lowrank-dev/lowrank/backend"
	"github.com/lowrank-dev/lowrank/internal/scope"
)

// maxStorageBytes bounds one storage entry read from a file (8 GiB).
const maxStorageBytes = 8 << 30

// DefaultLimit bounds the tensor bytes one file may make Load allocate when the caller names
// no model to size it by (LimitFor).
const DefaultLimit = 8 << 30

// LimitFor is what a checkpoint for a model whose variables are vars may allocate: 4× their
// bytes (a model, or an optimizer state of up to three buffers per parameter and a margin) plus
// 64 MiB, so that a small file claiming huge storages (a deflated stream of zeros) is refused
// before it is inflated. LOWRANK_CHECKPOINT_LIMIT_MB overrides it.
func LimitFor(vars map[string]*ts.Tensor) int64 {
	if v := os.Getenv("LOWRANK_CHECKPOINT_LIMIT_MB"); v != "" {
		if mb, err := strconv.ParseInt(v, 10, 64); err == nil && mb > 0 && mb < 1<<43 {
			return mb << 20
		}
	}
	var n int64
	for _, t := range vars {
		n += int64(t.Numel()) * int64(t.DType().Size())
	}
	return 4*n + 64<<20
}

// Load reads a torch.save state dict (a dict or OrderedDict of tensors, nested dicts flattened
// with dots; _metadata and non-tensor entries skipped) into CPU tensors, each contiguous and
// owning its memory. Legacy (non-zip) files, TorchScript archives and corrupt or truncated files
// give an error naming the file and what is wrong; nothing in the file is executed.
func Load(path string) (out map[string]*ts.Tensor, err error) {
	out, _, err = LoadAliased(path)
	return out, err
}

// LoadAliased is Load that also reports aliases: keys whose tensors are the same view of the
// same storage as another key's (PyTorch writes a module registered under two names, as the
// reference's ResNet and Transformer do, once per name). aliases maps every such key to the
// group's first key in sorted order.
func LoadAliased(path string) (out map[string]*ts.Tensor, aliases map[string]string, err error) {
	return LoadAliasedLimit(path, DefaultLimit)
}

// LoadLimit is Load with a bound on the bytes of tensor data the file may make it allocate
// (LimitFor sizes it for a model).
func LoadLimit(path string, limit int64) (map[string]*ts.Tensor, error) {
	out, _, err := LoadAliasedLimit(path, limit)
	return out, err
}

// LoadAliasedLimit is LoadAliased with a bound on the bytes of tensor data the file may make it
// allocate: every storage's size is checked against what is left of it before the storage is
// read.
func LoadAliasedLimit(path string, limit int64) (out map[string]*ts.Tensor, aliases map[string]string, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		// The unpickler checks every operation; a panic here is a bug, reported as an error
		// rather than taking the process down with a user's file.
		if r := recover(); r != nil {
			out, aliases, err = nil, nil, fmt.Errorf("checkpoint %s: unreadable (%v)", path, r)
		}
	}()
	out, aliases, err = load(raw, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return out, aliases, nil
}

func load(raw []byte, limit int64) (map[string]*ts.Tensor, map[string]string, error) {
	out, refs, _, err := loadRefs(raw, limit)
	if err != nil {
		return nil, nil, err
	}
	aliases := map[string]string{}
	first := map[string]string{}
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := refs[n]
		sig := fmt.Sprint(r.storage.key, r.offset, r.size, r.stride)
		if f, ok := first[sig]; ok {
			aliases[n] = f
		} else {
			first[sig] = n
		}
	}
	return out, aliases, nil
}

// loadRefs reads the archive raw: its tensors by flattened key, their references, and the
// unpickled root object.
func loadRefs(raw []byte, limit int64) (map[string]*ts.Tensor, map[string]tensorRef, any, error) {
	if len(raw) >= 2 && raw[0] == opProto {
		return nil, nil, nil, errors.New("legacy (non-zip) torch.save format; re-save it with a PyTorch ≥ 1.6 torch.save, which writes zip files")
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("not a torch.save zip archive: %w", err)
	}
	files := map[string]*zip.File{}
	prefix := ""
	for _, f := range zr.File {
		files[f.Name] = f
		if strings.HasSuffix(f.Name, "/data.pkl") && strings.Count(f.Name, "/") == 1 {
			prefix = strings.TrimSuffix(f.Name, "data.pkl")
		}
	}
	for name := range files {
		if strings.HasSuffix(name, "/constants.pkl") || strings.Contains(name, "/code/") {
			return nil, nil, nil, errors.New("a TorchScript archive (torch.jit.save, or gotch's VarStore.Save), not a state dict; in PyTorch save model.state_dict() with torch.save")
		}
	}
	if prefix == "" {
		return nil, nil, nil, errors.New("no data.pkl: not a torch.save archive")
	}
	if _, ok := files[prefix+"version"]; !ok {
		return nil, nil, nil, errors.New("no version record: not a torch.save archive (or truncated)")
	}
	pkl, err := readEntry(files[prefix+"data.pkl"], 1<<30)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data.pkl: %w", err)
	}
	root, err := unpickle(pkl)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data.pkl: %w", err)
	}
	refs := map[string]tensorRef{}
	if err := collect(root, "", refs); err != nil {
		return nil, nil, nil, err
	}
	storages := map[string][]byte{}
	left := limit // of the bytes this load may allocate
	out := make(map[string]*ts.Tensor, len(refs))
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	fail := func(err error) (map[string]*ts.Tensor, map[string]tensorRef, any, error) {
		for _, t := range out {
			t.MustDrop()
		}
		return nil, nil, nil, err
	}
	for _, n := range names {
		r := refs[n]
		data, ok := storages[r.storage.key]
		if !ok {
			f, ok := files[prefix+"data/"+r.storage.key]
			if !ok {
				return fail(fmt.Errorf("tensor %s: storage %s is missing (truncated file?)", n, r.storage.key))
			}
			if data, err = readEntry(f, min(maxStorageBytes, uint64(max(left, 0)))); err != nil {
				if errors.Is(err, errTooLarge) {
					err = fmt.Errorf("%w; this load may allocate %d bytes in all (4× the model's size: a file claiming far more than its model is corrupt; LOWRANK_CHECKPOINT_LIMIT_MB raises the limit)", err, limit)
				}
				return fail(fmt.Errorf("tensor %s: storage %s: %w", n, r.storage.key, err))
			}
			storages[r.storage.key] = data
			left -= int64(len(data))
		}
		t, err := r.materialize(data)
		if err != nil {
			return fail(fmt.Errorf("tensor %s: %w", n, err))
		}
		out[n] = t
	}
	return out, refs, root, nil
}

// errTooLarge is readEntry's error for an entry over its limit.
var errTooLarge = errors.New("entry larger than allowed")

func readEntry(f *zip.File, limit uint64) ([]byte, error) {
	if f.UncompressedSize64 > limit {
		return nil, fmt.Errorf("%w: %d bytes, %d allowed", errTooLarge, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("corrupt entry: %w", err)
	}
	if uint64(len(data)) > limit { // its header understated it
		return nil, fmt.Errorf("%w: over %d bytes, %d allowed", errTooLarge, limit, limit)
	}
	return data, nil
}

// collect flattens dicts of tensors into refs, skipping _metadata and non-tensor values. An
// integer key names its value in decimal (an optimizer state_dict's "state.0.exp_avg"); in a
// nested dict below a list (param_groups) nothing is collected.
func collect(v any, prefix string, refs map[string]tensorRef) error {
	d, ok := v.(*pyDict)
	if !ok {
		return fmt.Errorf("the pickled object is a %T, not a state dict", v)
	}
	for _, k := range d.keys {
		var ks string
		switch x := k.(type) {
		case string:
			ks = x
		case int64:
			ks = strconv.FormatInt(x, 10)
		default:
			continue
		}
		name := ks
		if prefix != "" {
			name = prefix + "." + ks
		}
		switch x := d.values[k].(type) {
		case tensorRef:
			refs[name] = x
		case *pyDict:
			if ks != "_metadata" {
				if err := collect(x, name, refs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// storageRef is a persistent storage id.
type storageRef struct {
	key   string
	dtype gotch.DType
	elt   int
	numel int64
}

// tensorRef is a _rebuild_tensor_v2 call.
type tensorRef struct {
	storage      storageRef
	offset       int64
	size, stride []int64
}

var storageTypes = map[string]struct {
	dt  gotch.DType
	elt int
}{
	"FloatStorage": {gotch.Float, 4}, "DoubleStorage": {gotch.Double, 8}, "HalfStorage": {gotch.Half, 2},
	"BFloat16Storage": {gotch.BFloat16, 2}, "LongStorage": {gotch.Int64, 8}, "IntStorage": {gotch.Int, 4},
	"ShortStorage": {gotch.Int16, 2}, "CharStorage": {gotch.Int8, 1}, "ByteStorage": {gotch.Uint8, 1},
	"BoolStorage": {gotch.Bool, 1},
}

// materialize builds the tensor from its storage's bytes, checking every index it reaches.
func (r tensorRef) materialize(data []byte) (*ts.Tensor, error) {
	s := r.storage
	if int64(len(data)) < s.numel*int64(s.elt) {
		return nil, fmt.Errorf("storage %s holds %d bytes, its %d elements need %d (truncated file?)", s.key, len(data), s.numel, s.numel*int64(s.elt))
	}
	if len(r.size) != len(r.stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", r.size, r.stride)
	}
	last, count := r.offset, int64(1)
	for i, n := range r.size {
		if n < 0 || r.stride[i] < 0 {
			return nil, fmt.Errorf("negative size or stride (%v, %v)", r.size, r.stride)
		}
		if n == 0 {
			count = 0
			break
		}
		if n > math.MaxInt32 || r.stride[i] > math.MaxInt32 {
			return nil, fmt.Errorf("implausible size %v or stride %v", r.size, r.stride)
		}
		last += (n - 1) * r.stride[i]
		if count > maxStorageBytes/n {
			return nil, fmt.Errorf("size %v is implausibly large", r.size)
		}
		count *= n
	}
	if count > maxStorageBytes/int64(s.elt) {
		return nil, fmt.Errorf("size %v is implausibly large", r.size)
	}
	if r.offset < 0 || (count > 0 && last >= s.numel) {
		return nil, fmt.Errorf("size %v, stride %v and offset %d reach element %d of a storage of %d", r.size, r.stride, r.offset, last, s.numel)
	}
	var out *ts.Tensor
	err := scope.Run(func(sc *scope.Scope) {
		n := s.numel * int64(s.elt)
		if n == 0 {
			out = sc.Release(sc.Keep(ts.Zeros(orOne(r.size), s.dtype, gotch.CPU)))
			return
		}
		bytesT := sc.Keep(ts.OfSlice(data[:n]))
		st := sc.Keep(bytesT.ViewDtype(s.dtype, false))
		if len(r.size) == 0 { // a 0-dim tensor (gotch cannot take an empty shape)
			one := sc.Keep(st.AsStrided([]int64{1}, []int64{1}, []int64{r.offset}, false))
			out = sc.Release(sc.Keep(one.Squeeze(false)))
			return
		}
		out = sc.Release(sc.Keep(st.AsStrided(r.size, r.stride, []int64{r.offset}, false)))
	})
	if err != nil {
		return nil, err
	}
	// The view aliases the bytes read from the file: copy so that every tensor owns its memory.
	var owned *ts.Tensor
	backend.NoGrad(func() { owned, err = out.DetachCopy(false) })
	if err != nil {
		return nil, err
	}
	out.MustDrop()
	return owned, nil
}

func orOne(size []int64) []int64 {
	if len(size) == 0 {
		return []int64{1}
	}
	return size
}

// pyDict is an ordered Python dict.
type pyDict struct {
	keys   []any
	values map[any]any
}

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, nil, float64:
	default:
		return fmt.Errorf("unhashable dict key %T", k)
	}
	if _, ok := d.values[k]; !ok {
		d.keys = append(d.keys, k)
	}
	d.values[k] = v
	return nil
}

type pyGlobal struct{ module, name string }

type pyTuple []any

type pyList struct{ items []any }

type mark struct{}

// allowedGlobals are the only callables a state dict may name.
var allowedGlobals = map[string]bool{
	"collections.OrderedDict":         true,
	"torch._utils._rebuild_tensor_v2": true,
	"torch._utils._rebuild_parameter": true,
	"torch.nn.parameter.Parameter":    false,
	"builtins.dict":                   true,
	"__builtin__.dict":                true,
}

// unpickle interprets the protocol 0-5 opcodes that torch.save state dicts use; anything else,
// and any global outside allowedGlobals and the storage types, is an error.
func unpickle(b []byte) (any, error) {
	var stack []any
	memo := map[int64]any{}
	pos := 0
	need := func(n int) ([]byte, error) {
		if pos+n > len(b) || n < 0 {
			return nil, errors.New("truncated pickle")
		}
		s := b[pos : pos+n]
		pos += n
		return s, nil
	}
	pop := func() (any, error) {
		if len(stack) == 0 {
			return nil, errors.New("corrupt pickle: stack underflow")
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, nil
	}
	popMark := func() ([]any, error) {
		for i := len(stack) - 1; i >= 0; i-- {
			if _, ok := stack[i].(mark); ok {
				items := append([]any(nil), stack[i+1:]...)
				stack = stack[:i]
				return items, nil
			}
		}
		return nil, errors.New("corrupt pickle: no mark")
	}
	line := func() (string, error) {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return "", errors.New("truncated pickle")
		}
		s := string(b[pos : pos+i])
		pos += i + 1
		return s, nil
	}
	for steps := 0; ; steps++ {
		if steps > 1<<26 {
			return nil, errors.New("pickle too long")
		}
		ob, err := need(1)
		if err != nil {
			return nil, err
		}
		switch op := ob[0]; op {
		case opProto:
			if _, err := need(1); err != nil {
				return nil, err
			}
		case opFrame:
			if _, err := need(8); err != nil {
				return nil, err
			}
		case opStop:
			v, err := pop()
			return v, err
		case opMark:
			stack = append(stack, mark{})
		case opNone:
			stack = append(stack, nil)
		case opNewTrue, opNewFalse:
			stack = append(stack, op == opNewTrue)
		case opBinInt1:
			x, err := need(1)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int64(x[0]))
		case opBinInt2:
			x, err := need(2)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int64(binary.LittleEndian.Uint16(x)))
		case opBinInt:
			x, err := need(4)
			if err != nil {
				return nil, err
			}
			stack = append(stack, int64(int32(binary.LittleEndian.Uint32(x))))
		case opLong1:
			n, err := need(1)
			if err != nil {
				return nil, err
			}
			x, err := need(int(n[0]))
			if err != nil {
				return nil, err
			}
			if len(x) > 8 {
				return nil, errors.New("integer wider than 64 bits")
			}
			var v uint64
			for i := len(x) - 1; i >= 0; i-- {
				v = v<<8 | uint64(x[i])
			}
			if len(x) > 0 && len(x) < 8 && x[len(x)-1]&0x80 != 0 {
				v |= ^uint64(0) << (8 * len(x)) // sign-extend
			}
			stack = append(stack, int64(v))
		case opBinFloat:
			x, err := need(8)
			if err != nil {
				return nil, err
			}
			stack = append(stack, math.Float64frombits(binary.BigEndian.Uint64(x)))
		case opBinUnicode, opShortBinUnicode, opBinBytes, opShortBinBytes:
			var n int
			if op == opShortBinUnicode || op == opShortBinBytes {
				x, err := need(1)
				if err != nil {
					return nil, err
				}
				n = int(x[0])
			} else {
				x, err := need(4)
				if err != nil {
					return nil, err
				}
				n = int(binary.LittleEndian.Uint32(x))
			}
			s, err := need(n)
			if err != nil {
				return nil, err
			}
			stack = append(stack, string(s))
		case opGlobal:
			mod, err := line()
			if err != nil {
				return nil, err
			}
			name, err := line()
			if err != nil {
				return nil, err
			}
			g, err := global(mod, name)
			if err != nil {
				return nil, err
			}
			stack = append(stack, g)
		case opStackGlobal:
			name, err := pop()
			if err != nil {
				return nil, err
			}
			mod, err := pop()
			if err != nil {
				return nil, err
			}
			ms, ok1 := mod.(string)
			ns, ok2 := name.(string)
			if !ok1 || !ok2 {
				return nil, errors.New("corrupt pickle: STACK_GLOBAL needs strings")
			}
			g, err := global(ms, ns)
			if err != nil {
				return nil, err
			}
			stack = append(stack, g)
		case opEmptyTuple:
			stack = append(stack, pyTuple{})
		case opTuple:
			items, err := popMark()
			if err != nil {
				return nil, err
			}
			stack = append(stack, pyTuple(items))
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			if len(stack) < n {
				return nil, errors.New("corrupt pickle: stack underflow")
			}
			t := append(pyTuple(nil), stack[len(stack)-n:]...)
			stack = append(stack[:len(stack)-n], t)
		case opEmptyDict:
			stack = append(stack, &pyDict{values: map[any]any{}})
		case opEmptyList:
			stack = append(stack, &pyList{})
		case opSetItem, opSetItems:
			var items []any
			if op == opSetItem {
				if len(stack) < 2 {
					return nil, errors.New("corrupt pickle: stack underflow")
				}
				items = append(items, stack[len(stack)-2:]...)
				stack = stack[:len(stack)-2]
			} else if items, err = popMark(); err != nil {
				return nil, err
			}
			if len(stack) == 0 || len(items)%2 != 0 {
				return nil, errors.New("corrupt pickle: SETITEMS")
			}
			d, ok := stack[len(stack)-1].(*pyDict)
			if !ok {
				return nil, fmt.Errorf("corrupt pickle: SETITEMS on a %T", stack[len(stack)-1])
			}
			for i := 0; i < len(items); i += 2 {
				if err := d.set(items[i], items[i+1]); err != nil {
					return nil, err
				}
			}
		case opAppend, opAppends:
			var items []any
			if op == opAppend {
				v, err := pop()
				if err != nil {
					return nil, err
				}
				items = []any{v}
			} else if items, err = popMark(); err != nil {
				return nil, err
			}
			if len(stack) == 0 {
				return nil, errors.New("corrupt pickle: APPENDS")
			}
			l, ok := stack[len(stack)-1].(*pyList)
			if !ok {
				return nil, fmt.Errorf("corrupt pickle: APPENDS on a %T", stack[len(stack)-1])
			}
			l.items = append(l.items, items...)
		case opBinPut, opLongBinPut, opMemoize:
			var k int64
			switch op {
			case opBinPut:
				x, err := need(1)
				if err != nil {
					return nil, err
				}
				k = int64(x[0])
			case opLongBinPut:
				x, err := need(4)
				if err != nil {
					return nil, err
				}
				k = int64(binary.LittleEndian.Uint32(x))
			default:
				k = int64(len(memo))
			}
			if len(stack) == 0 {
				return nil, errors.New("corrupt pickle: PUT on an empty stack")
			}
			memo[k] = stack[len(stack)-1]
		case opBinGet, opLongBinGet:
			var k int64
			if op == opBinGet {
				x, err := need(1)
				if err != nil {
					return nil, err
				}
				k = int64(x[0])
			} else {
				x, err := need(4)
				if err != nil {
					return nil, err
				}
				k = int64(binary.LittleEndian.Uint32(x))
			}
			v, ok := memo[k]
			if !ok {
				return nil, fmt.Errorf("corrupt pickle: memo %d unset", k)
			}
			stack = append(stack, v)
		case opBinPersID:
			pid, err := pop()
			if err != nil {
				return nil, err
			}
			s, err := storageFromPID(pid)
			if err != nil {
				return nil, err
			}
			stack = append(stack, s)
		case opReduce:
			args, err := pop()
			if err != nil {
				return nil, err
			}
			fn, err := pop()
			if err != nil {
				return nil, err
			}
			v, err := call(fn, args)
			if err != nil {
				return nil, err
			}
			stack = append(stack, v)
		case opBuild:
			// Object state (an OrderedDict's _metadata attribute): not needed.
			if _, err := pop(); err != nil {
				return nil, err
			}
			if len(stack) == 0 {
				return nil, errors.New("corrupt pickle: BUILD on an empty stack")
			}
		default:
			return nil, fmt.Errorf("pickle opcode 0x%02x at offset %d is not one a state dict uses", op, pos-1)
		}
		if len(stack) > 1<<20 {
			return nil, errors.New("pickle stack too deep")
		}
	}
}

func global(mod, name string) (any, error) {
	if mod == "torch" {
		if _, ok := storageTypes[name]; ok {
			return pyGlobal{mod, name}, nil
		}
	}
	if allowedGlobals[mod+"."+name] {
		return pyGlobal{mod, name}, nil
	}
	return nil, fmt.Errorf("the pickle names %s.%s, which a state dict of tensors does not use; refusing to load it", mod, name)
}

func storageFromPID(pid any) (storageRef, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return storageRef{}, fmt.Errorf("corrupt pickle: persistent id %v", pid)
	}
	if kind, _ := t[0].(string); kind != "storage" {
		return storageRef{}, fmt.Errorf("corrupt pickle: persistent id of kind %v", t[0])
	}
	g, ok := t[1].(pyGlobal)
	st, known := storageTypes[g.name]
	if !ok || !known {
		return storageRef{}, fmt.Errorf("unsupported storage type %v", t[1])
	}
	key, ok1 := t[2].(string)
	numel, ok2 := t[4].(int64)
	if !ok1 || !ok2 || numel < 0 || strings.ContainsAny(key, "/\\") {
		return storageRef{}, fmt.Errorf("corrupt pickle: persistent id %v", pid)
	}
	return storageRef{key: key, dtype: st.dt, elt: st.elt, numel: numel}, nil
}

func ints(v any) ([]int64, bool) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(t))
	for i, x := range t {
		if out[i], ok = x.(int64); !ok {
			return nil, false
		}
	}
	return out, true
}

func call(fn, args any) (any, error) {
	g, ok := fn.(pyGlobal)
	a, ok2 := args.(pyTuple)
	if !ok || !ok2 {
		return nil, fmt.Errorf("corrupt pickle: cannot call %v", fn)
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
		return &pyDict{values: map[any]any{}}, nil
	case "torch._utils._rebuild_parameter":
		if len(a) < 1 {
			return nil, errors.New("corrupt pickle: _rebuild_parameter without data")
		}
		if _, ok := a[0].(tensorRef); !ok {
			return nil, errors.New("corrupt pickle: _rebuild_parameter of a non-tensor")
		}
		return a[0], nil
	case "torch._utils._rebuild_tensor_v2":
		if len(a) < 4 {
			return nil, errors.New("corrupt pickle: _rebuild_tensor_v2 with too few arguments")
		}
		s, ok1 := a[0].(storageRef)
		off, ok2 := a[1].(int64)
		size, ok3 := ints(a[2])
		stride, ok4 := ints(a[3])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, errors.New("corrupt pickle: _rebuild_tensor_v2 arguments")
		}
		return tensorRef{storage: s, offset: off, size: size, stride: stride}, nil
	}
	return nil, fmt.Errorf("refusing to call %s.%s", g.module, g.name)
}
