package taildir

import (
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// waker tells the polling runner that a file changed. An event that
// arrives while Process runs leaves the channel closed, so the runner polls
// again at once instead of missing it.
type waker struct {
	mu      sync.Mutex
	c       chan struct{}
	pending bool
}

func (w *waker) init() { w.c = make(chan struct{}) }

func (w *waker) notify() {
	w.mu.Lock()
	if !w.pending {
		w.pending = true
		close(w.c)
	}
	w.mu.Unlock()
}

// consume is called as a poll starts: what happened so far it will see.
func (w *waker) consume() {
	w.mu.Lock()
	if w.pending {
		w.pending = false
		w.c = make(chan struct{})
	}
	w.mu.Unlock()
}

func (w *waker) ch() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c
}

// watcher turns inotify events in the groups' directories into wake-ups.
// It is an optimisation only: a lost event (queue overflow, a directory
// created later) delays a line until the next poll, never loses it.
type watcher struct {
	s    *Source
	w    *fsnotify.Watcher
	dirs map[string][]*Group
	skip map[string]bool // the source's own state files
	done chan struct{}
}

func newWatcher(s *Source) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{s: s, w: fw, dirs: map[string][]*Group{}, skip: map[string]bool{}, done: make(chan struct{})}
	for i := range s.cfg.Groups {
		g := &s.cfg.Groups[i]
		w.dirs[g.Dir] = append(w.dirs[g.Dir], g)
	}
	pf := s.cfg.PositionFile
	for _, n := range []string{pf, pf + ".tmp", pf + sidecarSuffix, pf + sidecarSuffix + ".tmp", pf + ".lock"} {
		w.skip[n] = true
	}
	go w.run()
	return w, nil
}

func (w *watcher) run() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				w.s.wake.notify()
			}
		case _, ok := <-w.w.Errors:
			if !ok {
				return
			}
			// Most likely an overflowed queue: events were lost, so look.
			w.s.wake.notify()
		}
	}
}

// relevant filters out events no poll would act on, so that a busy
// directory of other files does not keep the source polling.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	if w.skip[ev.Name] || ev.Op == fsnotify.Chmod {
		return false
	}
	if ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0 {
		return true
	}
	dir, name := filepath.Split(ev.Name)
	for _, g := range w.dirs[filepath.Clean(dir)] {
		if g.Match(name) {
			return true
		}
	}
	return w.s.tracks(ev.Name)
}

// sync watches the groups' directories that exist; it is called after each
// poll so that a directory created or re-created later gets watched.
func (w *watcher) sync() {
	watched := map[string]bool{}
	for _, d := range w.w.WatchList() {
		watched[d] = true
	}
	for d := range w.dirs {
		if !watched[d] {
			w.w.Add(d) // a missing directory is retried at the next poll
		}
	}
}

func (w *watcher) close() {
	w.w.Close()
	<-w.done
}
