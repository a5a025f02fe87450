package session

import (
	"bytes"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

// inspect sees an in-memory body from its current offset, without moving
// it, and measures it as wire does, whatever the reader's type; a body it
// cannot see is never called clean.
func TestPropertyInspect(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		body := rapid.SliceOf(rapid.SampledFrom([]byte("ab\r\n.\x00\xe9"))).Draw(t, "body")
		skip := rapid.IntRange(0, len(body)).Draw(t, "skip")
		rest := body[skip:]
		buf := make([]byte, rapid.IntRange(1, 8).Draw(t, "buf"))
		readers := map[string]interface {
			Len() int
			Read([]byte) (int, error)
		}{
			"bytes.Reader":   bytes.NewReader(body),
			"strings.Reader": strings.NewReader(string(body)),
		}
		for name, r := range readers {
			r.Read(make([]byte, skip))
			s := inspect(r, buf, new(wire.BodyScan))
			if s.size() != wire.Measure(rest) || s.clean() != bytes.Equal(wire.Normalise(rest), rest) {
				t.Fatalf("%s: size %d clean %v, want %d %v", name, s.size(), s.clean(), wire.Measure(rest), bytes.Equal(wire.Normalise(rest), rest))
			}
			if r.Len() != len(rest) {
				t.Fatalf("%s: inspect moved the reader", name)
			}
		}
		s := inspect(bytes.NewBuffer(rest), buf, new(wire.BodyScan))
		if s.size() != wire.Measure(rest) || s.NUL() != (bytes.IndexByte(rest, 0) >= 0) {
			t.Fatalf("bytes.Buffer: size %d, want %d", s.size(), wire.Measure(rest))
		}
		unseen := inspect(struct{ *bytes.Reader }{bytes.NewReader(rest)}, buf, new(wire.BodyScan))
		if unseen.clean() || unseen.size() != int64(len(rest)) {
			t.Fatalf("a body with only Len: clean %v size %d", unseen.clean(), unseen.size())
		}
	})
}
