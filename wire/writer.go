package wire

import (
	"io"
)

// DefaultDataFlushSize is how much message data a [Writer] holds, unless
// told otherwise ([Writer.SetDataFlushSize]), before it writes it out by
// itself with any command lines queued before it: 32 KiB, a few TCP
// segments' worth, so that each write system call carries enough to be
// cheap and a message streams in bounded memory.
const DefaultDataFlushSize = 32 << 10

// Writer writes command lines, each followed by CRLF, into a buffer of its
// own that goes out only on [Writer.Flush], in a single Write. So a pipelined
// group of commands (RFC 2920) leaves in one write whatever its size (an AUTH
// line may be 12288 octets, RFC 4954 §4; a group of RCPTs far more), and
// nothing of a command is on the wire before the caller says so.
//
// Writer is also an io.Writer for message data, which [DotWriter] and
// [BDATWriter] write into directly: data is buffered behind any pending
// command lines and written out whenever the data flush size is reached, so a
// message of any size streams in bounded memory, and its end can share one
// write with the commands that follow it.
//
// The buffer grows to the largest group written and is then reused. After a
// write error every method returns that error.
type Writer struct {
	w            io.Writer
	buf          []byte
	flushSize    int
	allowIllegal bool
	err          error
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, 4096)}
}

// flushAt is the data flush size in force.
func (w *Writer) flushAt() int {
	if w.flushSize == 0 {
		return DefaultDataFlushSize
	}
	return w.flushSize
}

// SetDataFlushSize sets how much message data the Writer holds before it
// writes it out by itself (at least 512 octets); the default is
// DefaultDataFlushSize.
func (w *Writer) SetDataFlushSize(n int) { w.flushSize = max(n, 512) }

// Reset discards anything buffered and any error, and makes the Writer write
// to w, keeping its buffer.
func (w *Writer) Reset(dst io.Writer) {
	w.w, w.buf, w.err = dst, w.buf[:0], nil
}

// SetAllowIllegalLines turns the CR, LF and NUL check off, so that a test or
// fuzzing harness can send a server lines a correct client never would.
// Leave it off in anything that handles real mail: the check is what stops
// command injection through user-supplied addresses and parameters.
func (w *Writer) SetAllowIllegalLines(allow bool) { w.allowIllegal = allow }

// WriteLine buffers line followed by CRLF. line must not contain CR, LF or
// NUL: such a line is refused with a [*LineError] and nothing is buffered.
func (w *Writer) WriteLine(line []byte) error {
	return writeLine(w, line)
}

// WriteLineString is WriteLine for a string.
func (w *Writer) WriteLineString(line string) error {
	return writeLine(w, line)
}

func writeLine[T string | []byte](w *Writer, line T) error {
	if w.err != nil {
		return w.err
	}
	if !w.allowIllegal {
		for i := 0; i < len(line); i++ {
			switch c := line[i]; c {
			case '\r', '\n', 0:
				return &LineError{Offset: i, Char: c}
			}
		}
	}
	w.buf = append(w.buf, line...)
	w.buf = append(w.buf, '\r', '\n')
	return nil
}

// Flush writes everything buffered to the underlying writer in one Write.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.writeOut(w.buf); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// writeOut writes p to the underlying writer; a short write is an error, and
// any error is kept for every later call.
func (w *Writer) writeOut(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return n, err
}

// Buffered returns how many bytes wait for Flush.
func (w *Writer) Buffered() int { return len(w.buf) }

// Write buffers message data (no line checks: that is the encoders' job),
// writing out what is buffered whenever the data flush size would be
// passed. A p of that size or more goes straight to the underlying writer,
// after what was buffered before it.
func (w *Writer) Write(p []byte) (int, error) {
	if len(p) < w.flushAt() || w.err != nil {
		return bufferData(w, p)
	}
	if err := w.Flush(); err != nil {
		return 0, err
	}
	return w.writeOut(p)
}

// WriteString is Write for a string.
func (w *Writer) WriteString(s string) (int, error) {
	total := len(s)
	for len(s) > w.flushAt() {
		if _, err := bufferData(w, s[:w.flushAt()]); err != nil {
			return total - len(s), err
		}
		s = s[w.flushAt():]
	}
	if _, err := bufferData(w, s); err != nil {
		return total - len(s), err
	}
	return total, nil
}

// bufferData appends p to the buffer, first writing out what is buffered
// when p would take it past the data flush size.
func bufferData[T string | []byte](w *Writer, p T) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if len(w.buf)+len(p) > w.flushAt() {
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// WriteByte buffers one byte of message data.
func (w *Writer) WriteByte(c byte) error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) >= w.flushAt() {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, c)
	return nil
}
