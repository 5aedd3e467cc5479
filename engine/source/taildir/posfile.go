package taildir

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice/engine/vfs"
)

// position is what the source remembers about one file across restarts.
//
// Flume's position file holds only inode, pos and path, and Flume's reader
// rejects any other key, so the rest (device, content fingerprint, long
// line state) lives in a sidecar file beside it that Flume never reads.
type position struct {
	Dev    uint64
	HasDev bool
	Inode  uint64
	Pos    int64
	File   string
	// FPLen bytes at the start of the file hash to FP; HasFP is false for
	// entries known only from a Flume-written position file.
	FP    uint64
	FPLen int64
	HasFP bool
	Line  lineState
	// CtxLen bytes ending at CtxEnd hash to Ctx (see tailFile).
	Ctx    uint64
	CtxEnd int64
	CtxLen int64
}

// maxStateFile bounds how much of a position or sidecar file is read: a
// million tracked files fit many times over.
const maxStateFile = 256 << 20

// sidecarSuffix names the sidecar: <positionFile>.sluice.
const sidecarSuffix = ".sluice"

// encodeFlume renders positions exactly as Flume's TaildirSource does with
// Gson: a compact array of {"inode":…,"pos":…,"file":…} in that key order,
// inode as Java's signed long, and Gson's HTML-safe string escaping.
func encodeFlume(ps []position) []byte {
	b := make([]byte, 0, 64*len(ps)+2)
	b = append(b, '[')
	for i, p := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"inode":`...)
		b = strconv.AppendInt(b, int64(p.Inode), 10)
		b = append(b, `,"pos":`...)
		b = strconv.AppendInt(b, p.Pos, 10)
		b = append(b, `,"file":`...)
		b = appendGsonString(b, p.File)
		b = append(b, '}')
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendGsonString quotes s as Gson's JsonWriter does with HTML escaping on
// (Gson's default): control characters, quote and backslash escaped, the
// HTML-significant < > & = ' as \u003c etc., and U+2028/U+2029 escaped.
// Bytes that are not UTF-8 become U+FFFD, as Java's decoding of a file name
// would make them.
func appendGsonString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b = append(b, `\"`...)
			case '\\':
				b = append(b, `\\`...)
			case '\t':
				b = append(b, `\t`...)
			case '\b':
				b = append(b, `\b`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\f':
				b = append(b, `\f`...)
			case '<', '>', '&', '=', '\'':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				if c < 0x20 {
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				} else {
					b = append(b, c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\u2028':
			b = append(b, `\u2028`...)
		case r == '\u2029':
			b = append(b, `\u2029`...)
		case r == utf8.RuneError && size == 1:
			b = append(b, "\uFFFD"...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// decodeFlume parses a Flume position file. It accepts what Gson's reader
// accepts from Flume's loop: keys in any order, numbers possibly quoted.
// Unlike Flume it skips unknown keys instead of failing. On a syntax error
// or an entry missing a key it returns the entries read so far and an error
// saying where the file went wrong.
func decodeFlume(data []byte) ([]position, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []position
	fail := func(format string, args ...any) ([]position, error) {
		return out, fmt.Errorf("at byte %d: %s", dec.InputOffset(), fmt.Sprintf(format, args...))
	}
	if err := expectDelim(dec, '['); err != nil {
		return fail("%v; a position file is a JSON array like [{\"inode\":1,\"pos\":0,\"file\":\"/var/log/a.log\"}]", err)
	}
	for i := 0; dec.More(); i++ {
		if err := expectDelim(dec, '{'); err != nil {
			return fail("entry %d: %v", i, err)
		}
		var p position
		var have [3]bool
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fail("entry %d: %v", i, err)
			}
			key, _ := tok.(string)
			switch key {
			case "inode":
				n, err := jsonInt(dec)
				if err != nil {
					return fail("entry %d: inode: %v", i, err)
				}
				p.Inode, have[0] = uint64(n), true
			case "pos":
				n, err := jsonInt(dec)
				if err != nil {
					return fail("entry %d: pos: %v", i, err)
				}
				if n < 0 {
					return fail("entry %d: pos %d is negative", i, n)
				}
				p.Pos, have[1] = n, true
			case "file":
				tok, err := dec.Token()
				if err != nil {
					return fail("entry %d: file: %v", i, err)
				}
				s, ok := tok.(string)
				if !ok {
					return fail("entry %d: file is %v, not a string", i, tok)
				}
				p.File, have[2] = s, true
			default:
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return fail("entry %d: %v", i, err)
				}
			}
		}
		if err := expectDelim(dec, '}'); err != nil {
			return fail("entry %d: %v", i, err)
		}
		if !have[0] || !have[1] || !have[2] {
			return fail("entry %d lacks one of inode, pos, file (Flume refuses to start on such a file)", i)
		}
		out = append(out, p)
	}
	if err := expectDelim(dec, ']'); err != nil {
		return fail("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail("unexpected data after the array")
	}
	return out, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("unexpected end of file, expected %q", d)
		}
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("found %v, expected %q", tok, d)
	}
	return nil
}

func jsonInt(dec *json.Decoder) (int64, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, err
	}
	var s string
	switch v := tok.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return 0, fmt.Errorf("%v is not a number", tok)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a 64-bit integer", s)
	}
	return n, nil
}

