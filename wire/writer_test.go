package wire_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/smtpkit/smtpkit/wire"
)

// writeRecorder records every Write call made on it.
type writeRecorder struct {
	writes []string
	err    error // returned by every Write when set
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

// lineWriters are the two ways to write a line, so that each test runs both.
var lineWriters = []struct {
	name  string
	write func(w *wire.Writer, line string) error
}{
	{name: "WriteLine", write: func(w *wire.Writer, line string) error { return w.WriteLine([]byte(line)) }},
	{name: "WriteLineString", write: func(w *wire.Writer, line string) error { return w.WriteLineString(line) }},
}

func TestWriterLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{name: "one line", lines: []string{"EHLO client.example.org"}, want: "EHLO client.example.org\r\n"},
		{name: "empty line", lines: []string{""}, want: "\r\n"},
		{
			name:  "pipelined group",
			lines: []string{"MAIL FROM:<alice@example.org>", "RCPT TO:<bob@example.org>", "RCPT TO:<carol@example.org>", "DATA"},
			want:  "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n",
		},
		{name: "tab, DEL and UTF-8 pass", lines: []string{"MAIL FROM:<j\u00f6rg@example.org>\t\x7f SMTPUTF8"}, want: "MAIL FROM:<j\u00f6rg@example.org>\t\x7f SMTPUTF8\r\n"},
		{name: "other control bytes pass", lines: []string{"NOOP \x01\x1b\x0b\x0c"}, want: "NOOP \x01\x1b\x0b\x0c\r\n"},
		{name: "line of 512 octets", lines: []string{strings.Repeat("x", 510)}, want: strings.Repeat("x", 510) + "\r\n"},
	}
	for _, lw := range lineWriters {
		for _, tt := range tests {
			t.Run(lw.name+"/"+tt.name, func(t *testing.T) {
				rec := new(writeRecorder)
				w := wire.NewWriter(rec)
				buffered := 0
				for _, line := range tt.lines {
					if err := lw.write(w, line); err != nil {
						t.Fatalf("%s(%q): %v", lw.name, line, err)
					}
					buffered += len(line) + 2
					if got := w.Buffered(); got != buffered {
						t.Errorf("Buffered() after %q = %d, want %d", line, got, buffered)
					}
				}
				if len(rec.writes) != 0 {
					t.Errorf("writes before Flush = %q, want none", rec.writes)
				}
				if err := w.Flush(); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				if diff := cmp.Diff([]string{tt.want}, rec.writes); diff != "" {
					t.Errorf("writes after Flush mismatch, want one Write (-want +got):\n%s", diff)
				}
				if got := w.Buffered(); got != 0 {
					t.Errorf("Buffered() after Flush = %d, want 0", got)
				}
			})
		}
	}
}

