package avroipc

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/engine/event"
)

// HandshakeRequest is org.apache.avro.ipc.HandshakeRequest.
type HandshakeRequest struct {
	ClientHash     [16]byte
	ClientProtocol *string // nil unless the server answered NONE before
	ServerHash     [16]byte
	Meta           map[string][]byte
}

// HandshakeResponse is org.apache.avro.ipc.HandshakeResponse.
type HandshakeResponse struct {
	Match          Match
	ServerProtocol *string
	ServerHash     *[16]byte
	Meta           map[string][]byte
}

// Call is a decoded request after the handshake: metadata, message name and
// the events it carries (one for append).
type Call struct {
	Meta    map[string][]byte
	Message string
	Events  []event.Event
}

// Response is a decoded reply after the handshake.
type Response struct {
	Meta map[string][]byte
	// SystemError is set when the server reported an error instead of a
	// Status (Avro's system error: an exception while decoding or
	// dispatching the call).
	SystemError *string
	Status      Status
}

func appendBytesMap(b []byte, m map[string][]byte) []byte {
	if len(m) > 0 {
		b = appendLong(b, int64(len(m)))
		for k, v := range m {
			b = appendString(b, k)
			b = appendBytes(b, v)
		}
	}
	return append(b, 0)
}

// AppendHandshakeRequest encodes r.
func AppendHandshakeRequest(b []byte, r *HandshakeRequest) []byte {
	b = append(b, r.ClientHash[:]...)
	if r.ClientProtocol == nil {
		b = append(b, 0)
	} else {
		b = appendString(append(b, 2), *r.ClientProtocol)
	}
	b = append(b, r.ServerHash[:]...)
	if r.Meta == nil {
		return append(b, 0)
	}
	return appendBytesMap(append(b, 2), r.Meta)
}

func (d *decoder) handshakeRequest() (HandshakeRequest, error) {
	var r HandshakeRequest
	h, err := d.fixed(16, "clientHash")
	if err != nil {
		return r, err
	}
	copy(r.ClientHash[:], h)
	i, err := d.union(2, "clientProtocol")
	if err != nil {
		return r, err
	}
	if i == 1 {
		s, err := d.string("clientProtocol")
		if err != nil {
			return r, err
		}
		r.ClientProtocol = &s
	}
	h, err = d.fixed(16, "serverHash")
	if err != nil {
		return r, err
	}
	copy(r.ServerHash[:], h)
	if i, err = d.union(2, "handshake meta"); err != nil {
		return r, err
	}
	if i == 1 {
		if r.Meta, err = d.bytesMap("handshake meta"); err != nil {
			return r, err
		}
		if r.Meta == nil {
			r.Meta = map[string][]byte{}
		}
	}
	return r, nil
}

// AppendHandshakeResponse encodes r.
func AppendHandshakeResponse(b []byte, r *HandshakeResponse) []byte {
	b = appendLong(b, int64(r.Match))
	if r.ServerProtocol == nil {
		b = append(b, 0)
	} else {
		b = appendString(append(b, 2), *r.ServerProtocol)
	}
	if r.ServerHash == nil {
		b = append(b, 0)
	} else {
		b = append(append(b, 2), r.ServerHash[:]...)
	}
	if r.Meta == nil {
		return append(b, 0)
	}
	return appendBytesMap(append(b, 2), r.Meta)
}

func (d *decoder) handshakeResponse() (HandshakeResponse, error) {
	var r HandshakeResponse
	m, err := d.long()
	if err != nil {
		return r, err
	}
	if m < 0 || m > int64(MatchNone) {
		return r, malformed("handshake match %d; valid are 0 (BOTH), 1 (CLIENT), 2 (NONE)", m)
	}
	r.Match = Match(m)
	i, err := d.union(2, "serverProtocol")
	if err != nil {
		return r, err
	}
	if i == 1 {
		s, err := d.string("serverProtocol")
		if err != nil {
			return r, err
		}
		r.ServerProtocol = &s
	}
	if i, err = d.union(2, "serverHash"); err != nil {
		return r, err
	}
	if i == 1 {
		h, err := d.fixed(16, "serverHash")
		if err != nil {
			return r, err
		}
		var x [16]byte
		copy(x[:], h)
		r.ServerHash = &x
	}
	if i, err = d.union(2, "handshake meta"); err != nil {
		return r, err
	}
	if i == 1 {
		if r.Meta, err = d.bytesMap("handshake meta"); err != nil {
			return r, err
		}
		if r.Meta == nil {
			r.Meta = map[string][]byte{}
		}
	}
	return r, nil
}

