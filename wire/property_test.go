package wire_test

// Property tests for the DATA and BDAT codecs, with rapid. The generators
// favour the bytes that matter to the codecs ('.', CR, LF) so that the
// interesting sequences ("\r\n.\r\n", "\n.\n", CR at a Write boundary) come
// up in almost every case; the reference implementations below (refNormalise,
// refDotEncode, refDotDecode, refBDATFrame, refBDATDecode) are deliberately
// naive byte loops that share no code with the package.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"testing"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

// codecTB is what the checks below need of a *testing.T or a *rapid.T, so
// that the property tests and the fuzz targets share them.
type codecTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// refNormalise returns x with every CRLF, bare CR and bare LF turned into
// CRLF, and a CRLF added when x is not empty and does not end with a line
// ending: package fuzz's reference, written apart from the encoder.
var refNormalise = fuzz.Normalise

// refDotEncode is the DATA encoding by the book: normalise, double the '.'
// that starts a line, add ".\r\n".
func refDotEncode(body []byte) []byte {
	norm := refNormalise(body)
	out := make([]byte, 0, len(norm)+len(norm)/8+3)
	lineStart := true
	for _, c := range norm {
		if lineStart && c == '.' {
			out = append(out, '.')
		}
		out = append(out, c)
		lineStart = c == '\n'
	}
	return append(out, ".\r\n"...)
}

// refDotResult is what refDotDecode makes of a stream.
type refDotResult struct {
	data     []byte // the decoded data up to the end (or up to where the stream ends)
	rest     []byte // the bytes after the end-of-data line
	complete bool   // the end-of-data line was found
	maxLine  int    // the longest line as sent, CRLF included (an unterminated last line counts)
}

// refDotDecode decodes a DATA stream as RFC 5321 §4.5.2 says, where only CRLF
// ends a line.
func refDotDecode(s []byte) refDotResult {
	var r refDotResult
	pos := 0
	for {
		if bytes.HasPrefix(s[pos:], []byte(".\r\n")) {
			r.complete, r.rest = true, s[pos+3:]
			return r
		}
		end := bytes.Index(s[pos:], []byte("\r\n"))
		var line []byte
		if end < 0 {
			line = s[pos:]
		} else {
			line = s[pos : pos+end+2]
		}
		r.maxLine = max(r.maxLine, len(line))
		if len(line) > 0 && line[0] == '.' {
			line = line[1:]
		}
		r.data = append(r.data, line...)
		if end < 0 {
			return r // the stream ends inside this line
		}
		pos += end + 2
	}
}

// refBDATFrame frames body in chunks of size octets, as RFC 3030 §2 and the
// BDATWriter's documentation describe.
func refBDATFrame(body []byte, size int) []byte {
	var out []byte
	for {
		n := min(size, len(body))
		out = append(out, "BDAT "...)
		out = strconv.AppendInt(out, int64(n), 10)
		if n == len(body) {
			out = append(out, " LAST\r\n"...)
			return append(out, body...)
		}
		out = append(out, "\r\n"...)
		out = append(out, body[:n]...)
		body = body[n:]
	}
}

// refChunk is one chunk of a BDAT stream.
type refChunk struct {
	size int64
	last bool
}

