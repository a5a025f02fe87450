package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

func TestBDATWriterFraming(t *testing.T) {
	const body = "abcdefghij"
	big := strings.Repeat("x", wire.DefaultChunkSize+1)
	tests := []struct {
		name   string
		size   int
		writes []string
		want   string
		chunks int
	}{
		{"size 1", 1, []string{"abc"}, "BDAT 1\r\naBDAT 1\r\nbBDAT 1 LAST\r\nc", 3},
		{"size 3", 3, []string{body}, "BDAT 3\r\nabcBDAT 3\r\ndefBDAT 3\r\nghiBDAT 1 LAST\r\nj", 4},
		{"size 4", 4, []string{body}, "BDAT 4\r\nabcdBDAT 4\r\nefghBDAT 2 LAST\r\nij", 3},
		{"size 4 split", 4, []string{"a", "bcdef", "", "ghij"}, "BDAT 4\r\nabcdBDAT 4\r\nefghBDAT 2 LAST\r\nij", 3},
		{"default size", 0, []string{body}, "BDAT 10 LAST\r\n" + body, 1},
		{"negative size is the default", -5, []string{body}, "BDAT 10 LAST\r\n" + body, 1},
		{"default size, one over", 0, []string{big}, "BDAT 1048576\r\n" + big[:wire.DefaultChunkSize] + "BDAT 1 LAST\r\nx", 2},
		{"empty message", 3, nil, "BDAT 0 LAST\r\n", 1},
		{"empty writes", 3, []string{"", ""}, "BDAT 0 LAST\r\n", 1},
		{"exactly one chunk", 5, []string{"abcde"}, "BDAT 5 LAST\r\nabcde", 1},
		{"multiple of the size", 5, []string{body}, "BDAT 5\r\nabcdeBDAT 5 LAST\r\nfghij", 2},
		{"multiple of the size, split", 5, []string{"abcde", "fghij"}, "BDAT 5\r\nabcdeBDAT 5 LAST\r\nfghij", 2},
		{"multiple of the size, byte by byte", 2, []string{"a", "b", "c", "d"}, "BDAT 2\r\nabBDAT 2 LAST\r\ncd", 2},
		{"size 1, multiple", 1, []string{"ab"}, "BDAT 1\r\naBDAT 1 LAST\r\nb", 2},
		{"binary", 4, []string{"\r\n.\r\n\x00\r.\n..\xff"}, "BDAT 4\r\n\r\n.\rBDAT 4\r\n\n\x00\r.BDAT 4 LAST\r\n\n..\xff", 3},
		{"a lone dot line is data", 3, []string{".\r\n"}, "BDAT 3 LAST\r\n.\r\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			writes := make([][]byte, len(tt.writes))
			for i, w := range tt.writes {
				writes[i] = []byte(w)
			}
			got, chunks := bdatFrame(t, tt.size, writes...)
			if string(got) != tt.want {
				if len(got) > 200 || len(tt.want) > 200 {
					t.Errorf("got %d octets, want %d", len(got), len(tt.want))
				} else {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
			if chunks != tt.chunks {
				t.Errorf("Chunks() = %d, want %d", chunks, tt.chunks)
			}
		})
	}
}

// Chunks counts the BDAT commands written so far: a full chunk waits until
// more data shows it is not the last.
func TestBDATWriterChunks(t *testing.T) {
	var buf bytes.Buffer
	b := wire.NewBDATWriter(&buf, 3)
	steps := []struct {
		write  string
		chunks int
	}{
		{"", 0},
		{"ab", 0},
		{"c", 0}, // a full chunk, but it may be the last
		{"d", 1},
		{"efghij", 3},
	}
	for _, s := range steps {
		b.Write([]byte(s.write))
		if got := b.Chunks(); got != s.chunks {
			t.Errorf("after writing %q: Chunks() = %d, want %d", s.write, got, s.chunks)
		}
	}
	b.Close()
	if got := b.Chunks(); got != 4 {
		t.Errorf("after Close: Chunks() = %d, want 4", got)
	}
}

func TestBDATWriterFlush(t *testing.T) {
	t.Run("own buffer: Close flushes", func(t *testing.T) {
		var buf bytes.Buffer
		b := wire.NewBDATWriter(&buf, 4)
		b.Write([]byte("hello"))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := buf.String(), "BDAT 4\r\nhellBDAT 1 LAST\r\no"; got != want {
			t.Errorf("after Close the writer has %q, want %q", got, want)
		}
	})
	t.Run("bufio.Writer: Close does not flush", func(t *testing.T) {
		var under bytes.Buffer
		bw := bufio.NewWriter(&under)
		b := wire.NewBDATWriter(bw, 4)
		b.Write([]byte("hello"))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if under.Len() != 0 {
			t.Fatalf("Close flushed the caller's bufio.Writer: underlying writer has %q", under.Bytes())
		}
		bw.WriteString("QUIT\r\n")
		bw.Flush()
		if got, want := under.String(), "BDAT 4\r\nhellBDAT 1 LAST\r\noQUIT\r\n"; got != want {
			t.Errorf("after Flush the writer has %q, want %q", got, want)
		}
	})
}

func TestBDATWriterWriteAfterClose(t *testing.T) {
	var buf bytes.Buffer
	b := wire.NewBDATWriter(&buf, 4)
	b.Write([]byte("ab"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Write([]byte("c")); n != 0 || !errors.Is(err, wire.ErrClosed) {
		t.Errorf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if got := buf.String(); got != "BDAT 2 LAST\r\nab" {
		t.Errorf("output = %q", got)
	}
}

func TestBDATWriterError(t *testing.T) {
	errBroken := errors.New("broken pipe")
	w := &brokenAfterWriter{limit: 10, err: errBroken}
	b := wire.NewBDATWriter(bufio.NewWriterSize(w, 16), 8)
	_, err := b.Write(bytes.Repeat([]byte("x"), 100))
	if !errors.Is(err, errBroken) {
		t.Fatalf("Write = %v, want %v", err, errBroken)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, errBroken) {
		t.Errorf("second Write = %v, want %v", err, errBroken)
	}
	if err := b.Close(); !errors.Is(err, errBroken) {
		t.Errorf("Close = %v, want %v", err, errBroken)
	}
}

func TestBDATWriterReset(t *testing.T) {
	var first, second bytes.Buffer
	b := wire.NewBDATWriter(&first, 2)
	b.Write([]byte("abc"))
	b.Close()
	b.Reset(&second, 3)
	b.Write([]byte("defg"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := first.String(), "BDAT 2\r\nabBDAT 1 LAST\r\nc"; got != want {
		t.Errorf("first = %q, want %q", got, want)
	}
	if got, want := second.String(), "BDAT 3\r\ndefBDAT 1 LAST\r\ng"; got != want {
		t.Errorf("second = %q, want %q", got, want)
	}
	if b.Chunks() != 2 {
		t.Errorf("Chunks() after Reset = %d, want 2", b.Chunks())
	}
	// Reset in the middle of a chunk drops it.
	var third bytes.Buffer
	b.Reset(io.Discard, 3)
	b.Write([]byte("zz"))
	b.Reset(&third, 3)
	b.Write([]byte("h"))
	b.Close()
	if got, want := third.String(), "BDAT 1 LAST\r\nh"; got != want {
		t.Errorf("third = %q, want %q", got, want)
	}
}

// bdatRead decodes in with a BDATReader on a bufio.Reader and returns the
// data, the chunks OnChunk saw, what was left after the reader stopped and
// the error. With oneByte the source gives one byte per Read and the reader
// is read through a 1-byte buffer.
func bdatRead(in string, oneByte bool, maxChunk int64) (data []byte, chunks []refChunk, rest string, err error) {
	var src io.Reader = strings.NewReader(in)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	br := bufio.NewReader(src)
	r := wire.NewBDATReader(br)
	if maxChunk > 0 {
		r.SetMaxChunkSize(maxChunk)
	}
	r.OnChunk(func(size int64, last bool) error {
		chunks = append(chunks, refChunk{size, last})
		return nil
	})
	if oneByte {
		data, err = readThroughOneByte(r)
	} else {
		data, err = io.ReadAll(r)
	}
	restBytes, _ := io.ReadAll(br)
	return data, chunks, string(restBytes), err
}

func TestBDATReader(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string
		chunks []refChunk
		rest   string
	}{
		{"one chunk", "BDAT 5 LAST\r\nhello", "hello", []refChunk{{5, true}}, ""},
		{"chunks", "BDAT 3\r\nabcBDAT 2 LAST\r\nde", "abcde", []refChunk{{3, false}, {2, true}}, ""},
		{"lower case", "bdat 3\r\nabcbdat 2 last\r\nde", "abcde", []refChunk{{3, false}, {2, true}}, ""},
		{"mixed case", "BdAt 2 LaSt\r\nab", "ab", []refChunk{{2, true}}, ""},
		{"empty message", "BDAT 0 LAST\r\n", "", []refChunk{{0, true}}, ""},
		{"empty non-last chunk", "BDAT 0\r\nBDAT 3 LAST\r\nabc", "abc", []refChunk{{0, false}, {3, true}}, ""},
		{"empty chunks", "BDAT 0\r\nBDAT 0\r\nBDAT 0 LAST\r\n", "", []refChunk{{0, false}, {0, false}, {0, true}}, ""},
		{"leading zeros", "BDAT 003 LAST\r\nabc", "abc", []refChunk{{3, true}}, ""},
		{"binary", "BDAT 9 LAST\r\n\r\n.\r\n\x00\r\n\xff", "\r\n.\r\n\x00\r\n\xff", []refChunk{{9, true}}, ""},
		{"header-like data", "BDAT 13 LAST\r\nBDAT 1 LAST\r\n", "BDAT 1 LAST\r\n", []refChunk{{13, true}}, ""},
		{"bytes after LAST", "BDAT 1 LAST\r\nxQUIT\r\n", "x", []refChunk{{1, true}}, "QUIT\r\n"},
		{"18 digits", "BDAT 000000000000000002 LAST\r\nab", "ab", []refChunk{{2, true}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				got, chunks, rest, err := bdatRead(tt.in, oneByte, 0)
				if err != nil || string(got) != tt.want || rest != tt.rest {
					t.Errorf("oneByte=%v: got %q, %v, rest %q; want %q, nil, rest %q", oneByte, got, err, rest, tt.want, tt.rest)
				}
				if !slices.Equal(chunks, tt.chunks) {
					t.Errorf("oneByte=%v: OnChunk saw %v, want %v", oneByte, chunks, tt.chunks)
				}
			}
		})
	}
}

func TestBDATReaderOnChunkError(t *testing.T) {
	errStop := errors.New("552 message too big")
	in := "BDAT 3\r\nabcBDAT 3\r\ndefBDAT 3 LAST\r\nghi"
	br := bufio.NewReader(strings.NewReader(in))
	r := wire.NewBDATReader(br)
	var calls []refChunk
	r.OnChunk(func(size int64, last bool) error {
		calls = append(calls, refChunk{size, last})
		if len(calls) == 2 {
			return errStop
		}
		return nil
	})
	got, err := io.ReadAll(r)
	if !errors.Is(err, errStop) {
		t.Errorf("error %v, want %v", err, errStop)
	}
	if string(got) != "abcdef" {
		t.Errorf("data %q, want %q", got, "abcdef")
	}
	if want := []refChunk{{3, false}, {3, false}}; !slices.Equal(calls, want) {
		t.Errorf("OnChunk calls %v, want %v", calls, want)
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || !errors.Is(err, errStop) {
		t.Errorf("Read after the error = %d, %v; want 0, %v", n, err, errStop)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "BDAT 3 LAST\r\nghi" {
		t.Errorf("rest = %q: the reader went on after the error", rest)
	}
}

func TestBDATReaderMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the data returned before the error
	}{
		{"missing CR", "BDAT 1 LAST\nx", ""},
		{"missing CR, short", "BDAT 1\nx", ""},
		{"no size", "BDAT\r\n", ""},
		{"no size, space", "BDAT \r\n", ""},
		{"no size, LAST", "BDAT LAST\r\n", ""},
		{"no size, two spaces, LAST", "BDAT  LAST\r\n", ""},
		{"negative", "BDAT -1\r\n", ""},
		{"plus", "BDAT +1 LAST\r\nx", ""},
		{"LASTX", "BDAT 1 LASTX\r\nx", ""},
		{"LAS", "BDAT 1 LAS\r\nx", ""},
		{"two spaces before LAST", "BDAT 1  LAST\r\nx", ""},
		{"no space before LAST", "BDAT 1LAST\r\nx", ""},
		{"two spaces before the size", "BDAT  1 LAST\r\nx", ""},
		{"space before BDAT", " BDAT 1 LAST\r\nx", ""},
		{"trailing space", "BDAT 1 LAST \r\nx", ""},
		{"trailing space after size", "BDAT 1 \r\nx", ""},
		{"tab", "BDAT\t1 LAST\r\nx", ""},
		{"not a number", "BDAT x\r\n", ""},
		{"hex", "BDAT 0x1 LAST\r\nx", ""},
		{"BDATS", "BDATS 1 LAST\r\nx", ""},
		{"other command", "DATA\r\n", ""},
		{"empty line", "\r\n", ""},
		{"CR CR LF", "BDAT 1 LAST\r\r\nx", ""},
		{"NUL", "BDAT 1\x00 LAST\r\nx", ""},
		{"19 digits", "BDAT 1000000000000000000 LAST\r\nx", ""},
		{"19 digits of zeros", "BDAT 0000000000000000001 LAST\r\nx", ""},
		{"30 digits", "BDAT " + strings.Repeat("9", 30) + "\r\n", ""},
		{"over 512 bytes", "BDAT 1 LAST" + strings.Repeat(" ", 510) + "\r\nx", ""},
		{"over the read buffer", "BDAT 1" + strings.Repeat("0", 5000) + "\r\nx", ""},
		{"after a good chunk", "BDAT 1\r\naBDAT 1 LASTX\r\nb", "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				got, _, _, err := bdatRead(tt.in, oneByte, 0)
				var pe *wire.ProtocolError
				if !errors.Is(err, wire.ErrMalformedChunk) || !errors.As(err, &pe) {
					t.Errorf("oneByte=%v: error %v, want a *ProtocolError wrapping ErrMalformedChunk", oneByte, err)
				}
				if string(got) != tt.want {
					t.Errorf("oneByte=%v: data %q, want %q", oneByte, got, tt.want)
				}
			}
		})
	}
}

func TestBDATReaderChunkTooLarge(t *testing.T) {
	tests := []struct {
		name     string
		max      int64
		in       string
		want     string
		tooLarge bool
		rest     string // left in the bufio.Reader after the error
	}{
		{"at the limit", 4, "BDAT 4 LAST\r\nabcd", "abcd", false, ""},
		{"one over", 4, "BDAT 5 LAST\r\nabcde", "", true, "abcde"},
		{"second chunk over", 4, "BDAT 2\r\nabBDAT 5 LAST\r\nabcde", "ab", true, "abcde"},
		{"limit raised to 1", 0, "BDAT 1 LAST\r\na", "a", false, ""},
		{"18 digits", -1, "BDAT 999999999999999999 LAST\r\nx", "", true, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.in))
			r := wire.NewBDATReader(br)
			if tt.max >= 0 {
				r.SetMaxChunkSize(tt.max)
			}
			got, err := io.ReadAll(r)
			if string(got) != tt.want {
				t.Errorf("data %q, want %q", got, tt.want)
			}
			if !tt.tooLarge {
				if err != nil {
					t.Errorf("error %v", err)
				}
				return
			}
			var pe *wire.ProtocolError
			if !errors.Is(err, wire.ErrChunkTooLarge) || !errors.As(err, &pe) {
				t.Errorf("error %v, want a *ProtocolError wrapping ErrChunkTooLarge", err)
			}
			// The chunk was refused before any of it was read.
			if rest, _ := io.ReadAll(br); string(rest) != tt.rest {
				t.Errorf("left %q, want %q", rest, tt.rest)
			}
		})
	}
}

