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
// Lines longer than [MaxMessageLineLength] go out as they are unless
// [DotWriter.SetLongLines] says otherwise. The output does not depend on how
// the input is split across Write calls. Write does not allocate. A
// DotWriter can be reused with Reset.
type DotWriter struct {
	bw    bufferedWriter
	own   *bufio.Writer // the buffer made for a plain io.Writer, flushed by Close
	state int
	err   error

	// The line-length policy (see SetLongLines).
	limit int   // the longest line let through unchanged
	fold  bool  // a longer line is folded, not refused
	col   int   // octets of the current line in earlier Writes, its stuffed '.' not counted
	lines int64 // lines ended so far
	folds int64
}

// bufferedWriter is a writer the encoders can hand small pieces to without a
// buffer of their own: [*Writer], *bufio.Writer, *bytes.Buffer.
type bufferedWriter interface {
	io.Writer
	io.ByteWriter
	io.StringWriter
}

// NewDotWriter returns a DotWriter that writes to w. A buffered writer
// ([*Writer], *bufio.Writer, *bytes.Buffer) is written into directly and
// flushing is left to the caller, so that the end of the data can share a
// write with the command that follows it (RFC 2920); any other writer gets a
// buffer of its own, which Close flushes.
func NewDotWriter(w io.Writer) *DotWriter {
	d := new(DotWriter)
	d.SetLongLines(LongLinesSend)
	d.Reset(w)
	return d
}

// Reset discards the encoder's state and makes it write to w, as
// NewDotWriter does; it reuses its own buffer when it has one, and keeps
// the policy SetLongLines set.
func (d *DotWriter) Reset(w io.Writer) {
	d.bw, d.own = ownBuffer(w, d.own)
	d.state = atLineStart
	d.err = nil
	d.col, d.lines, d.folds = 0, 0, 0
}

// SetLongLines sets what Write does with a line longer than
// [MaxMessageLineLength]: send it ([LongLinesSend], the default of a new
// DotWriter), fail with a *[LineTooLongError] before any of it is written
// ([LongLinesRefuse]), or fold it ([LongLinesFold]). Call it before the
// first Write of a message.
func (d *DotWriter) SetLongLines(policy LongLines) {
	d.limit, d.fold = policy.limit()
}

// Folded returns the number of line breaks [LongLinesFold] has added since
// Reset.
func (d *DotWriter) Folded() int64 { return d.folds }

// ownBuffer returns w when it buffers by itself, and otherwise a bufio.Writer
// on w, reusing own when there is one.
func ownBuffer(w io.Writer, own *bufio.Writer) (bufferedWriter, *bufio.Writer) {
	if bw, ok := w.(bufferedWriter); ok {
		return bw, own
	}
	if own == nil {
		own = bufio.NewWriterSize(w, DefaultDataFlushSize)
	} else {
		own.Reset(w)
	}
	return own, own
}

// flushOwn flushes the encoder's own buffer, when the writer it writes to is
// that buffer.
func flushOwn(bw bufferedWriter, own *bufio.Writer) error {
	if own != nil && bw == bufferedWriter(own) {
		return own.Flush()
	}
	return nil
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
	// span whenever the encoder has to add a byte after them. The current
	// line starts at ls, before p when it began in an earlier Write.
	start, i, ls := 0, 0, -d.col
	limit, lines := d.limit, d.lines
	// Where the next CR and LF are, found with bytes.IndexByte (vectorised)
	// and reused until passed: the scan over p is linear however the two
	// interleave. len(p) means none.
	nextCR, nextLF := -1, -1
	var err error
	for i < len(p) && err == nil {
		switch state {
		case atLineStart:
			if p[i] == '.' {
				err = writeSpan(bw, p[start:i], '.')
				start = i // the input's '.' follows the added one
			}
			ls = i
			state = inLine
		case afterCR:
			if p[i] == '\n' {
				i++
			} else {
				// A bare CR at the end of an earlier Write: end its line.
				err = writeSpan(bw, p[start:i], '\n')
				start = i
			}
			ls = i
			state = atLineStart
		default: // inLine
			// The common case, in a tight loop: the line ends in CRLF
			// within the limit and the next one does not start with '.',
			// so nothing changes.
			for {
				if nextCR < i {
					nextCR = indexFrom(p, i, '\r')
				}
				if nextLF < i {
					nextLF = indexFrom(p, i, '\n')
				}
				if next := nextLF + 1; nextLF == nextCR+1 && next < len(p) && p[next] != '.' && nextCR-ls <= limit {
					i, ls = next, next
					lines++
					continue
				}
				break
			}
			if end := min(nextCR, nextLF); end-ls > limit {
				if !d.fold {
					err = &LineTooLongError{Line: lines + 1, Length: end - ls, Limit: limit}
					break
				}
				// Fold: the line keeps its first limit octets, and the SP
				// that starts the next counts as its first.
				at := ls + limit
				if _, err = bw.Write(p[start:at]); err == nil {
					_, err = bw.WriteString(foldBreak)
				}
				d.folds++
				start, ls = at, at-1
				continue
			}
			if nextLF < nextCR {
				// A bare LF: put a CR before it. The LF itself starts the
				// next span.
				err = writeSpan(bw, p[start:nextLF], '\r')
				start = nextLF
				i = nextLF + 1
				lines++
				state = atLineStart
			} else if nextCR < len(p) {
				i = nextCR + 1
				lines++
				switch {
				case i == len(p):
					state = afterCR // the next Write decides
				case p[i] == '\n':
					i++
					state = atLineStart
				default:
					// A bare CR: add the LF it lacks.
					err = writeSpan(bw, p[start:i], '\n')
					start = i
					state = atLineStart
				}
			} else {
				i = len(p)
			}
		}
	}
	if err == nil {
		_, err = bw.Write(p[start:])
	}
	if err != nil {
		d.err = err
		return 0, err
	}
	d.state, d.lines = state, lines
	d.col = 0
	if state == inLine {
		d.col = len(p) - ls
	}
	return len(p), nil
}

// writeSpan writes span unchanged, then the byte the encoder adds after it.
func writeSpan(w bufferedWriter, span []byte, added byte) error {
	if len(span) > 0 {
		if _, err := w.Write(span); err != nil {
			return err
		}
	}
	return w.WriteByte(added)
}

// indexFrom returns the index of the first c in p at or after i, or len(p).
func indexFrom(p []byte, i int, c byte) int {
	if j := bytes.IndexByte(p[i:], c); j >= 0 {
		return i + j
	}
	return len(p)
}

// Close ends an unterminated last line with CRLF and writes the end-of-data
// line ".\r\n". It flushes only a buffer the DotWriter made itself, and
// does not close the underlying writer. Writes after Close fail with [ErrClosed].
func (d *DotWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	var err error
	switch d.state {
	case inLine:
		_, err = d.bw.WriteString("\r\n.\r\n")
	case afterCR:
		_, err = d.bw.WriteString("\n.\r\n")
	default:
		_, err = d.bw.WriteString(".\r\n")
	}
	if err == nil {
		err = flushOwn(d.bw, d.own)
	}
	if err != nil {
		d.err = err
		return err
	}
	d.err = ErrClosed
	return nil
}
