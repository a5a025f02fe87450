package wire

import (
	"bufio"
	"bytes"
	"io"
)

// The encoder's position in the output, which decides what the next input
// byte means.
const (
	atLineStart = iota // after CRLF (or at the start): a '.' here gets stuffed
	inLine             // inside a line
	afterCR            // a CR was written; an LF must follow, from the input or added
)

// DotWriter encodes a message for the DATA command (RFC 5321 §4.5.2): it
// doubles a '.' at the start of every line, makes every line ending CRLF, and
// on Close ends the last line and writes the end-of-data line ".\r\n".
//
// Line endings are normalised: CRLF stays, and a bare LF or a bare CR becomes
// CRLF. So the output holds no CR without LF after it and no LF without CR
// before it, every line that starts with '.' is stuffed, and the only
// "<CRLF>.<CRLF>" in it is the final one: no input, however hostile
// ("\n.\n", "\n.\r\n", "\r\n.\n", ...), ends the data early or smuggles a
// second message (the SMTP smuggling attacks of 2023).
//
// The output does not depend on how the input is split across Write calls.
// Write does not allocate. A DotWriter can be reused with Reset.
type DotWriter struct {
	bw    *bufio.Writer
	owned bool // bw was made here around a plain io.Writer: Close flushes it
	state int
	err   error
}

// NewDotWriter returns a DotWriter that writes to w. When w is a
// *bufio.Writer the encoder writes into it and leaves flushing to the caller
// (so the end of the data can share a write with what follows, RFC 2920);
// any other writer gets a buffer of its own, which Close flushes.
func NewDotWriter(w io.Writer) *DotWriter {
	d := new(DotWriter)
	d.Reset(w)
	return d
}

// Reset discards the encoder's state and makes it write to w, as
// NewDotWriter does; it reuses its own buffer when it has one.
func (d *DotWriter) Reset(w io.Writer) {
	if bw, ok := w.(*bufio.Writer); ok {
		d.bw, d.owned = bw, false
	} else if d.owned {
		d.bw.Reset(w)
	} else {
		d.bw, d.owned = bufio.NewWriterSize(w, 32<<10), true
	}
	d.state = atLineStart
	d.err = nil
}

// Write encodes p. It returns len(p) unless the underlying writer fails; an
// error is sticky.
func (d *DotWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	bw := d.bw
	state := d.state
	// Bytes of p from start to i go out unchanged; they are written as one
	// span whenever the encoder has to add something after them.
	start, i := 0, 0
	// Where the next CR and LF are, found with bytes.IndexByte (vectorised)
	// and reused until passed: the scan over p is linear however the two
	// interleave. len(p) means none.
	nextCR, nextLF := -1, -1
	for i < len(p) {
		switch state {
		case atLineStart:
			if p[i] == '.' {
				bw.Write(p[start:i])
				bw.WriteByte('.')
				start = i // the input's '.' follows the added one
			}
			state = inLine
		case afterCR:
			if p[i] == '\n' {
				i++
			} else {
				// A bare CR at the end of an earlier Write: end its line.
				bw.Write(p[start:i])
				bw.WriteByte('\n')
				start = i
			}
			state = atLineStart
		default: // inLine
			if nextCR < i {
				nextCR = indexFrom(p, i, '\r')
			}
			if nextLF < i {
				nextLF = indexFrom(p, i, '\n')
			}
			if nextLF < nextCR {
				// A bare LF: write CR LF in its place.
				bw.Write(p[start:nextLF])
				bw.WriteString("\r\n")
				i = nextLF + 1
				start = i
				state = atLineStart
			} else if nextCR < len(p) {
				i = nextCR + 1
				switch {
				case i == len(p):
					state = afterCR // the next Write decides
				case p[i] == '\n':
					i++
					state = atLineStart
				default:
					// A bare CR: add the LF it lacks.
					bw.Write(p[start:i])
					bw.WriteByte('\n')
					start = i
					state = atLineStart
				}
			} else {
				i = len(p)
			}
		}
	}
	d.state = state
	if _, err := bw.Write(p[start:]); err != nil {
		d.err = err
		return 0, err
	}
	return len(p), nil
}

// indexFrom returns the index of the first c in p at or after i, or len(p).
func indexFrom(p []byte, i int, c byte) int {
	if j := bytes.IndexByte(p[i:], c); j >= 0 {
		return i + j
	}
	return len(p)
}

// Close ends an unterminated last line with CRLF and writes the end-of-data
// line ".\r\n". It flushes only a buffer the DotWriter made itself. It does
// not close the underlying writer. Writes after Close fail with [ErrClosed].
func (d *DotWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	switch d.state {
	case inLine:
		d.bw.WriteString("\r\n")
	case afterCR:
		d.bw.WriteByte('\n')
	}
	_, err := d.bw.WriteString(".\r\n")
	if err == nil && d.owned {
		err = d.bw.Flush()
	}
	if err != nil {
		d.err = err
		return err
	}
	d.err = ErrClosed
	return nil
}
