package file

// ptr locates one committed event: its sequence number (the identity that
// take records name) and its encoded bytes in a segment.
type ptr struct {
	esn uint64
	seg uint32
	off uint32
	n   uint32
}

// next reports whether q directly follows p on disk, so that both can be
// read with one call.
func (p ptr) adjoins(q ptr) bool { return q.seg == p.seg && q.off == p.off+p.n }

// deque is a growable ring of pointers: the channel's queue.
type deque struct {
	buf  []ptr
	head int
	n    int
}

func (d *deque) len() int { return d.n }

func (d *deque) grow() {
	size := len(d.buf) * 2
	if size == 0 {
		size = 1024
	}
	nb := make([]ptr, size)
	d.copyTo(nb)
	d.buf, d.head = nb, 0
}

// copyTo copies the queue, head first, into dst (len(dst) >= d.n).
func (d *deque) copyTo(dst []ptr) {
	if d.n == 0 {
		return
	}
	end := d.head + d.n
	if end <= len(d.buf) {
		copy(dst, d.buf[d.head:end])
		return
	}
	k := copy(dst, d.buf[d.head:])
	copy(dst[k:], d.buf[:end-len(d.buf)])
}

func (d *deque) pushBack(p ptr) {
	if d.n == len(d.buf) {
		d.grow()
	}
	i := d.head + d.n
	if i >= len(d.buf) {
		i -= len(d.buf)
	}
	d.buf[i] = p
	d.n++
}

func (d *deque) pushFront(p ptr) {
	if d.n == len(d.buf) {
		d.grow()
	}
	d.head--
	if d.head < 0 {
		d.head += len(d.buf)
	}
	d.buf[d.head] = p
	d.n++
}

func (d *deque) popFront() ptr {
	p := d.buf[d.head]
	d.head++
	if d.head == len(d.buf) {
		d.head = 0
	}
	d.n--
	return p
}

// reset replaces the content with ps (taken over, not copied).
func (d *deque) reset(ps []ptr) {
	d.buf, d.head, d.n = ps[:cap(ps)], 0, len(ps)
	if len(d.buf) == 0 {
		d.buf = nil
	}
}
