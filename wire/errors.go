package wire

import (
	"errors"
	"strconv"
	"strings"
)

// The kinds of [ProtocolError]; test for them with errors.Is.
var (
	// ErrMalformedReply: a reply line that is not "NNN", "NNN-text" or
	// "NNN text" (RFC 5321 §4.2).
	ErrMalformedReply = errors.New("malformed reply line")
	// ErrBadReplyCode: a reply code that is not three digits from 200 to 599.
	ErrBadReplyCode = errors.New("bad reply code")
	// ErrMixedCodes: the lines of one multiline reply carry different codes.
	ErrMixedCodes = errors.New("reply lines carry different codes")
	// ErrLineTooLong: a line longer than the reader's limit.
	ErrLineTooLong = errors.New("line too long")
	// ErrTooManyLines: a reply with more lines than the reader's limit.
	ErrTooManyLines = errors.New("too many lines in one reply")
	// ErrReplyTooLarge: a reply with more bytes than the reader's limit.
	ErrReplyTooLarge = errors.New("reply too large")
	// ErrMalformedChunk: a BDAT chunk header that is not
	// "BDAT" SP chunk-size [SP "LAST"] CRLF (RFC 3030 §2).
	ErrMalformedChunk = errors.New("malformed BDAT chunk header")
	// ErrChunkTooLarge: a BDAT chunk larger than the reader's limit.
	ErrChunkTooLarge = errors.New("BDAT chunk too large")
)

// ErrClosed is returned by Write on a [DotWriter], [BDATWriter] or
// [CRLFWriter] after Close.
var ErrClosed = errors.New("wire: write after close")

// ProtocolError reports input from the peer that breaks the protocol or a
// limit. Err is one of the kinds above (or io.ErrUnexpectedEOF when the input
// ended inside a reply, a data stream or a chunk), so errors.Is works on it.
type ProtocolError struct {
	Err error
	// Line is the start of the offending line (at most 64 bytes), when there
	// is one; it is peer-controlled, and Error quotes it.
	Line string
	// Limit is the limit that was exceeded, for the limit kinds.
	Limit int64
}

func (e *ProtocolError) Error() string {
	var b strings.Builder
	b.WriteString("wire: ")
	b.WriteString(e.Err.Error())
	if e.Limit > 0 {
		b.WriteString(" (limit ")
		b.WriteString(strconv.FormatInt(e.Limit, 10))
		b.WriteByte(')')
	}
	if e.Line != "" {
		b.WriteString(": ")
		b.WriteString(strconv.Quote(e.Line))
	}
	return b.String()
}

func (e *ProtocolError) Unwrap() error { return e.Err }

const excerptLength = 64

// protocolError builds a *ProtocolError quoting at most excerptLength bytes of
// line, copied so that the error does not pin a reused buffer.
func protocolError(kind error, line []byte, limit int64) *ProtocolError {
	if len(line) > excerptLength {
		line = line[:excerptLength]
	}
	return &ProtocolError{Err: kind, Line: string(line), Limit: limit}
}

// LineError reports a command line that cannot be written because it holds a
// byte that would end or corrupt the line on the wire: CR, LF or NUL. Nothing
// of the line was written.
type LineError struct {
	Offset int  // where in the line
	Char   byte // the byte: '\r', '\n' or 0
}

func (e *LineError) Error() string {
	var name string
	switch e.Char {
	case '\r':
		name = "CR"
	case '\n':
		name = "LF"
	default:
		name = "NUL"
	}
	return "wire: command line contains " + name + " at offset " + strconv.Itoa(e.Offset)
}
