package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/smtpkit/smtpkit/wire"
)

func TestDotWriterOutput(t *testing.T) {
	tests := []struct {
		name   string
		writes []string // each one Write call
		want   string
	}{
		{"empty body", nil, ".\r\n"},
		{"empty writes", []string{"", ""}, ".\r\n"},
		{"one byte", []string{"a"}, "a\r\n.\r\n"},
		{"empty writes around data", []string{"", "a", ""}, "a\r\n.\r\n"},
		{"terminated line", []string{"a\r\n"}, "a\r\n.\r\n"},
		{"only CRLF", []string{"\r\n"}, "\r\n.\r\n"},
		{"leading dot", []string{".a"}, "..a\r\n.\r\n"},
		{"dot after LF", []string{"a\n.b"}, "a\r\n..b\r\n.\r\n"},
		{"dot after CR", []string{"a\r.b"}, "a\r\n..b\r\n.\r\n"},
		{"dot after CRLF", []string{"a\r\n.b"}, "a\r\n..b\r\n.\r\n"},
		{"dot not at line start", []string{"a.b\r\n"}, "a.b\r\n.\r\n"},
		{"dot alone", []string{"."}, "..\r\n.\r\n"},
		{"dot line", []string{".\r\n"}, "..\r\n.\r\n"},
		{"two dots", []string{".."}, "...\r\n.\r\n"},
		{"bare LF", []string{"a\nb"}, "a\r\nb\r\n.\r\n"},
		{"bare LF at the end", []string{"a\n"}, "a\r\n.\r\n"},
		{"bare LFs", []string{"\n\n"}, "\r\n\r\n.\r\n"},
		{"bare CR", []string{"a\rb"}, "a\r\nb\r\n.\r\n"},
		{"bare CRs", []string{"\r\r"}, "\r\n\r\n.\r\n"},
		{"LF CR", []string{"a\n\rb"}, "a\r\n\r\nb\r\n.\r\n"},
		{"CR CR LF", []string{"a\r\r\nb"}, "a\r\n\r\nb\r\n.\r\n"},
		{"CR then LF in the next Write", []string{"a\r", "\nb"}, "a\r\nb\r\n.\r\n"},
		{"CR then data in the next Write", []string{"a\r", "b"}, "a\r\nb\r\n.\r\n"},
		{"CR then CR in the next Write", []string{"a\r", "\rb"}, "a\r\n\r\nb\r\n.\r\n"},
		{"CR then dot in the next Write", []string{"a\r", ".b"}, "a\r\n..b\r\n.\r\n"},
		{"CR, empty Write, LF", []string{"a\r", "", "\nb"}, "a\r\nb\r\n.\r\n"},
		{"CR at the end of the body", []string{"a\r"}, "a\r\n.\r\n"},
		{"CR alone", []string{"\r"}, "\r\n.\r\n"},
		{"dot in its own Write after CRLF", []string{"a\r\n", ".", "b"}, "a\r\n..b\r\n.\r\n"},
		{"dot in its own Write after LF", []string{"a\n", ".", "\n"}, "a\r\n..\r\n.\r\n"},
		{"byte by byte", []string{"a", "\r", "\n", ".", ".", "\r", "\n"}, "a\r\n...\r\n.\r\n"},
		{"binary", []string{"\x00\xff.\x00"}, "\x00\xff.\x00\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writes := make([][]byte, len(tt.writes))
			for i, w := range tt.writes {
				writes[i] = []byte(w)
			}
			if got := dotEncode(t, writes...); string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// The SMTP smuggling sequences of 2023: each would end the data early at a
// server that takes it for <CRLF>.<CRLF>. In the middle of a body, the encoder
// must stuff every one of them.
func TestDotWriterSmuggling(t *testing.T) {
	const smuggled = "MAIL FROM:<attacker@example.org>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nforged\r\n"
	tests := []struct {
		name string
		seq  string
		want string // the encoding of "a" + seq + "b"
	}{
		{"LF dot LF", "\n.\n", "a\r\n..\r\nb\r\n.\r\n"},
		{"LF dot CRLF", "\n.\r\n", "a\r\n..\r\nb\r\n.\r\n"},
		{"CRLF dot LF", "\r\n.\n", "a\r\n..\r\nb\r\n.\r\n"},
		{"CR dot CR", "\r.\r", "a\r\n..\r\nb\r\n.\r\n"},
		{"CRLF dot CRLF", "\r\n.\r\n", "a\r\n..\r\nb\r\n.\r\n"},
		{"CR dot LF", "\r.\n", "a\r\n..\r\nb\r\n.\r\n"},
		{"CR dot CRLF", "\r.\r\n", "a\r\n..\r\nb\r\n.\r\n"},
		{"CRLF dot CR", "\r\n.\r", "a\r\n..\r\nb\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "a" + tt.seq + "b"
			if got := dotEncode(t, []byte(body)); string(got) != tt.want {
				t.Errorf("encode(%q) = %q, want %q", body, got, tt.want)
			}
			bodies := []string{
				body,
				tt.seq,                          // at the start
				"a" + tt.seq,                    // at the end
				"a" + tt.seq + smuggled,         // a whole second message
				"a" + tt.seq + tt.seq + tt.seq,  // repeated
				"a\r\n" + tt.seq + "\r\n.\r\nb", // next to a real end-of-data
			}
			for _, in := range bodies {
				whole := dotEncode(t, []byte(in))
				if err := checkDotOutput(whole, false); err != nil {
					t.Errorf("encode(%q) = %q: %v", in, whole, err)
				}
				// Any split, byte by byte included, gives the same output.
				var bytewise [][]byte
				for i := range len(in) {
					bytewise = append(bytewise, []byte(in[i:i+1]))
				}
				if got := dotEncode(t, bytewise...); !bytes.Equal(got, whole) {
					t.Errorf("encode(%q) byte by byte = %q, want %q", in, got, whole)
				}
				for i := range len(in) + 1 {
					got := dotEncode(t, []byte(in[:i]), []byte(in[i:]))
					if !bytes.Equal(got, whole) {
						t.Errorf("encode(%q) split at %d = %q, want %q", in, i, got, whole)
					}
				}
			}
		})
	}
}

func TestDotWriterWriteAfterClose(t *testing.T) {
	var buf bytes.Buffer
	d := wire.NewDotWriter(&buf)
	if _, err := d.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := d.Write([]byte("b"))
	if n != 0 || !errors.Is(err, wire.ErrClosed) {
		t.Errorf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if got := buf.String(); got != "a\r\n.\r\n" {
		t.Errorf("output = %q", got)
	}
}

// brokenAfterWriter accepts limit bytes, then fails every Write with err.
type brokenAfterWriter struct {
	limit int
	err   error
	got   bytes.Buffer
	calls int
}

func (w *brokenAfterWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.got.Len()+len(p) > w.limit {
		n := w.limit - w.got.Len()
		w.got.Write(p[:n])
		return n, w.err
	}
	return w.got.Write(p)
}

func TestDotWriterStickyError(t *testing.T) {
	errBroken := errors.New("broken pipe")
	big := bytes.Repeat([]byte("0123456789abcdef\r\n"), 4<<10) // 72 KiB, more than any buffer

	t.Run("error in Write", func(t *testing.T) {
		w := &brokenAfterWriter{limit: 100, err: errBroken}
		d := wire.NewDotWriter(w)
		if _, err := d.Write(big); !errors.Is(err, errBroken) {
			t.Fatalf("Write = %v, want %v", err, errBroken)
		}
		calls := w.calls
		if _, err := d.Write([]byte("x")); !errors.Is(err, errBroken) {
			t.Errorf("second Write = %v, want %v", err, errBroken)
		}
		if err := d.Close(); !errors.Is(err, errBroken) {
			t.Errorf("Close = %v, want %v", err, errBroken)
		}
		if w.calls != calls {
			t.Errorf("the underlying writer was called again after it failed")
		}
	})
	t.Run("error in Close", func(t *testing.T) {
		w := &brokenAfterWriter{limit: 0, err: errBroken}
		d := wire.NewDotWriter(w)
		if _, err := d.Write([]byte("small\r\n")); err != nil {
			t.Fatalf("Write = %v; want it buffered", err)
		}
		if err := d.Close(); !errors.Is(err, errBroken) {
			t.Fatalf("Close = %v, want %v", err, errBroken)
		}
		if _, err := d.Write([]byte("x")); !errors.Is(err, errBroken) {
			t.Errorf("Write after failed Close = %v, want %v", err, errBroken)
		}
		if err := d.Close(); !errors.Is(err, errBroken) {
			t.Errorf("second Close = %v, want %v", err, errBroken)
		}
	})
	t.Run("error under a bufio.Writer", func(t *testing.T) {
		w := &brokenAfterWriter{limit: 10, err: errBroken}
		d := wire.NewDotWriter(bufio.NewWriterSize(w, 16))
		if _, err := d.Write(big); !errors.Is(err, errBroken) {
			t.Fatalf("Write = %v, want %v", err, errBroken)
		}
		if err := d.Close(); !errors.Is(err, errBroken) {
			t.Errorf("Close = %v, want %v", err, errBroken)
		}
	})
}

func TestDotWriterFlush(t *testing.T) {
	t.Run("plain writer: Close flushes", func(t *testing.T) {
		var buf bytes.Buffer
		d := wire.NewDotWriter(&buf)
		d.Write([]byte("hello\r\n.world"))
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := buf.String(), "hello\r\n..world\r\n.\r\n"; got != want {
			t.Errorf("after Close the writer has %q, want %q", got, want)
		}
	})
	t.Run("bufio.Writer: Close does not flush", func(t *testing.T) {
		var under bytes.Buffer
		bw := bufio.NewWriter(&under)
		d := wire.NewDotWriter(bw)
		d.Write([]byte("hello\r\n.world"))
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if under.Len() != 0 {
			t.Fatalf("Close flushed the caller's bufio.Writer: underlying writer has %q", under.Bytes())
		}
		// The caller can put the next command after the data, in the same write.
		bw.WriteString("QUIT\r\n")
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, want := under.String(), "hello\r\n..world\r\n.\r\nQUIT\r\n"; got != want {
			t.Errorf("after Flush the writer has %q, want %q", got, want)
		}
	})
}

func TestDotWriterReset(t *testing.T) {
	var first, second, third bytes.Buffer
	d := wire.NewDotWriter(&first)
	d.Write([]byte(".one\r"))
	d.Close()

	// Reset after Close: a new message on a new writer.
	d.Reset(&second)
	d.Write([]byte("two"))
	if err := d.Close(); err != nil {
		t.Fatalf("Close after Reset: %v", err)
	}
	if got, want := first.String(), "..one\r\n.\r\n"; got != want {
		t.Errorf("first = %q, want %q", got, want)
	}
	if got, want := second.String(), "two\r\n.\r\n"; got != want {
		t.Errorf("second = %q, want %q", got, want)
	}

	// Reset in the middle of a line (after a CR) forgets the line.
	d.Reset(io.Discard)
	d.Write([]byte("abandoned\r"))
	d.Reset(&third)
	d.Write([]byte(".three"))
	d.Close()
	if got, want := third.String(), "..three\r\n.\r\n"; got != want {
		t.Errorf("third = %q, want %q", got, want)
	}

	// Reset clears a sticky error.
	errBroken := errors.New("broken")
	d.Reset(&brokenAfterWriter{err: errBroken})
	d.Write([]byte("x"))
	if err := d.Close(); !errors.Is(err, errBroken) {
		t.Fatalf("Close = %v, want %v", err, errBroken)
	}
	var fourth bytes.Buffer
	d.Reset(&fourth)
	d.Write([]byte("four"))
	if err := d.Close(); err != nil || fourth.String() != "four\r\n.\r\n" {
		t.Errorf("after Reset from an error: %q, %v", fourth.String(), err)
	}

	// From an owned buffer to the caller's bufio.Writer and back.
	var under bytes.Buffer
	bw := bufio.NewWriter(&under)
	d.Reset(bw)
	d.Write([]byte("five"))
	d.Close()
	if under.Len() != 0 || bw.Buffered() != len("five\r\n.\r\n") {
		t.Errorf("after Reset to a bufio.Writer, Close flushed or lost data")
	}
	var sixth bytes.Buffer
	d.Reset(&sixth)
	d.Write([]byte("six"))
	d.Close()
	if got := sixth.String(); got != "six\r\n.\r\n" {
		t.Errorf("sixth = %q", got)
	}
}

// realisticChunk returns n octets of mail text: CRLF lines of varied length,
// some starting with a dot, one with a bare LF now and then.
func realisticChunk(n int) []byte {
	words := []string{"Lorem", "ipsum", "dolor", "sit", "amet,", "consectetur", "adipiscing", "elit.", "Sed", "do"}
	var b bytes.Buffer
	for line := 0; b.Len() < n; line++ {
		if line%17 == 0 {
			b.WriteString(".")
		}
		for w := 0; w < 5+line%9; w++ {
			b.WriteString(words[(line+w)%len(words)])
			b.WriteByte(' ')
		}
		if line%53 == 0 {
			b.WriteString("\n")
		} else {
			b.WriteString("\r\n")
		}
	}
	return b.Bytes()[:n]
}

func TestDotWriterAllocs(t *testing.T) {
	chunk := realisticChunk(64 << 10)

	t.Run("Write", func(t *testing.T) {
		d := wire.NewDotWriter(io.Discard)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := d.Write(chunk); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("DotWriter.Write of a 64 KiB chunk: %v allocations, want 0", allocs)
		}
	})
	t.Run("Reset+Write+Close on a bufio.Writer", func(t *testing.T) {
		bw := bufio.NewWriter(io.Discard)
		d := wire.NewDotWriter(bw)
		allocs := testing.AllocsPerRun(100, func() {
			d.Reset(bw)
			d.Write(chunk)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Reset+Write+Close: %v allocations, want 0", allocs)
		}
	})
	t.Run("Reset+Write+Close on a plain writer", func(t *testing.T) {
		d := wire.NewDotWriter(io.Discard)
		allocs := testing.AllocsPerRun(100, func() {
			d.Reset(io.Discard)
			d.Write(chunk)
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Reset+Write+Close with its own buffer: %v allocations, want 0 (Reset reuses the buffer)", allocs)
		}
	})
}

// readThroughOneByte reads r through a 1-byte buffer until an error.
func readThroughOneByte(r io.Reader) ([]byte, error) {
	var out []byte
	var p [1]byte
	for zero := 0; zero < 100; {
		n, err := r.Read(p[:])
		out = append(out, p[:n]...)
		if n == 0 {
			zero++
		} else {
			zero = 0
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
	return out, io.ErrNoProgress
}

// dotRead runs a DotReader with a line limit of maxLine (0: the default) on
// a bufio.Reader over in, and returns the data, the bytes left after the
// DotReader stopped, and the error. With oneByte the source gives one byte
// per Read and the DotReader is read through a 1-byte buffer.
func dotRead(in string, oneByte bool, maxLine int) (data []byte, rest string, err error) {
	var src io.Reader = strings.NewReader(in)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	br := bufio.NewReaderSize(src, 16)
	d := wire.NewDotReader(br)
	if maxLine > 0 {
		d.SetMaxDataLineLength(maxLine)
	}
	if oneByte {
		data, err = readThroughOneByte(d)
	} else {
		data, err = io.ReadAll(d)
	}
	restBytes, _ := io.ReadAll(br)
	return data, string(restBytes), err
}

func TestDotReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		rest string // what follows the end-of-data line
	}{
		{"empty message", ".\r\n", "", ""},
		{"one line", "a\r\n.\r\n", "a\r\n", ""},
		{"two lines", "a\r\nb\r\n.\r\n", "a\r\nb\r\n", ""},
		{"empty lines", "\r\n\r\n.\r\n", "\r\n\r\n", ""},
		{"stuffed dot", "..a\r\n.\r\n", ".a\r\n", ""},
		{"stuffed dot line", "..\r\n.\r\n", ".\r\n", ""},
		{"stuffed two dots", "...\r\n.\r\n", "..\r\n", ""},
		{"stuffed in the middle", "a\r\n..b\r\nc\r\n.\r\n", "a\r\n.b\r\nc\r\n", ""},
		{"dot inside a line", "a.b\r\n.\r\n", "a.b\r\n", ""},
		// A sloppy client's unstuffed dot line: RFC 5321 §4.5.2 drops the dot.
		{"unstuffed dot line", ".a\r\n.\r\n", "a\r\n", ""},
		{"bytes after the end", "a\r\n.\r\nQUIT\r\n", "a\r\n", "QUIT\r\n"},
		{"a second end after the end", "a\r\n.\r\n.\r\n", "a\r\n", ".\r\n"},
		{"bare LF is data", "a\nb\r\n.\r\n", "a\nb\r\n", ""},
		{"bare CR is data", "a\rb\r\n.\r\n", "a\rb\r\n", ""},
		{"CR CR LF", "a\r\r\n.\r\n", "a\r\r\n", ""},
		{"LF CR LF", "a\n\r\n.\r\n", "a\n\r\n", ""},
		{"binary", "\x00\xff\r\n.\r\n", "\x00\xff\r\n", ""},
		// The smuggling sequences: none of them is an end of the data.
		{"LF dot LF", "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", ""},
		{"LF dot CRLF", "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", ""},
		{"CR dot CR", "a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", ""},
		{"CR dot CRLF", "a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", ""},
		// After CRLF the '.' starts a line that is not "." alone, so it is
		// removed as a stuffed dot (RFC 5321 §4.5.2); the LF stays, and
		// the data goes on.
		{"CRLF dot LF", "a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", ""},
		{"CRLF dot CR", "a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", ""},
		{"dot LF at the start", ".\nb\r\n.\r\n", "\nb\r\n", ""},
		{"smuggled message", "a\n.\nMAIL FROM:<x@example.org>\r\n.\r\nRSET\r\n", "a\n.\nMAIL FROM:<x@example.org>\r\n", "RSET\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				got, rest, err := dotRead(tt.in, oneByte, 0)
				if err != nil || string(got) != tt.want || rest != tt.rest {
					t.Errorf("oneByte=%v: got %q, %v, rest %q; want %q, nil, rest %q", oneByte, got, err, rest, tt.want, tt.rest)
				}
			}
		})
	}
}

func TestDotReaderEmptyMessage(t *testing.T) {
	d := wire.NewDotReader(strings.NewReader(".\r\n"))
	var p [16]byte
	n, err := d.Read(p[:])
	if n != 0 || err != io.EOF {
		t.Errorf("Read = %d, %v; want 0, io.EOF", n, err)
	}
	n, err = d.Read(p[:])
	if n != 0 || err != io.EOF {
		t.Errorf("second Read = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestDotReaderEOFAfterEnd(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("a\r\n.\r\nNEXT"))
	d := wire.NewDotReader(br)
	if got, err := io.ReadAll(d); err != nil || string(got) != "a\r\n" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	for range 2 {
		if n, err := d.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("Read after the end = %d, %v; want 0, io.EOF", n, err)
		}
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Errorf("rest = %q, want %q", rest, "NEXT")
	}
}

func TestDotReaderUnexpectedEOF(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the data returned before the error
	}{
		{"nothing", "", ""},
		{"unterminated line", "a", "a"},
		{"no end line", "a\r\n", "a\r\n"},
		{"dot only", "a\r\n.", "a\r\n"},
		{"dot CR", "a\r\n.\r", "a\r\n"},
		{"LF dot LF is not an end", "a\n.\n", "a\n.\n"},
		{"CRLF dot LF is not an end", "a\r\n.\n", "a\r\n"}, // ".\n" needs a third byte to tell
		{"CRLF dot LF data is not an end", "a\r\n.\nb", "a\r\n\nb"},
		{"LF dot CRLF is not an end", "a\n.\r\n", "a\n.\r\n"},
		{"CR dot CR is not an end", "a\r.\r", "a\r.\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				got, _, err := dotRead(tt.in, oneByte, 0)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("oneByte=%v: error %v, want io.ErrUnexpectedEOF", oneByte, err)
				}
				var pe *wire.ProtocolError
				if !errors.As(err, &pe) {
					t.Errorf("oneByte=%v: error %T is not a *wire.ProtocolError", oneByte, err)
				}
				if string(got) != tt.want {
					t.Errorf("oneByte=%v: data %q, want %q", oneByte, got, tt.want)
				}
			}
		})
	}
}