// refBDATDecode parses a chunk stream strictly: "BDAT" SP 1*18DIGIT
// [SP "LAST"] CRLF, case-insensitive words, chunks of at most maxChunk
// octets. ok is false when the stream is malformed or ends too early; data
// then holds what came before the failure.
func refBDATDecode(s []byte, maxChunk int64) (data, rest []byte, chunks []refChunk, ok bool) {
	for {
		nl := bytes.IndexByte(s, '\n')
		if nl < 0 {
			return data, nil, chunks, false
		}
		line := s[:nl+1]
		s = s[nl+1:]
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return data, nil, chunks, false
		}
		line = line[:len(line)-2]
		upper := bytes.ToUpper(line)
		if !bytes.HasPrefix(upper, []byte("BDAT ")) {
			return data, nil, chunks, false
		}
		digits := line[5:]
		last := false
		if bytes.HasSuffix(upper, []byte(" LAST")) && len(digits) > 5 {
			digits, last = digits[:len(digits)-5], true
		}
		if len(digits) == 0 || len(digits) > 18 {
			return data, nil, chunks, false
		}
		var size int64
		for _, c := range digits {
			if c < '0' || c > '9' {
				return data, nil, chunks, false
			}
			size = size*10 + int64(c-'0')
		}
		if size > maxChunk {
			return data, nil, chunks, false
		}
		if int64(len(s)) < size {
			return append(data, s...), nil, chunks, false
		}
		data = append(data, s[:size]...)
		s = s[size:]
		chunks = append(chunks, refChunk{size, last})
		if last {
			return data, s, chunks, true
		}
	}
}

// dotEncode encodes the writes with a DotWriter on a plain writer and checks
// that every Write reports the whole of its input.
func dotEncode(tb codecTB, writes ...[]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	d := wire.NewDotWriter(&buf)
	for _, p := range writes {
		n, err := d.Write(p)
		if n != len(p) || err != nil {
			tb.Fatalf("DotWriter.Write(%q) = %d, %v; want %d, nil", p, n, err, len(p))
		}
	}
	if err := d.Close(); err != nil {
		tb.Fatalf("DotWriter.Close: %v", err)
	}
	return buf.Bytes()
}

// dotDecode decodes a complete DATA stream with a line limit that is never in
// the way, and returns the data and what followed the end.
func dotDecode(s []byte) (data, rest []byte, err error) {
	br := bufio.NewReader(bytes.NewReader(s))
	d := wire.NewDotReader(br)
	d.SetMaxDataLineLength(len(s) + 3)
	data, err = io.ReadAll(d)
	if err != nil {
		return data, nil, err
	}
	rest, _ = io.ReadAll(br)
	return data, rest, nil
}

// bdatFrame frames the writes with a BDATWriter on a plain writer and returns
// the output and the number of chunks.
func bdatFrame(tb codecTB, size int, writes ...[]byte) ([]byte, int) {
	tb.Helper()
	var buf bytes.Buffer
	b := wire.NewBDATWriter(&buf, size)
	for _, p := range writes {
		n, err := b.Write(p)
		if n != len(p) || err != nil {
			tb.Fatalf("BDATWriter.Write(%q) = %d, %v; want %d, nil", p, n, err, len(p))
		}
	}
	if err := b.Close(); err != nil {
		tb.Fatalf("BDATWriter.Close: %v", err)
	}
	return buf.Bytes(), b.Chunks()
}

// splitBodyAt cuts p at the given offsets (any order, out-of-range ones clamped).
func splitBodyAt(p []byte, offsets []int) [][]byte {
	offs := make([]int, 0, len(offsets)+2)
	offs = append(offs, 0)
	for _, o := range offsets {
		offs = append(offs, min(max(o, 0), len(p)))
	}
	offs = append(offs, len(p))
	slices.Sort(offs)
	parts := make([][]byte, 0, len(offs)-1)
	for i := 1; i < len(offs); i++ {
		parts = append(parts, p[offs[i-1]:offs[i]])
	}
	return parts
}

