package msghdr

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// countingReader counts the bytes Read has taken from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// headerOf returns header fields, eol-terminated, of exactly n bytes
// (n >= 60): From, To, then X-Pad lines of at most 1000 bytes.
func headerOf(n int, eol string) string {
	var b strings.Builder
	b.WriteString("From: alice@example.org" + eol + "To: bob@example.org" + eol)
	pad := func(size int) { // one line of exactly size bytes
		b.WriteString("X-Pad: ")
		b.WriteString(strings.Repeat("p", size-len("X-Pad: ")-len(eol)))
		b.WriteString(eol)
	}
	rem := n - b.Len()
	for rem >= 2000 {
		pad(1000)
		rem -= 1000
	}
	switch {
	case rem >= 1000:
		pad(rem / 2)
		pad(rem - rem/2)
	case rem > 0:
		pad(rem)
	}
	if b.Len() != n {
		panic("headerOf: wrong size")
	}
	return b.String()
}

func TestReadBound(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name    string
		block   string // the header block: fields and, if any, the empty line
		max     int
		bufSize int
		tooBig  bool
		allHead bool // no empty line: no body follows
	}{
		{name: "exactly at the bound", block: headerOf(mib-2, "\r\n") + "\r\n", max: mib},
		{name: "one byte over", block: headerOf(mib-1, "\r\n") + "\r\n", max: mib, tooBig: true},
		{name: "2 MiB against 1 MiB", block: headerOf(2*mib-2, "\r\n") + "\r\n", max: mib, tooBig: true},
		{name: "default bound, at it", block: headerOf(DefaultMaxHeaderBytes-1, "\n") + "\n", max: 0},
		{name: "default bound, over it", block: headerOf(DefaultMaxHeaderBytes, "\n") + "\n", max: 0, tooBig: true},
		{name: "negative is the default", block: headerOf(DefaultMaxHeaderBytes-1, "\n") + "\n", max: -1},
		{name: "negative is the default, over it", block: headerOf(DefaultMaxHeaderBytes, "\n") + "\n", max: -5, tooBig: true},
		{name: "no empty line, at the bound", block: headerOf(1000, "\r\n"), max: 1000, allHead: true},
		{name: "no empty line, over the bound", block: headerOf(1001, "\r\n"), max: 1000, tooBig: true, allHead: true},
		{name: "small bound, small buffer, at it", block: headerOf(98, "\n") + "\n", max: 99, bufSize: 16},
		{name: "small bound, small buffer, over it", block: headerOf(99, "\n") + "\n", max: 99, bufSize: 16, tooBig: true},
		{name: "one 2 MiB line", block: "X-Long: " + strings.Repeat("y", 2*mib), max: mib, tooBig: true},
		{name: "2 MiB with no line ending", block: strings.Repeat("z", 2*mib), max: mib, tooBig: true},
		{name: "2 MiB of one folded field", block: "To: bob@example.org" + strings.Repeat(",\r\n bob@example.org", 2*mib/20) + "\r\n\r\n", max: mib, tooBig: true},
	}
	const body = "Body line one.\r\nBody line two.\r\n"
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bufSize := c.bufSize
			if bufSize == 0 {
				bufSize = 4096 // bufio's default
			}
			in := c.block + body
			if c.allHead {
				in = c.block
			}
			src := &countingReader{r: strings.NewReader(in)}
			br := bufio.NewReaderSize(src, bufSize)
			env, header, err := Read(br, c.max)
			bound := c.max
			if bound <= 0 {
				bound = DefaultMaxHeaderBytes
			}
			if c.tooBig {
				if !errors.Is(err, ErrHeaderTooLarge) || header != nil {
					t.Fatalf("Read = %q, %d header bytes, %v; want ErrHeaderTooLarge", env, len(header), err)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("err %T is not an *Error", err)
				}
				if src.n > bound+bufSize {
					t.Errorf("read %d bytes from the source, more than the bound %d and the buffer %d", src.n, bound, bufSize)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if string(header) != c.block {
				t.Errorf("header is not the block (%d bytes against %d)", len(header), len(c.block))
			}
			if env.From != "alice@example.org" || len(env.To) != 1 || env.To[0] != "bob@example.org" {
				t.Errorf("envelope %q", env)
			}
			rest, _ := io.ReadAll(br)
			want := body
			if c.allHead {
				want = ""
			}
			if string(rest) != want {
				t.Errorf("left in r: %q, want %q", rest, want)
			}
		})
	}
}