func TestBDATReaderUnexpectedEOF(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"nothing", "", ""},
		{"inside the header", "BDAT 3 LA", ""},
		{"header without LF", "BDAT 3 LAST\r", ""},
		{"inside a chunk", "BDAT 5 LAST\r\nhel", "hel"},
		{"no LAST chunk", "BDAT 1\r\na", "a"},
		{"no data", "BDAT 1 LAST\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				got, _, _, err := bdatRead(tt.in, oneByte, 0)
				var pe *wire.ProtocolError
				if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &pe) {
					t.Errorf("oneByte=%v: error %v, want a *ProtocolError wrapping io.ErrUnexpectedEOF", oneByte, err)
				}
				if string(got) != tt.want {
					t.Errorf("oneByte=%v: data %q, want %q", oneByte, got, tt.want)
				}
			}
		})
	}
}

// Every proper prefix of a valid chunk stream is an unexpected EOF, and the
// data before the error is a prefix of the message.
func TestBDATReaderTruncated(t *testing.T) {
	bodies := []struct {
		body string
		size int
	}{
		{"", 3},
		{"a", 3},
		{"hello, world", 5},
		{"\r\n.\r\nBDAT 1 LAST\r\n", 4},
		{"abcdef", 3},
	}
	for _, b := range bodies {
		stream, _ := bdatFrame(t, b.size, []byte(b.body))
		for i := range len(stream) {
			for _, oneByte := range []bool{false, true} {
				got, _, _, err := bdatRead(string(stream[:i]), oneByte, 0)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("%q cut at %d (oneByte=%v): error %v, want io.ErrUnexpectedEOF", stream, i, oneByte, err)
				}
				if !strings.HasPrefix(b.body, string(got)) {
					t.Errorf("%q cut at %d (oneByte=%v): data %q is not a prefix of %q", stream, i, oneByte, got, b.body)
				}
			}
		}
	}
}

