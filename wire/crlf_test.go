package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

// writeLog is a plain io.Writer (no WriteByte) that keeps what it is given
// and every slice it was handed, so that a test can tell whether the caller's
// slice was passed on as it is.
type writeLog struct {
	out    []byte
	writes [][]byte
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.out = append(w.out, p...)
	w.writes = append(w.writes, p)
	return len(p), nil
}

// bufferedLog is a writeLog with the methods of a buffered writer, which the
// CRLFWriter hands the octets it adds one by one.
type bufferedLog struct{ writeLog }

func (w *bufferedLog) WriteByte(c byte) error {
	w.out = append(w.out, c)
	w.writes = append(w.writes, nil)
	return nil
}

func (w *bufferedLog) WriteString(s string) (int, error) {
	w.out = append(w.out, s...)
	w.writes = append(w.writes, nil)
	return len(s), nil
}

// logOf returns the writeLog inside a *writeLog or a *bufferedLog.
func logOf(w io.Writer) *writeLog {
	if b, ok := w.(*bufferedLog); ok {
		return &b.writeLog
	}
	return w.(*writeLog)
}

// crlfSinks are the two kinds of writer a CRLFWriter tells apart.
var crlfSinks = []struct {
	name string
	new  func() io.Writer
}{
	{"plain", func() io.Writer { return new(writeLog) }},
	{"buffered", func() io.Writer { return new(bufferedLog) }},
}

// crlfEncode writes the parts through a CRLFWriter into sink, after leaving
// a CR pending for another sink and Resetting, and checks what every CRLFWriter
// promises along the way: each Write reports all of its input, Written counts
// what the sink got, and a part that comes out unchanged was passed on in a
// single Write of the caller's slice. It returns the output after Close.
func crlfEncode(tb codecTB, sink io.Writer, parts ...[]byte) []byte {
	tb.Helper()
	x := wire.NewCRLFWriter(io.Discard)
	x.Write([]byte("abandoned\r")) // Reset keeps nothing of this
	x.Reset(sink)
	log := logOf(sink)
	for _, p := range parts {
		before, calls := len(log.out), len(log.writes)
		n, err := x.Write(p)
		if n != len(p) || err != nil {
			tb.Fatalf("CRLFWriter.Write(%q) = %d, %v; want %d, nil", p, n, err, len(p))
		}
		if got := x.Written(); got != int64(len(log.out)) {
			tb.Fatalf("after Write(%q): Written() = %d, the writer got %d", p, got, len(log.out))
		}
		if len(p) > 0 && bytes.Equal(log.out[before:], p) {
			// Nothing to change: the fast path, one Write, no copy.
			w := log.writes[calls:]
			if len(w) != 1 || len(w[0]) != len(p) || &w[0][0] != &p[0] {
				tb.Fatalf("CRLFWriter.Write(%q) needed no change but was passed on in %d writes, not as the caller's slice", p, len(w))
			}
		}
	}
	if err := x.Close(); err != nil {
		tb.Fatalf("CRLFWriter.Close: %v", err)
	}
	if got := x.Written(); got != int64(len(log.out)) {
		tb.Fatalf("after Close: Written() = %d, the writer got %d", got, len(log.out))
	}
	if n, err := x.Write([]byte("x")); n != 0 || !errors.Is(err, wire.ErrClosed) {
		tb.Fatalf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	return log.out
}

// checkNormalisation checks, for one body split into parts, that the
// CRLFWriter, the BodyScan and Measure agree with Normalise, and Normalise
// with the test's own reference.
func checkNormalisation(tb codecTB, body []byte, parts [][]byte) {
	tb.Helper()
	want := wire.Normalise(body)
	if ref := refNormalise(body); !bytes.Equal(want, ref) {
		tb.Fatalf("Normalise(%q) = %q, the reference says %q", body, want, ref)
	}
	for _, sink := range crlfSinks {
		if got := crlfEncode(tb, sink.new(), parts...); !bytes.Equal(got, want) {
			tb.Fatalf("CRLFWriter (%s) of %q in writes %q = %q, want %q", sink.name, body, parts, got, want)
		}
	}

	var s wire.BodyScan
	for _, p := range parts {
		s.Scan(p)
	}
	if s.Len() != int64(len(body)) {
		tb.Fatalf("BodyScan of %q in %q: Len() = %d, want %d", body, parts, s.Len(), len(body))
	}
	if s.Size() != int64(len(want)) {
		tb.Fatalf("BodyScan of %q in %q: Size() = %d, want %d", body, parts, s.Size(), len(want))
	}
	if m := wire.Measure(body); m != int64(len(want)) {
		tb.Fatalf("Measure(%q) = %d, want %d", body, m, len(want))
	}
	if clean := bytes.Equal(want, body); s.Clean() != clean {
		tb.Fatalf("BodyScan of %q in %q: Clean() = %v, want %v", body, parts, s.Clean(), clean)
	}
	high := false
	for _, c := range body {
		high = high || c > 127
	}
	if s.EightBit() != high {
		tb.Fatalf("BodyScan of %q: EightBit() = %v, want %v", body, s.EightBit(), high)
	}
	if nul := bytes.IndexByte(body, 0) >= 0; s.NUL() != nul {
		tb.Fatalf("BodyScan of %q: NUL() = %v, want %v", body, s.NUL(), nul)
	}
}

// genNormBody draws a body made mostly of CR, LF, '.', NUL, 0xE9 and
// letters, with an arbitrary octet now and then: every kind of line ending
// next to every octet BodyScan looks for.
func genNormBody(maxLen int) *rapid.Generator[[]byte] {
	common := rapid.SampledFrom([]byte("\r\r\r\n\n\n..\x00\xe9abZ"))
	b := rapid.Custom(func(t *rapid.T) byte {
		if rapid.IntRange(0, 15).Draw(t, "arbitrary") == 0 {
			return rapid.Byte().Draw(t, "any")
		}
		return common.Draw(t, "octet")
	})
	octets := rapid.SliceOfN(b, 0, maxLen)
	return rapid.OneOf(octets, octets, fuzz.Body()) // and fuzz's bodies, made of larger pieces
}

// The CRLFWriter's output, its Written count, the BodyScan's answers and
// Measure all follow from Normalise, however the body is split.
func TestPropertyNormalisation(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genNormBody(300).Draw(t, "body")
		splits := genSplits(len(body)).Draw(t, "splits")
		checkNormalisation(t, body, splitBodyAt(body, splits))
	})
}

