package benchfixture

import (
	"bytes"
	"io"
	"testing"
)

// Text is the same on every call, in whole lines of the stated length,
// with a dot-leading line now and then; TextAtLeast is the fewest lines
// that reach the size.
func TestText(t *testing.T) {
	a, b := Text(1000, "\r\n"), Text(1000, "\r\n")
	if !bytes.Equal(a, b) || len(a) != 1000*78 {
		t.Fatalf("two calls differ or the size is %d, want %d", len(a), 1000*78)
	}
	lines := bytes.SplitAfter(a, []byte("\r\n"))
	dots := 0
	for _, l := range lines[:len(lines)-1] {
		if len(l) != TextLineLength+2 || bytes.ContainsAny(l[:TextLineLength], "\r\n") {
			t.Fatalf("line %q", l)
		}
		if l[0] == '.' {
			dots++
		}
	}
	if dots == 0 || dots > 30 {
		t.Errorf("%d lines of 1000 start with a dot, want about 10", dots)
	}
	if lf := Text(1000, "\n"); !bytes.Equal(bytes.ReplaceAll(a, []byte("\r\n"), []byte("\n")), lf) {
		t.Error("the LF text is not the CRLF text with other line ends")
	}
	for _, size := range []int{1, 77, 78, 79, 1 << 16} {
		got := len(TextAtLeast(size, "\r\n"))
		if got < size || got-size >= 78 {
			t.Errorf("TextAtLeast(%d) is %d octets", size, got)
		}
	}
}

func TestWriteChunksAndCountingWriter(t *testing.T) {
	var sizes []int
	w := writerFunc(func(p []byte) (int, error) { sizes = append(sizes, len(p)); return len(p), nil })
	WriteChunks(t, w, make([]byte, 2*ChunkSize+5))
	if len(sizes) != 3 || sizes[0] != ChunkSize || sizes[1] != ChunkSize || sizes[2] != 5 {
		t.Errorf("writes of %v", sizes)
	}
	var c CountingWriter
	io.WriteString(&c, "abc")
	io.WriteString(&c, "de")
	if c.N != 5 {
		t.Errorf("counted %d, want 5", c.N)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRepeatReader(t *testing.T) {
	buf := make([]byte, 7)
	r := &RepeatReader{Data: []byte("abc")}
	if n, err := r.Read(buf); n != 7 || err != nil || string(buf) != "abcabca" {
		t.Fatalf("read %d %q %v", n, buf, err)
	}
	if n, _ := r.Read(buf[:4]); string(buf[:n]) != "bcab" {
		t.Errorf("second read %q, want it to go on where the first stopped", buf[:n])
	}
}
