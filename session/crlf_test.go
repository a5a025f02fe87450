package session

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// crlfReference is the line-ending rule written the slow, obvious way:
// every CR not followed by LF and every LF not preceded by CR becomes
// CRLF, and a body that does not end with a line ending gets one.
func crlfReference(p []byte) []byte {
	var out []byte
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case p[i] == '\r' || p[i] == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, p[i])
		}
	}
	if len(p) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}

// The BDAT line-ending writer and the SIZE scan agree with the reference
// however the body is split into writes, and the fast paths agree with
// the slow ones.
func TestPropertyCRLFWriterAndScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := rapid.SliceOf(rapid.SampledFrom([]byte("ab\r\n.\x00\xe9"))).Draw(t, "body")
		cuts := rapid.SliceOfN(rapid.IntRange(0, len(body)), 0, 6).Draw(t, "cuts")
		var out bytes.Buffer
		w := crlfWriter{w: &out}
		var s bodyScan
		prev := 0
		for _, c := range append(cuts, len(body)) {
			if c < prev {
				continue
			}
			if _, err := w.Write(body[prev:c]); err != nil {
				t.Fatal(err)
			}
			s.scan(body[prev:c])
			prev = c
		}
		if err := w.finish(); err != nil {
			t.Fatal(err)
		}
		want := crlfReference(body)
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("crlfWriter(%q) = %q, want %q", body, out.Bytes(), want)
		}
		if w.n != int64(len(want)) {
			t.Fatalf("crlfWriter counted %d octets, wrote %d", w.n, len(want))
		}
		if s.size() != int64(len(want)) {
			t.Fatalf("bodyScan.size(%q) = %d, want %d", body, s.size(), len(want))
		}
		high := false
		for _, b := range body {
			high = high || b >= 0x80
		}
		if s.nul != (bytes.IndexByte(body, 0) >= 0) || s.eightBit != high {
			t.Fatalf("bodyScan flags nul=%v eightBit=%v for %q", s.nul, s.eightBit, body)
		}
	})
}