// The same on bodies that are clean but for a few octets, long enough for
// the word-at-a-time loops, so that the fast paths are taken and left often.
func TestPropertyNormalisationMostlyClean(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lines := rapid.SliceOfN(rapid.StringMatching(`[a-z.]{0,40}`), 0, 12).Draw(t, "lines")
		body := []byte(strings.Join(lines, "\r\n"))
		if rapid.Bool().Draw(t, "ends a line") {
			body = append(body, "\r\n"...)
		}
		for range rapid.IntRange(0, 2).Draw(t, "changes") {
			if len(body) == 0 {
				break
			}
			i := rapid.IntRange(0, len(body)-1).Draw(t, "at")
			body[i] = rapid.SampledFrom([]byte("\r\n\x00\xe9")).Draw(t, "octet")
		}
		splits := genSplits(len(body)).Draw(t, "splits")
		checkNormalisation(t, body, splitBodyAt(body, splits))
	})
}

func TestCRLFWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"empty", nil, ""},
		{"empty writes", []string{"", ""}, ""},
		{"CR", []string{"\r"}, "\r\n"},
		{"LF", []string{"\n"}, "\r\n"},
		{"CRLF", []string{"\r\n"}, "\r\n"},
		{"no line ending", []string{"a"}, "a\r\n"},
		{"ends with CR", []string{"a\r"}, "a\r\n"},
		{"ends with LF", []string{"a\n"}, "a\r\n"},
		{"ends with CRLF", []string{"a\r\n"}, "a\r\n"},
		{"LF CR", []string{"\n\r"}, "\r\n\r\n"},
		{"CR CR LF LF", []string{"\r\r\n\n"}, "\r\n\r\n\r\n"},
		{"LF then CR inside", []string{"a\n\rb"}, "a\r\n\r\nb\r\n"},
		{"bare CR inside", []string{"a\rb\r\n"}, "a\r\nb\r\n"},
		{"bare LF inside", []string{"a\nb\r\n"}, "a\r\nb\r\n"},
		{"CRLF split", []string{"a\r", "\nb"}, "a\r\nb\r\n"},
		{"CR at a split, then text", []string{"a\r", "b"}, "a\r\nb\r\n"},
		{"CR at a split, then CR", []string{"a\r", "\r"}, "a\r\n\r\n"},
		{"CR at a split, then CRLF", []string{"a\r", "\r\n"}, "a\r\n\r\n"},
		{"CR, empty write, LF", []string{"\r", "", "\n"}, "\r\n"},
		{"CRs one by one", []string{"\r", "\r", "\n"}, "\r\n\r\n"},
		{"LF at a split start", []string{"a", "\nb"}, "a\r\nb\r\n"},
		{"octet by octet", []string{"a", "\r", "\n", "b", "\r", "c", "\n", "d"}, "a\r\nb\r\nc\r\nd\r\n"},
		{"dots are data", []string{".\r\n..\n.\r"}, ".\r\n..\r\n.\r\n"},
		{"smuggling sequence passes unstuffed", []string{"a\n.\nb"}, "a\r\n.\r\nb\r\n"},
		{"NUL and 8-bit untouched", []string{"\x00\xe9\n"}, "\x00\xe9\r\n"},
		{"clean then not", []string{"a\r\nb\r\n", "c\nd"}, "a\r\nb\r\nc\r\nd\r\n"},
		{"not then clean", []string{"c\nd", "\r\ne\r\n"}, "c\r\nd\r\ne\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := make([][]byte, len(tt.writes))
			for i, w := range tt.writes {
				parts[i] = []byte(w)
			}
			body := []byte(strings.Join(tt.writes, ""))
			if got := wire.Normalise(body); string(got) != tt.want {
				t.Errorf("Normalise(%q) = %q, want %q", body, got, tt.want)
			}
			for _, sink := range crlfSinks {
				if got := crlfEncode(t, sink.new(), parts...); string(got) != tt.want {
					t.Errorf("%s writer: got %q, want %q", sink.name, got, tt.want)
				}
			}
			checkNormalisation(t, body, parts)
		})
	}
}