func TestDotReaderLineLength(t *testing.T) {
	tests := []struct {
		name    string
		limit   int // 0: the default
		in      string
		tooLong bool
	}{
		{"at the limit", 10, "12345678\r\n.\r\n", false},
		{"one over", 10, "123456789\r\n.\r\n", true},
		{"stuffed at the limit", 10, "..234567\r\n.\r\n", false},
		{"stuffed one over", 10, "..2345678\r\n.\r\n", true},
		{"bare LF does not end the line", 10, "1234\n5678\r\n.\r\n", true},
		{"bare LF line at the limit", 10, "1234\n567\r\n.\r\n", false},
		{"long line after short ones", 10, "a\r\nb\r\n123456789\r\n.\r\n", true},
		{"unterminated long line", 10, "12345678901", true},
		{"minimum raised to 3", 1, "a\r\n.\r\n", false},
		{"minimum raised to 3, one over", 1, "ab\r\n.\r\n", true},
		{"default at the limit", 0, strings.Repeat("x", wire.DefaultMaxDataLineLength-2) + "\r\n.\r\n", false},
		{"default one over", 0, strings.Repeat("x", wire.DefaultMaxDataLineLength-1) + "\r\n.\r\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				_, _, err := dotRead(tt.in, oneByte, tt.limit)
				if tt.tooLong {
					var pe *wire.ProtocolError
					if !errors.Is(err, wire.ErrLineTooLong) || !errors.As(err, &pe) {
						t.Errorf("oneByte=%v: error %v, want a *ProtocolError wrapping ErrLineTooLong", oneByte, err)
					}
				} else if err != nil {
					t.Errorf("oneByte=%v: error %v, want none", oneByte, err)
				}
			}
		})
	}
}

