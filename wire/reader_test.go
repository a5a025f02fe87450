package wire_test

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/smtpkit/smtpkit/internal/benchfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// ehloReply is a typical multiline EHLO reply.
const ehloReply = "250-mx.example.org greets client.example.org\r\n" +
	"250-PIPELINING\r\n" +
	"250-SIZE 10240000\r\n" +
	"250-ENHANCEDSTATUSCODES\r\n" +
	"250-8BITMIME\r\n" +
	"250 CHUNKING\r\n"

var ehloLines = []string{
	"mx.example.org greets client.example.org",
	"PIPELINING",
	"SIZE 10240000",
	"ENHANCEDSTATUSCODES",
	"8BITMIME",
	"CHUNKING",
}

// ehloText is ehloReply's Text: its lines joined with LF.
var ehloText = strings.Join(ehloLines, "\n")

// replySources are the ways a reply reaches a Reader, for running a table
// through both of ReadReply's paths: whole, so that the reply sits complete in
// the read buffer and is parsed there, and a byte at a time, so that it is read
// line by line as it arrives.
var replySources = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{name: "whole", wrap: func(r io.Reader) io.Reader { return r }},
	{name: "one byte", wrap: iotest.OneByteReader},
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want response.Reply
	}{
		{
			name: "single line",
			in:   "250 ok\r\n",
			want: response.Reply{Code: 250, Text: "ok"},
		},
		{
			name: "code only is one empty line",
			in:   "250\r\n",
			want: response.Reply{Code: 250, Text: ""},
		},
		{
			name: "code and space is one empty line",
			in:   "250 \r\n",
			want: response.Reply{Code: 250, Text: ""},
		},
		{
			name: "multiline EHLO",
			in:   ehloReply,
			want: response.Reply{Code: 250, Text: ehloText},
		},
		{
			name: "enhanced code on first line",
			in:   "550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n",
			want: response.Reply{
				Code:     550,
				Enhanced: response.EnhancedCode{Class: 5, Subject: 1, Detail: 1},
				Text:     "5.1.1 <nobody@example.org>: Recipient address rejected",
			},
		},
		{
			name: "enhanced code on every line",
			in:   "554-5.7.1 rejected\r\n554 5.7.1 see https://example.org/policy\r\n",
			want: response.Reply{
				Code:     554,
				Enhanced: response.EnhancedCode{Class: 5, Subject: 7, Detail: 1},
				Text:     "5.7.1 rejected\n5.7.1 see https://example.org/policy",
			},
		},
		{
			name: "enhanced code on positive reply",
			in:   "250 2.1.0 Sender ok\r\n",
			want: response.Reply{
				Code:     250,
				Enhanced: response.EnhancedCode{Class: 2, Subject: 1, Detail: 0},
				Text:     "2.1.0 Sender ok",
			},
		},
		{
			name: "enhanced code alone",
			in:   "421 4.3.2\r\n",
			want: response.Reply{
				Code:     421,
				Enhanced: response.EnhancedCode{Class: 4, Subject: 3, Detail: 2},
				Text:     "4.3.2",
			},
		},
		{
			name: "enhanced class disagrees with code is text",
			in:   "550 2.0.0 ok\r\n",
			want: response.Reply{Code: 550, Text: "2.0.0 ok"},
		},
		{
			name: "enhanced code only on a later line is text",
			in:   "250-mx.example.org\r\n250 2.0.0 ok\r\n",
			want: response.Reply{Code: 250, Text: "mx.example.org\n2.0.0 ok"},
		},
		{
			name: "enhanced code after continuation dash",
			in:   "452-4.5.3 too many recipients\r\n452 4.5.3 try again\r\n",
			want: response.Reply{
				Code:     452,
				Enhanced: response.EnhancedCode{Class: 4, Subject: 5, Detail: 3},
				Text:     "4.5.3 too many recipients\n4.5.3 try again",
			},
		},
		{
			name: "intermediate reply",
			in:   "354 End data with <CR><LF>.<CR><LF>\r\n",
			want: response.Reply{Code: 354, Text: "End data with <CR><LF>.<CR><LF>"},
		},
		{
			name: "lowest code",
			in:   "200 x\r\n",
			want: response.Reply{Code: 200, Text: "x"},
		},
		{
			name: "highest code",
			in:   "599 x\r\n",
			want: response.Reply{Code: 599, Text: "x"},
		},
		{
			name: "LF only",
			in:   "250-mx.example.org\n250-PIPELINING\n250 SIZE 1000\n",
			want: response.Reply{Code: 250, Text: "mx.example.org\nPIPELINING\nSIZE 1000"},
		},
		{
			name: "mixed line endings",
			in:   "250-a\n250-b\r\n250 c\n",
			want: response.Reply{Code: 250, Text: "a\nb\nc"},
		},
		{
			name: "code only with LF",
			in:   "250\n",
			want: response.Reply{Code: 250, Text: ""},
		},
		{
			name: "CR inside text kept",
			in:   "250 a\rb\r\n",
			want: response.Reply{Code: 250, Text: "a\rb"},
		},
		{
			name: "CRLF ending removed whole",
			in:   "250 a\r\n",
			want: response.Reply{Code: 250, Text: "a"},
		},
		{
			name: "only one CR removed",
			in:   "250 ok\r\r\n",
			want: response.Reply{Code: 250, Text: "ok\r"},
		},
		{
			name: "CR as the whole text",
			in:   "250 \r\r\n",
			want: response.Reply{Code: 250, Text: "\r"},
		},
		{
			name: "CR as the text of a last line",
			in:   "250-\r\n250 \r\r\n",
			want: response.Reply{Code: 250, Text: "\n\r"},
		},
		{
			name: "empty continuation lines",
			in:   "250-\r\n250-\r\n250\r\n",
			want: response.Reply{Code: 250, Text: "\n\n"},
		},
		{
			name: "continuation with no text then text",
			in:   "220-\r\n220 mx.example.org ESMTP\r\n",
			want: response.Reply{Code: 220, Text: "\nmx.example.org ESMTP"},
		},
		{
			name: "dash and spaces inside text",
			in:   "250 -a - b  \r\n",
			want: response.Reply{Code: 250, Text: "-a - b  "},
		},
		{
			name: "tab, NUL and UTF-8 in text",
			in:   "250 a\tb\x00c \u00fc\r\n",
			want: response.Reply{Code: 250, Text: "a\tb\x00c \u00fc"},
		},
		{
			name: "second separator kept in text",
			in:   "250--x\r\n250  y\r\n",
			want: response.Reply{Code: 250, Text: "-x\n y"},
		},
	}
	for _, src := range replySources {
		for _, tt := range tests {
			t.Run(src.name+"/"+tt.name, func(t *testing.T) {
				r := wire.NewReader(src.wrap(strings.NewReader(tt.in)))
				got, err := r.ReadReply()
				if err != nil {
					t.Fatalf("ReadReply(%q) error: %v", tt.in, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ReadReply(%q) mismatch (-want +got):\n%s", tt.in, diff)
				} else if got != tt.want {
					t.Errorf("ReadReply(%q) = %#v, want == %#v", tt.in, got, tt.want)
				}
				if _, err := r.ReadReply(); err != io.EOF {
					t.Errorf("ReadReply after the reply: error = %v, want io.EOF", err)
				}
			})
		}
	}
}

