package scenarios

import (
	"context"
	"strings"
	"time"

	"github.com/sluicehq/sluice/scenarios/store"
)

// tailerStore reads an HDFS-on-file:// directory or a Kafka topic through
// scenarios/store's tailers, each copy once, as it appears.
type tailerStore struct {
	t          store.Tailer
	kind, node string
	loc        string
}

func (s *tailerStore) Name() string     { return s.t.Name() }
func (s *tailerStore) Kind() string     { return s.kind }
func (s *tailerStore) Node() string     { return s.node }
func (s *tailerStore) Location() string { return s.loc }

func (s *tailerStore) Poll(deliver func([]byte)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ds, err := s.t.Poll(ctx)
	for _, d := range ds {
		deliver(d.Event.Body)
	}
	return err
}

func (s *tailerStore) Finish(deliver func([]byte), torn func()) error {
	err := s.Poll(deliver)
	for i := 0; i < s.t.Torn(); i++ {
		torn()
	}
	s.t.Close()
	return err
}

// Recheck reads the store whole again when its tailer can (a Kafka topic),
// delivers what the tail missed and says where it was.
func (s *tailerStore) Recheck(ctx context.Context, deliver func([]byte)) (int, string, error) {
	r, ok := s.t.(interface {
		Recheck(context.Context) ([]store.Delivery, error)
	})
	if !ok {
		return 0, "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ds, err := r.Recheck(ctx)
	var where []string
	for i, d := range ds {
		deliver(d.Event.Body)
		if i < 3 || i == len(ds)-1 {
			where = append(where, d.Where)
		}
	}
	return len(ds), strings.Join(where, " "), err
}
