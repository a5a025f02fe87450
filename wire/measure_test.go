package wire_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/wire"
)

func TestBodyScan(t *testing.T) {
	tests := []struct {
		name     string
		scans    []string
		size     int64
		clean    bool
		eightBit bool
		nul      bool
	}{
		{"nothing", nil, 0, true, false, false},
		{"empty scans", []string{"", ""}, 0, true, false, false},
		{"CR", []string{"\r"}, 2, false, false, false},
		{"LF", []string{"\n"}, 2, false, false, false},
		{"CRLF", []string{"\r\n"}, 2, true, false, false},
		{"no line ending", []string{"a"}, 3, false, false, false},
		{"ends with CR", []string{"a\r"}, 3, false, false, false},
		{"ends with LF", []string{"a\n"}, 3, false, false, false},
		{"ends with CRLF", []string{"a\r\n"}, 3, true, false, false},
		{"LF CR", []string{"\n\r"}, 4, false, false, false},
		{"CR CR LF LF", []string{"\r\r\n\n"}, 6, false, false, false},
		{"CRLF split", []string{"a\r", "\n"}, 3, true, false, false},
		{"CRLF split by an empty scan", []string{"a\r", "", "\n"}, 3, true, false, false},
		{"CR at a split, then CRLF", []string{"a\r", "\r\n"}, 5, false, false, false},
		{"CR at a split, then text", []string{"a\r", "b"}, 6, false, false, false},
		{"LF at a split start", []string{"a", "\nb\r\n"}, 6, false, false, false},
		{"LF then CRLF across scans", []string{"\n", "\r\n"}, 4, false, false, false},
		{"dots count as they are", []string{".\r\n..\r\n"}, 7, true, false, false},
		{"8-bit", []string{"caf\xe9\r\n"}, 6, true, true, false},
		{"DEL is 7-bit", []string{"\x7f\r\n"}, 3, true, false, false},
		{"NUL", []string{"a\x00b\r\n"}, 5, true, false, true},
		{"NUL and 8-bit in later scans", []string{"ab\r\n", "\x00", "\xff\r\n"}, 8, true, true, true},
		{"long clean text", []string{strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz\r\n", 20)}, 760, true, false, false},
		{"long LF text", []string{strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz\n", 20)}, 760, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s wire.BodyScan
			var body []byte
			for _, p := range tt.scans {
				s.Scan([]byte(p))
				body = append(body, p...)
			}
			if s.Len() != int64(len(body)) || s.Size() != tt.size || s.Clean() != tt.clean || s.EightBit() != tt.eightBit || s.NUL() != tt.nul {
				t.Errorf("Len %d, Size %d, Clean %v, EightBit %v, NUL %v; want %d, %d, %v, %v, %v",
					s.Len(), s.Size(), s.Clean(), s.EightBit(), s.NUL(),
					len(body), tt.size, tt.clean, tt.eightBit, tt.nul)
			}
			if m := wire.Measure(body); m != tt.size {
				t.Errorf("Measure = %d, want %d", m, tt.size)
			}
			parts := make([][]byte, len(tt.scans))
			for i, p := range tt.scans {
				parts[i] = []byte(p)
			}
			checkNormalisation(t, body, parts)
		})
	}
}

// An octet above 127 is seen wherever it is, in the 32-octet loop, the
// 8-octet loop or the tail, and whatever the alignment of the scan.
func TestBodyScanEightBitEveryOffset(t *testing.T) {
	for n := 1; n <= 100; n++ {
		for i := range n {
			p := bytes.Repeat([]byte{'a'}, n)
			p[i] = 0x80
			var s wire.BodyScan
			s.Scan(p[:i])
			if s.EightBit() {
				t.Fatalf("EightBit after %d ASCII octets", i)
			}
			s.Scan(p[i:])
			if !s.EightBit() {
				t.Fatalf("0x80 at %d of %d octets not seen", i, n)
			}
			var whole wire.BodyScan
			whole.Scan(p)
			if !whole.EightBit() {
				t.Fatalf("0x80 at %d of %d octets not seen in one scan", i, n)
			}
		}
	}
}

func TestBodyScanAllocs(t *testing.T) {
	body := realisticChunk(64 << 10)
	allocs := testing.AllocsPerRun(50, func() {
		var s wire.BodyScan
		s.Scan(body)
		if s.Size() == 0 {
			t.Fatal("nothing measured")
		}
	})
	if allocs != 0 {
		t.Errorf("Scan of a 64 KiB chunk: %v allocations, want 0", allocs)
	}
}
