package file

import (
	"encoding/binary"
	"fmt"
)

// checkpointName is the checkpoint file in checkpointDir (and in
// backupCheckpointDir). Flume's own is called "checkpoint"; a different
// name keeps the two from ever being mistaken for each other.
const checkpointName = "sluice-checkpoint"

var ckptMagic = [8]byte{'S', 'L', 'U', 'I', 'C', 'E', 'C', 'K'}

const (
	ckptVersion = 1
	ckptHeader  = 24 // magic, version u32, reserved u32, payload length u64
)

// segState is a segment as a checkpoint records it: the records before
// applied are reflected in the checkpoint's queue, the ones after must be
// replayed.
type segState struct {
	id      uint32
	applied uint32
}

// checkpoint is the channel's state at a consistent cut of the log: the
// queue (in-flight takes first, at the head) and, per segment, how much of
// it the queue reflects.
type checkpoint struct {
	nextESN uint64
	maxSeg  uint32 // highest segment id ever allocated
	segs    []segState
	ptrs    []ptr
}

func encodeCheckpoint(c *checkpoint) []byte {
	b := make([]byte, ckptHeader, ckptHeader+64+len(c.segs)*10+len(c.ptrs)*3)
	copy(b, ckptMagic[:])
	binary.LittleEndian.PutUint32(b[8:], ckptVersion)
	b = binary.LittleEndian.AppendUint64(b, c.nextESN)
	b = binary.LittleEndian.AppendUint32(b, c.maxSeg)
	b = binary.AppendUvarint(b, uint64(len(c.segs)))
	for _, s := range c.segs {
		b = binary.AppendUvarint(b, uint64(s.id))
		b = binary.AppendUvarint(b, uint64(s.applied))
	}
	b = binary.AppendUvarint(b, uint64(len(c.ptrs)))
	nRunsAt := len(b)
	b = append(b, 0, 0, 0, 0) // run count, patched below
	var runs uint32
	var prevEnd uint64
	for i := 0; i < len(c.ptrs); {
		j := i + 1
		for j < len(c.ptrs) && c.ptrs[j].esn == c.ptrs[j-1].esn+1 && c.ptrs[j-1].adjoins(c.ptrs[j]) {
			j++
		}
		p := c.ptrs[i]
		b = binary.AppendVarint(b, int64(p.esn-prevEnd))
		b = binary.AppendUvarint(b, uint64(j-i))
		b = binary.AppendUvarint(b, uint64(p.seg))
		b = binary.AppendUvarint(b, uint64(p.off))
		for k := i; k < j; k++ {
			b = binary.AppendUvarint(b, uint64(c.ptrs[k].n))
		}
		prevEnd = c.ptrs[j-1].esn + 1
		runs++
		i = j
	}
	binary.LittleEndian.PutUint32(b[nRunsAt:], runs)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(b)-ckptHeader))
	return binary.LittleEndian.AppendUint32(b, crc(b))
}

// decodeCheckpoint parses and verifies a checkpoint file. Every count is
// checked against the bytes that remain, so a damaged file cannot make it
// allocate more than a small multiple of its own size.
func decodeCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < ckptHeader+4 || [8]byte(b[:8]) != ckptMagic {
		return nil, fmt.Errorf("not a Sluice checkpoint (%d bytes, bad magic)", len(b))
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != ckptVersion {
		return nil, fmt.Errorf("checkpoint format version %d; this Sluice reads version %d", v, ckptVersion)
	}
	n := binary.LittleEndian.Uint64(b[16:])
	if n != uint64(len(b)-ckptHeader-4) {
		return nil, fmt.Errorf("checkpoint is %d bytes, its header says %d: truncated or extended", len(b), n+ckptHeader+4)
	}
	end := len(b) - 4
	if got, want := crc(b[:end]), binary.LittleEndian.Uint32(b[end:]); got != want {
		return nil, fmt.Errorf("checkpoint checksum %08x, want %08x", got, want)
	}
	d := &ckptDecoder{b: b[ckptHeader:end]}
	c := &checkpoint{}
	c.nextESN = d.u64()
	c.maxSeg = d.u32()
	nSegs := d.count(2)
	c.segs = make([]segState, 0, nSegs)
	for i := 0; i < nSegs && d.err == nil; i++ {
		id, applied := d.uvarint(), d.uvarint()
		if id > 1<<32-1 || applied > 1<<32-1 {
			d.fail("segment %d applied %d out of range", id, applied)
		}
		c.segs = append(c.segs, segState{id: uint32(id), applied: uint32(applied)})
	}
	nPtrs := d.count(1)
	nRuns := int(d.u32())
	c.ptrs = make([]ptr, 0, nPtrs)
	var prevEnd uint64
	for r := 0; r < nRuns && d.err == nil; r++ {
		esn := prevEnd + uint64(d.varint())
		count := d.uvarint()
		seg, off := d.uvarint(), d.uvarint()
		if count == 0 || count > uint64(nPtrs-len(c.ptrs)) || seg > 1<<32-1 || off > 1<<32-1 {
			d.fail("run %d: %d events at segment %d offset %d out of range", r, count, seg, off)
			break
		}
		for k := uint64(0); k < count && d.err == nil; k++ {
			ln := d.uvarint()
			if ln > 1<<32-1 || off+ln > 1<<32-1 {
				d.fail("run %d: event length %d out of range", r, ln)
			}
			c.ptrs = append(c.ptrs, ptr{esn: esn + k, seg: uint32(seg), off: uint32(off), n: uint32(ln)})
			off += ln
		}
		prevEnd = esn + count
	}
	if d.err == nil && len(c.ptrs) != nPtrs {
		d.fail("%d events in runs, header says %d", len(c.ptrs), nPtrs)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

type ckptDecoder struct {
	b   []byte
	err error
}

func (d *ckptDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("checkpoint: "+format, args...)
	}
	d.b = nil
}

func (d *ckptDecoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *ckptDecoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *ckptDecoder) uvarint() uint64 {
	v, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *ckptDecoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[k:]
	return v
}

// count reads a count of items that take at least min bytes each.
func (d *ckptDecoder) count(min int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)/min) {
		d.fail("count %d larger than the %d bytes left", v, len(d.b))
		return 0
	}
	return int(v)
}
