package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"

	"github.com/smtpkit/smtpkit/response"
)

// Default limits of a [Reader]. RFC 5321 §4.5.3.1.5 allows a reply line of
// 512 octets; real servers send longer ones (long EHLO keyword lists, verbose
// rejections), so the line limit is generous and the reply limits keep the
// total small.
const (
	DefaultMaxReplyLineLength = 8192     // octets in one reply line, its line ending included
	DefaultMaxReplyLines      = 512      // lines in one reply
	DefaultMaxReplyBytes      = 64 << 10 // octets in one reply, line endings included
)

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
	long     []byte // a line longer than br's buffer, reused
}

// NewReader returns a Reader with the default limits. When r is already a
// *bufio.Reader it is used as is, so a caller that shares it with other
// readers (for example a [DotReader] on the server side) loses no bytes.
func NewReader(r io.Reader) *Reader {
	return &Reader{
		br:       bufferedReader(r),
		maxLine:  DefaultMaxReplyLineLength,
		maxLines: DefaultMaxReplyLines,
		maxBytes: DefaultMaxReplyBytes,
	}
}

// SetMaxReplyLineLength sets the longest reply line accepted, in octets with its
// line ending. Values below 6 (the shortest line, "250\r\n", plus one) are
// raised to 6.
func (r *Reader) SetMaxReplyLineLength(n int) { r.maxLine = max(n, 6) }

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
// A reply costs one allocation: its text.
func (r *Reader) ReadReply() (response.Reply, error) {
	if r.br.Buffered() == 0 {
		// One read: what the server has sent so far.
		if _, err := r.br.Peek(1); err != nil {
			return response.Reply{}, r.readError(err, nil, true)
		}
	}
	if reply, ok, err := r.readBuffered(true); ok || err != nil {
		return reply, err
	}
	return r.readReply()
}

// ReadBufferedReply reads a reply only if it has arrived whole: it returns
// ok false, having consumed nothing, when the read buffer holds no complete
// reply (or one too large for the fast path), and never reads from the
// underlying stream. A pipelining client uses it to take replies that came
// together without arming a read deadline for each.
func (r *Reader) ReadBufferedReply() (reply response.Reply, ok bool, err error) {
	if r.br.Buffered() == 0 {
		return response.Reply{}, false, nil
	}
	return r.readBuffered(false)
}

// readBuffered is ReadReply's fast path, for a reply that fits in the read
// buffer (nearly every reply): it parses the lines in place, waiting (when
// wait is set) for the rest of a reply that is still arriving, and copies
// the text out once. A reply that needs more room or lines than it has (a
// long line, a large reply), or one still arriving when wait is not set, it
// leaves untouched (ok false). Its errors are the ones readReply would
// return.
func (r *Reader) readBuffered(wait bool) (reply response.Reply, ok bool, err error) {
	buf, _ := r.br.Peek(r.br.Buffered())
	buf = buf[:min(len(buf), r.maxBytes)]
	maxLine := r.maxLine
	text := r.text[:0] // the lines' text, joined with LF
	firstLen := 0
	n := 0
	code := -1
	var first [3]byte // the first line's code, which every line must repeat
	for pos := 0; ; {
		k := bytes.IndexByte(buf[pos:], '\n')
		if k < 0 {
			if wait && len(buf) < r.maxBytes && len(buf)-pos < maxLine && len(buf) < r.br.Size() {
				// The reply is still arriving and fits in the buffer: wait
				// for more of it here rather than start over line by line.
				// pos stays valid: it counts from the read position, which
				// Peek does not move.
				if buf, err = r.peekMore(); err != nil {
					return response.Reply{}, false, err
				}
				continue
			}
			return response.Reply{}, false, nil
		}
		if k >= maxLine || n >= r.maxLines {
			return response.Reply{}, false, nil
		}
		body := trimEOL(buf[pos : pos+k+1])
		// The common shapes are checked inline; anything else goes through
		// parseLine, which has the whole grammar and builds the errors.
		more := false
		if len(body) >= 3 && (len(body) == 3 || body[3] == ' ' || body[3] == '-') &&
			(n > 0 && [3]byte(body) == first || n == 0 && validCode(body)) {
			more = len(body) > 3 && body[3] == '-'
		} else if _, more, err = parseLine(body, code); err != nil {
			return response.Reply{}, false, err
		}
		if n == 0 {
			code = codeValue(body)
			if !more { // a one-line reply, the most common kind
				r.br.Discard(pos + k + 1)
				return makeReply(code, string(body[min(4, len(body)):]), -1), true, nil
			}
			first = [3]byte(body)
			text = append(text, body[min(4, len(body)):]...)
			firstLen = len(text)
		} else {
			text = append(text, '\n')
			text = append(text, body[min(4, len(body)):]...)
		}
		n++
		pos += k + 1
		if !more {
			r.text = text
			r.br.Discard(pos)
			return makeReply(code, string(text), firstLen), true, nil
		}
	}
}

