package wire

import (
	"bufio"
	"bytes"
	"io"
)

// DefaultMaxDataLineLength is a [DotReader]'s default limit on one line of
// message data, CRLF included. RFC 5321 §4.5.3.1.6 sets 1000 octets, which
// real clients exceed; servers differ in what they do about it, and this
// default only keeps a runaway stream bounded.
const DefaultMaxDataLineLength = 64 << 10

// DotReader decodes message data as a server receives it after DATA
// (RFC 5321 §4.5.2): it removes the '.' that the client doubled at the start
// of a line, and returns io.EOF at the end-of-data line "." (the sequence
// <CRLF>.<CRLF>), leaving the stream positioned just after it.
//
// Only CRLF ends a line. A bare LF or CR is data, passed through as received:
// a '.' after it is not at the start of a line, and "\n.\n" or "\r\n.\n" is
// not the end of the data. That is the reading of RFC 5321 that makes SMTP
// smuggling impossible; the bytes stay visible to the caller, who may reject
// them.
//
// A stream that ends before the end-of-data line is a [*ProtocolError]
// wrapping io.ErrUnexpectedEOF; a line longer than the limit is one wrapping
// [ErrLineTooLong].
type DotReader struct {
	br      *bufio.Reader
	maxLine int
	state   int // atLineStart, inLine, or afterCR (the last byte was a CR)
	lineLen int
	done    bool
	err     error
}

// NewDotReader returns a DotReader on r. Give it the *bufio.Reader the
// session reads commands from: a DotReader reads ahead, and the bytes after
// the end of the data stay in that buffer, for the next command.
func NewDotReader(r io.Reader) *DotReader {
	d := &DotReader{maxLine: DefaultMaxDataLineLength}
	d.Reset(r)
	return d
}

// Reset makes the DotReader read a new message from r, as NewDotReader does,
// keeping its line limit: a server reuses one for every message of a
// connection.
func (d *DotReader) Reset(r io.Reader) {
	*d = DotReader{br: bufferedReader(r), maxLine: d.maxLine}
}

// bufferedReader returns r when it is a *bufio.Reader, so that what a
// decoder reads ahead stays available to the caller, and a new one on r
// otherwise.
func bufferedReader(r io.Reader) *bufio.Reader {
	if br, ok := r.(*bufio.Reader); ok {
		return br
	}
	return bufio.NewReader(r)
}

// SetMaxDataLineLength sets the longest data line accepted, CRLF included
// (at least 3: ".\r\n").
func (d *DotReader) SetMaxDataLineLength(n int) { d.maxLine = max(n, 3) }

// Read reads decoded message data. Line endings come out as they went in.
func (d *DotReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && d.err == nil {
		if d.state == atLineStart {
			d.startLine()
			continue
		}
		buf, err := d.peek()
		if err != nil {
			d.err = err
			break
		}
		chunk := buf[:min(len(buf), len(p)-n)]
		if k := bytes.IndexByte(chunk, '\n'); k >= 0 {
			chunk = chunk[:k+1]
		}
		if d.lineLen+len(chunk) > d.maxLine {
			d.err = protocolError(ErrLineTooLong, chunk, int64(d.maxLine))
			break
		}
		copy(p[n:], chunk)
		n += len(chunk)
		d.br.Discard(len(chunk))
		if d.endsLine(chunk) {
			d.state, d.lineLen = atLineStart, 0
		} else {
			d.lineLen += len(chunk)
			if chunk[len(chunk)-1] == '\r' {
				d.state = afterCR
			} else {
				d.state = inLine
			}
		}
	}
	if n > 0 && d.err != nil && !d.done {
		return n, nil // report the error on the next call, after the data
	}
	return n, d.err
}

// endsLine reports whether chunk, which follows the current line's earlier
// bytes, ends the line with CRLF.
func (d *DotReader) endsLine(chunk []byte) bool {
	k := len(chunk) - 1
	if chunk[k] != '\n' {
		return false
	}
	if k > 0 {
		return chunk[k-1] == '\r'
	}
	return d.state == afterCR
}

// startLine handles the first bytes of a line: the end-of-data line ".\r\n",
// and a stuffed '.', which it drops.
func (d *DotReader) startLine() {
	b, err := d.br.Peek(1)
	if err != nil {
		d.err = d.eofError(err)
		return
	}
	d.state = inLine
	if b[0] != '.' {
		return
	}
	b, err = d.br.Peek(3)
	if len(b) == 3 && b[1] == '\r' && b[2] == '\n' {
		d.br.Discard(3)
		d.done, d.err = true, io.EOF
		return
	}
	if len(b) < 3 && err != nil {
		d.err = d.eofError(err)
		return
	}
	// RFC 5321 §4.5.2: a line that starts with '.' and is not "." lost its
	// first '.'. It counts towards the line's length as sent.
	d.br.Discard(1)
	d.lineLen = 1
}

// peek returns what is buffered, reading more when nothing is.
func (d *DotReader) peek() ([]byte, error) {
	if d.br.Buffered() == 0 {
		if _, err := d.br.Peek(1); err != nil {
			return nil, d.eofError(err)
		}
	}
	return d.br.Peek(d.br.Buffered())
}

func (d *DotReader) eofError(err error) error {
	if err == io.EOF {
		return protocolError(io.ErrUnexpectedEOF, nil, 0)
	}
	return err
}