// TestReadReplySplitReads checks that how the input arrives (a byte at a time,
// data together with io.EOF, a bufio.Reader smaller than a line) does not
// change the result.
func TestReadReplySplitReads(t *testing.T) {
	inputs := []string{
		"250 ok\r\n",
		"250\r\n",
		ehloReply,
		"250-a\n250 b\n",
		"550 5.1.1 " + strings.Repeat("x", 100) + "\r\n",
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{name: "one byte", wrap: iotest.OneByteReader},
		{name: "half", wrap: iotest.HalfReader},
		{name: "data with EOF", wrap: iotest.DataErrReader},
		{name: "bufio size 16", wrap: func(r io.Reader) io.Reader { return bufio.NewReaderSize(r, 16) }},
	}
	for _, rd := range readers {
		for i, in := range inputs {
			t.Run(rd.name+"/"+strconv.Itoa(i), func(t *testing.T) {
				want, err := wire.NewReader(strings.NewReader(in)).ReadReply()
				if err != nil {
					t.Fatalf("ReadReply(%q) error: %v", in, err)
				}
				r := wire.NewReader(rd.wrap(strings.NewReader(in)))
				got, err := r.ReadReply()
				if err != nil {
					t.Fatalf("ReadReply(%q) through %s error: %v", in, rd.name, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ReadReply(%q) through %s mismatch (-want +got):\n%s", in, rd.name, diff)
				} else if got != want {
					t.Errorf("ReadReply(%q) through %s = %#v, want == %#v", in, rd.name, got, want)
				}
				if _, err := r.ReadReply(); err != io.EOF {
					t.Errorf("ReadReply after the reply: error = %v, want io.EOF", err)
				}
			})
		}
	}
}

func TestReadReplyErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		kind error
		line string // the ProtocolError's Line
	}{
		{name: "mixed codes", in: "250-a\r\n251 b\r\n", kind: wire.ErrMixedCodes, line: "251 b"},
		{name: "mixed classes", in: "250-a\r\n550 b\r\n", kind: wire.ErrMixedCodes, line: "550 b"},
		{name: "mixed codes on third line", in: "250-a\r\n250-b\r\n252 c\r\n", kind: wire.ErrMixedCodes, line: "252 c"},

		{name: "dash line then EOF", in: "250-\r\n", kind: io.ErrUnexpectedEOF},
		{name: "dash text line then EOF", in: "250-mx.example.org\r\n", kind: io.ErrUnexpectedEOF},
		{name: "final line without newline", in: "250 ok", kind: io.ErrUnexpectedEOF, line: "250 ok"},
		{name: "final line ends in CR", in: "250 ok\r", kind: io.ErrUnexpectedEOF, line: "250 ok\r"},
		{name: "code only without newline", in: "250", kind: io.ErrUnexpectedEOF, line: "250"},
		{name: "continuation then line without newline", in: "250-a\r\n250 b", kind: io.ErrUnexpectedEOF, line: "250 b"},
		{name: "one digit then EOF", in: "2", kind: io.ErrUnexpectedEOF, line: "2"},

		{name: "non-digit middle", in: "2x0 ok\r\n", kind: wire.ErrBadReplyCode, line: "2x0 ok"},
		{name: "non-digit last", in: "25x ok\r\n", kind: wire.ErrBadReplyCode, line: "25x ok"},
		{name: "non-digit first", in: "x50 ok\r\n", kind: wire.ErrBadReplyCode, line: "x50 ok"},
		{name: "letters", in: "abc\r\n", kind: wire.ErrBadReplyCode, line: "abc"},
		{name: "leading space", in: " 250 ok\r\n", kind: wire.ErrBadReplyCode, line: " 250 ok"},
		{name: "byte below digits", in: "2/0 ok\r\n", kind: wire.ErrBadReplyCode, line: "2/0 ok"},
		{name: "byte above digits", in: "2:0 ok\r\n", kind: wire.ErrBadReplyCode, line: "2:0 ok"},
		{name: "NUL in code", in: "2\x0050 ok\r\n", kind: wire.ErrBadReplyCode, line: "2\x0050 ok"},
		{name: "sign", in: "+250 ok\r\n", kind: wire.ErrBadReplyCode, line: "+250 ok"},
		{name: "bad code on continuation line", in: "250-a\r\n2x0 b\r\n", kind: wire.ErrBadReplyCode, line: "2x0 b"},

		{name: "two digits", in: "25\r\n", kind: wire.ErrMalformedReply, line: "25"},
		{name: "one digit", in: "2\r\n", kind: wire.ErrMalformedReply, line: "2"},
		{name: "empty line", in: "\r\n", kind: wire.ErrMalformedReply},
		{name: "empty LF line", in: "\n", kind: wire.ErrMalformedReply},
		{name: "short continuation line", in: "250-a\r\n25\r\n", kind: wire.ErrMalformedReply, line: "25"},
		{name: "empty continuation line", in: "250-a\r\n\r\n", kind: wire.ErrMalformedReply},

		{name: "letter separator", in: "250x\r\n", kind: wire.ErrMalformedReply, line: "250x"},
		{name: "letter separator and text", in: "250xok\r\n", kind: wire.ErrMalformedReply, line: "250xok"},
		{name: "tab separator", in: "250\tok\r\n", kind: wire.ErrMalformedReply, line: "250\tok"},
		{name: "CR separator", in: "250\rok\r\n", kind: wire.ErrMalformedReply, line: "250\rok"},
		{name: "CR after code", in: "250\r\r\n", kind: wire.ErrMalformedReply, line: "250\r"},
		{name: "four-digit code", in: "2500 ok\r\n", kind: wire.ErrMalformedReply, line: "2500 ok"},
		{name: "bad separator on continuation line", in: "250-a\r\n250x\r\n", kind: wire.ErrMalformedReply, line: "250x"},

		{name: "1xx", in: "100 continue\r\n", kind: wire.ErrBadReplyCode, line: "100 continue"},
		{name: "199", in: "199 x\r\n", kind: wire.ErrBadReplyCode, line: "199 x"},
		{name: "6xx", in: "600 x\r\n", kind: wire.ErrBadReplyCode, line: "600 x"},
		{name: "999", in: "999 x\r\n", kind: wire.ErrBadReplyCode, line: "999 x"},
		{name: "0xx", in: "000 x\r\n", kind: wire.ErrBadReplyCode, line: "000 x"},
		{name: "1xx code only", in: "100\r\n", kind: wire.ErrBadReplyCode, line: "100"},
		{name: "6xx on continuation line", in: "250-a\r\n650 b\r\n", kind: wire.ErrBadReplyCode, line: "650 b"},

		{name: "long malformed line quoted in part", in: "250x" + strings.Repeat("y", 200) + "\r\n", kind: wire.ErrMalformedReply, line: "250x" + strings.Repeat("y", 60)},
		{name: "control characters quoted", in: "\x1b[2J\r\n", kind: wire.ErrBadReplyCode, line: "\x1b[2J"},
	}
	for _, src := range replySources {
		for _, tt := range tests {
			t.Run(src.name+"/"+tt.name, func(t *testing.T) {
				got, err := wire.NewReader(src.wrap(strings.NewReader(tt.in))).ReadReply()
				checkProtocolError(t, err, tt.kind, tt.line)
				if diff := cmp.Diff(response.Reply{}, got); diff != "" {
					t.Errorf("ReadReply(%q) returned a reply with its error (-want +got):\n%s", tt.in, diff)
				}
			})
		}
	}
}