// Every proper prefix of a valid stream is an unexpected EOF, and the data
// returned before the error is a prefix of the message.
func TestDotReaderTruncated(t *testing.T) {
	bodies := []string{
		"",
		"a",
		".",
		"hello\r\n.world\r\n..\r\n",
		"a\n.\nb\r.\rc\r\n.\r\n",
		"Subject: test\r\n\r\nline one\r\n.\r\n\r\n",
	}
	for _, body := range bodies {
		stream := dotEncode(t, []byte(body))
		full := refNormalise([]byte(body))
		for i := range len(stream) {
			for _, oneByte := range []bool{false, true} {
				got, _, err := dotRead(string(stream[:i]), oneByte, 0)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("%q cut at %d (oneByte=%v): error %v, want io.ErrUnexpectedEOF", stream, i, oneByte, err)
				}
				if !bytes.HasPrefix(full, got) {
					t.Errorf("%q cut at %d (oneByte=%v): data %q is not a prefix of %q", stream, i, oneByte, got, full)
				}
			}
		}
	}
}

// A read error other than EOF is returned as it is.
func TestDotReaderReadError(t *testing.T) {
	errReset := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("a\r\nb"), iotest.ErrReader(errReset))
	got, err := io.ReadAll(wire.NewDotReader(src))
	if !errors.Is(err, errReset) {
		t.Errorf("error %v, want %v", err, errReset)
	}
	if string(got) != "a\r\nb" {
		t.Errorf("data %q, want %q", got, "a\r\nb")
	}
}
