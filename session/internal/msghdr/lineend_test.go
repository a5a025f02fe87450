package msghdr

// Line endings: Read must split the header into lines exactly as the DATA
// and BDAT encoders will send it, where CRLF, a bare LF and a bare CR each
// become one CRLF (wire.Normalise). Otherwise a field that Read takes for
// part of another is a field of its own on the wire: a Bcc neither
// removed nor used as a recipient (issue 17, item 5).

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

// fataler is what readAll needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// readAll runs Read on msg through a bufio.Reader of size bufSize and
// returns the envelope, what SendMessage sends (the header followed by
// the rest of the reader; nil after a read error) and the error.
func readAll(t fataler, msg string, bufSize int) (Envelope, []byte, error) {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(msg), bufSize)
	env, header, err := Read(br, 0)
	if header == nil {
		return env, nil, err
	}
	rest, rerr := io.ReadAll(br)
	if rerr != nil {
		t.Fatalf("reading the rest: %v", rerr)
	}
	return env, append(header, rest...), err
}

// bccValues returns the unfolded values of the Bcc and Resent-Bcc fields
// of msg's header block: what Read removes.
func bccValues(msg string) []string {
	h := header{cur: -1}
	if err := h.read(bufio.NewReader(strings.NewReader(msg)), DefaultMaxHeaderBytes); err != nil {
		return nil
	}
	var vals []string
	for _, f := range h.fields {
		if f.kind == kBcc || f.kind == kResentBcc {
			vals = append(vals, h.valueOf(f))
		}
	}
	return vals
}

// wireBcc returns the first Bcc or Resent-Bcc field line in the header
// block of sent as the wire carries it (line endings normalised), or "".
func wireBcc(sent []byte) string {
	for _, line := range splitLines(string(wire.Normalise(sent))) {
		if line == "\r\n" {
			break // the end of the header block
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if k := classify([]byte(strings.TrimRight(name, " \t"))); k == kBcc || k == kResentBcc {
			return line
		}
	}
	return ""
}

// TestHeaderLineEndsAsSent is the regression test for issue 17 item 5:
// "X: y\rBcc: h@x" was one field to Read, which split lines on LF only,
// and two lines on the wire, so the Bcc went out with the message and its
// address got no RCPT.
func TestHeaderLineEndsAsSent(t *testing.T) {
	alice, bob, carol := "alice@example.org", "bob@example.org", "carol@example.org"
	cases := []struct {
		name string
		in   string
		env  Envelope
		// sent is what SendMessage sends, once normalised.
		sent string
	}{
		{name: "Bcc after a bare CR, CRLF message",
			in:   "From: alice@example.org\r\nTo: bob@example.org\r\nX: y\rBcc: carol@example.org\r\n\r\nbody\r\n",
			env:  Envelope{From: alice, To: []string{bob, carol}},
			sent: "From: alice@example.org\r\nTo: bob@example.org\r\nX: y\r\n\r\nbody\r\n"},
		{name: "Bcc after a bare CR, LF message",
			in:   "From: alice@example.org\nTo: bob@example.org\nX: y\rBcc: carol@example.org\n\nbody\n",
			env:  Envelope{From: alice, To: []string{bob, carol}},
			sent: "From: alice@example.org\r\nTo: bob@example.org\r\nX: y\r\n\r\nbody\r\n"},
		{name: "Resent-Bcc after a bare CR",
			in:   "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nResent-From: alice@example.org\nResent-To: bob@example.org\nSubject: s\rResent-Bcc: carol@example.org\n\nbody\n",
			env:  Envelope{From: alice, To: []string{bob, carol}},
			sent: "Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-From: alice@example.org\r\nResent-To: bob@example.org\r\nSubject: s\r\n\r\nbody\r\n"},
		{name: "To after a bare CR is a recipient",
			in:   "From: alice@example.org\rTo: bob@example.org\r\n\r\n",
			env:  Envelope{From: alice, To: []string{bob}},
			sent: "From: alice@example.org\r\nTo: bob@example.org\r\n\r\n"},
		{name: "folded with a bare CR",
			in:   "From: alice@example.org\nTo: bob@example.org,\r carol@example.org\n\n",
			env:  Envelope{From: alice, To: []string{bob, carol}},
			sent: "From: alice@example.org\r\nTo: bob@example.org,\r\n carol@example.org\r\n\r\n"},
		{name: "a bare CR is the empty line: what follows is body",
			in:   "From: alice@example.org\rTo: bob@example.org\r\rBcc: carol@example.org\r",
			env:  Envelope{From: alice, To: []string{bob}},
			sent: "From: alice@example.org\r\nTo: bob@example.org\r\n\r\nBcc: carol@example.org\r\n"},
		{name: "bare CR, Bcc, bare LF empty line: the empty line stays",
			in:   "From: alice@example.org\nTo: bob@example.org\nX: y\rBcc: carol@example.org\n\nBcc: eve@example.net\n",
			env:  Envelope{From: alice, To: []string{bob, carol}},
			sent: "From: alice@example.org\r\nTo: bob@example.org\r\nX: y\r\n\r\nBcc: eve@example.net\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, bufSize := range []int{16, 4096} {
				env, sent, err := readAll(t, c.in, bufSize)
				if err != nil {
					t.Fatalf("buffer %d: Read: %v", bufSize, err)
				}
				if diff := cmp.Diff(c.env, env, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("buffer %d: envelope (-want +got):\n%s", bufSize, diff)
				}
				if got := string(wire.Normalise(sent)); got != c.sent {
					t.Errorf("buffer %d: sent, normalised:\n got %q\nwant %q", bufSize, got, c.sent)
				}
				if l := wireBcc(sent); l != "" {
					t.Errorf("buffer %d: the header on the wire keeps %q", bufSize, l)
				}
			}
		})
	}
}

