package file

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/clock"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/vfs"
)

// validRecord is a complete commit record as the writer would put at off.
func validRecord(seg, off uint32, takes []run, puts []event.Event, first uint64) []byte {
	sizes := make([]int, len(puts))
	for i, e := range puts {
		sizes[i] = eventSize(e)
	}
	rec, _, err := encodeCommit(takes, puts, first, sizes, nil, nil)
	if err != nil {
		panic(err)
	}
	putFrame(rec, frame{length: uint32(len(rec) - frameHeaderSize), typ: recCommit, seg: seg, off: off, crc: crc(rec[frameHeaderSize:])})
	return rec
}

// fixEvent makes b pass decodeEvent's length and checksum checks, so that
// the fuzzer reaches the header and body decoding behind them.
func fixEvent(b []byte) []byte {
	if len(b) < eventFixed {
		return b
	}
	b = append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-eventFixed))
	binary.LittleEndian.PutUint32(b[0:], crc(b[eventFixed:]))
	return b
}

// fixCheckpoint does the same for decodeCheckpoint.
func fixCheckpoint(b []byte) []byte {
	if len(b) < ckptHeader+4 {
		return b
	}
	b = append([]byte(nil), b...)
	copy(b, ckptMagic[:])
	binary.LittleEndian.PutUint32(b[8:], ckptVersion)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(b)-ckptHeader-4))
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc(b[:len(b)-4]))
	return b
}

