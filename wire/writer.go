package wire

import (
	"bufio"
	"io"
)

// Writer writes command lines, each followed by CRLF, into a buffer that goes
// out only on [Writer.Flush], so that a pipelined group of commands (RFC 2920)
// leaves in one write.
type Writer struct {
	bw           *bufio.Writer
	allowIllegal bool
}

// NewWriter returns a Writer on w. When w is a *bufio.Writer it is used as
// is, so that command lines and message data can share one buffer.
func NewWriter(w io.Writer) *Writer {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	return &Writer{bw: bw}
}

// SetAllowIllegalLines turns the CR, LF and NUL check off, so that a test or
// fuzzing harness can send a server lines a correct client never would.
// Leave it off in anything that handles real mail: the check is what stops
// command injection through user-supplied addresses and parameters.
func (w *Writer) SetAllowIllegalLines(allow bool) { w.allowIllegal = allow }

// WriteLine buffers line followed by CRLF. line must not contain CR, LF or
// NUL: such a line is refused with a [*LineError] and nothing is buffered.
func (w *Writer) WriteLine(line []byte) error {
	if !w.allowIllegal {
		if err := checkLine(line); err != nil {
			return err
		}
	}
	w.bw.Write(line)
	_, err := w.bw.WriteString("\r\n")
	return err
}

// WriteLineString is WriteLine for a string.
func (w *Writer) WriteLineString(line string) error {
	if !w.allowIllegal {
		if err := checkLine(line); err != nil {
			return err
		}
	}
	w.bw.WriteString(line)
	_, err := w.bw.WriteString("\r\n")
	return err
}

// Flush writes the buffered lines to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }

// Buffered returns how many bytes wait for Flush.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

func checkLine[T string | []byte](line T) error {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\r', '\n', 0:
			return &LineError{Offset: i, Char: c}
		}
	}
	return nil
}