// checkDotOutput reports what is wrong with out as the DATA encoding of a
// body (empty or not): property (c).
func checkDotOutput(out []byte, emptyBody bool) error {
	for i, c := range out {
		if c == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
			return errors.New("CR not followed by LF at " + strconv.Itoa(i))
		}
		if c == '\n' && (i == 0 || out[i-1] != '\r') {
			return errors.New("LF not preceded by CR at " + strconv.Itoa(i))
		}
	}
	if emptyBody {
		if string(out) != ".\r\n" {
			return errors.New("empty body not encoded as \".\\r\\n\"")
		}
		return nil
	}
	if bytes.HasPrefix(out, []byte(".\r\n")) {
		return errors.New("non-empty body starts with the end-of-data line")
	}
	end := bytes.Index(out, []byte("\r\n.\r\n"))
	if end < 0 || end != len(out)-5 {
		return errors.New("end-of-data at " + strconv.Itoa(end) + ", want only at " + strconv.Itoa(len(out)-5))
	}
	lines := bytes.Split(out[:len(out)-3], []byte("\r\n"))
	lines = lines[:len(lines)-1] // the empty string after the last CRLF
	for i, line := range lines {
		if len(line) > 0 && line[0] == '.' && !bytes.HasPrefix(line, []byte("..")) {
			return errors.New("line " + strconv.Itoa(i) + " starts with an unstuffed '.'")
		}
	}
	return nil
}

// genBody draws a message body: two times in three one made mostly of
// '.', CR, LF and 'a', with an arbitrary byte now and then (up to maxLen
// octets, and quick to shrink); else one of fuzz.Body's, made of larger
// pieces (every end-of-data lookalike, NUL, 8-bit octets, lines past 998
// octets).
func genBody(maxLen int) *rapid.Generator[[]byte] {
	interesting := rapid.SampledFrom([]byte{'.', '.', '\r', '\r', '\n', '\n', 'a', 'a', 'a'})
	b := rapid.Custom(func(t *rapid.T) byte {
		if rapid.IntRange(0, 9).Draw(t, "arbitrary") == 0 {
			return rapid.Byte().Draw(t, "any")
		}
		return interesting.Draw(t, "byte")
	})
	octets := rapid.SliceOfN(b, 0, maxLen)
	return rapid.OneOf(octets, octets, fuzz.Body())
}

// genSplits draws up to 8 offsets into a body of length n.
func genSplits(n int) *rapid.Generator[[]int] {
	return rapid.SliceOfN(rapid.IntRange(0, n), 0, 8)
}

// Property (a): decode(encode(body)) == normalise(body), and the encoding is
// the reference one.
func TestPropertyDotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genBody(300).Draw(t, "body")
		enc := dotEncode(t, body)
		if want := refDotEncode(body); !bytes.Equal(enc, want) {
			t.Fatalf("encode(%q) = %q, want %q", body, enc, want)
		}
		dec, rest, err := dotDecode(enc)
		if err != nil {
			t.Fatalf("decode(%q): %v", enc, err)
		}
		if want := refNormalise(body); !bytes.Equal(dec, want) {
			t.Fatalf("decode(encode(%q)) = %q, want %q", body, dec, want)
		}
		if len(rest) != 0 {
			t.Fatalf("decode(encode(%q)) left %q", body, rest)
		}
	})
}

// Property (b): the encoding does not depend on how the body is split across
// Write calls.
func TestPropertyDotSplitIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genBody(300).Draw(t, "body")
		splits := genSplits(len(body)).Draw(t, "splits")
		whole := dotEncode(t, body)
		parts := splitBodyAt(body, splits)
		if got := dotEncode(t, parts...); !bytes.Equal(got, whole) {
			t.Fatalf("encode of %q in writes %q = %q, want %q", body, parts, got, whole)
		}
	})
}

// Property (c): the encoding holds only CRLF line endings, stuffs every line
// that starts with '.', and has exactly one end-of-data line, at the end.
func TestPropertyDotOutputStructure(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genBody(300).Draw(t, "body")
		splits := genSplits(len(body)).Draw(t, "splits")
		out := dotEncode(t, splitBodyAt(body, splits)...)
		if err := checkDotOutput(out, len(body) == 0); err != nil {
			t.Fatalf("encode(%q) = %q: %v", body, out, err)
		}
	})
}

