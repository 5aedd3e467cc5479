// Package event holds the unit of data that flows through Sluice: a Flume event.
package event

// Event is a Flume event: a set of string headers and an opaque body.
// Events are passed by value in batches; the body is never copied by the
// data path, so a producer must not modify a body after handing it over.
type Event struct {
	Headers map[string]string
	Body    []byte
}

// New returns an event with the given body and no headers.
func New(body []byte) Event { return Event{Body: body} }

// Clone returns a deep copy, for the rare places (interceptors that rewrite
// headers of a batch shared by several channels) that must not alias.
func (e Event) Clone() Event {
	c := Event{Body: append([]byte(nil), e.Body...)}
	if e.Headers != nil {
		c.Headers = make(map[string]string, len(e.Headers))
		for k, v := range e.Headers {
			c.Headers[k] = v
		}
	}
	return c
}

// Size is the number of bytes the event occupies when encoded: the body plus
// every header key and value. Channels use it for byte accounting.
func (e Event) Size() int {
	n := len(e.Body)
	for k, v := range e.Headers {
		n += len(k) + len(v)
	}
	return n
}

// Header returns the value of header k, or "".
func (e Event) Header(k string) string { return e.Headers[k] }

// SetHeader sets header k, allocating the map when needed.
func (e *Event) SetHeader(k, v string) {
	if e.Headers == nil {
		e.Headers = make(map[string]string, 4)
	}
	e.Headers[k] = v
}
