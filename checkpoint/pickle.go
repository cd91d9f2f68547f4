package checkpoint

import (
	"bytes"
	"encoding/binary"
)

// Pickle opcodes used here (protocol 2).
const (
	opMark            = '('
	opStop            = '.'
	opBinInt          = 'J'
	opBinInt1         = 'K'
	opBinInt2         = 'M'
	opLong1           = '\x8a'
	opBinUnicode      = 'X'
	opGlobal          = 'c'
	opTuple           = 't'
	opEmptyTuple      = ')'
	opTuple1          = '\x85'
	opTuple2          = '\x86'
	opTuple3          = '\x87'
	opReduce          = 'R'
	opBinPersID       = 'Q'
	opSetItems        = 'u'
	opSetItem         = 's'
	opEmptyDict       = '}'
	opEmptyList       = ']'
	opAppend          = 'a'
	opAppends         = 'e'
	opNewTrue         = '\x88'
	opNewFalse        = '\x89'
	opNone            = 'N'
	opProto           = '\x80'
	opBinPut          = 'q'
	opLongBinPut      = 'r'
	opBinGet          = 'h'
	opLongBinGet      = 'j'
	opBuild           = 'b'
	opBinFloat        = 'G'
	opShortBinUnicode = '\x8c'
	opMemoize         = '\x94'
	opFrame           = '\x95'
	opBinBytes        = 'B'
	opShortBinBytes   = 'C'
	opUnicode         = 'V'
	opInt             = 'I'
	opLong            = 'L'
	opLong4           = '\x8b'
	opDict            = 'd'
	opList            = 'l'
	opPop             = '0'
	opPopMark         = '1'
	opDup             = '2'
	opEmptySet        = '\x8f'
	opAddItems        = '\x90'
	opStackGlobal     = '\x93'
	opNewObj          = '\x81'
	opBinString       = 'T'
	opShortBinString  = 'U'
	opString          = 'S'
	opFloat           = 'F'
	opPut             = 'p'
	opGet             = 'g'
)

// pickler writes the protocol-2 subset torch.load(weights_only=True) accepts.
type pickler struct{ buf bytes.Buffer }

func (p *pickler) op(o byte) { p.buf.WriteByte(o) }

func (p *pickler) header() { p.buf.Write([]byte{opProto, 2}) }

func (p *pickler) global(module, name string) {
	p.op(opGlobal)
	p.buf.WriteString(module + "\n" + name + "\n")
}

func (p *pickler) unicode(s string) {
	p.op(opBinUnicode)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.buf.Write(n[:])
	p.buf.WriteString(s)
}

func (p *pickler) int(v int64) {
	switch {
	case v >= 0 && v < 256:
		p.buf.Write([]byte{opBinInt1, byte(v)})
	case v >= -(1<<31) && v < 1<<31:
		p.op(opBinInt)
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(int32(v)))
		p.buf.Write(n[:])
	default:
		p.buf.Write([]byte{opLong1, 8})
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(v))
		p.buf.Write(n[:])
	}
}

func (p *pickler) intTuple(v []int64) {
	if len(v) == 0 {
		p.op(opEmptyTuple)
		return
	}
	p.op(opMark)
	for _, x := range v {
		p.int(x)
	}
	p.op(opTuple)
}