func TestNormaliseNewSlice(t *testing.T) {
	for _, in := range []string{"", "a\r\n", "a"} {
		p := []byte(in)
		out := wire.Normalise(p)
		if out == nil {
			t.Errorf("Normalise(%q) = nil, want an empty slice", in)
		}
		if len(p) > 0 && len(out) > 0 && &out[0] == &p[0] {
			t.Errorf("Normalise(%q) returned its input", in)
		}
	}
}

// A clean body goes to the underlying writer in one Write per Write, as the
// caller's slice; a CR at the end of one Write decides nothing until the next.
func TestCRLFWriterPassesCleanInputWhole(t *testing.T) {
	var log writeLog
	x := wire.NewCRLFWriter(&log)
	parts := [][]byte{
		[]byte("Subject: hi\r\n\r\n"),
		[]byte("line one\r"), // its LF comes next
		[]byte("\nline two\r\n"),
	}
	for _, p := range parts {
		x.Write(p)
	}
	if len(log.writes) != len(parts) {
		t.Fatalf("%d writes to the underlying writer, want %d", len(log.writes), len(parts))
	}
	for i, p := range parts {
		if &log.writes[i][0] != &p[0] || len(log.writes[i]) != len(p) {
			t.Errorf("write %d is not the caller's slice", i)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if len(log.writes) != len(parts) {
		t.Errorf("Close of a terminated body wrote %q", log.writes[len(parts):])
	}
}

func TestCRLFWriterAllocs(t *testing.T) {
	crlf := realisticChunk(64 << 10) // CRLF lines, one in 53 with a bare LF
	clean := bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\n"))
	clean = bytes.ReplaceAll(clean, []byte("\n"), []byte("\r\n"))
	lf := bytes.ReplaceAll(clean, []byte("\r\n"), []byte("\n"))
	cr := bytes.ReplaceAll(clean, []byte("\r\n"), []byte("\r"))
	for _, body := range []struct {
		name string
		data []byte
	}{{"clean", clean}, {"mixed", crlf}, {"LF", lf}, {"CR", cr}} {
		for _, sink := range []struct {
			name string
			w    io.Writer
		}{{"plain", io.Discard}, {"bufio", bufio.NewWriter(io.Discard)}} {
			x := wire.NewCRLFWriter(sink.w)
			allocs := testing.AllocsPerRun(50, func() {
				x.Reset(sink.w)
				if _, err := x.Write(body.data); err != nil {
					t.Fatal(err)
				}
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s body to a %s writer: %v allocations, want 0", body.name, sink.name, allocs)
			}
		}
	}
}

func TestCRLFWriterClose(t *testing.T) {
	var buf bytes.Buffer
	x := wire.NewCRLFWriter(&buf)
	x.Write([]byte("a"))
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); !errors.Is(err, wire.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if n, err := x.Write([]byte("b")); n != 0 || !errors.Is(err, wire.ErrClosed) {
		t.Errorf("Write after Close = %d, %v; want 0, ErrClosed", n, err)
	}
	if got := buf.String(); got != "a\r\n" {
		t.Errorf("output %q, want %q", got, "a\r\n")
	}
	// Close does not close the writer underneath, and Reset reopens.
	var out bytes.Buffer
	x.Reset(&out)
	x.Write([]byte("c\n"))
	if err := x.Close(); err != nil || out.String() != "c\r\n" || x.Written() != 3 {
		t.Errorf("after Reset: %q, Written %d, Close %v", out.String(), x.Written(), err)
	}
}

func TestCRLFWriterStickyError(t *testing.T) {
	errBroken := errors.New("broken pipe")
	for _, body := range []string{"0123456789\r\n0123456789\r\n", "0123456789\n0123456789\n", "0123456789\r0123456789\r"} {
		w := &brokenAfterWriter{limit: 15, err: errBroken}
		x := wire.NewCRLFWriter(w)
		n, err := x.Write([]byte(body))
		if !errors.Is(err, errBroken) || n >= len(body) {
			t.Fatalf("Write(%q) = %d, %v; want less than %d, %v", body, n, err, len(body), errBroken)
		}
		if x.Written() != int64(w.got.Len()) {
			t.Errorf("Write(%q): Written() = %d, the writer took %d", body, x.Written(), w.got.Len())
		}
		calls := w.calls
		if _, err := x.Write([]byte("x")); !errors.Is(err, errBroken) {
			t.Errorf("second Write = %v, want %v", err, errBroken)
		}
		if err := x.Close(); !errors.Is(err, errBroken) {
			t.Errorf("Close = %v, want %v", err, errBroken)
		}
		if w.calls != calls {
			t.Errorf("the underlying writer was called again after it failed")
		}
	}
	t.Run("in Close", func(t *testing.T) {
		w := &brokenAfterWriter{limit: 1, err: errBroken}
		x := wire.NewCRLFWriter(w)
		if _, err := x.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); !errors.Is(err, errBroken) {
			t.Fatalf("Close = %v, want %v", err, errBroken)
		}
		if err := x.Close(); !errors.Is(err, errBroken) {
			t.Errorf("second Close = %v, want %v", err, errBroken)
		}
	})
}

// A CRLFWriter in front of a BDATWriter frames the normalised body, with the
// size BodyScan announced.
func TestCRLFWriterIntoBDAT(t *testing.T) {
	body := []byte("Subject: hi\n\nline\rlast")
	var conn bytes.Buffer
	b := wire.NewBDATWriter(&conn, 8)
	x := wire.NewCRLFWriter(b)
	x.Write(body)
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	norm := wire.Normalise(body)
	if want := refBDATFrame(norm, 8); !bytes.Equal(conn.Bytes(), want) {
		t.Errorf("got %q, want %q", conn.Bytes(), want)
	}
	if x.Written() != wire.Measure(body) {
		t.Errorf("Written() = %d, Measure = %d", x.Written(), wire.Measure(body))
	}
}