// validCode reports whether line, at least three octets long, starts with a
// reply code: three digits, the first from 2 to 5 (RFC 5321 §4.2).
func validCode(line []byte) bool {
	return line[0]-'2' <= 3 && line[1]-'0' <= 9 && line[2]-'0' <= 9
}

// peekMore blocks until at least one more byte than is buffered has arrived
// and returns everything buffered, up to the reply size limit. The end of the
// stream there is the end of the stream inside a reply.
func (r *Reader) peekMore() ([]byte, error) {
	partial := r.br.Buffered()
	if _, err := r.br.Peek(partial + 1); err != nil {
		if err == io.EOF {
			buf, _ := r.br.Peek(partial)
			return nil, protocolError(io.ErrUnexpectedEOF, buf[bytes.LastIndexByte(buf, '\n')+1:], 0)
		}
		return nil, err
	}
	buf, _ := r.br.Peek(r.br.Buffered())
	return buf[:min(len(buf), r.maxBytes)], nil
}

// readReply reads a reply line by line, copying each line's text out of the
// read buffer, so that it works for a reply of any size the limits allow.
func (r *Reader) readReply() (response.Reply, error) {
	r.text = r.text[:0]
	code := -1
	lines, total := 0, 0
	for {
		line, err := r.readLine(lines == 0)
		if err != nil {
			return response.Reply{}, err
		}
		total += len(line)
		if total > r.maxBytes {
			return response.Reply{}, protocolError(ErrReplyTooLarge, nil, int64(r.maxBytes))
		}
		if lines == r.maxLines {
			return response.Reply{}, protocolError(ErrTooManyLines, line, int64(r.maxLines))
		}
		body := trimEOL(line)
		var more bool
		code, more, err = parseLine(body, code)
		if err != nil {
			return response.Reply{}, err
		}
		if lines > 0 {
			r.text = append(r.text, '\n')
		}
		r.text = append(r.text, body[min(4, len(body)):]...)
		lines++
		if !more {
			return makeReply(code, string(r.text), bytes.IndexByte(r.text, '\n')), nil
		}
	}
}

// parseLine checks one reply line (without its line ending): its code, which
// must equal code unless code is -1 (the first line), and the separator
// after it. more says whether the reply goes on.
func parseLine(body []byte, code int) (lineCode int, more bool, err error) {
	lineCode, err = parseCode(body)
	if err != nil {
		return 0, false, err
	}
	if code >= 0 && lineCode != code {
		return 0, false, protocolError(ErrMixedCodes, body, 0)
	}
	if len(body) > 3 {
		switch body[3] {
		case '-':
			more = true
		case ' ':
		default:
			return 0, false, protocolError(ErrMalformedReply, body, 0)
		}
	}
	return lineCode, more, nil
}

// makeReply returns the Reply with the given code and text, its enhanced
// code parsed from the first line, which is firstLen octets long (or the
// whole text when firstLen is negative).
func makeReply(code int, text string, firstLen int) response.Reply {
	first := text
	if firstLen >= 0 {
		first = text[:firstLen]
	}
	return response.Reply{
		Code:     response.Code(code),
		Enhanced: response.EnhancedCodeOf(response.Code(code), first),
		Text:     text,
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
	if !validCode(line) {
		return 0, protocolError(ErrBadReplyCode, line, 0)
	}
	return codeValue(line), nil
}

// codeValue is the value of the three digits validCode accepted.
func codeValue(line []byte) int {
	return int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
}
