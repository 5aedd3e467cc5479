package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/scenarios/checker"
)

// feeder hands a batch of lines to an agent's source; nil means the write
// was confirmed (the source acknowledged it, or it is in the tailed file).
type feeder interface {
	Write(ctx context.Context, lines [][]byte) error
	Close() error
}

// httpFeeder POSTs batches to an agent's http source (one POST = one
// channel transaction; 200 = committed).
type httpFeeder struct {
	addr   func() string
	client *http.Client
}

func newHTTPFeeder(addr func() string) *httpFeeder {
	return &httpFeeder{addr: addr, client: &http.Client{Timeout: 5 * time.Second}}
}

func (f *httpFeeder) Write(ctx context.Context, lines [][]byte) error {
	type ev struct {
		Body string `json:"body"`
	}
	evs := make([]ev, len(lines))
	for i, l := range lines {
		evs[i].Body = string(l)
	}
	b, err := json.Marshal(evs)
	if err != nil {
		return err
	}
	addr := f.addr()
	if addr == "" {
		return fmt.Errorf("agent is down")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("http source answered %d", resp.StatusCode)
	}
	return nil
}

func (f *httpFeeder) Close() error { f.client.CloseIdleConnections(); return nil }

// fileFeeder appends lines to a log file the agent tails, rotating it by
// rename after rotateBytes: app.log becomes app.log.1, .2, ... (names the
// taildir pattern no longer matches) and a new app.log is created.
type fileFeeder struct {
	dir         string
	rotateBytes int64

	mu       sync.Mutex
	f        *os.File
	size     int64
	rotation int
	buf      []byte
}

func newFileFeeder(dir string, rotateBytes int64) (*fileFeeder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ff := &fileFeeder{dir: dir, rotateBytes: rotateBytes}
	return ff, ff.open()
}

func (ff *fileFeeder) open() error {
	f, err := os.OpenFile(filepath.Join(ff.dir, "app.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	ff.f, ff.size = f, fi.Size()
	return nil
}

// Write appends the lines in one write(2), so a reader never sees a line
// of one batch interleaved with another.
func (ff *fileFeeder) Write(_ context.Context, lines [][]byte) error {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	ff.buf = ff.buf[:0]
	for _, l := range lines {
		ff.buf = append(ff.buf, l...)
		ff.buf = append(ff.buf, '\n')
	}
	n, err := ff.f.Write(ff.buf)
	ff.size += int64(n)
	if err != nil {
		return err
	}
	if ff.rotateBytes > 0 && ff.size >= ff.rotateBytes {
		return ff.rotate()
	}
	return nil
}

func (ff *fileFeeder) rotate() error {
	ff.rotation++
	if err := ff.f.Close(); err != nil {
		return err
	}
	old := filepath.Join(ff.dir, "app.log")
	if err := os.Rename(old, old+"."+strconv.Itoa(ff.rotation)); err != nil {
		return err
	}
	return ff.open()
}

// Rotations is how many times the file was rotated.
func (ff *fileFeeder) Rotations() int {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	return ff.rotation
}

func (ff *fileFeeder) Close() error {
	ff.mu.Lock()
	defer ff.mu.Unlock()
	return ff.f.Close()
}

// writer writes unique, sequenced, timestamped lines at a rate, recording
// every attempt and confirmation with the checker.
type writer struct {
	name     string
	node     string
	rate     float64 // events/s
	lineSize int
	feed     feeder
	ck       *checker.Checker
	seq      int64
	retries  int64
}

// tick is how often a writer writes a batch.
const tick = 50 * time.Millisecond

// run writes until ctx ends. A failed write is retried with the same
// lines (same ids, same stamps) until confirmed or ctx ends, as an
// at-least-once client would; while it retries, it writes nothing new.
func (w *writer) run(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	owed := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		owed += w.rate * tick.Seconds()
		n := int(owed)
		if n == 0 {
			continue
		}
		owed -= float64(n)
		now := time.Now()
		lines := make([][]byte, n)
		seqs := make([]int64, n)
		for i := range lines {
			seqs[i] = w.seq
			lines[i] = checker.Line(nil, w.name, w.seq, now.UnixNano(), w.lineSize)
			w.ck.Attempt(w.name, w.seq, now, len(lines[i]))
			w.seq++
		}
		for {
			err := w.feed.Write(ctx, lines)
			if err == nil {
				for _, s := range seqs {
					w.ck.Ack(w.name, s)
				}
				break
			}
			w.retries++
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