// sidecar is Sluice's own record of positions, written just before the
// Flume file. Flume is the checksum of the Flume file written with it and
// Prev that of the Flume file it replaced, so a reader can tell the three
// cases apart: both written (they agree), a crash between the two writes
// (the Flume file is still Prev: the sidecar is newer and complete), and a
// Flume file rewritten since by Flume itself (neither: trust the Flume file).
type sidecar struct {
	Version int         `json:"version"`
	Flume   string      `json:"flume"`
	Prev    string      `json:"prev"`
	Files   []sideEntry `json:"files"`
}

type sideEntry struct {
	Dev   uint64     `json:"dev"`
	Inode uint64     `json:"inode"`
	Pos   int64      `json:"pos"`
	File  string     `json:"file"`
	FPLen int64      `json:"fpLen"`
	FP    string     `json:"fp"`
	Line  *lineState `json:"line,omitempty"`
	// The bytes before a recent position, to recognise a copy of the file
	// (copytruncate) that holds what was not read yet.
	CtxEnd int64  `json:"ctxEnd,omitempty"`
	CtxLen int64  `json:"ctxLen,omitempty"`
	Ctx    string `json:"ctx,omitempty"`
}

func checksum(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func fpString(fp uint64) string { return strconv.FormatUint(fp, 16) }

func encodeSidecar(ps []position, flume []byte, prev string) ([]byte, error) {
	sc := sidecar{Version: 1, Flume: checksum(flume), Prev: prev, Files: make([]sideEntry, 0, len(ps))}
	for _, p := range ps {
		e := sideEntry{Dev: p.Dev, Inode: p.Inode, Pos: p.Pos, File: p.File, FPLen: p.FPLen, FP: fpString(p.FP)}
		if p.CtxLen > 0 {
			e.CtxEnd, e.CtxLen, e.Ctx = p.CtxEnd, p.CtxLen, fpString(p.Ctx)
		}
		if p.Line != (lineState{}) {
			l := p.Line
			e.Line = &l
		}
		sc.Files = append(sc.Files, e)
	}
	return json.Marshal(sc)
}

func decodeSidecar(data []byte) (*sidecar, error) {
	var sc sidecar
	if err := json.Unmarshal(data, &sc); err != nil {
		return nil, err
	}
	if sc.Version != 1 {
		return nil, fmt.Errorf("version %d is not one this Sluice understands (1)", sc.Version)
	}
	return &sc, nil
}

func (e sideEntry) position() (position, error) {
	fp, err := strconv.ParseUint(e.FP, 16, 64)
	if err != nil {
		return position{}, fmt.Errorf("fingerprint %q: %w", e.FP, err)
	}
	p := position{Dev: e.Dev, HasDev: true, Inode: e.Inode, Pos: e.Pos, File: e.File, FP: fp, FPLen: e.FPLen, HasFP: true}
	if e.Line != nil {
		p.Line = *e.Line
	}
	if e.CtxLen > 0 {
		ctx, err := strconv.ParseUint(e.Ctx, 16, 64)
		if err != nil || e.CtxLen > contextSize || e.CtxEnd < e.CtxLen {
			return position{}, fmt.Errorf("entry for %s has a bad context (%q, %d bytes at %d)", e.File, e.Ctx, e.CtxLen, e.CtxEnd)
		}
		p.Ctx, p.CtxEnd, p.CtxLen = ctx, e.CtxEnd, e.CtxLen
	}
	if p.Pos < 0 || p.FPLen < 0 || p.FPLen > fingerprintSize {
		return position{}, fmt.Errorf("entry for %s has pos %d and fpLen %d", e.File, p.Pos, p.FPLen)
	}
	return p, nil
}

// loaded is the outcome of reading the position state.
type loaded struct {
	Positions []position
	// Unreliable is true when the Flume file exists but could not be read
	// whole: files it may have listed are not skipped to their end.
	Unreliable bool
	// Sum is the checksum of the Flume file as found ("" when missing).
	Sum string
	// Notes are things worth logging about how the state was read.
	Notes []string
}

// loadPositions reads the Flume position file and Sluice's sidecar and
// decides what to trust (see sidecar). A missing Flume file means a fresh
// start, as in Flume. Only a file too large to be a position file is an
// error; damage is reported in Notes and never makes the source skip data.
func loadPositions(fsys vfs.FS, name string) (loaded, error) {
	var out loaded
	flume, err := readBounded(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := fsys.Stat(name + sidecarSuffix); serr == nil {
			out.Notes = append(out.Notes, fmt.Sprintf("position file %s is missing but its sidecar %s exists; starting afresh as Flume would (the sidecar is ignored)", name, name+sidecarSuffix))
		}
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("position file %s: %w", name, err)
	}
	out.Sum = checksum(flume)
	ps, perr := decodeFlume(flume)

	var sc *sidecar
	if data, err := readBounded(fsys, name+sidecarSuffix); err == nil {
		if sc, err = decodeSidecar(data); err != nil {
			out.Notes = append(out.Notes, fmt.Sprintf("ignoring damaged sidecar %s: %v", name+sidecarSuffix, err))
			sc = nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		out.Notes = append(out.Notes, fmt.Sprintf("ignoring unreadable sidecar %s: %v", name+sidecarSuffix, err))
	}
	var side []position
	if sc != nil {
		for _, e := range sc.Files {
			p, err := e.position()
			if err != nil {
				out.Notes = append(out.Notes, fmt.Sprintf("sidecar %s: skipping an entry: %v", name+sidecarSuffix, err))
				continue
			}
			side = append(side, p)
		}
		switch out.Sum {
		case sc.Flume:
			out.Positions = side
			return out, nil
		case sc.Prev:
			out.Notes = append(out.Notes, fmt.Sprintf("position file %s is one write behind its sidecar (stopped between the two writes); using the sidecar", name))
			out.Positions = side
			return out, nil
		}
	}
	if perr != nil {
		out.Unreliable = true
		out.Notes = append(out.Notes, fmt.Sprintf("position file %s is damaged (%v); using the %d entries before the damage, and files without a position are read from their start even with skipToEnd", name, perr, len(ps)))
	}
	if sc == nil {
		out.Positions = ps
		return out, nil
	}
	out.Notes = append(out.Notes, fmt.Sprintf("position file %s was rewritten by another program (Flume?) since Sluice wrote it; using its positions", name))
	// Flume carried on from Sluice's positions. Where it carried on in the
	// same file (same inode and name, not behind Sluice's position), the
	// sidecar's fingerprint still tells that file apart from a reused inode.
	// The bytes before Sluice's position describe a content Flume may have
	// seen truncated since, so they are not used to find copies.
	for i := range ps {
		for _, s := range side {
			if s.Inode == ps[i].Inode && s.File == ps[i].File && s.Pos <= ps[i].Pos {
				ps[i].Dev, ps[i].HasDev = s.Dev, true
				ps[i].FP, ps[i].FPLen, ps[i].HasFP = s.FP, s.FPLen, true
				if s.Pos == ps[i].Pos {
					ps[i].Line = s.Line
				}
				break
			}
		}
	}
	out.Positions = ps
	return out, nil
}

func readBounded(fsys vfs.FS, name string) ([]byte, error) {
	f, err := vfs.Open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStateFile {
		return nil, fmt.Errorf("larger than %d MiB; this is not a position file", maxStateFile>>20)
	}
	return data, nil
}

// savePositions writes the sidecar and then the Flume file, each
// atomically (temp file, fsync, rename, fsync of the directory). prev is
// the checksum of the Flume file being replaced; the new one's is returned.
func savePositions(fsys vfs.FS, name string, ps []position, prev string) (string, error) {
	flume := encodeFlume(ps)
	side, err := encodeSidecar(ps, flume, prev)
	if err != nil {
		return prev, fmt.Errorf("encode sidecar: %w", err)
	}
	if err := vfs.WriteFileAtomic(fsys, name+sidecarSuffix, side, 0o644); err != nil {
		return prev, err
	}
	if err := vfs.WriteFileAtomic(fsys, name, flume, 0o644); err != nil {
		// The Flume file may or may not have been replaced.
		return "", err
	}
	return checksum(flume), nil
}
