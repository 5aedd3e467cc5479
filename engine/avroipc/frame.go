package avroipc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Netty framing (flume-facts §1.5): int32 serial, int32 buffer count, then
// per buffer an int32 length and the bytes, all big-endian. The message is
// the concatenation of the buffers; Java splits at arbitrary 8 KiB
// boundaries, so a reader must accept any split.

// Limits bound what one peer can make the reader buffer.
type Limits struct {
	// MaxFrameBytes caps the sum of a frame's buffer lengths.
	MaxFrameBytes int
	// MaxFrameBuffers caps a frame's buffer count.
	MaxFrameBuffers int
}

// DefaultLimits accept any batch a Flume sink sends in practice (1000 events
// of up to 64 KiB each) and refuse what only garbage declares.
var DefaultLimits = Limits{MaxFrameBytes: 64 << 20, MaxFrameBuffers: 1 << 16}

// Reason classifies why a connection was closed on the peer's account; the
// avro source counts each.
type Reason string

const (
	ReasonTooManyBuffers Reason = "too-many-buffers" // buffer count over the limit (an HTTP probe or random bytes, usually)
	ReasonFrameTooLarge  Reason = "frame-too-large"  // buffer lengths add up over the limit
	ReasonBadFrame       Reason = "bad-frame"        // zero or negative buffer count, negative length
	ReasonStalled        Reason = "stalled"          // a frame or handshake not completed in time
	ReasonBadHandshake   Reason = "bad-handshake"    // an Avro handshake that cannot be decoded or answered
	ReasonTLS            Reason = "tls"              // the TLS handshake failed
	ReasonCompression    Reason = "compression"      // the zlib stream is corrupt
	ReasonIPFilter       Reason = "ip-filter"        // refused by ipFilterRules
)

// Reasons lists every Reason, for registering counters.
var Reasons = []Reason{ReasonTooManyBuffers, ReasonFrameTooLarge, ReasonBadFrame, ReasonStalled,
	ReasonBadHandshake, ReasonTLS, ReasonCompression, ReasonIPFilter}

// ProtocolError is a peer's violation of the protocol; the connection
// cannot continue.
type ProtocolError struct {
	Reason Reason
	Err    error
}

func (e *ProtocolError) Error() string { return string(e.Reason) + ": " + e.Err.Error() }
func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(r Reason, format string, args ...any) error {
	return &ProtocolError{Reason: r, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the Reason of a ProtocolError in err's chain, or "".
func ReasonOf(err error) Reason {
	var pe *ProtocolError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return ""
}

// sniff names what a frame header that makes no sense probably is, so the
// log says "an HTTP request" rather than "2 billion buffers".
func sniff(h []byte) string {
	switch {
	case len(h) >= 2 && h[0] == 0x16 && h[1] == 0x03:
		return " (this looks like a TLS handshake: is ssl enabled on the sender and not here?)"
	case len(h) >= 2 && h[0] == 0x78 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0:
		return " (this looks like a zlib stream: is compression-type = deflate on the sender and not here?)"
	}
	for _, m := range []string{"GET ", "POST", "HEAD", "PUT ", "OPTI", "DELE", "PRI ", "CONN"} {
		if len(h) >= 4 && string(h[:4]) == m {
			return " (this looks like an HTTP request: health checks must not probe an Avro port)"
		}
	}
	return ""
}

// readFrame reads one frame and returns its serial and payload. started,
// if non-nil, is called once the first byte of the frame is in, so the
// caller can arm a stall deadline only while a frame is in flight.
//
// Memory grows only with bytes that actually arrive: a declared length is
// checked against the limits but never allocated up front.
func readFrame(r *bufio.Reader, lim Limits, started func()) (serial uint32, payload []byte, err error) {
	if _, err := r.Peek(1); err != nil {
		return 0, nil, err
	}
	if started != nil {
		started()
	}
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	serial = binary.BigEndian.Uint32(h[0:4])
	count := int32(binary.BigEndian.Uint32(h[4:8]))
	switch {
	case count <= 0:
		return 0, nil, protoErr(ReasonBadFrame, "frame declares %d buffers; at least 1 is needed%s", count, sniff(h[:]))
	case int(count) > lim.MaxFrameBuffers:
		return 0, nil, protoErr(ReasonTooManyBuffers, "frame declares %d buffers, over the limit of %d%s", count, lim.MaxFrameBuffers, sniff(h[:]))
	}
	total := 0
	for i := 0; i < int(count); i++ {
		var lb [4]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return 0, nil, unexpectedEOF(err)
		}
		n := int32(binary.BigEndian.Uint32(lb[:]))
		if n < 0 {
			return 0, nil, protoErr(ReasonBadFrame, "buffer %d of frame %d declares length %d", i, serial, n)
		}
		if int64(total)+int64(n) > int64(lim.MaxFrameBytes) {
			return 0, nil, protoErr(ReasonFrameTooLarge, "frame %d is over the limit of %d bytes (buffer %d declares %d after %d)", serial, lim.MaxFrameBytes, i, n, total)
		}
		total += int(n)
		if payload, err = readN(r, payload, int(n)); err != nil {
			return 0, nil, unexpectedEOF(err)
		}
	}
	return serial, payload, nil
}

// readN appends n bytes from r to b, growing b in steps no larger than what
// has already arrived (at least 64 KiB), so a lying length costs little.
func readN(r io.Reader, b []byte, n int) ([]byte, error) {
	for n > 0 {
		step := min(n, max(64<<10, len(b)))
		if cap(b)-len(b) < step {
			nb := make([]byte, len(b), len(b)+max(step, min(n, 1<<20)))
			copy(nb, b)
			b = nb
		}
		k, err := io.ReadFull(r, b[len(b):len(b)+step])
		b = b[:len(b)+k]
		if err != nil {
			return b, err
		}
		n -= step
	}
	return b, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameHeaderLen is the header of a single-buffer frame: serial, count 1,
// length.
const frameHeaderLen = 12

// newFrame returns a buffer with room for a single-buffer frame header;
// the payload is appended after it and sealFrame fills the header in.
func newFrame(b []byte) []byte {
	return append(b[:0], make([]byte, frameHeaderLen)...)
}

// sealFrame writes the header of a frame built with newFrame. One buffer
// per frame is valid for every Netty decoder Flume has shipped; a frame
// must never have zero buffers (Java would wait forever for them).
func sealFrame(b []byte, serial uint32) []byte {
	binary.BigEndian.PutUint32(b[0:4], serial)
	binary.BigEndian.PutUint32(b[4:8], 1)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-frameHeaderLen))
	return b
}
