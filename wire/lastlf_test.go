package wire

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// TestLastLF: the word-at-a-time search agrees with bytes.LastIndexByte,
// octets that differ from LF in one bit (0x0b, 0x8a, 0x0e, 0x2a) and LFs
// next to them included, on every range.
func TestLastLF(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.SliceOfN(rapid.SampledFrom([]byte{'\n', 'a', '\r', 0x0b, 0x8a, 0x0e, 0x2a, 0x00, 0xff, 0x7f}), 0, 100).Draw(t, "p")
		to := rapid.IntRange(0, len(p)).Draw(t, "to")
		from := rapid.IntRange(0, to).Draw(t, "from")
		want := bytes.LastIndexByte(p[from:to], '\n')
		if want >= 0 {
			want += from
		}
		if got := lastLF(p, from, to); got != want {
			t.Fatalf("lastLF(%q, %d, %d) = %d, want %d", p, from, to, got, want)
		}
	})
}
