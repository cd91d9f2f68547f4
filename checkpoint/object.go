package checkpoint

import (
	"archive/zip"
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/sugarme/gotch/ts"
)

// Dict is an ordered Python dict for SaveObject: keys are strings or integers (int, int64).
type Dict []Item

// Item is one key and value of a Dict.
type Item struct {
	Key   any
	Value any
}

// List is a Python list and Tuple a Python tuple for SaveObject.
type (
	List  []any
	Tuple []any
)

// objectWriter pickles a tree of values whose leaves may be tensors, collecting each distinct
// tensor's bytes as one storage, as torch.save does.
type objectWriter struct {
	p     pickler
	blobs []blob
	keys  map[*ts.Tensor]string
}

type blob struct {
	key  string
	data []byte
}

// value writes v: a Dict (a dict, or an OrderedDict at the root of a state dict), List, Tuple,
// []int64, *ts.Tensor, string, int, int64, float64, bool or nil.
func (w *objectWriter) value(v any) error {
	p := &w.p
	switch x := v.(type) {
	case nil:
		p.op(opNone)
	case bool:
		if x {
			p.op(opNewTrue)
		} else {
			p.op(opNewFalse)
		}
	case int:
		p.int(int64(x))
	case int64:
		p.int(x)
	case float64:
		p.float(x)
	case string:
		p.unicode(x)
	case []int64:
		p.op(opEmptyList)
		if len(x) > 0 {
			p.op(opMark)
			for _, n := range x {
				p.int(n)
			}
			p.op(opAppends)
		}
	case List:
		p.op(opEmptyList)
		if len(x) > 0 {
			p.op(opMark)
			for _, e := range x {
				if err := w.value(e); err != nil {
					return err
				}
			}
			p.op(opAppends)
		}
	case Tuple:
		p.op(opMark)
		for _, e := range x {
			if err := w.value(e); err != nil {
				return err
			}
		}
		p.op(opTuple)
	case Dict:
		p.op(opEmptyDict)
		if err := w.items(x); err != nil {
			return err
		}
	case *ts.Tensor:
		return w.tensor(x)
	default:
		return fmt.Errorf("a %T cannot be saved", v)
	}
	return nil
}

// items writes d's entries onto the dict on top of the stack.
func (w *objectWriter) items(d Dict) error {
	if len(d) == 0 {
		return nil
	}
	w.p.op(opMark)
	for _, it := range d {
		switch it.Key.(type) {
		case string, int, int64:
		default:
			return fmt.Errorf("dict key %v: a %T cannot be a key (strings and integers can)", it.Key, it.Key)
		}
		if err := w.value(it.Key); err != nil {
			return err
		}
		if err := w.value(it.Value); err != nil {
			return fmt.Errorf("%v: %w", it.Key, err)
		}
	}
	w.p.op(opSetItems)
	return nil
}

// tensor writes a _rebuild_tensor_v2 call for t, contiguous, on the CPU. The same *ts.Tensor
// twice shares one storage.
func (w *objectWriter) tensor(t *ts.Tensor) error {
	cls, _, err := storageClass(t.DType())
	if err != nil {
		return err
	}
	key, shared := w.keys[t]
	if !shared {
		data, err := tensorBytes(t)
		if err != nil {
			return err
		}
		key = strconv.Itoa(len(w.blobs))
		if w.keys == nil {
			w.keys = map[*ts.Tensor]string{}
		}
		w.keys[t] = key
		w.blobs = append(w.blobs, blob{key, data})
	}
	p := &w.p
	size := t.MustSize()
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	p.op(opMark) // persistent id
	p.unicode("storage")
	p.global("torch", cls)
	p.unicode(key)
	p.unicode("cpu")
	p.int(int64(t.Numel()))
	p.op(opTuple)
	p.op(opBinPersID)
	p.int(0) // storage offset
	p.intTuple(size)
	p.intTuple(contiguousStrides(size))
	p.op(opNewFalse) // requires_grad
	p.global("collections", "OrderedDict")
	p.op(opEmptyTuple)
	p.op(opReduce) // backward hooks
	p.op(opTuple)
	p.op(opReduce)
	return nil
}

