package hdfs

import (
	"bufio"
	"compress/gzip"
	"crypto/md5"
	"encoding/binary"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/engine/event"
)

// Format describes how events become file bytes: hdfs.fileType, hdfs.codeC,
// hdfs.writeFormat and serializer.
type Format struct {
	FileType   string // DataStream, CompressedStream or SequenceFile
	Codec      string // "" or "gzip"
	Serializer string // TEXT or HEADER_AND_TEXT (streams)
	// AppendNewline is serializer.appendNewline.
	AppendNewline bool
	// WriteFormat is Writable (BytesWritable values) or Text, for
	// SequenceFile.
	WriteFormat string
}

// Extension is what Flume appends to a file name for the codec when no
// fileSuffix is set.
func (f Format) Extension() string {
	if f.Codec == "gzip" {
		return ".gz"
	}
	return ""
}

// encoder turns events into the bytes of one file.
type encoder interface {
	append(e event.Event) error
	// flush hands everything appended to the file (the caller then syncs
	// it); a compressed stream ends its current gzip member, so the file
	// is readable up to here.
	flush() error
}

// newEncoder starts a file; seed makes its SequenceFile sync marker unique,
// and now gives the key of an event without a timestamp header.
func (f Format) newEncoder(w io.Writer, seed string, now func() int64) encoder {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch f.FileType {
	case "SequenceFile":
		s := newSeqEncoder(bw, f.WriteFormat == "Text", seed)
		s.now = now
		return s
	case "CompressedStream":
		return &gzipEncoder{bw: bw, f: f}
	}
	return &streamEncoder{bw: bw, f: f}
}

// serialize writes one event as the TEXT or HEADER_AND_TEXT serializer does.
func (f Format) serialize(w io.Writer, e event.Event) error {
	if f.Serializer == "HEADER_AND_TEXT" {
		// Java's Map.toString: {k1=v1, k2=v2}; HashMap order is arbitrary,
		// sorted here so output is repeatable.
		keys := make([]string, 0, len(e.Headers))
		for k := range e.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(e.Headers[k])
		}
		b.WriteString("} ")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	if _, err := w.Write(e.Body); err != nil {
		return err
	}
	if f.AppendNewline {
		_, err := w.Write([]byte{'\n'})
		return err
	}
	return nil
}

type streamEncoder struct {
	bw *bufio.Writer
	f  Format
}

func (s *streamEncoder) append(e event.Event) error { return s.f.serialize(s.bw, e) }
func (s *streamEncoder) flush() error               { return s.bw.Flush() }

// gzipEncoder writes a series of gzip members, one per flush, as Hadoop's
// compressed stream does when Flume finishes it per transaction; gzip
// readers read the concatenation as one stream.
type gzipEncoder struct {
	bw   *bufio.Writer
	f    Format
	gz   *gzip.Writer // reused across members: a new one costs ~800 KB
	open bool         // a member is in progress
}

func (g *gzipEncoder) append(e event.Event) error {
	if !g.open {
		if g.gz == nil {
			g.gz = gzip.NewWriter(g.bw)
		} else {
			g.gz.Reset(g.bw)
		}
		g.open = true
	}
	return g.f.serialize(g.gz, e)
}

func (g *gzipEncoder) flush() error {
	if g.open {
		g.open = false
		if err := g.gz.Close(); err != nil {
			return err
		}
	}
	return g.bw.Flush()
}

// seqEncoder writes an uncompressed Hadoop SequenceFile (version 6) with
// LongWritable keys (the event timestamp) and BytesWritable or Text values
// (the body), as Flume's HDFSSequenceFile with writeFormat Writable or Text.
type seqEncoder struct {
	bw       *bufio.Writer
	text     bool
	sync     [16]byte
	pos      int64
	lastSync int64
	hdr      bool
	now      func() int64
	buf      []byte
}

const (
	seqSyncInterval = 100 * (4 + 16) // Hadoop SequenceFile.SYNC_INTERVAL
)

func newSeqEncoder(bw *bufio.Writer, text bool, seed string) *seqEncoder {
	return &seqEncoder{bw: bw, text: text, sync: md5.Sum([]byte(seed))}
}

func (s *seqEncoder) write(p []byte) error {
	n, err := s.bw.Write(p)
	s.pos += int64(n)
	return err
}

func hadoopString(dst []byte, str string) []byte {
	dst = appendVInt(dst, int64(len(str)))
	return append(dst, str...)
}

// appendVInt is Hadoop's WritableUtils.writeVLong.
func appendVInt(dst []byte, i int64) []byte {
	if i >= -112 && i <= 127 {
		return append(dst, byte(int8(i)))
	}
	l := int64(-112)
	if i < 0 {
		i = ^i
		l = -120
	}
	for tmp := i; tmp != 0; tmp >>= 8 {
		l--
	}
	dst = append(dst, byte(int8(l)))
	n := -(l + 112)
	if l < -120 {
		n = -(l + 120)
	}
	for idx := n; idx != 0; idx-- {
		shift := (idx - 1) * 8
		dst = append(dst, byte(i>>shift))
	}
	return dst
}

func (s *seqEncoder) header() error {
	h := []byte{'S', 'E', 'Q', 6}
	h = hadoopString(h, "org.apache.hadoop.io.LongWritable")
	if s.text {
		h = hadoopString(h, "org.apache.hadoop.io.Text")
	} else {
		h = hadoopString(h, "org.apache.hadoop.io.BytesWritable")
	}
	h = append(h, 0, 0)       // not compressed, not block-compressed
	h = append(h, 0, 0, 0, 0) // no metadata
	h = append(h, s.sync[:]...)
	s.hdr = true
	return s.write(h)
}

func (s *seqEncoder) append(e event.Event) error {
	if !s.hdr {
		if err := s.header(); err != nil {
			return err
		}
	}
	if s.pos >= s.lastSync+seqSyncInterval {
		b := append([]byte{0xff, 0xff, 0xff, 0xff}, s.sync[:]...)
		if err := s.write(b); err != nil {
			return err
		}
		s.lastSync = s.pos
	}
	// Flume's key: the timestamp header, or the time of writing.
	ts, err := strconv.ParseInt(strings.TrimSpace(e.Headers["timestamp"]), 10, 64)
	if err != nil {
		ts = s.now()
	}
	var val []byte
	if s.text {
		val = appendVInt(s.buf[:0], int64(len(e.Body)))
	} else {
		val = binary.BigEndian.AppendUint32(s.buf[:0], uint32(len(e.Body)))
	}
	rec := make([]byte, 0, 16+len(val))
	rec = binary.BigEndian.AppendUint32(rec, uint32(8+len(val)+len(e.Body)))
	rec = binary.BigEndian.AppendUint32(rec, 8)
	rec = binary.BigEndian.AppendUint64(rec, uint64(ts))
	rec = append(rec, val...)
	if err := s.write(rec); err != nil {
		return err
	}
	return s.write(e.Body)
}

func (s *seqEncoder) flush() error {
	if !s.hdr {
		if err := s.header(); err != nil {
			return err
		}
	}
	return s.bw.Flush()
}