// bdatHooked frames the parts with a BDATWriter whose OnChunk function
// records each call and checks that the chunk it reports is on the writer by
// then: output (what the underlying writer holds) ends with the chunk's
// header and octets, and nothing after them. It returns the calls and the
// output after Close.
func bdatHooked(tb codecTB, sink io.Writer, output func() []byte, size int, parts ...[]byte) ([]refChunk, []byte) {
	tb.Helper()
	body := bytes.Join(parts, nil)
	b := wire.NewBDATWriter(sink, size)
	var calls []refChunk
	sent := 0 // octets of body in the chunks reported so far
	b.OnChunk(func(n int, last bool) error {
		calls = append(calls, refChunk{int64(n), last})
		want := "BDAT " + strconv.Itoa(n)
		if last {
			want += " LAST"
		}
		want += "\r\n" + string(body[sent:sent+n])
		if out := output(); !bytes.HasSuffix(out, []byte(want)) {
			tb.Fatalf("OnChunk(%d, %v): the writer holds %q, which does not end with %q", n, last, out, want)
		}
		if b.Chunks() != len(calls) {
			tb.Fatalf("OnChunk(%d, %v): Chunks() = %d, want %d", n, last, b.Chunks(), len(calls))
		}
		sent += n
		return nil
	})
	for _, p := range parts {
		if n, err := b.Write(p); n != len(p) || err != nil {
			tb.Fatalf("BDATWriter.Write(%q) = %d, %v", p, n, err)
		}
	}
	if err := b.Close(); err != nil {
		tb.Fatalf("BDATWriter.Close: %v", err)
	}
	if sent != len(body) {
		tb.Fatalf("OnChunk reported %d octets, the body has %d", sent, len(body))
	}
	return calls, output()
}