// Property (d): BDAT framing is exact, depends on the chunk size only, and
// decodes back to the body.
func TestPropertyBDATRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genBody(200).Draw(t, "body")
		size := rapid.IntRange(1, 40).Draw(t, "chunkSize")
		splits := genSplits(len(body)).Draw(t, "splits")
		checkBDAT(t, body, size, splitBodyAt(body, splits))
	})
}

// checkBDAT checks property (d) for one body, chunk size and split.
func checkBDAT(t codecTB, body []byte, size int, parts [][]byte) {
	t.Helper()
	whole, chunks := bdatFrame(t, size, body)
	if want := refBDATFrame(body, size); !bytes.Equal(whole, want) {
		t.Fatalf("frame(%q, %d) = %q, want %q", body, size, whole, want)
	}
	split, splitChunks := bdatFrame(t, size, parts...)
	if !bytes.Equal(split, whole) || splitChunks != chunks {
		t.Fatalf("frame of %q in writes %q = %q (%d chunks), want %q (%d chunks)", body, parts, split, splitChunks, whole, chunks)
	}
	wantChunks := max(1, (len(body)+size-1)/size)
	if chunks != wantChunks {
		t.Fatalf("frame(%q, %d): Chunks() = %d, want %d", body, size, chunks, wantChunks)
	}

	data, rest, refChunks, ok := refBDATDecode(whole, 1<<40)
	if !ok || len(rest) != 0 || !bytes.Equal(data, body) {
		t.Fatalf("frame(%q, %d) = %q does not parse back by the reference parser", body, size, whole)
	}
	for i, c := range refChunks {
		if i < len(refChunks)-1 && (c.size != int64(size) || c.last) {
			t.Fatalf("frame(%q, %d): chunk %d is %+v, want %d octets, not LAST", body, size, i, c, size)
		}
		if i == len(refChunks)-1 && (!c.last || c.size > int64(size) || (c.size == 0) != (len(body) == 0)) {
			t.Fatalf("frame(%q, %d): last chunk is %+v", body, size, c)
		}
	}

	br := bufio.NewReader(bytes.NewReader(whole))
	r := wire.NewBDATReader(br)
	var seen []refChunk
	r.OnChunk(func(size int64, last bool) error {
		seen = append(seen, refChunk{size, last})
		return nil
	})
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("decode(frame(%q, %d)) = %q, %v; want the body", body, size, got, err)
	}
	if !slices.Equal(seen, refChunks) {
		t.Fatalf("decode(frame(%q, %d)): OnChunk saw %v, want %v", body, size, seen, refChunks)
	}
	if br.Buffered() != 0 {
		t.Fatalf("decode(frame(%q, %d)) left %d bytes", body, size, br.Buffered())
	}
}

// Property (f): the DATA encoding, un-stuffed and without its end-of-data
// line, is the package's own Normalise of the body, in writes split anywhere:
// DATA and a normalising BDAT send the same message, of the size Measure
// gives (RFC 1870 §3 leaves the dot-stuffing out).
func TestPropertyDotWriterNormalises(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := genBody(300).Draw(t, "body")
		splits := genSplits(len(body)).Draw(t, "splits")
		checkDotNormalises(t, body, splitBodyAt(body, splits))
	})
}