// AppendCall encodes a call: empty metadata, the message name and its
// parameters. MsgAppend takes exactly one event.
func AppendCall(b []byte, msg string, events []event.Event) []byte {
	b = append(b, 0) // call metadata: empty map
	b = appendString(b, msg)
	switch msg {
	case MsgAppend:
		b = appendEvent(b, events[0])
	case MsgAppendBatch:
		if len(events) > 0 {
			b = appendLong(b, int64(len(events)))
			for _, e := range events {
				b = appendEvent(b, e)
			}
		}
		b = append(b, 0)
	}
	return b
}

// errUnknownMessage is the system error for a message the protocol lacks;
// its text mirrors Java's so logs on both sides read alike.
func errUnknownMessage(name string) error {
	return fmt.Errorf("org.apache.avro.AvroRuntimeException: No such remote message: %s", name)
}

// call decodes what follows the handshake. A message name of "" is a
// handshake ping and carries nothing more.
func (d *decoder) call() (Call, error) {
	var c Call
	var err error
	if c.Meta, err = d.bytesMap("call meta"); err != nil {
		return c, err
	}
	if c.Message, err = d.string("message name"); err != nil {
		return c, err
	}
	switch c.Message {
	case "":
		return c, nil
	case MsgAppend:
		e, err := d.event()
		if err != nil {
			return c, err
		}
		c.Events = []event.Event{e}
	case MsgAppendBatch:
		if c.Events, err = d.events(); err != nil {
			return c, err
		}
	default:
		return c, errUnknownMessage(c.Message)
	}
	if d.remaining() != 0 {
		return c, malformed("%d unexpected bytes after the %s parameters", d.remaining(), c.Message)
	}
	return c, nil
}

// AppendStatus encodes a successful reply: empty metadata, no error, s.
func AppendStatus(b []byte, s Status) []byte {
	return appendLong(append(b, 0, 0), int64(s))
}

// AppendSystemError encodes an error reply carrying msg, as Java's
// Responder does for an exception while decoding or dispatching.
func AppendSystemError(b []byte, msg string) []byte {
	b = append(b, 0, 1, 0) // metadata, error flag, union branch 0 (string)
	return appendString(b, msg)
}

func (d *decoder) response() (Response, error) {
	var r Response
	var err error
	if r.Meta, err = d.bytesMap("response meta"); err != nil {
		return r, err
	}
	isErr, err := d.boolean()
	if err != nil {
		return r, err
	}
	if isErr {
		if _, err := d.union(1, "system error"); err != nil {
			return r, err
		}
		s, err := d.string("system error")
		if err != nil {
			return r, err
		}
		r.SystemError = &s
		return r, nil
	}
	st, err := d.long()
	if err != nil {
		return r, err
	}
	if st < 0 || st > int64(Unknown) {
		return r, malformed("status %d; valid are 0 (OK), 1 (FAILED), 2 (UNKNOWN)", st)
	}
	r.Status = Status(st)
	return r, nil
}

// DecodeHandshakeRequest decodes a handshake request at the start of b and
// returns it with the number of bytes it used.
func DecodeHandshakeRequest(b []byte) (HandshakeRequest, int, error) {
	d := decoder{b: b}
	r, err := d.handshakeRequest()
	return r, d.off, err
}

// DecodeHandshakeResponse is DecodeHandshakeRequest for a response.
func DecodeHandshakeResponse(b []byte) (HandshakeResponse, int, error) {
	d := decoder{b: b}
	r, err := d.handshakeResponse()
	return r, d.off, err
}

// DecodeCall decodes a whole call (everything after the handshake). The
// events' bodies alias b.
func DecodeCall(b []byte) (Call, error) {
	d := decoder{b: b}
	return d.call()
}

// DecodeResponse decodes a whole reply after the handshake.
func DecodeResponse(b []byte) (Response, error) {
	d := decoder{b: b}
	r, err := d.response()
	if err == nil && d.remaining() != 0 {
		err = malformed("%d unexpected bytes after the response", d.remaining())
	}
	return r, err
}

// checkProtocolText accepts a client's protocol text if it is an Avro
// protocol declaring appendBatch or append; requests are then decoded with
// Flume's schema, which is the only one either message has ever had.
func checkProtocolText(text string) error {
	var p struct {
		Protocol string                     `json:"protocol"`
		Messages map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal([]byte(text), &p); err != nil {
		return fmt.Errorf("client protocol is not valid JSON: %w", err)
	}
	if p.Protocol == "" {
		return fmt.Errorf("client protocol text has no \"protocol\" name")
	}
	if p.Messages[MsgAppendBatch] == nil && p.Messages[MsgAppend] == nil {
		return fmt.Errorf("client protocol %s has neither appendBatch nor append; it is not Flume's AvroSourceProtocol", p.Protocol)
	}
	return nil
}