// FuzzRecord feeds arbitrary bytes to every decoder of the format: record
// headers, commit payloads, events and checkpoints, with and without valid
// checksums. None may panic or read out of bounds, and whatever decodes
// must re-encode to the same events.
func FuzzRecord(f *testing.F) {
	evsA := []event.Event{{Headers: map[string]string{"host": "a", "seq": "1"}, Body: []byte("hello")}, {Body: nil}, {Body: bytes.Repeat([]byte{0}, 300)}}
	f.Add(validRecord(1, segHeaderLen, []run{{5, 3}, {10, 1}}, evsA, 100))
	f.Add(validRecord(7, 4096, nil, evsA[:1], 0))
	f.Add(validRecord(2, 36, []run{{1, 1}}, nil, 0))
	f.Add(segmentRecord(3))
	f.Add(padRecord(3, 36, padLen(36)))
	f.Add(encodeCheckpoint(&checkpoint{nextESN: 9, maxSeg: 2, segs: []segState{{1, 100}, {2, 36}},
		ptrs: []ptr{{esn: 1, seg: 1, off: 36, n: 20}, {esn: 2, seg: 1, off: 56, n: 30}, {esn: 7, seg: 2, off: 36, n: 9}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := parseFrame(b); err == nil && len(b)-frameHeaderSize >= int(h.length) {
			p := b[frameHeaderSize : frameHeaderSize+int(h.length)]
			if checkPayload(h, p) == nil && h.typ == recCommit {
				roundTrip(t, p)
			}
		}
		roundTrip(t, b) // the payload decoder behind the checksum
		if e, err := decodeEvent(fixEvent(b)); err == nil {
			again := make([]byte, eventSize(e))
			putEvent(again, e)
			e2, err := decodeEvent(again)
			if err != nil || !sameEvent(e, e2) {
				t.Fatalf("event does not survive re-encoding: %v", err)
			}
		}
		decodeCheckpoint(b)
		if ck, err := decodeCheckpoint(fixCheckpoint(b)); err == nil {
			ck2, err := decodeCheckpoint(encodeCheckpoint(ck))
			if err != nil || fmt.Sprint(ck2.ptrs) != fmt.Sprint(ck.ptrs) || fmt.Sprint(ck2.segs) != fmt.Sprint(ck.segs) {
				t.Fatalf("checkpoint does not survive re-encoding: %v", err)
			}
		}
	})
}

func roundTrip(t *testing.T, p []byte) {
	var rec commitRec
	if decodeCommit(p, &rec) != nil {
		return
	}
	var puts []event.Event
	for _, e := range rec.events {
		ev, err := decodeEvent(p[e.off : e.off+e.n])
		if err != nil {
			return // an event whose checksum is wrong: found at take time
		}
		puts = append(puts, ev)
	}
	again := validRecord(1, 36, rec.takes, puts, rec.firstESN)
	var rec2 commitRec
	if err := decodeCommit(again[frameHeaderSize:], &rec2); err != nil {
		t.Fatalf("re-encoded record does not decode: %v", err)
	}
	if fmt.Sprint(rec2.takes) != fmt.Sprint(rec.takes) || len(rec2.events) != len(puts) || rec2.firstESN != rec.firstESN {
		t.Fatalf("record changed in re-encoding")
	}
	for i, e := range rec2.events {
		ev, err := decodeEvent(again[frameHeaderSize+e.off : frameHeaderSize+e.off+e.n])
		if err != nil || !sameEvent(ev, puts[i]) {
			t.Fatalf("event %d changed in re-encoding: %v", i, err)
		}
	}
}

func sameEvent(a, b event.Event) bool {
	if !bytes.Equal(a.Body, b.Body) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for k, v := range a.Headers {
		if w, ok := b.Headers[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// fuzzDir builds a channel directory on a Mem disk from a real run, for the
// FuzzOpen seeds.
func fuzzDir(t testing.TB) (ckpt, seg []byte) {
	mem := vfs.NewMem(nil)
	cfg := testConfig("/f", 100, 10)
	ch := New("f", cfg, Options{FS: mem, Clock: clock.NewManual(time.Unix(0, 0)), Log: quiet})
	if err := ch.Start(); err != nil {
		t.Fatal(err)
	}
	commitPut(ch, evs("a", 0, 3))
	ch.Checkpoint()
	commitPut(ch, evs("b", 0, 2))
	tx, _ := ch.Begin()
	tx.Take(2)
	tx.Commit()
	mem.Crash(nil)
	ckpt, _ = vfs.ReadFile(mem, "/f/checkpoint/"+checkpointName)
	seg, _ = vfs.ReadFile(mem, activeSegment(t, mem, cfg))
	return ckpt, seg
}

// FuzzOpen opens a channel on a directory whose checkpoint and segment are
// arbitrary bytes. Start must either succeed or return an error, never
// panic, hang or allocate beyond what the files justify; a started channel
// must give up its events (or drop them as corrupt) without error.
func FuzzOpen(f *testing.F) {
	ck, seg := fuzzDir(f)
	f.Add(ck, seg)
	f.Add([]byte{}, seg)
	f.Add(ck, seg[:len(seg)-5])
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, ck, seg []byte) {
		mem := vfs.NewMem(nil)
		mem.MkdirAll("/f/checkpoint", 0o755)
		mem.MkdirAll("/f/data", 0o755)
		write := func(p string, b []byte) {
			h, _ := vfs.Create(mem, p)
			h.Write(b)
			h.Sync()
			h.Close()
		}
		if len(ck) > 0 {
			write("/f/checkpoint/"+checkpointName, ck)
		}
		write("/f/data/"+segName(1), seg)
		cfg := testConfig("/f", 100, 10)
		ch := New("f", cfg, Options{FS: mem, Clock: clock.NewManual(time.Unix(0, 0)), Log: quiet})
		if err := ch.Start(); err != nil {
			return
		}
		defer ch.Stop()
		for i := 0; i < 1000; i++ {
			tx, err := ch.Begin()
			if err != nil {
				t.Fatal(err)
			}
			got, err := tx.Take(10)
			if err != nil {
				t.Fatalf("Take on a recovered channel: %v", err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatalf("Commit on a recovered channel: %v", err)
			}
			if len(got) == 0 && ch.Len() == 0 {
				return
			}
		}
		t.Fatal("channel never drained")
	})
}
