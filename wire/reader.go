package wire

import (
	"bufio"
	"errors"
	"io"

	"github.com/smtpkit/smtpkit/response"
)

// Default limits of a [Reader]. RFC 5321 §4.5.3.1.5 allows a reply line of
// 512 octets; real servers send longer ones (long EHLO keyword lists, verbose
// rejections), so the line limit is generous and the reply limits keep the
// total small.
const (
	DefaultMaxLineLength = 8192     // octets in one reply line, its line ending included
	DefaultMaxReplyLines = 512      // lines in one reply
	DefaultMaxReplyBytes = 64 << 10 // octets in one reply, line endings included
)

const readBufferSize = 4096

// Reader reads SMTP replies (RFC 5321 §4.2) from a stream:
//
//	250-mx.example.org
//	250-PIPELINING
//	250 SIZE 10240000
//
// A reply is one or more lines; every line but the last has "-" after the
// code, the last has a space or nothing, and every line carries the same
// code. Lines end with CRLF; a bare LF is accepted too, since some servers
// and proxies send it and nothing in a reply can be smuggled through it. A CR
// that does not precede the LF is kept as text.
//
// A Reader buffers what it reads; after a reply, [Reader.Buffered] says how
// many bytes the peer sent beyond it (which, after a STARTTLS reply, is an
// attack, RFC 3207 §5).
type Reader struct {
	br       *bufio.Reader
	maxLine  int
	maxLines int
	maxBytes int
	text     []byte // the current reply's text, reused
	ends     []int  // where each line's text ends in text, reused
	long     []byte // a line longer than br's buffer, reused
}

// NewReader returns a Reader with the default limits. When r is already a
// *bufio.Reader it is used as is, so a caller that shares it with other
// readers (for example a [DotReader] on the server side) loses no bytes.
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, readBufferSize)
	}
	return &Reader{
		br:       br,
		maxLine:  DefaultMaxLineLength,
		maxLines: DefaultMaxReplyLines,
		maxBytes: DefaultMaxReplyBytes,
	}
}

// SetMaxLineLength sets the longest reply line accepted, in octets with its
// line ending. Values below 6 (the shortest line, "250\r\n", plus one) are
// raised to 6.
func (r *Reader) SetMaxLineLength(n int) { r.maxLine = max(n, 6) }

// SetMaxReplyLines sets how many lines one reply may have (at least 1).
func (r *Reader) SetMaxReplyLines(n int) { r.maxLines = max(n, 1) }

// SetMaxReplyBytes sets how many octets one reply may have, line endings
// included (at least 6).
func (r *Reader) SetMaxReplyBytes(n int) { r.maxBytes = max(n, 6) }

// Buffered returns how many bytes have been read from the stream but not yet
// consumed.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// ReadReply reads one complete reply.
//
// It returns io.EOF when the stream ends before the reply's first byte, and a
// [*ProtocolError] when the reply is malformed or breaks a limit; a stream
// that ends inside the reply is a ProtocolError wrapping
// io.ErrUnexpectedEOF. Read errors of the underlying stream (a deadline, a
// reset) are returned as they are. After an error the stream position is
// undefined: the caller should close the connection.
//
// The returned Reply's lines share one string allocation.
func (r *Reader) ReadReply() (response.Reply, error) {
	r.text = r.text[:0]
	r.ends = r.ends[:0]
	var code int
	total := 0
	for {
		line, err := r.readLine(len(r.ends) == 0)
		if err != nil {
			return response.Reply{}, err
		}
		total += len(line)
		if total > r.maxBytes {
			return response.Reply{}, protocolError(ErrReplyTooLarge, nil, int64(r.maxBytes))
		}
		if len(r.ends) == r.maxLines {
			return response.Reply{}, protocolError(ErrTooManyLines, line, int64(r.maxLines))
		}
		body := trimEOL(line)
		lineCode, err := parseCode(body)
		if err != nil {
			return response.Reply{}, err
		}
		if len(r.ends) == 0 {
			code = lineCode
		} else if lineCode != code {
			return response.Reply{}, protocolError(ErrMixedCodes, body, 0)
		}
		more := false
		if len(body) > 3 {
			switch body[3] {
			case '-':
				more = true
			case ' ':
			default:
				return response.Reply{}, protocolError(ErrMalformedReply, body, 0)
			}
			r.text = append(r.text, body[4:]...)
		}
		r.ends = append(r.ends, len(r.text))
		if !more {
			break
		}
	}
	return r.build(response.Code(code)), nil
}

// build makes the Reply out of r.text and r.ends with two allocations: the
// text and the slice of lines.
func (r *Reader) build(code response.Code) response.Reply {
	all := string(r.text)
	lines := make([]string, len(r.ends))
	start := 0
	for i, end := range r.ends {
		lines[i] = all[start:end]
		start = end
	}
	return response.Reply{
		Code:     code,
		Enhanced: response.EnhancedCodeOf(response.Code(code), lines[0]),
		Lines:    lines,
	}
}

// readLine returns the next line with its line ending, at most r.maxLine
// octets. The slice is valid until the next read. first says whether the line
// would start a reply, where a clean end of stream is io.EOF.
func (r *Reader) readLine(first bool) ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == nil {
		if len(line) > r.maxLine {
			return nil, protocolError(ErrLineTooLong, line, int64(r.maxLine))
		}
		return line, nil
	}
	if errors.Is(err, bufio.ErrBufferFull) {
		return r.readLongLine(line)
	}
	return nil, r.readError(err, line, first)
}

// readLongLine collects a line that does not fit in the bufio buffer, never
// holding more than the limit.
func (r *Reader) readLongLine(part []byte) ([]byte, error) {
	r.long = r.long[:0]
	for {
		if len(r.long)+len(part) > r.maxLine {
			if len(r.long) > 0 {
				part = r.long
			}
			return nil, protocolError(ErrLineTooLong, part, int64(r.maxLine))
		}
		r.long = append(r.long, part...)
		var err error
		part, err = r.br.ReadSlice('\n')
		if err == nil {
			if len(r.long)+len(part) > r.maxLine {
				return nil, protocolError(ErrLineTooLong, r.long, int64(r.maxLine))
			}
			r.long = append(r.long, part...)
			return r.long, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, r.readError(err, r.long, false)
		}
	}
}

func (r *Reader) readError(err error, partial []byte, first bool) error {
	if err != io.EOF {
		return err
	}
	if first && len(partial) == 0 {
		return io.EOF
	}
	return protocolError(io.ErrUnexpectedEOF, partial, 0)
}

// trimEOL removes the LF that ends line and one CR before it.
func trimEOL(line []byte) []byte {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// parseCode reads the three-digit code at the start of a reply line.
// RFC 5321 §4.2 allows first digits 2 to 5 only; 1yz and 6yz and beyond are
// not SMTP replies.
func parseCode(line []byte) (int, error) {
	if len(line) < 3 {
		return 0, protocolError(ErrMalformedReply, line, 0)
	}
	d0, d1, d2 := line[0]-'0', line[1]-'0', line[2]-'0'
	if d0 > 9 || d1 > 9 || d2 > 9 {
		return 0, protocolError(ErrBadReplyCode, line, 0)
	}
	if d0 < 2 || d0 > 5 {
		return 0, protocolError(ErrBadReplyCode, line, 0)
	}
	return int(d0)*100 + int(d1)*10 + int(d2), nil
}
