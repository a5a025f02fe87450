package fuzz_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

func findingKind(err error) fuzz.Kind {
	var f *fuzz.Finding
	if errors.As(err, &f) {
		return f.Kind
	}
	return ""
}

// Normalise is written apart from wire's encoder: the two agree on every
// body, and a body through DotWriter and back through DotReader is
// Normalise of it.
func FuzzNormalise(f *testing.F) {
	fuzz.SeedBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkNormalise(t, body)
	})
}

func TestPropertyNormalise(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkNormalise(t, fuzz.Body().Draw(t, "body")) })
}

func checkNormalise(t interface{ Fatalf(string, ...any) }, body []byte) {
	want := fuzz.Normalise(body)
	if got := wire.Normalise(body); !bytes.Equal(got, want) {
		t.Fatalf("wire.Normalise(%q) = %q, fuzz.Normalise %q", body, got, want)
	}
	var enc bytes.Buffer
	dw := wire.NewDotWriter(&enc)
	dw.Write(body)
	if err := dw.Close(); err != nil {
		t.Fatalf("DotWriter: %v", err)
	}
	dec, err := io.ReadAll(wire.NewDotReader(bufio.NewReader(&enc)))
	if err != nil {
		t.Fatalf("DotReader of %q: %v", enc.Bytes(), err)
	}
	if !bytes.Equal(dec, want) {
		t.Fatalf("through the DATA encoder and back, %q is %q, want %q", body, dec, want)
	}
}

func TestNormalise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a\r\n"},
		{"a\n", "a\r\n"},
		{"a\r", "a\r\n"},
		{"a\r\r\n", "a\r\n\r\n"},
		{"\n.\n", "\r\n.\r\n"},
		{"\r.\r", "\r\n.\r\n"},
		{"x\x00\xe9\r\n", "x\x00\xe9\r\n"},
	} {
		if got := string(fuzz.Normalise([]byte(tc.in))); got != tc.want {
			t.Errorf("Normalise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Every reply Reply draws, written by wire.AppendReply, passes the
// strict check and comes back equal; several in a row come back in
// order.
func TestPropertyCheckRepliesAcceptsReply(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := rapid.SliceOfN(fuzz.Reply(), 1, 4).Draw(t, "replies")
		var b []byte
		for _, r := range want {
			b = wire.AppendReply(b, r)
		}
		got, err := fuzz.CheckReplies(b)
		if err != nil {
			t.Fatalf("CheckReplies(%q): %v", b, err)
		}
		if len(got) != len(want) {
			t.Fatalf("CheckReplies(%q) = %d replies, want %d", b, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("reply %d: %#v, want %#v", i, got[i], want[i])
			}
		}
	})
}

// What the strict check takes, wire's lenient reader takes too, with the
// same replies; it never panics on hostile streams.
func FuzzCheckReplies(f *testing.F) {
	fuzz.SeedReplies(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		strict, err := fuzz.CheckReplies(stream)
		if err != nil {
			if findingKind(err) != fuzz.BadReply {
				t.Fatalf("CheckReplies(%q): %v is no BadReply finding", stream, err)
			}
			return
		}
		rd := wire.NewReader(bytes.NewReader(stream))
		for i, want := range strict {
			got, err := rd.ReadReply()
			if err != nil || got != want {
				t.Fatalf("reply %d of %q: wire reads %#v, %v; the strict check %#v", i, stream, got, err, want)
			}
		}
		if _, err := rd.ReadReply(); err != io.EOF {
			t.Fatalf("after %d replies of %q: %v, want io.EOF", len(strict), stream, err)
		}
	})
}

func TestCheckRepliesRefuses(t *testing.T) {
	for _, s := range []string{
		"250 ok\n",           // bare LF
		"250 ok",             // no line ending
		"250-a\r\n251 b\r\n", // the code changes
		"250-a\r\n",          // never ends
		"25 ok\r\n",          // two digits
		"150 ok\r\n",         // no such class
		"250_ok\r\n",         // no separator
		"250 a\rb\r\n",       // bare CR
		"250 a\x00b\r\n",     // NUL
		"250 \xff\r\n",       // invalid UTF-8
		"250 " + string(make([]byte, 600)) + "\r\n",
	} {
		if _, err := fuzz.CheckReplies([]byte(s)); findingKind(err) != fuzz.BadReply {
			t.Errorf("CheckReplies(%q) = %v, want a BadReply finding", s, err)
		}
	}
	if r, err := fuzz.CheckReplies([]byte("250-a\r\n250 2.0.0 b\r\n221\r\n")); err != nil || len(r) != 2 {
		t.Errorf("two good replies: %v, %v", r, err)
	}
}

func TestCheckGroup(t *testing.T) {
	group := []command.Command{
		command.Mail{From: command.Mailbox{Local: "a", Domain: "example.org"}},
		command.Rcpt{To: command.Mailbox{Local: "b", Domain: "example.org"}},
		command.Data{},
	}
	ok := response.New(250, "ok")
	for _, tc := range []struct {
		name    string
		replies []response.Reply
		want    fuzz.Kind
	}{
		{"one each", []response.Reply{ok, ok, response.New(354, "go")}, ""},
		{"one too few", []response.Reply{ok, ok}, fuzz.ReplyCount},
		{"one too few, read out of place", []response.Reply{ok, response.New(354, "go")}, fuzz.BadReply},
		{"one too many", []response.Reply{ok, ok, response.New(354, "go"), ok}, fuzz.ReplyCount},
		{"250 to DATA", []response.Reply{ok, ok, ok}, fuzz.BadReply},
		{"354 to RCPT", []response.Reply{ok, response.New(354, "go"), response.New(554, "no")}, fuzz.BadReply},
		{"421 ends it", []response.Reply{response.New(421, "bye")}, ""},
	} {
		if got := findingKind(fuzz.CheckGroup(group, tc.replies)); got != tc.want {
			t.Errorf("%s: finding %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCheckStored(t *testing.T) {
	body := []byte("Subject: x\n\n.line\rend")
	norm := fuzz.Normalise(body)
	for _, tc := range []struct {
		name   string
		stored []byte
		ok     bool
	}{
		{"as normalised", norm, true},
		{"with trace fields", append([]byte("Received: from x\r\n\tby y\r\nReturn-Path: <a@b>\r\n"), norm...), true},
		{"with LF endings", bytes.ReplaceAll(norm, []byte("\r\n"), []byte("\n")), true},
		{"as sent, not normalised", body, false},
		{"cut at a lookalike", norm[:len(norm)-6], false},
		{"with text in front", append([]byte("hello\r\n"), norm...), false},
	} {
		err := fuzz.CheckStored(body, tc.stored)
		if (err == nil) != tc.ok || !tc.ok && findingKind(err) != fuzz.Stored {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