func TestBDATWriterOnChunk(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		writes []string
		chunks []refChunk
	}{
		{"empty message", 3, nil, []refChunk{{0, true}}},
		{"one chunk", 8, []string{"hello"}, []refChunk{{5, true}}},
		{"exactly one chunk", 5, []string{"hello"}, []refChunk{{5, true}}},
		{"chunks", 3, []string{"abcdefghij"}, []refChunk{{3, false}, {3, false}, {3, false}, {1, true}}},
		{"chunks, split", 3, []string{"a", "bcd", "", "efghij"}, []refChunk{{3, false}, {3, false}, {3, false}, {1, true}}},
		{"multiple of the size", 2, []string{"ab", "cd"}, []refChunk{{2, false}, {2, true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := make([][]byte, len(tt.writes))
			for i, w := range tt.writes {
				parts[i] = []byte(w)
			}
			want := refBDATFrame(bytes.Join(parts, nil), tt.size)
			// On the caller's buffered writer, and on a plain writer, for
			// which the BDATWriter's own buffer is flushed before the call.
			var buf bytes.Buffer
			calls, out := bdatHooked(t, &buf, buf.Bytes, tt.size, parts...)
			if !slices.Equal(calls, tt.chunks) || !bytes.Equal(out, want) {
				t.Errorf("buffered: calls %v, output %q; want %v, %q", calls, out, tt.chunks, want)
			}
			var log writeLog
			calls, out = bdatHooked(t, &log, func() []byte { return log.out }, tt.size, parts...)
			if !slices.Equal(calls, tt.chunks) || !bytes.Equal(out, want) {
				t.Errorf("plain: calls %v, output %q; want %v, %q", calls, out, tt.chunks, want)
			}
		})
	}
}

