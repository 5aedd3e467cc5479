package hdfs

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/vfs"
)

// StoredFile is one file the sink wrote, read back.
type StoredFile struct {
	Path   string
	InUse  bool // still under its in-use name (open, or its close failed)
	Events []event.Event
	// Torn is set when the file ends in a partial record (a crash while
	// writing an uncommitted batch); the partial record is not in Events.
	Torn bool
}

// ReadStore reads back every file under root (recursively) written in
// format f, in path order. Files whose name ends in inUseSuffix are marked
// InUse. For TEXT files each line is an event body; SequenceFile records
// give the key as the "timestamp" header. It is how tests, benchmarks and the
// scenario checker read an HDFS-on-file:// store.
func ReadStore(fsys vfs.FS, root string, f Format, inUseSuffix string) ([]StoredFile, error) {
	var paths []string
	var walk func(dir string) error
	walk = func(dir string) error {
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			paths = append(paths, p)
		}
		return nil
	}
	if err := walk(root); err != nil {
		return nil, fmt.Errorf("read store %s: %w", root, err)
	}
	sort.Strings(paths)
	out := make([]StoredFile, 0, len(paths))
	for _, p := range paths {
		data, err := vfs.ReadFile(fsys, p)
		if err != nil {
			return out, fmt.Errorf("read store: %w", err)
		}
		sf := StoredFile{Path: p, InUse: inUseSuffix != "" && strings.HasSuffix(p, inUseSuffix)}
		sf.Events, sf.Torn, err = decodeFile(data, f)
		if err != nil {
			return out, fmt.Errorf("read store %s: %w", p, err)
		}
		out = append(out, sf)
	}
	return out, nil
}

func decodeFile(data []byte, f Format) ([]event.Event, bool, error) {
	switch f.FileType {
	case "SequenceFile":
		return decodeSeq(data)
	case "CompressedStream":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			if len(data) == 0 {
				return nil, false, nil
			}
			return nil, true, nil
		}
		plain, err := io.ReadAll(zr)
		torn := err != nil // a member cut short: what decoded is kept
		evs, partial := lines(plain)
		return evs, torn || partial, nil
	}
	evs, torn := lines(data)
	return evs, torn, nil
}

func lines(data []byte) ([]event.Event, bool) {
	var out []event.Event
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out, true
		}
		out = append(out, event.Event{Body: append([]byte(nil), data[:i]...)})
		data = data[i+1:]
	}
	return out, false
}

// decodeSeq reads an uncompressed SequenceFile with LongWritable keys and
// BytesWritable or Text values.
func decodeSeq(data []byte) ([]event.Event, bool, error) {
	if len(data) == 0 {
		return nil, false, nil
	}
	r := bufio.NewReader(bytes.NewReader(data))
	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, true, nil
	}
	if string(magic[:3]) != "SEQ" || magic[3] != 6 {
		return nil, false, errors.New("not a version 6 SequenceFile")
	}
	if _, err := readHadoopString(r); err != nil {
		return nil, true, nil
	}
	valClass, err := readHadoopString(r)
	if err != nil {
		return nil, true, nil
	}
	text := valClass == "org.apache.hadoop.io.Text"
	hdr := make([]byte, 2+4+16)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, true, nil
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, false, errors.New("compressed SequenceFiles are not supported")
	}
	var sync [16]byte
	copy(sync[:], hdr[6:])
	var out []event.Event
	for {
		var n4 [4]byte
		if _, err := io.ReadFull(r, n4[:]); err != nil {
			return out, err != io.EOF, nil
		}
		recLen := int32(binary.BigEndian.Uint32(n4[:]))
		if recLen == -1 {
			var s [16]byte
			if _, err := io.ReadFull(r, s[:]); err != nil {
				return out, true, nil
			}
			if s != sync {
				return out, false, errors.New("bad sync marker")
			}
			continue
		}
		if recLen < 8 || int(recLen) > len(data) {
			return out, true, nil
		}
		rec := make([]byte, 4+int(recLen))
		if _, err := io.ReadFull(r, rec); err != nil {
			return out, true, nil
		}
		keyLen := int(binary.BigEndian.Uint32(rec))
		if keyLen != 8 {
			return out, false, fmt.Errorf("key length %d, want 8 (LongWritable)", keyLen)
		}
		ts := int64(binary.BigEndian.Uint64(rec[4:]))
		val := rec[12:]
		var body []byte
		if text {
			n, k := readVInt(val)
			if k == 0 || int(n) > len(val)-k {
				return out, false, errors.New("bad Text value")
			}
			body = val[k : k+int(n)]
		} else {
			if len(val) < 4 {
				return out, false, errors.New("bad BytesWritable value")
			}
			n := int(binary.BigEndian.Uint32(val))
			if n > len(val)-4 {
				return out, false, errors.New("bad BytesWritable length")
			}
			body = val[4 : 4+n]
		}
		out = append(out, event.Event{Headers: map[string]string{"timestamp": strconv.FormatInt(ts, 10)}, Body: body})
	}
}

func readHadoopString(r *bufio.Reader) (string, error) {
	b, err := r.Peek(1)
	if err != nil {
		return "", err
	}
	width := 1
	if int8(b[0]) < -112 {
		width = 1 + int(-112-int8(b[0]))
		if int8(b[0]) < -120 {
			width = 1 + int(-120-int8(b[0]))
		}
	}
	head, err := r.Peek(width)
	if err != nil {
		return "", err
	}
	n, k := readVInt(head)
	if k == 0 || n < 0 || n > 1<<20 {
		return "", errors.New("bad string length")
	}
	r.Discard(k)
	s := make([]byte, n)
	if _, err := io.ReadFull(r, s); err != nil {
		return "", err
	}
	return string(s), nil
}

// readVInt decodes Hadoop's WritableUtils vlong; k is the bytes used, 0 on
// error.
func readVInt(b []byte) (int64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	first := int8(b[0])
	if first >= -112 {
		return int64(first), 1
	}
	neg := first < -120
	n := int(-112 - first)
	if neg {
		n = int(-120 - first)
	}
	if len(b) < 1+n {
		return 0, 0
	}
	var v int64
	for i := 1; i <= n; i++ {
		v = v<<8 | int64(b[i])
	}
	if neg {
		v = ^v
	}
	return v, 1 + n
}
