package taildir

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/engine/vfs"
)

type scanned struct {
	body string
	kind unitKind
	part int
}

// scanAll runs the scanner over data as a file that grows in the given
// chunks and is finally closed (flush), as the source drives it.
func scanAll(t *testing.T, data []byte, max int, policy LongLinePolicy, chunks []int) []scanned {
	var out []scanned
	var st lineState
	pos, avail := 0, 0
	for steps := 0; ; steps++ {
		if steps > 4*len(data)+16 {
			t.Fatalf("scanner made no progress at %d of %d", pos, len(data))
		}
		more := avail < len(data)
		u, ok := scan(data[pos:avail], &st, max, policy, more, !more)
		if ok {
			if u.next <= 0 {
				t.Fatalf("unit %+v does not advance", u)
			}
			if u.end-u.start > max {
				t.Fatalf("body of %d bytes exceeds max %d", u.end-u.start, max)
			}
			if u.kind != kindDropped {
				out = append(out, scanned{string(data[pos+u.start : pos+u.end]), u.kind, u.part})
			}
			pos += u.next
			continue
		}
		if !more {
			break
		}
		if avail-pos > max {
			t.Fatalf("asked for more data with %d bytes (max %d) in hand", avail-pos, max)
		}
		n := 0
		if len(chunks) > 0 {
			n, chunks = chunks[0], chunks[1:]
		}
		avail = min(len(data), avail+n+1)
	}
	if pos != len(data) {
		t.Fatalf("consumed %d of %d bytes", pos, len(data))
	}
	return out
}

// expected is what a correct scanner delivers: every line (a trailing \r
// dropped), the last line without newline as is; long lines split into
// pieces of max bytes or cut to max bytes.
func expected(data []byte, max int, policy LongLinePolicy) []scanned {
	var out []scanned
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		raw := data
		rest := []byte(nil)
		complete := i >= 0
		if complete {
			raw, rest = data[:i], data[i+1:]
		}
		line := raw
		if complete && len(line) > 0 && line[len(line)-1] == '\r' && len(raw) <= max {
			line = line[:len(line)-1]
		}
		switch {
		case len(raw) <= max:
			k := kindLine
			if !complete {
				k = kindPartial
			}
			out = append(out, scanned{string(line), k, 0})
		case policy == Truncate:
			out = append(out, scanned{string(raw[:max]), kindTruncated, 0})
		default:
			part := 0
			for len(raw) > max {
				part++
				out = append(out, scanned{string(raw[:max]), kindSplit, part})
				raw = raw[max:]
			}
			last := raw
			if complete && len(last) > 0 && last[len(last)-1] == '\r' {
				last = last[:len(last)-1]
			}
			out = append(out, scanned{string(last), kindSplitLast, part + 1})
		}
		data = rest
	}
	return out
}

func TestScanCases(t *testing.T) {
	for _, tc := range []struct {
		data   string
		max    int
		policy LongLinePolicy
	}{
		{"a\nbb\r\n\ncc", 10, Split},
		{"0123456789\r\n", 10, Split},
		{"0123456789\r\n", 11, Split},
		{"01234567890123456789012\nx\n", 10, Split},
		{"01234567890123456789012\nx\n", 10, Truncate},
		{"0123456789012", 10, Split},
		{"0123456789012", 10, Truncate},
		{"\r\r\n\n", 1, Split},
	} {
		for _, chunks := range [][]int{nil, {1000}, {3, 7, 1}} {
			got := scanAll(t, []byte(tc.data), tc.max, tc.policy, chunks)
			want := expected([]byte(tc.data), tc.max, tc.policy)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q max %d %s chunks %v:\n got  %+v\n want %+v", tc.data, tc.max, tc.policy, chunks, got, want)
			}
		}
	}
}

func FuzzScan(f *testing.F) {
	f.Add([]byte("a\nbb\r\n\ncc"), uint8(4), false, []byte{1, 2, 3})
	f.Add([]byte("0123456789\r\n0123456789012\n"), uint8(10), true, []byte{5})
	f.Add([]byte("\r\n\r\r\n"), uint8(1), false, []byte{})
	f.Fuzz(func(t *testing.T, data []byte, m uint8, trunc bool, chunkBytes []byte) {
		max := int(m%64) + 1
		policy := Split
		if trunc {
			policy = Truncate
		}
		chunks := make([]int, len(chunkBytes))
		for i, c := range chunkBytes {
			chunks[i] = int(c)
		}
		got := scanAll(t, data, max, policy, chunks)
		want := expected(data, max, policy)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("max %d %s:\n got  %+v\n want %+v", max, policy, got, want)
		}
	})
}

func FuzzDecodeFlume(f *testing.F) {
	f.Add([]byte(`[{"inode":2496272,"pos":12,"file":"/var/log/test1/example.log"},{"inode":2496275,"pos":0,"file":"/var/log/test2/log1.log"}]`))
	f.Add([]byte(`[{"file":"/a\u003d","pos":"1","inode":-1,"x":[{}]}]`))
	f.Add([]byte(`[{"inode":1,"pos":2,"file":"/a"},{"ino`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := decodeFlume(data)
		if err != nil {
			return
		}
		again, err := decodeFlume(encodeFlume(ps))
		if err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, encodeFlume(ps))
		}
		if fmt.Sprint(again) != fmt.Sprint(ps) {
			t.Fatalf("round trip changed positions:\n %+v\n %+v", ps, again)
		}
	})
}

// FuzzLoadPositions feeds arbitrary Flume and sidecar files to the loader:
// it must never fail (only a huge file is an error) and never return a
// position it could not have read.
func FuzzLoadPositions(f *testing.F) {
	ps := []position{{Dev: 1, HasDev: true, Inode: 7, Pos: 30, File: "/l/a.log", FP: 99, FPLen: 20, HasFP: true, Ctx: 5, CtxEnd: 30, CtxLen: 10}}
	flume := encodeFlume(ps)
	side, _ := encodeSidecar(ps, flume, "")
	f.Add(flume, side)
	f.Add(flume, []byte(`{"version":1,"flume":"x","prev":"","files":[{"dev":1,"inode":7,"pos":-3,"file":"/l/a.log","fpLen":5000,"fp":"zz"}]}`))
	f.Add([]byte(`[{"inode":7,"pos":3`), side)
	f.Fuzz(func(t *testing.T, flume, side []byte) {
		mem := vfs.NewMem(nil)
		mem.MkdirAll("/s", 0o755)
		vfs.WriteFileAtomic(mem, "/s/p.json", flume, 0o644)
		vfs.WriteFileAtomic(mem, "/s/p.json"+sidecarSuffix, side, 0o644)
		ld, err := loadPositions(mem, "/s/p.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ld.Positions {
			if p.Pos < 0 || p.FPLen < 0 || p.FPLen > fingerprintSize || p.CtxLen < 0 || p.CtxLen > contextSize || p.CtxEnd < p.CtxLen {
				t.Fatalf("loaded an impossible position %+v", p)
			}
		}
	})
}