func TestWriterFlush(t *testing.T) {
	t.Run("nothing buffered makes no write", func(t *testing.T) {
		rec := new(writeRecorder)
		w := wire.NewWriter(rec)
		if err := w.Flush(); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if len(rec.writes) != 0 {
			t.Errorf("writes = %q, want none", rec.writes)
		}
	})
	t.Run("one write per flush", func(t *testing.T) {
		rec := new(writeRecorder)
		w := wire.NewWriter(rec)
		steps := [][]string{{"EHLO a.example"}, {"MAIL FROM:<>", "RCPT TO:<b@example.org>", "DATA"}, {"QUIT"}}
		for _, lines := range steps {
			for _, l := range lines {
				if err := w.WriteLineString(l); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil { // a second Flush writes nothing
				t.Fatal(err)
			}
		}
		want := []string{"EHLO a.example\r\n", "MAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", "QUIT\r\n"}
		if diff := cmp.Diff(want, rec.writes); diff != "" {
			t.Errorf("writes mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("write error", func(t *testing.T) {
		errBoom := errors.New("broken pipe")
		rec := &writeRecorder{err: errBoom}
		w := wire.NewWriter(rec)
		if err := w.WriteLineString("QUIT"); err != nil {
			t.Fatalf("WriteLineString: %v", err)
		}
		if err := w.Flush(); !errors.Is(err, errBoom) {
			t.Errorf("Flush error = %v, want %v", err, errBoom)
		}
		if err := w.WriteLineString("NOOP"); !errors.Is(err, errBoom) {
			t.Errorf("WriteLineString after a failed Flush: error = %v, want %v", err, errBoom)
		}
	})
}

// TestWriterLongLines checks that lines go out only on Flush and in one write
// whatever their size: RFC 4954 §4 has servers accept AUTH lines of 12288
// octets, and a pipelined group of 100 RCPT TO commands (the minimum a server
// must take, RFC 5321 §4.5.3.1.8) with DSN parameters passes 4096. It is the
// regression test for a Writer built on a default bufio.Writer, which sent such
// lines in 4096-octet pieces, the first one before Flush and cut inside a
// command line.
func TestWriterLongLines(t *testing.T) {
	rcpts := make([]string, 100)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("RCPT TO:<recipient%03d@example.org> NOTIFY=FAILURE,DELAY", i)
	}
	tests := []struct {
		name  string
		lines []string
	}{
		{name: "AUTH line of 5000 octets", lines: []string{"AUTH PLAIN " + strings.Repeat("A", 4987)}},
		{name: "AUTH line of 12288 octets", lines: []string{"AUTH XOAUTH2 " + strings.Repeat("A", 12273)}},
		{name: "group of 100 RCPT TO with DSN parameters", lines: rcpts},
		{name: "short line then long line", lines: []string{"MAIL FROM:<>", "AUTH PLAIN " + strings.Repeat("A", 5000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := new(writeRecorder)
			w := wire.NewWriter(rec)
			var want strings.Builder
			for _, l := range tt.lines {
				if err := w.WriteLineString(l); err != nil {
					t.Fatalf("WriteLineString: %v", err)
				}
				want.WriteString(l + "\r\n")
			}
			if len(rec.writes) != 0 {
				t.Errorf("%d writes (%d octets) before Flush, want none: a partial command line is on the wire",
					len(rec.writes), len(strings.Join(rec.writes, "")))
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if got := strings.Join(rec.writes, ""); got != want.String() {
				t.Errorf("bytes written differ from the lines: got %d octets, want %d", len(got), want.Len())
			}
			if len(rec.writes) != 1 {
				t.Errorf("the group left in %d writes, want 1", len(rec.writes))
			}
		})
	}
}

func TestWriterIllegalLines(t *testing.T) {
	tests := []struct {
		name string
		line string
		want wire.LineError
		msg  string
	}{
		{name: "CR at end", line: "RCPT TO:<a@example.org>\r", want: wire.LineError{Offset: 23, Char: '\r'}, msg: "wire: command line contains CR at offset 23"},
		{name: "LF at end", line: "NOOP\n", want: wire.LineError{Offset: 4, Char: '\n'}, msg: "wire: command line contains LF at offset 4"},
		{name: "CRLF injection", line: "RCPT TO:<a@example.org>\r\nDATA", want: wire.LineError{Offset: 23, Char: '\r'}, msg: "wire: command line contains CR at offset 23"},
		{name: "LF injection", line: "MAIL FROM:<a@example.org>\nRSET", want: wire.LineError{Offset: 25, Char: '\n'}, msg: "wire: command line contains LF at offset 25"},
		{name: "LF before CR", line: "a\n\r", want: wire.LineError{Offset: 1, Char: '\n'}, msg: "wire: command line contains LF at offset 1"},
		{name: "NUL in middle", line: "AUTH PLAIN a\x00b", want: wire.LineError{Offset: 12, Char: 0}, msg: "wire: command line contains NUL at offset 12"},
		{name: "NUL at start", line: "\x00EHLO", want: wire.LineError{Offset: 0, Char: 0}, msg: "wire: command line contains NUL at offset 0"},
		{name: "CR alone", line: "\r", want: wire.LineError{Offset: 0, Char: '\r'}, msg: "wire: command line contains CR at offset 0"},
		{name: "LF alone", line: "\n", want: wire.LineError{Offset: 0, Char: '\n'}, msg: "wire: command line contains LF at offset 0"},
		{name: "first of several", line: "x\x00\r\n", want: wire.LineError{Offset: 1, Char: 0}, msg: "wire: command line contains NUL at offset 1"},
		{name: "far into a long line", line: strings.Repeat("x", 3000) + "\n", want: wire.LineError{Offset: 3000, Char: '\n'}, msg: "wire: command line contains LF at offset 3000"},
	}
	for _, lw := range lineWriters {
		for _, tt := range tests {
			t.Run(lw.name+"/"+tt.name, func(t *testing.T) {
				rec := new(writeRecorder)
				w := wire.NewWriter(rec)
				if err := w.WriteLineString("EHLO a.example"); err != nil {
					t.Fatal(err)
				}
				before := w.Buffered()
				err := lw.write(w, tt.line)
				var le *wire.LineError
				if !errors.As(err, &le) {
					t.Fatalf("%s(%q) error = %v, want a *wire.LineError", lw.name, tt.line, err)
				}
				if diff := cmp.Diff(tt.want, *le); diff != "" {
					t.Errorf("LineError mismatch (-want +got):\n%s", diff)
				}
				if got := err.Error(); got != tt.msg {
					t.Errorf("Error() = %q, want %q", got, tt.msg)
				}
				if got := w.Buffered(); got != before {
					t.Errorf("Buffered() after the refused line = %d, want %d (unchanged)", got, before)
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"EHLO a.example\r\n"}, rec.writes); diff != "" {
					t.Errorf("writes mismatch, want only the legal line (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestWriterAllowIllegalLines(t *testing.T) {
	lines := []string{"RCPT TO:<a@example.org>\r\nDATA", "bare\nLF", "bare\rCR", "NUL\x00", ""}
	for _, lw := range lineWriters {
		t.Run(lw.name, func(t *testing.T) {
			rec := new(writeRecorder)
			w := wire.NewWriter(rec)
			w.SetAllowIllegalLines(true)
			var want strings.Builder
			for _, l := range lines {
				if err := lw.write(w, l); err != nil {
					t.Fatalf("%s(%q) with illegal lines allowed: %v", lw.name, l, err)
				}
				want.WriteString(l + "\r\n")
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{want.String()}, rec.writes); diff != "" {
				t.Errorf("writes mismatch (-want +got):\n%s", diff)
			}

			w.SetAllowIllegalLines(false)
			var le *wire.LineError
			if err := lw.write(w, "NOOP\r\n"); !errors.As(err, &le) {
				t.Errorf("%s after SetAllowIllegalLines(false): error = %v, want a *wire.LineError", lw.name, err)
			}
			if got := w.Buffered(); got != 0 {
				t.Errorf("Buffered() = %d after a refused line, want 0", got)
			}
		})
	}
}

// TestWriterOnBufioWriter checks that a *bufio.Writer is a destination like
// any other: the lines reach it on Flush, in one Write, and not before.
func TestWriterOnBufioWriter(t *testing.T) {
	rec := new(writeRecorder)
	bw := bufio.NewWriterSize(rec, 256)
	bw.WriteString("before ")
	w := wire.NewWriter(bw)
	if err := w.WriteLineString("NOOP"); err != nil {
		t.Fatal(err)
	}
	if got, want := bw.Buffered(), len("before "); got != want {
		t.Errorf("bufio.Writer.Buffered() before Flush = %d, want %d", got, want)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := bw.Buffered(), len("before NOOP\r\n"); got != want {
		t.Errorf("bufio.Writer.Buffered() after Flush = %d, want %d", got, want)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"before NOOP\r\n"}, rec.writes); diff != "" {
		t.Errorf("writes mismatch (-want +got):\n%s", diff)
	}
}

// shortWriter writes at most n bytes of each Write, without an error.
type shortWriter struct{ n int }

func (w shortWriter) Write(p []byte) (int, error) { return min(len(p), w.n), nil }

func TestWriterStickyError(t *testing.T) {
	errBoom := errors.New("broken pipe")
	tests := []struct {
		name string
		dst  io.Writer
		want error
	}{
		{name: "write error", dst: &writeRecorder{err: errBoom}, want: errBoom},
		{name: "short write", dst: shortWriter{n: 3}, want: io.ErrShortWrite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := wire.NewWriter(tt.dst)
			if err := w.WriteLineString("QUIT"); err != nil {
				t.Fatalf("WriteLineString: %v", err)
			}
			if err := w.Flush(); !errors.Is(err, tt.want) {
				t.Fatalf("Flush error = %v, want %v", err, tt.want)
			}
			if err := w.Flush(); !errors.Is(err, tt.want) {
				t.Errorf("second Flush error = %v, want %v", err, tt.want)
			}
			if err := w.WriteLineString("NOOP"); !errors.Is(err, tt.want) {
				t.Errorf("WriteLineString error = %v, want %v", err, tt.want)
			}
			if err := w.WriteLine([]byte("NOOP\r\n")); !errors.Is(err, tt.want) {
				t.Errorf("WriteLine of an illegal line: error = %v, want the sticky %v", err, tt.want)
			}
			if _, err := w.Write([]byte("data")); !errors.Is(err, tt.want) {
				t.Errorf("Write error = %v, want %v", err, tt.want)
			}
			if _, err := w.WriteString("data"); !errors.Is(err, tt.want) {
				t.Errorf("WriteString error = %v, want %v", err, tt.want)
			}
			if err := w.WriteByte('x'); !errors.Is(err, tt.want) {
				t.Errorf("WriteByte error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriterReset(t *testing.T) {
	first := &writeRecorder{err: errors.New("broken pipe")}
	w := wire.NewWriter(first)
	w.WriteLineString("QUIT")
	if err := w.Flush(); err == nil {
		t.Fatal("Flush on a failing writer: error = nil")
	}
	w.WriteLineString("left over")

	second := new(writeRecorder)
	w.Reset(second)
	if got := w.Buffered(); got != 0 {
		t.Errorf("Buffered() after Reset = %d, want 0", got)
	}
	if err := w.WriteLineString("EHLO a.example"); err != nil {
		t.Fatalf("WriteLineString after Reset: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("Flush after Reset: %v", err)
	}
	if diff := cmp.Diff([]string{"EHLO a.example\r\n"}, second.writes); diff != "" {
		t.Errorf("writes after Reset mismatch (-want +got):\n%s", diff)
	}
	if len(first.writes) != 0 {
		t.Errorf("the first writer got %q after Reset, want nothing", first.writes)
	}
}

// dataWriters are the three ways to write message data into a Writer.
var dataWriters = []struct {
	name  string
	write func(w *wire.Writer, data string) error
}{
	{name: "Write", write: func(w *wire.Writer, data string) error { _, err := w.Write([]byte(data)); return err }},
	{name: "WriteString", write: func(w *wire.Writer, data string) error { _, err := w.WriteString(data); return err }},
	{name: "WriteByte", write: func(w *wire.Writer, data string) error {
		for i := 0; i < len(data); i++ {
			if err := w.WriteByte(data[i]); err != nil {
				return err
			}
		}
		return nil
	}},
}

// TestWriterData checks the Writer as an io.Writer for message data: data
// takes no line checks, waits behind the command lines and leaves with them.
func TestWriterData(t *testing.T) {
	for _, dw := range dataWriters {
		t.Run(dw.name, func(t *testing.T) {
			rec := new(writeRecorder)
			w := wire.NewWriter(rec)
			w.WriteLineString("MAIL FROM:<a@example.org>")
			w.WriteLineString("BDAT 9 LAST")
			if err := dw.write(w, "\r\n.\x00\r\nHi"); err != nil {
				t.Fatalf("%s: %v", dw.name, err)
			}
			w.WriteLineString("QUIT")
			want := "MAIL FROM:<a@example.org>\r\nBDAT 9 LAST\r\n\r\n.\x00\r\nHi" + "QUIT\r\n"
			if got := w.Buffered(); got != len(want) {
				t.Errorf("Buffered() = %d, want %d", got, len(want))
			}
			if len(rec.writes) != 0 {
				t.Errorf("writes before Flush = %q, want none", rec.writes)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{want}, rec.writes); diff != "" {
				t.Errorf("writes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriterDefaultDataFlushSize checks that data is held up to DataFlushSize
// octets, and that the octet after that sends what is buffered, command lines
// first, in one write.
func TestWriterDataFlushSize(t *testing.T) {
	const cmd = "BDAT 32768 LAST"
	data := strings.Repeat("d", wire.DefaultDataFlushSize-len(cmd)-2)
	for _, dw := range dataWriters {
		t.Run(dw.name, func(t *testing.T) {
			rec := new(writeRecorder)
			w := wire.NewWriter(rec)
			w.WriteLineString(cmd)
			if err := dw.write(w, data); err != nil {
				t.Fatal(err)
			}
			if len(rec.writes) != 0 || w.Buffered() != wire.DefaultDataFlushSize {
				t.Fatalf("with DataFlushSize buffered: %d writes, Buffered() = %d; want 0 writes, %d", len(rec.writes), w.Buffered(), wire.DefaultDataFlushSize)
			}
			if err := dw.write(w, "e"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{cmd + "\r\n" + data}, rec.writes); diff != "" {
				t.Errorf("writes after one more octet mismatch (-want +got):\n%s", diff)
			}
			if got := w.Buffered(); got != 1 {
				t.Errorf("Buffered() = %d, want 1", got)
			}
		})
	}
}

// TestWriterDataStreaming writes a message much larger than DefaultDataFlushSize and
// checks that it arrives whole and in order while the Writer never holds more
// than DefaultDataFlushSize octets, and that a large Write goes through as it is.
func TestWriterDataStreaming(t *testing.T) {
	var msg strings.Builder
	for i := 0; msg.Len() < 1<<20; i++ {
		fmt.Fprintf(&msg, "line %d of the message\r\n", i)
	}
	tests := []struct {
		name  string
		piece int
	}{
		{name: "small writes", piece: 1000},
		{name: "writes of DataFlushSize", piece: wire.DefaultDataFlushSize},
		{name: "large writes", piece: 3 * wire.DefaultDataFlushSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := new(writeRecorder)
			w := wire.NewWriter(rec)
			w.WriteLineString("BDAT " + strconv.Itoa(msg.Len()) + " LAST")
			for rest := msg.String(); rest != ""; {
				n := min(tt.piece, len(rest))
				if _, err := w.Write([]byte(rest[:n])); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
				if got := w.Buffered(); got > wire.DefaultDataFlushSize {
					t.Fatalf("Buffered() = %d, want at most DataFlushSize (%d)", got, wire.DefaultDataFlushSize)
				}
			}
			w.WriteLineString("QUIT")
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			want := "BDAT " + strconv.Itoa(msg.Len()) + " LAST\r\n" + msg.String() + "QUIT\r\n"
			if got := strings.Join(rec.writes, ""); got != want {
				t.Errorf("output differs from the input: %d octets, want %d", len(got), len(want))
			}
			for i, wr := range rec.writes {
				if len(wr) > max(tt.piece, wire.DefaultDataFlushSize) {
					t.Errorf("write %d has %d octets, want at most %d", i, len(wr), max(tt.piece, wire.DefaultDataFlushSize))
				}
			}
		})
	}
}

// TestWriterSetDataFlushSize: the flush size is the Writer's option, not a
// fixed constant (issue 22).
func TestWriterSetDataFlushSize(t *testing.T) {
	var out strings.Builder
	w := wire.NewWriter(&out)
	w.SetDataFlushSize(1024)
	w.Write([]byte(strings.Repeat("d", 1000)))
	if out.Len() != 0 || w.Buffered() != 1000 {
		t.Fatalf("1000 octets under a 1024 flush size: %d written, %d buffered", out.Len(), w.Buffered())
	}
	w.Write([]byte(strings.Repeat("d", 100)))
	if out.Len() != 1000 || w.Buffered() != 100 {
		t.Errorf("past the flush size: %d written, %d buffered; want 1000, 100", out.Len(), w.Buffered())
	}
	w.SetDataFlushSize(1) // raised to the floor of 512
	w.Write([]byte(strings.Repeat("d", 400)))
	if w.Buffered() != 500 {
		t.Errorf("Buffered() = %d, want 500 (floor 512)", w.Buffered())
	}
}