// archive returns the torch.save zip archive of what was pickled, named for path.
func (w *objectWriter) archive(path string) ([]byte, error) {
	w.p.op(opStop)
	prefix := archiveName(path)
	var buf bytes.Buffer
	cw := &countingWriter{w: &buf}
	zw := zip.NewWriter(cw)
	files := []blob{{prefix + "/data.pkl", w.p.buf.Bytes()}, {prefix + "/byteorder", []byte("little")}}
	for _, b := range w.blobs {
		files = append(files, blob{prefix + "/data/" + b.key, b.data})
	}
	files = append(files, blob{prefix + "/version", []byte("3\n")})
	for _, f := range files {
		if err := writeStored(zw, cw, f.key, f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SaveObject writes root, a tree of Dicts, Lists, Tuples, tensors and Python scalars, as
// torch.save writes the same Python object (an optimizer's state_dict, say), atomically.
func SaveObject(path string, root Dict) error {
	var w objectWriter
	w.p.header()
	if err := w.value(root); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	raw, err := w.archive(path)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, raw)
}

// float writes a BINFLOAT (a big-endian float64).
func (p *pickler) float(v float64) {
	p.op(opBinFloat)
	var n [8]byte
	bits := math.Float64bits(v)
	for i := 7; i >= 0; i-- {
		n[i] = byte(bits)
		bits >>= 8
	}
	p.buf.Write(n[:])
}

// TensorKey stands in LoadObject's tree for a tensor: its key in the tensors map (the dotted path
// of dict keys that reaches it).
type TensorKey string

// LoadObject reads a torch.save file holding a tree of dicts, lists, tuples, tensors and Python
// scalars (an optimizer's state_dict, say), allocating at most limit bytes of tensor data. It
// returns the tree, with dicts as Dict, lists and tuples as List and Tuple, numbers as int64 or
// float64, and each tensor as the TensorKey of its entry in tensors (the dotted path of keys that
// reaches it, integer keys in decimal, as Load flattens a state dict). Tensors inside a list are
// not read; a root that is not a dict is an error. Nothing in the file is executed.
func LoadObject(path string, limit int64) (root Dict, tensors map[string]*ts.Tensor, err error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if r := recover(); r != nil { // as in LoadAliasedLimit: a bug, reported as an error
			root, tensors, err = nil, nil, fmt.Errorf("checkpoint %s: unreadable (%v)", path, r)
		}
	}()
	tensors, _, obj, err := loadRefs(raw, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	tree, err := goValue(obj, "")
	if err != nil {
		Drop(tensors)
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	d, ok := tree.(Dict)
	if !ok {
		Drop(tensors)
		return nil, nil, fmt.Errorf("checkpoint %s: the pickled object is a %T, not a dict", path, tree)
	}
	return d, tensors, nil
}

// goValue converts an unpickled value; prefix is its dotted path ("" below a list).
func goValue(v any, prefix string) (any, error) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case *pyDict:
		d := make(Dict, 0, len(x.keys))
		for _, k := range x.keys {
			var sub string
			switch kk := k.(type) {
			case string:
				sub = join(kk)
			case int64:
				sub = join(strconv.FormatInt(kk, 10))
			}
			val, err := goValue(x.values[k], sub)
			if err != nil {
				return nil, err
			}
			d = append(d, Item{k, val})
		}
		return d, nil
	case *pyList:
		l := make(List, len(x.items))
		for i, e := range x.items {
			var err error
			if l[i], err = goValue(e, ""); err != nil {
				return nil, err
			}
		}
		return l, nil
	case pyTuple:
		t := make(Tuple, len(x))
		for i, e := range x {
			var err error
			if t[i], err = goValue(e, ""); err != nil {
				return nil, err
			}
		}
		return t, nil
	case tensorRef:
		return TensorKey(prefix), nil
	case nil, bool, int64, float64, string:
		return x, nil
	}
	if prefix == "" {
		return nil, fmt.Errorf("the pickled object holds a %T", v)
	}
	return nil, fmt.Errorf("%s: the pickled object holds a %T", prefix, v)
}

// Get returns the value of key in d and whether it is there.
func (d Dict) Get(key any) (any, bool) {
	for _, it := range d {
		if it.Key == key {
			return it.Value, true
		}
	}
	return nil, false
}
