// Package avroipc speaks Apache Flume's Avro RPC exactly as Flume 1.9–1.11
// puts it on the wire (flume-facts §1): Netty framing, the Avro IPC
// handshake, the AvroSourceProtocol messages append and appendBatch, zlib
// compression and TLS. The server side is what the avro source runs; the
// client side is what the avro sink and `sluice avro-client` use.
//
// The codec is written by hand for Flume's one fixed protocol rather than
// driven by a generic Avro library: the schema never changes, and decoding
// straight into engine events with bounded allocation is both faster and
// safer against hostile input. README.md in this directory records which
// Flume behaviours are matched and where Sluice deliberately differs.
package avroipc

import (
	"crypto/md5"
	"fmt"
)

// ProtocolJSON is Flume's AvroSourceProtocol exactly as Java Avro prints it
// (Protocol.toString(), license doc comment included). Its MD5 is what Java
// peers send and expect in the handshake; a byte of difference turns every
// first call into a NONE/CLIENT round trip, so the text must not be
// re-serialised or reformatted.
const ProtocolJSON = `{"protocol":"AvroSourceProtocol","namespace":"org.apache.flume.source.avro","doc":"* Licensed to the Apache Software Foundation (ASF) under one\n * or more contributor license agreements.  See the NOTICE file\n * distributed with this work for additional information\n * regarding copyright ownership.  The ASF licenses this file\n * to you under the Apache License, Version 2.0 (the\n * \"License\"); you may not use this file except in compliance\n * with the License.  You may obtain a copy of the License at\n *\n * http://www.apache.org/licenses/LICENSE-2.0\n *\n * Unless required by applicable law or agreed to in writing,\n * software distributed under the License is distributed on an\n * \"AS IS\" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY\n * KIND, either express or implied.  See the License for the\n * specific language governing permissions and limitations\n * under the License.","types":[{"type":"enum","name":"Status","symbols":["OK","FAILED","UNKNOWN"]},{"type":"record","name":"AvroFlumeEvent","fields":[{"name":"headers","type":{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}],"messages":{"append":{"request":[{"name":"event","type":"AvroFlumeEvent"}],"response":"Status"},"appendBatch":{"request":[{"name":"events","type":{"type":"array","items":"AvroFlumeEvent"}}],"response":"Status"}}}`

// ProtocolHash is MD5(ProtocolJSON): 86aadae2c45474c0fe93ffd0f2350a65.
var ProtocolHash = md5.Sum([]byte(ProtocolJSON))

// Status is Flume's Status enum, the reply to append and appendBatch.
type Status int32

const (
	OK      Status = 0
	Failed  Status = 1
	Unknown Status = 2
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Failed:
		return "FAILED"
	case Unknown:
		return "UNKNOWN"
	}
	return fmt.Sprintf("Status(%d)", int32(s))
}

// Match is the handshake outcome (HandshakeMatch).
type Match int32

const (
	MatchBoth   Match = 0 // both sides know each other's protocol
	MatchClient Match = 1 // the server knows the client's protocol, not vice versa
	MatchNone   Match = 2 // the server needs the client's protocol text
)

func (m Match) String() string {
	switch m {
	case MatchBoth:
		return "BOTH"
	case MatchClient:
		return "CLIENT"
	case MatchNone:
		return "NONE"
	}
	return fmt.Sprintf("Match(%d)", int32(m))
}

// Message names of AvroSourceProtocol.
const (
	MsgAppend      = "append"
	MsgAppendBatch = "appendBatch"
)