// checkProtocolError checks that err is a *wire.ProtocolError of the given
// kind quoting line, and that its message has the package prefix, holds no
// raw control characters and quotes the line.
func checkProtocolError(t *testing.T, err error, kind error, line string) *wire.ProtocolError {
	t.Helper()
	if err == nil {
		t.Fatalf("error = nil, want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error = %v, want errors.Is(err, %v)", err, kind)
	}
	var pe *wire.ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error = %T %v, want a *wire.ProtocolError", err, err)
	}
	if pe.Line != line {
		t.Errorf("ProtocolError.Line = %q, want %q", pe.Line, line)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "wire: ") {
		t.Errorf("Error() = %q, want the prefix %q", msg, "wire: ")
	}
	if line != "" && !strings.Contains(msg, strconv.Quote(line)) {
		t.Errorf("Error() = %q, want it to quote the line %q", msg, line)
	}
	if !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Errorf("Error() = %q holds raw control characters from the peer", msg)
	}
	return pe
}

func TestReadReplyErrorStrings(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		setup func(*wire.Reader)
		want  string
	}{
		{name: "mixed codes", in: "250-a\r\n251 b\r\n", want: `wire: reply lines carry different codes: "251 b"`},
		{name: "bad code", in: "2x0 ok\r\n", want: `wire: bad reply code: "2x0 ok"`},
		{name: "malformed", in: "250\tok\r\n", want: `wire: malformed reply line: "250\tok"`},
		{name: "unexpected EOF", in: "250 ok", want: `wire: unexpected EOF: "250 ok"`},
		{name: "unexpected EOF at line start", in: "250-ok\r\n", want: `wire: unexpected EOF`},
		{
			name:  "line too long",
			in:    "250 abcdefghij\r\n",
			setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(10) },
			want:  `wire: line too long (limit 10): "250 abcdefghij\r\n"`,
		},
		{
			name:  "too many lines",
			in:    "250-a\r\n250-b\r\n250 c\r\n",
			setup: func(r *wire.Reader) { r.SetMaxReplyLines(2) },
			want:  `wire: too many lines in one reply (limit 2): "250 c\r\n"`,
		},
		{
			name:  "reply too large",
			in:    "250-abc\r\n250 def\r\n",
			setup: func(r *wire.Reader) { r.SetMaxReplyBytes(10) },
			want:  `wire: reply too large (limit 10)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wire.NewReader(strings.NewReader(tt.in))
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := r.ReadReply()
			if err == nil {
				t.Fatalf("ReadReply(%q) error = nil, want %q", tt.in, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("ReadReply(%q) error = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadReplyEOF(t *testing.T) {
	t.Run("empty input", func(t *testing.T) {
		got, err := wire.NewReader(strings.NewReader("")).ReadReply()
		if err != io.EOF {
			t.Errorf("ReadReply on empty input: error = %#v, want io.EOF itself", err)
		}
		if diff := cmp.Diff(response.Reply{}, got); diff != "" {
			t.Errorf("ReadReply on empty input returned a reply (-want +got):\n%s", diff)
		}
	})
	t.Run("after a reply", func(t *testing.T) {
		r := wire.NewReader(strings.NewReader("221 bye\r\n"))
		if _, err := r.ReadReply(); err != nil {
			t.Fatalf("first ReadReply: %v", err)
		}
		for i := range 2 {
			if _, err := r.ReadReply(); err != io.EOF {
				t.Errorf("ReadReply %d after the reply: error = %#v, want io.EOF itself", i+1, err)
			}
		}
	})
	t.Run("EOF with data is not a clean end", func(t *testing.T) {
		_, err := wire.NewReader(iotest.DataErrReader(strings.NewReader("221"))).ReadReply()
		checkProtocolError(t, err, io.ErrUnexpectedEOF, "221")
	})
}

func TestReadReplyStreamError(t *testing.T) {
	errBoom := errors.New("connection reset")
	tests := []struct {
		name string
		head string // what the stream gives before failing
	}{
		{name: "before the reply", head: ""},
		{name: "inside a line", head: "250-mx"},
		{name: "between lines", head: "250-mx\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := io.MultiReader(strings.NewReader(tt.head), iotest.ErrReader(errBoom))
			_, err := wire.NewReader(src).ReadReply()
			if err != errBoom {
				t.Errorf("ReadReply error = %#v, want the stream's error %v as is", err, errBoom)
			}
		})
	}
}

func TestReadReplyBackToBack(t *testing.T) {
	in := "220 mx.example.org ESMTP\r\n" + ehloReply + "354 go ahead\r\n" + "250 2.0.0 queued\r\n" + "221 bye\n"
	want := []response.Reply{
		{Code: 220, Text: "mx.example.org ESMTP"},
		{Code: 250, Text: ehloText},
		{Code: 354, Text: "go ahead"},
		{Code: 250, Enhanced: response.EnhancedCode{Class: 2}, Text: "2.0.0 queued"},
		{Code: 221, Text: "bye"},
	}
	for _, wrap := range []struct {
		name string
		f    func(io.Reader) io.Reader
	}{
		{name: "whole", f: func(r io.Reader) io.Reader { return r }},
		{name: "one byte", f: iotest.OneByteReader},
	} {
		t.Run(wrap.name, func(t *testing.T) {
			r := wire.NewReader(wrap.f(strings.NewReader(in)))
			var got []response.Reply
			for {
				reply, err := r.ReadReply()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("ReadReply %d: %v", len(got)+1, err)
				}
				got = append(got, reply)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("replies mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadReplyLinesIndependent checks that a Reply's text belongs to it: it
// does not change when the Reader reads the next replies into its reused
// buffers, and the slice Lines returns is the caller's own: a fresh one on
// every call, so that changing or appending to it changes neither the reply
// nor the next call's result.
func TestReadReplyLinesIndependent(t *testing.T) {
	small := "250-a\r\n250 b\r\n"
	big := replyOfSizes(3000, 3000)
	in := ehloReply + "550-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\r\n550 zzzzzzzz\r\n" + small + small + big + small
	for _, src := range replySources {
		t.Run(src.name, func(t *testing.T) {
			r := wire.NewReader(src.wrap(strings.NewReader(in)))
			var replies []response.Reply
			var texts []string
			var copies [][]string
			for {
				reply, err := r.ReadReply()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				replies = append(replies, reply)
				// Deep copies, in memory the Reader never saw.
				texts = append(texts, strings.Clone(reply.Text))
				lines := reply.Lines()
				for i := range lines {
					lines[i] = strings.Clone(lines[i])
				}
				copies = append(copies, lines)
			}
			if len(replies) != 6 {
				t.Fatalf("read %d replies, want 6", len(replies))
			}
			for i := range replies {
				lines := replies[i].Lines()
				lines[0] = "CHANGED"
				_ = append(lines, "APPENDED", "APPENDED")
				_ = append(lines[:1], "APPENDED", "APPENDED")
			}
			for i, reply := range replies {
				if reply.Text != texts[i] {
					t.Errorf("reply %d: Text = %q after later reads and changes to Lines(), want %q", i+1, reply.Text, texts[i])
				}
				if diff := cmp.Diff(copies[i], reply.Lines()); diff != "" {
					t.Errorf("reply %d: Lines() changed after later reads and changes to an earlier result (-want +got):\n%s", i+1, diff)
				}
			}
		})
	}
}

func TestReaderBuffered(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		after string
	}{
		{name: "nothing after", reply: "220 2.0.0 Ready to start TLS\r\n"},
		{name: "injected command reply", reply: "220 2.0.0 Ready to start TLS\r\n", after: "250 injected\r\n"},
		{name: "partial line after", reply: "220 go ahead\r\n", after: "2"},
		{name: "after multiline", reply: ehloReply, after: "250 pipelined\r\n250 too\r\n"},
		{name: "after a reply larger than the read buffer", reply: replyOfSizes(3000, 3000), after: "250 injected\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wire.NewReader(strings.NewReader(tt.reply + tt.after))
			if got := r.Buffered(); got != 0 {
				t.Errorf("Buffered() before reading = %d, want 0", got)
			}
			if _, err := r.ReadReply(); err != nil {
				t.Fatalf("ReadReply: %v", err)
			}
			if got, want := r.Buffered(), len(tt.after); got != want {
				t.Errorf("Buffered() after the reply = %d, want %d", got, want)
			}
		})
	}
}

func TestNewReaderUsesBufioReader(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("250 ok\r\nDATA follows\r\n"))
	r := wire.NewReader(br)
	if _, err := r.ReadReply(); err != nil {
		t.Fatalf("ReadReply: %v", err)
	}
	if got, want := r.Buffered(), br.Buffered(); got != want {
		t.Errorf("Reader.Buffered() = %d, bufio.Reader.Buffered() = %d, want equal", got, want)
	}
	rest, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the rest from the shared bufio.Reader: %v", err)
	}
	if rest != "DATA follows\r\n" {
		t.Errorf("rest of the shared bufio.Reader = %q, want %q", rest, "DATA follows\r\n")
	}
}

// replyOfSizes returns a reply with code 250 whose lines have exactly the
// given sizes in octets, CRLF included; each size must be at least 6.
func replyOfSizes(sizes ...int) string {
	var b strings.Builder
	for i, n := range sizes {
		if i == len(sizes)-1 {
			b.WriteString("250 ")
		} else {
			b.WriteString("250-")
		}
		b.WriteString(strings.Repeat("x", n-6))
		b.WriteString("\r\n")
	}
	return b.String()
}

// repeatSizes returns n copies of size.
func repeatSizes(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

func TestReaderLimits(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*wire.Reader)
		in    string
		kind  error // nil: the reply is accepted
		limit int64
	}{
		// The line limit counts the line ending.
		{name: "default line at limit", in: replyOfSizes(wire.DefaultMaxReplyLineLength)},
		{name: "default line over limit", in: replyOfSizes(wire.DefaultMaxReplyLineLength + 1), kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "default LF-only line at limit", in: "250 " + strings.Repeat("x", wire.DefaultMaxReplyLineLength-5) + "\n"},
		{name: "default LF-only line over limit", in: "250 " + strings.Repeat("x", wire.DefaultMaxReplyLineLength-4) + "\n", kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "default continuation line over limit", in: replyOfSizes(10, wire.DefaultMaxReplyLineLength+1), kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "default line far over limit", in: replyOfSizes(100000), kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "line of buffer size minus one", in: replyOfSizes(4095)},
		{name: "line of buffer size", in: replyOfSizes(4096)},
		{name: "line of buffer size plus one", in: replyOfSizes(4097)},
		{name: "line of twice buffer size plus one", in: replyOfSizes(8193), setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(8193) }},
		{name: "lines crossing buffer boundaries", in: replyOfSizes(1000, 5000, 3000, 7000, 6)},
		{name: "reply filling the read buffer", in: replyOfSizes(2000, 2000, 96)},
		{name: "reply one over the read buffer", in: replyOfSizes(2000, 2000, 97)},
		{name: "16 short lines", in: replyOfSizes(repeatSizes(16, 10)...)},
		{name: "17 short lines", in: replyOfSizes(repeatSizes(17, 10)...)},
		{name: "64 lines", in: replyOfSizes(repeatSizes(64, 20)...)},
		{name: "65 lines", in: replyOfSizes(repeatSizes(65, 20)...)},
		{name: "one line of 2048 octets", in: replyOfSizes(2048)},
		{name: "one line of 2049 octets", in: replyOfSizes(2049)},

		{name: "short limit at limit", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(100) }, in: replyOfSizes(100)},
		{name: "short limit over limit", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(100) }, in: replyOfSizes(101), kind: wire.ErrLineTooLong, limit: 100},
		{name: "short limit CRLF counts", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(100) }, in: "250 " + strings.Repeat("x", 95) + "\r\n", kind: wire.ErrLineTooLong, limit: 100},
		{name: "short limit LF counts", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(100) }, in: "250 " + strings.Repeat("x", 95) + "\n"},
		{name: "short limit line longer than buffer", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(100) }, in: replyOfSizes(10000), kind: wire.ErrLineTooLong, limit: 100},
		{name: "limit at buffer size accepts it", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(4096) }, in: replyOfSizes(4096)},
		{name: "limit at buffer size refuses one more", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(4096) }, in: replyOfSizes(4097), kind: wire.ErrLineTooLong, limit: 4096},
		{name: "limit over buffer size at limit", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(5000) }, in: replyOfSizes(5000)},
		{name: "limit over buffer size over limit", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(5000) }, in: replyOfSizes(5001), kind: wire.ErrLineTooLong, limit: 5000},
		{name: "long limit at limit", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(60000) }, in: replyOfSizes(60000)},
		{name: "long limit over limit", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(60000) }, in: replyOfSizes(60001), kind: wire.ErrLineTooLong, limit: 60000},
		{name: "line limit minimum accepts code only", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(0) }, in: "250\r\n"},
		{name: "line limit minimum is 6", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(-1) }, in: "250 \r\n"},
		{name: "line limit minimum refuses 7", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(5) }, in: "250 a\r\n", kind: wire.ErrLineTooLong, limit: 6},

		{name: "default lines at limit", in: replyOfSizes(repeatSizes(wire.DefaultMaxReplyLines, 6)...)},
		{name: "default lines over limit", in: replyOfSizes(repeatSizes(wire.DefaultMaxReplyLines+1, 6)...), kind: wire.ErrTooManyLines, limit: wire.DefaultMaxReplyLines},
		{name: "lines at limit", setup: func(r *wire.Reader) { r.SetMaxReplyLines(3) }, in: replyOfSizes(6, 6, 6)},
		{name: "lines over limit", setup: func(r *wire.Reader) { r.SetMaxReplyLines(3) }, in: replyOfSizes(6, 6, 6, 6), kind: wire.ErrTooManyLines, limit: 3},
		{name: "lines limit 64 at limit", setup: func(r *wire.Reader) { r.SetMaxReplyLines(64) }, in: replyOfSizes(repeatSizes(64, 6)...)},
		{name: "lines limit 64 over limit", setup: func(r *wire.Reader) { r.SetMaxReplyLines(64) }, in: replyOfSizes(repeatSizes(65, 6)...), kind: wire.ErrTooManyLines, limit: 64},
		{name: "lines limit 65 at limit", setup: func(r *wire.Reader) { r.SetMaxReplyLines(65) }, in: replyOfSizes(repeatSizes(65, 6)...)},
		{name: "lines limit 65 over limit", setup: func(r *wire.Reader) { r.SetMaxReplyLines(65) }, in: replyOfSizes(repeatSizes(66, 6)...), kind: wire.ErrTooManyLines, limit: 65},
		{name: "lines minimum is 1", setup: func(r *wire.Reader) { r.SetMaxReplyLines(0) }, in: "250 ok\r\n"},
		{name: "lines minimum refuses 2", setup: func(r *wire.Reader) { r.SetMaxReplyLines(-3) }, in: "250-a\r\n250 b\r\n", kind: wire.ErrTooManyLines, limit: 1},

		{name: "default bytes at limit", in: replyOfSizes(append(repeatSizes(8, 8000), 1536)...)},
		{name: "default bytes over limit", in: replyOfSizes(append(repeatSizes(8, 8000), 1537)...), kind: wire.ErrReplyTooLarge, limit: wire.DefaultMaxReplyBytes},
		{name: "bytes at limit", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(100) }, in: replyOfSizes(50, 50)},
		{name: "bytes over limit", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(100) }, in: replyOfSizes(50, 51), kind: wire.ErrReplyTooLarge, limit: 100},
		{name: "bytes over limit in one line", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(100) }, in: replyOfSizes(101), kind: wire.ErrReplyTooLarge, limit: 100},
		{name: "bytes limit over read buffer at limit", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(5000) }, in: replyOfSizes(2500, 2500)},
		{name: "bytes limit over read buffer over limit", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(5000) }, in: replyOfSizes(2500, 2501), kind: wire.ErrReplyTooLarge, limit: 5000},
		{name: "bytes count LF-only endings", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(14) }, in: "250-ab\n250 cd\n"},
		{name: "bytes count CRLF endings", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(14) }, in: "250-ab\r\n250 cd\n", kind: wire.ErrReplyTooLarge, limit: 14},
		{name: "bytes minimum accepts 6", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(0) }, in: "250 \r\n"},
		{name: "bytes minimum refuses 7", setup: func(r *wire.Reader) { r.SetMaxReplyBytes(-1) }, in: "250 a\r\n", kind: wire.ErrReplyTooLarge, limit: 6},
	}
	for _, src := range replySources {
		for _, tt := range tests {
			t.Run(src.name+"/"+tt.name, func(t *testing.T) {
				r := wire.NewReader(src.wrap(strings.NewReader(tt.in)))
				if tt.setup != nil {
					tt.setup(r)
				}
				got, err := r.ReadReply()
				if tt.kind == nil {
					if err != nil {
						t.Fatalf("ReadReply error: %v", err)
					}
					want := wantReply(t, tt.in)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("ReadReply mismatch (-want +got):\n%s", diff)
					}
					return
				}
				if !errors.Is(err, tt.kind) {
					t.Fatalf("ReadReply error = %v, want %v", err, tt.kind)
				}
				var pe *wire.ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("ReadReply error = %T, want *wire.ProtocolError", err)
				}
				if pe.Limit != tt.limit {
					t.Errorf("ProtocolError.Limit = %d, want %d", pe.Limit, tt.limit)
				}
				if len(pe.Line) > 64 || !strings.Contains(tt.in, pe.Line) {
					t.Errorf("ProtocolError.Line = %q, want at most 64 bytes of the input", pe.Line)
				}
				if tt.kind == wire.ErrLineTooLong && pe.Line == "" {
					t.Errorf("ProtocolError.Line is empty, want the start of the long line")
				}
				if diff := cmp.Diff(response.Reply{}, got); diff != "" {
					t.Errorf("ReadReply returned a reply with its error (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// wantReply builds the expected Reply of a well-formed reply without the
// Reader: split on LF, drop the CR before it and the code and separator.
func wantReply(t *testing.T, in string) response.Reply {
	t.Helper()
	raw := strings.SplitAfter(in, "\n")
	raw = raw[:len(raw)-1] // the empty string after the last LF
	code, err := strconv.Atoi(in[:3])
	if err != nil {
		t.Fatalf("bad test input %.20q", in)
	}
	lines := make([]string, len(raw))
	for i, l := range raw {
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		if len(l) > 3 {
			l = l[4:]
		} else {
			l = ""
		}
		lines[i] = l
	}
	return response.New(response.Code(code), lines...)
}

// TestReaderLimitsPerReply checks that the reply limits apply to each reply
// and not to the stream, and that the setters keep their values across replies.
func TestReaderLimitsPerReply(t *testing.T) {
	one := replyOfSizes(50, 50) // 100 octets, 2 lines
	r := wire.NewReader(strings.NewReader(strings.Repeat(one, 5) + replyOfSizes(50, 50, 6)))
	r.SetMaxReplyBytes(100)
	r.SetMaxReplyLines(2)
	for i := range 5 {
		if _, err := r.ReadReply(); err != nil {
			t.Fatalf("ReadReply %d: %v", i+1, err)
		}
	}
	_, err := r.ReadReply()
	if !errors.Is(err, wire.ErrReplyTooLarge) && !errors.Is(err, wire.ErrTooManyLines) {
		t.Errorf("ReadReply 6: error = %v, want ErrReplyTooLarge or ErrTooManyLines", err)
	}
}

// validReplies are well-formed replies of every shape, for the truncation loop.
var validReplies = []string{
	"250 ok\r\n",
	"250\r\n",
	"250 \r\n",
	"250\n",
	ehloReply,
	"250-mx.example.org\n250-PIPELINING\n250 SIZE 1000\n",
	"550-5.1.1 <nobody@example.org>: no such user\r\n550 5.1.1 see\rthere\r\n",
	"250-\r\n250-\r\n250\r\n",
	"354 go ahead\r\n",
}

// TestReadReplyTruncated is the truncation loop: every proper prefix of a valid
// reply fails cleanly, with io.EOF for the empty prefix and an error wrapping
// io.ErrUnexpectedEOF otherwise, without a reply and without panicking. It
// does the same for a second reply after a complete first one.
func TestReadReplyTruncated(t *testing.T) {
	for _, full := range validReplies {
		if _, err := wire.NewReader(strings.NewReader(full)).ReadReply(); err != nil {
			t.Fatalf("ReadReply(%q) of the full reply: %v", full, err)
		}
		for _, lead := range []string{"", "220 ready\r\n"} {
			for i := range len(full) {
				in := lead + full[:i]
				r := wire.NewReader(strings.NewReader(in))
				if lead != "" {
					if _, err := r.ReadReply(); err != nil {
						t.Fatalf("ReadReply(%q) of the leading reply: %v", in, err)
					}
				}
				got, err := readReplyNoPanic(t, r)
				if diff := cmp.Diff(response.Reply{}, got); diff != "" {
					t.Errorf("prefix %q: ReadReply returned a reply (-want +got):\n%s", in, diff)
				}
				if i == 0 {
					if err != io.EOF {
						t.Errorf("prefix %q: error = %#v, want io.EOF", in, err)
					}
					continue
				}
				var pe *wire.ProtocolError
				if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &pe) {
					t.Errorf("prefix %q: error = %#v, want a *wire.ProtocolError wrapping io.ErrUnexpectedEOF", in, err)
				}
			}
		}
	}
}

// readReplyNoPanic calls ReadReply and turns a panic into a test failure.
func readReplyNoPanic(t *testing.T, r *wire.Reader) (response.Reply, error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("ReadReply panicked: %v", p)
		}
	}()
	return r.ReadReply()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestReaderMemoryBound feeds the Reader endless input and checks that it
// stops at its limit having read only a little more than the limit.
func TestReaderMemoryBound(t *testing.T) {
	const slack = 64 << 10
	tests := []struct {
		name    string
		pattern string
		setup   func(*wire.Reader)
		kind    error
		limit   int64 // the limit that stops the read
	}{
		{name: "endless line, default", pattern: "A", kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "endless line, limit 6", pattern: "A", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(6) }, kind: wire.ErrLineTooLong, limit: 6},
		{name: "endless line, limit 4096", pattern: "A", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(4096) }, kind: wire.ErrLineTooLong, limit: 4096},
		{name: "endless line, limit 1 MiB", pattern: "A", setup: func(r *wire.Reader) { r.SetMaxReplyLineLength(1 << 20) }, kind: wire.ErrLineTooLong, limit: 1 << 20},
		{name: "endless text after code", pattern: "250 " + strings.Repeat("A", 1000), kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "endless CRs", pattern: "\r", kind: wire.ErrLineTooLong, limit: wire.DefaultMaxReplyLineLength},
		{name: "endless lines, default", pattern: "250-xxxx\r\n", kind: wire.ErrTooManyLines, limit: wire.DefaultMaxReplyLines},
		{name: "endless lines, line limit high", pattern: "250-xxxx\r\n", setup: func(r *wire.Reader) { r.SetMaxReplyLines(1 << 30) }, kind: wire.ErrReplyTooLarge, limit: wire.DefaultMaxReplyBytes},
		{
			name:    "endless lines, 1 MiB",
			pattern: "250-xxxx\r\n",
			setup: func(r *wire.Reader) {
				r.SetMaxReplyLines(1 << 30)
				r.SetMaxReplyBytes(1 << 20)
			},
			kind:  wire.ErrReplyTooLarge,
			limit: 1 << 20,
		},
		{name: "endless long lines", pattern: "250-" + strings.Repeat("x", 8000) + "\r\n", kind: wire.ErrReplyTooLarge, limit: wire.DefaultMaxReplyBytes},
		{name: "endless LF-only lines", pattern: "250-\n", kind: wire.ErrTooManyLines, limit: wire.DefaultMaxReplyLines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingReader{r: io.LimitReader(&benchfixture.RepeatReader{Data: []byte(tt.pattern)}, 1<<30)}
			r := wire.NewReader(src)
			if tt.setup != nil {
				tt.setup(r)
			}
			_, err := r.ReadReply()
			if !errors.Is(err, tt.kind) {
				t.Fatalf("ReadReply error = %v, want %v", err, tt.kind)
			}
			var pe *wire.ProtocolError
			if errors.As(err, &pe) && pe.Limit != tt.limit {
				t.Errorf("ProtocolError.Limit = %d, want %d", pe.Limit, tt.limit)
			}
			if most := tt.limit*int64(len("250-xxxx\r\n")) + slack; tt.kind == wire.ErrTooManyLines && src.n > most {
				t.Errorf("read %d bytes to find more than %d lines, want at most %d", src.n, tt.limit, most)
			} else if tt.kind != wire.ErrTooManyLines && src.n > tt.limit+slack {
				t.Errorf("read %d bytes for a limit of %d, want at most %d", src.n, tt.limit, tt.limit+slack)
			}
		})
	}
}

func TestReadReplyAllocs(t *testing.T) {
	var b strings.Builder
	for i := range 9 {
		b.WriteString("250-EXTENSION" + strconv.Itoa(i) + " some parameters\r\n")
	}
	b.WriteString("250 SMTPUTF8\r\n")
	r := wire.NewReader(&benchfixture.RepeatReader{Data: []byte(b.String())})
	reply, err := r.ReadReply()
	if err != nil || reply.LineCount() != 10 {
		t.Fatalf("ReadReply = %v lines, %v; want 10 lines", reply.LineCount(), err)
	}
	var readErr error
	allocs := testing.AllocsPerRun(200, func() {
		reply, err := r.ReadReply()
		if err != nil || reply.LineCount() != 10 {
			readErr = errors.New("bad reply")
		}
	})
	if readErr != nil {
		t.Fatal(readErr)
	}
	if allocs > 1 {
		t.Errorf("ReadReply of a 10-line reply: %v allocations, want at most 1 (the text)", allocs)
	}
}

// ReadBufferedReply takes only replies that have arrived whole, and never
// reads from the stream: a reply cut anywhere is left for ReadReply.
func TestReadBufferedReply(t *testing.T) {
	whole := "250-first\r\n250 second\r\n221 bye\r\n"
	for cut := 0; cut <= len(whole); cut++ {
		src := &partsReader{parts: []string{whole[:cut], whole[cut:]}}
		r := wire.NewReader(src)
		var got []string
		for len(got) < 2 {
			before := src.reads
			reply, ok, err := r.ReadBufferedReply()
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			if src.reads != before {
				t.Fatalf("cut %d: ReadBufferedReply read from the stream", cut)
			}
			if !ok {
				if reply, err = r.ReadReply(); err != nil {
					t.Fatalf("cut %d: ReadReply: %v", cut, err)
				}
			}
			got = append(got, reply.String())
		}
		if got[0] != "250 first | second" || got[1] != "221 bye" {
			t.Fatalf("cut %d: %q", cut, got)
		}
	}
}

// partsReader returns its parts one Read at a time, counting the Reads.
type partsReader struct {
	parts []string
	reads int
}

func (p *partsReader) Read(b []byte) (int, error) {
	p.reads++
	for len(p.parts) > 0 && p.parts[0] == "" {
		p.parts = p.parts[1:]
	}
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	p.parts[0] = p.parts[0][n:]
	return n, nil
}
