package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/scenarios/checker"
)

// Store is where a pipeline's events land, read back by the checker. The
// harness polls every store while the run goes on (so arrival times give
// delivery latency) and once more at the end.
type Store interface {
	Name() string
	Kind() string     // file_roll, hdfs, kafka
	Node() string     // the node whose sink writes it
	Location() string // for the report
	// Poll hands every complete line that arrived since the last call to
	// deliver.
	Poll(deliver func(line []byte)) error
	// Finish is the last Poll; it reports each incomplete trailing line
	// (a writer killed mid-line) to torn.
	Finish(deliver func(line []byte), torn func()) error
}

// FileRoll reads a file_roll sink's directory: files only grow, new files
// appear, and a line is complete once its newline is there.
type FileRoll struct {
	name, node, dir string
	files           map[string]*tail
}

type tail struct {
	off     int64
	partial []byte
}

// maxPartial caps a pending partial line; past it the bytes are not a
// workload line and are handed over as they are (the checker counts them
// unexpected).
const maxPartial = checker.MaxLine

// NewFileRoll returns the store for a file_roll directory.
func NewFileRoll(name, node, dir string) *FileRoll {
	return &FileRoll{name: name, node: node, dir: dir, files: map[string]*tail{}}
}

func (s *FileRoll) Name() string     { return s.name }
func (s *FileRoll) Kind() string     { return "file_roll" }
func (s *FileRoll) Node() string     { return s.node }
func (s *FileRoll) Location() string { return s.dir }

func (s *FileRoll) Poll(deliver func([]byte)) error {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", s.name, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		// Dot files are not the sink's (a disk fault's filler lives there).
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var errs []error
	for _, n := range names {
		t := s.files[n]
		if t == nil {
			t = &tail{}
			s.files[n] = t
		}
		if err := s.read(filepath.Join(s.dir, n), t, deliver); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *FileRoll) read(path string, t *tail, deliver func([]byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.name, err)
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return fmt.Errorf("store %s: %w", s.name, err)
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			t.off += int64(n)
			data := buf[:n]
			for len(data) > 0 {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					t.partial = append(t.partial, data...)
					if len(t.partial) > maxPartial {
						deliver(t.partial)
						t.partial = t.partial[:0]
					}
					break
				}
				if len(t.partial) > 0 {
					t.partial = append(t.partial, data[:i]...)
					deliver(t.partial)
					t.partial = t.partial[:0]
				} else {
					deliver(data[:i])
				}
				data = data[i+1:]
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store %s: read %s: %w", s.name, path, err)
		}
	}
}

func (s *FileRoll) Finish(deliver func([]byte), torn func()) error {
	err := s.Poll(deliver)
	for _, t := range s.files {
		if len(t.partial) > 0 {
			torn()
			t.partial = nil
		}
	}
	return err
}