// An error from the OnChunk function stops the writer where it is: the call
// that emitted the chunk returns it, so do all later ones, and nothing more
// is written.
func TestBDATWriterOnChunkError(t *testing.T) {
	errStop := errors.New("552 5.3.4 message too big")
	stopAt := func(call int) (func(int, bool) error, *int) {
		calls := 0
		return func(int, bool) error {
			calls++
			if calls == call {
				return errStop
			}
			return nil
		}, &calls
	}
	checkStopped := func(t *testing.T, b *wire.BDATWriter, buf *bytes.Buffer, calls *int) {
		t.Helper()
		out, n := buf.String(), *calls
		if m, err := b.Write([]byte("more data")); m != 0 || !errors.Is(err, errStop) {
			t.Errorf("Write after the error = %d, %v; want 0, %v", m, err, errStop)
		}
		if err := b.Close(); !errors.Is(err, errStop) {
			t.Errorf("Close after the error = %v, want %v", err, errStop)
		}
		if err := b.Close(); !errors.Is(err, errStop) {
			t.Errorf("second Close after the error = %v, want %v", err, errStop)
		}
		if buf.String() != out || *calls != n {
			t.Errorf("the writer went on after the error: %q, %d calls", buf.String(), *calls)
		}
	}

	t.Run("chunk written from the caller's slice", func(t *testing.T) {
		var buf bytes.Buffer
		b := wire.NewBDATWriter(&buf, 3)
		f, calls := stopAt(2)
		b.OnChunk(f)
		n, err := b.Write([]byte("abcdefghij"))
		if n != 6 || !errors.Is(err, errStop) {
			t.Errorf("Write = %d, %v; want 6 (two chunks sent), %v", n, err, errStop)
		}
		if got, want := buf.String(), "BDAT 3\r\nabcBDAT 3\r\ndef"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
		checkStopped(t, b, &buf, calls)
	})
	t.Run("chunk written from the buffer", func(t *testing.T) {
		var buf bytes.Buffer
		b := wire.NewBDATWriter(&buf, 3)
		f, calls := stopAt(1)
		b.OnChunk(f)
		if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
			t.Fatalf("Write = %d, %v; want 3, nil (the chunk may be the last)", n, err)
		}
		if n, err := b.Write([]byte("d")); n != 0 || !errors.Is(err, errStop) {
			t.Errorf("Write = %d, %v; want 0, %v", n, err, errStop)
		}
		if got, want := buf.String(), "BDAT 3\r\nabc"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
		checkStopped(t, b, &buf, calls)
	})
	t.Run("last chunk", func(t *testing.T) {
		var buf bytes.Buffer
		b := wire.NewBDATWriter(&buf, 3)
		f, calls := stopAt(2)
		b.OnChunk(f)
		b.Write([]byte("abcd"))
		if err := b.Close(); !errors.Is(err, errStop) {
			t.Errorf("Close = %v, want %v", err, errStop)
		}
		if got, want := buf.String(), "BDAT 3\r\nabcBDAT 1 LAST\r\nd"; got != want {
			t.Errorf("output %q, want %q", got, want)
		}
		checkStopped(t, b, &buf, calls)
	})
}

