package wire_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"pgregory.net/rapid"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

func TestAppendReply(t *testing.T) {
	tests := []struct {
		name  string
		reply response.Reply
		want  string
	}{
		{"one line", response.New(250, "2.1.0 OK"), "250 2.1.0 OK\r\n"},
		{"empty text", response.Reply{Code: 250}, "250 \r\n"},
		{"multiline", response.New(250, "mx.example.org greets c.example", "PIPELINING", "SIZE 10240000"),
			"250-mx.example.org greets c.example\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n"},
		{"empty lines", response.New(554, "", "", ""), "554-\r\n554-\r\n554 \r\n"},
		{"CR is text", response.New(250, "a\rb", "c\r"), "250-a\rb\r\n250 c\r\r\n"},
		{"zero-padded code", response.New(42, "odd"), "042 odd\r\n"},
		{"code 0", response.New(0, "odd"), "000 odd\r\n"},
		{"negative code", response.New(-5, "odd"), "000 odd\r\n"},
		{"four digits", response.New(1234, "odd"), "1234 odd\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("kept")
			got := wire.AppendReply(prefix, tt.reply)
			if string(got) != "kept"+tt.want {
				t.Errorf("AppendReply = %q, want %q", got, "kept"+tt.want)
			}
		})
	}
}

// genReplyLine draws the text of one reply line: no LF, with CR, spaces,
// digits and dots (which make enhanced codes) over-represented.
func genReplyLine(maxLen int) *rapid.Generator[string] {
	b := rapid.Custom(func(t *rapid.T) byte {
		if rapid.IntRange(0, 4).Draw(t, "arbitrary") == 0 {
			c := rapid.Byte().Draw(t, "any")
			if c == '\n' {
				c = '\r'
			}
			return c
		}
		return rapid.SampledFrom([]byte("2345.0 \rax\x00\xff")).Draw(t, "interesting")
	})
	return rapid.Custom(func(t *rapid.T) string {
		return string(rapid.SliceOfN(b, 0, maxLen).Draw(t, "line"))
	})
}

// genReply draws a reply that a Reader with the default limits accepts:
// a code from 200 to 599, up to 20 lines, Enhanced as response.New sets it.
func genReply() *rapid.Generator[response.Reply] {
	return rapid.Custom(func(t *rapid.T) response.Reply {
		code := response.Code(rapid.IntRange(200, 599).Draw(t, "code"))
		lines := rapid.SliceOfN(genReplyLine(200), 1, 20).Draw(t, "lines")
		if rapid.Bool().Draw(t, "enhanced") {
			lines[0] = string('0'+byte(code/100)) + ".1.5 " + lines[0]
		}
		return response.New(code, lines...)
	})
}

// ReadReply(AppendReply(r)) == r, for one reply and for several in a row
// (where a reply must end exactly where the next starts).
func TestAppendReplyReadBack(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		replies := rapid.SliceOfN(genReply(), 1, 5).Draw(t, "replies")
		var b []byte
		for _, r := range replies {
			b = wire.AppendReply(b, r)
		}
		rd := wire.NewReader(bytes.NewReader(b))
		for i, want := range replies {
			got, err := rd.ReadReply()
			if err != nil {
				t.Fatalf("reply %d: ReadReply(%q): %v", i, b, err)
			}
			if got != want {
				t.Fatalf("reply %d: ReadReply(AppendReply(%#v)) = %#v (wire %q)", i, want, got, b)
			}
		}
		if _, err := rd.ReadReply(); err != io.EOF {
			t.Fatalf("after the replies: %v, want io.EOF", err)
		}
	})
}

// What AppendReply writes reads back the same through a one-octet-at-a-time
// reader, where no reply is ever whole in the buffer.
func TestAppendReplyReadBackSlowly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := genReply().Draw(t, "reply")
		b := wire.AppendReply(nil, want)
		got, err := wire.NewReader(iotest.OneByteReader(bytes.NewReader(b))).ReadReply()
		if err != nil || got != want {
			t.Fatalf("ReadReply(%q) = %#v, %v; want %#v", b, got, err, want)
		}
	})
}

func BenchmarkAppendReply(b *testing.B) {
	r := response.New(250, "mx.example.org greets client.example.org", "PIPELINING", "SIZE 10240000",
		"8BITMIME", "SMTPUTF8", strings.Repeat("x", 60))
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = wire.AppendReply(buf[:0], r)
	}
}