// TestPropertyLineEndsAsSent: for a random header whose lines end in CRLF,
// LF or a bare CR at random, some fields holding a bare CR followed by a
// Bcc or To field in their value,
//
//   - the envelope (From, To), the error and the set of Bcc removed are
//     the same as for the message after wire.Normalise;
//   - what SendMessage sends (the header, then the rest of the reader),
//     normalised, is what it sends for the normalised message, and the
//     header on the wire holds no Bcc or Resent-Bcc field.
func TestPropertyLineEndsAsSent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		eol := func() string {
			return rapid.SampledFrom([]string{"\r\n", "\n", "\r"}).Draw(t, "eol")
		}
		var fields []string
		add := func(label, name string, min int) {
			v, _ := drawAddrList(t, label, eol, min)
			fields = append(fields, drawName(t, label+"-name", name)+v)
		}
		for i := range rapid.IntRange(0, 8).Draw(t, "fields") {
			lab := "f" + string(rune('a'+i))
			switch name := rapid.SampledFrom([]string{"From", "Sender", "To", "Cc", "Bcc", "Resent-Date", "Resent-From", "Resent-To", "Resent-Bcc", "Subject", "X-Note"}).Draw(t, lab); name {
			case "Resent-Date":
				fields = append(fields, drawName(t, lab+"-name", name)+" Mon, 1 Jan 2024 00:00:00 +0000"+eol())
			case "Subject", "X-Note":
				words := rapid.SliceOfN(rapid.SampledFrom([]string{
					"hello", "y\rBcc: h@evil.example", "y\rTo: t@evil.example", "z\r\rBcc: late@evil.example",
					"\r Bcc: folded@evil.example", "a:b", "ünï",
				}), 0, 3).Draw(t, lab+"-words")
				fields = append(fields, drawName(t, lab+"-name", name)+" "+strings.Join(words, " ")+eol())
			default:
				add(lab, name, 0)
			}
		}
		var msg strings.Builder
		for _, f := range fields {
			msg.WriteString(f)
		}
		if rapid.IntRange(0, 4).Draw(t, "has-body") > 0 {
			msg.WriteString(eol())
			msg.WriteString(strings.Join(rapid.SliceOfN(rapid.SampledFrom([]string{
				"Hello.\r\n", "Bcc: x@example.org\r\n", "\r\n", "\n", "\r", ".\r\n", "\nBcc: y@example.org\n",
			}), 0, 4).Draw(t, "body"), ""))
		}
		bufSize := rapid.SampledFrom([]int{16, 64, 4096}).Draw(t, "bufsize")
		checkLineEnds(t, msg.String(), bufSize)
	})
}

// checkLineEnds checks, for any input, what TestPropertyLineEndsAsSent
// checks for generated headers.
func checkLineEnds(t fataler, in string, bufSize int) {
	t.Helper()
	norm := string(wire.Normalise([]byte(in)))
	env, sent, err := readAll(t, in, bufSize)
	envN, sentN, errN := readAll(t, norm, 4096)
	if diff := cmp.Diff(envN, env, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("envelope differs from the normalised message's (-normalised +as is):\n%s\nmessage %q", diff, in)
	}
	if (err == nil) != (errN == nil) || err != nil && err.Error() != errN.Error() {
		t.Fatalf("error %v, for the normalised message %v\nmessage %q", err, errN, in)
	}
	if b, bN := bccValues(in), bccValues(norm); !slices.Equal(b, bN) {
		t.Fatalf("Bcc removed %q, from the normalised message %q\nmessage %q", b, bN, in)
	}
	var ee *EnvelopeError
	if err != nil && !errors.As(err, &ee) {
		if sent != nil {
			t.Fatalf("read error %v came with a header", err)
		}
		return
	}
	if got, want := string(wire.Normalise(sent)), string(sentN); got != want {
		t.Fatalf("sent, normalised:\n got %q\nwant %q (the normalised message's)\nmessage %q", got, want, in)
	}
	if l := wireBcc(sent); l != "" {
		t.Fatalf("the header on the wire keeps %q\nsent %q\nmessage %q", l, sent, in)
	}
}

// FuzzReadLineEnds: for any input, Read agrees with itself on the input
// normalised, and no Bcc reaches the wire. Run it with
//
//	go test -run=NONE -fuzz='^FuzzReadLineEnds$' -fuzztime=60s ./session/internal/msghdr
func FuzzReadLineEnds(f *testing.F) {
	for _, s := range []string{
		"From: a@x.example\r\nTo: b@y.example\r\nX: y\rBcc: c@z.example\r\n\r\nbody\r\n",
		"From: a@x.example\nTo: b@y.example\nX: y\rBcc: c@z.example\n\nBcc: d@evil.example\n",
		"From: a@x.example\rTo: b@y.example\r\rBcc: c@z.example\r",
		"From: a@x.example\nTo: b@y.example,\r c@z.example\n\n",
		"Bcc: a@x.example\rBcc: b@y.example\n\n\r",
		"\r",
		"\r\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in string, small bool) {
		size := 4096
		if small {
			size = 16
		}
		checkLineEnds(t, in, size)
	})
}