// Reset keeps the OnChunk function, as BDATReader.Reset does; nil removes it.
func TestBDATWriterResetKeepsOnChunk(t *testing.T) {
	var calls []refChunk
	b := wire.NewBDATWriter(io.Discard, 2)
	b.OnChunk(func(size int, last bool) error {
		calls = append(calls, refChunk{int64(size), last})
		return nil
	})
	b.Write([]byte("abc"))
	b.Close()
	b.Reset(io.Discard, 4)
	b.Write([]byte("defgh"))
	b.Close()
	if want := []refChunk{{2, false}, {1, true}, {4, false}, {1, true}}; !slices.Equal(calls, want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	b.OnChunk(nil)
	b.Reset(io.Discard, 4)
	b.Write([]byte("ijklm"))
	if err := b.Close(); err != nil || len(calls) != 4 {
		t.Errorf("after OnChunk(nil): Close %v, %d calls", err, len(calls))
	}
}

// OnChunk is called once per chunk as framed, in order, with the chunk on
// the writer, however the body is split and whatever the chunk size.
func TestPropertyBDATWriterOnChunk(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genBody(200).Draw(t, "body")
		size := rapid.IntRange(1, 40).Draw(t, "chunkSize")
		parts := splitBodyAt(body, genSplits(len(body)).Draw(t, "splits"))
		want := refBDATFrame(body, size)
		_, _, wantCalls, _ := refBDATDecode(want, 1<<40)
		var buf bytes.Buffer
		calls, out := bdatHooked(t, &buf, buf.Bytes, size, parts...)
		if !slices.Equal(calls, wantCalls) || !bytes.Equal(out, want) {
			t.Fatalf("frame(%q, %d) in writes %q: calls %v, output %q; want %v, %q", body, size, parts, calls, out, wantCalls, want)
		}
	})
}