// checkDotNormalises checks property (f) for one body and split.
func checkDotNormalises(t codecTB, body []byte, parts [][]byte) {
	t.Helper()
	enc := dotEncode(t, parts...)
	want := wire.Normalise(body)
	// Un-stuffed by hand: drop the end-of-data line and the first '.' of
	// every line that starts with one.
	if !bytes.HasSuffix(enc, []byte(".\r\n")) {
		t.Fatalf("encode(%q) = %q has no end-of-data line", body, enc)
	}
	var unstuffed []byte
	lines := bytes.SplitAfter(enc[:len(enc)-3], []byte("\r\n"))
	for _, line := range lines {
		unstuffed = append(unstuffed, bytes.TrimPrefix(line, []byte("."))...)
	}
	if !bytes.Equal(unstuffed, want) {
		t.Fatalf("encode(%q) in writes %q, un-stuffed = %q, want Normalise = %q", body, parts, unstuffed, want)
	}
	// And by the DotReader.
	dec, rest, err := dotDecode(enc)
	if err != nil || len(rest) != 0 || !bytes.Equal(dec, want) {
		t.Fatalf("decode(encode(%q)) = %q, %v, rest %q; want %q", body, dec, err, rest, want)
	}
	if m := wire.Measure(body); m != int64(len(dec)) {
		t.Fatalf("Measure(%q) = %d, the DATA encoding carries %d octets", body, m, len(dec))
	}
}

// Property (e): a DotReader on arbitrary bytes followed by "\r\n.\r\n" does
// not panic, agrees with the reference decoder, and what it returns survives
// an encode and decode as its normal form.
func TestPropertyDotDecodeArbitrary(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prefix := genBody(300).Draw(t, "prefix")
		checkDotDecodeArbitrary(t, prefix)
	})
}

// checkDotDecodeArbitrary checks property (e) for one stream prefix.
func checkDotDecodeArbitrary(t codecTB, prefix []byte) {
	t.Helper()
	stream := append(slices.Clip(prefix), "\r\n.\r\n"...)
	ref := refDotDecode(stream)
	if !ref.complete {
		t.Fatalf("reference decoder found no end in %q", stream)
	}
	out, rest, err := dotDecode(stream)
	if err != nil {
		t.Fatalf("decode(%q): %v", stream, err)
	}
	if !bytes.Equal(out, ref.data) || !bytes.Equal(rest, ref.rest) {
		t.Fatalf("decode(%q) = %q, rest %q; want %q, rest %q", stream, out, rest, ref.data, ref.rest)
	}
	again, _, err := dotDecode(dotEncode(t, out))
	if err != nil {
		t.Fatalf("decode(encode(%q)): %v", out, err)
	}
	if want := refNormalise(out); !bytes.Equal(again, want) {
		t.Fatalf("decode(encode(%q)) = %q, want %q", out, again, want)
	}
}

// The reference implementations are themselves checked on a few cases, so
// that a property failure points at the package and not at the test.
func TestReferenceImplementations(t *testing.T) {
	norm := []struct{ in, want string }{
		{"", ""},
		{"a", "a\r\n"},
		{"a\r", "a\r\n"},
		{"a\n", "a\r\n"},
		{"a\r\n", "a\r\n"},
		{"\r\r\n\n\r", "\r\n\r\n\r\n\r\n"},
		{"a\n\rb", "a\r\n\r\nb\r\n"},
	}
	for _, tt := range norm {
		if got := refNormalise([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("refNormalise(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := refDotEncode([]byte(".a\n.")); string(got) != "..a\r\n..\r\n.\r\n" {
		t.Errorf("refDotEncode = %q", got)
	}
	r := refDotDecode([]byte("..a\r\nb\n.\n\r\n.\r\nrest"))
	if string(r.data) != ".a\r\nb\n.\n\r\n" || string(r.rest) != "rest" || !r.complete || r.maxLine != 6 {
		t.Errorf("refDotDecode = %+v", r)
	}
	if got := refBDATFrame([]byte("abcde"), 2); string(got) != "BDAT 2\r\nabBDAT 2\r\ncdBDAT 1 LAST\r\ne" {
		t.Errorf("refBDATFrame = %q", got)
	}
	data, rest, chunks, ok := refBDATDecode([]byte("bdat 2\r\nabBDAT 0\r\nBDAT 1 last\r\ncxyz"), 10)
	if string(data) != "abc" || string(rest) != "xyz" || !ok || len(chunks) != 3 {
		t.Errorf("refBDATDecode = %q, %q, %v, %v", data, rest, chunks, ok)
	}
}
