package interceptor

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/sluicehq/sluice/engine/config"
	"github.com/sluicehq/sluice/engine/event"
	"github.com/sluicehq/sluice/engine/registry"
	"github.com/sluicehq/sluice/engine/source"
)

// UUID sets a header (id) to prefix + a random (version 4) UUID, keeping an
// existing value by default, as Flume's morphline UUIDInterceptor. Flume has
// no short alias for it; Sluice also accepts "uuid".
type UUID struct {
	Header, Prefix string
	Preserve       bool
	// random fills b with random bytes; replaced in tests.
	random func(b []byte)
}

func (u *UUID) Intercept(events []event.Event) []event.Event {
	for i := range events {
		if _, ok := events[i].Headers[u.Header]; ok && u.Preserve {
			continue
		}
		setHeader(&events[i], u.Header, u.Prefix+u.newUUID(), false)
	}
	return events
}

func (u *UUID) newUUID() string {
	var b [16]byte
	u.random(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

func init() {
	register("uuid", "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder",
		func(env registry.Env, r *config.Reader) (source.Interceptor, error) {
			return &UUID{
				Header:   r.String("headerName", "id"),
				Preserve: r.Bool("preserveExisting", true),
				Prefix:   r.String("prefix", ""),
				random:   func(b []byte) { rand.Read(b) },
			}, nil
		})
}
