package main

import (
	"bytes"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/smtptest"
	"pgregory.net/rapid"
)

// unfold undoes RFC 5322 §2.2.3 folding: every CRLF followed by a space
// or a tab goes, the whitespace stays.
func unfold(header string) string {
	header = strings.ReplaceAll(header, "\r\n ", " ")
	return strings.ReplaceAll(header, "\r\n\t", "\t")
}

// headerFields returns the header of msg unfolded, one field a string,
// and checks that no line of it is over limit octets.
func headerFields(t interface {
	Helper()
	Fatalf(string, ...any)
}, msg []byte, limit int) map[string]string {
	t.Helper()
	header, _, ok := bytes.Cut(msg, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in %q", msg)
	}
	for i, l := range strings.Split(string(header), "\r\n") {
		if len(l) > limit {
			t.Fatalf("header line %d is %d octets, over %d: %.80q...", i+1, len(l), limit, l)
		}
		if strings.TrimLeft(l, " \t") == "" {
			t.Fatalf("header line %d is whitespace only", i+1)
		}
	}
	fields := map[string]string{}
	for _, f := range strings.Split(unfold(string(header)), "\r\n") {
		name, value, _ := strings.Cut(f, ":")
		fields[name] = strings.TrimPrefix(value, " ")
	}
	return fields
}

func addressList(addrs []string) string { return "<" + strings.Join(addrs, ">, <") + ">" }

// TestSend150RecipientsFoldsTo is issue 23's regression test: 150 --to
// made a To line of about 3,500 octets, which go-smtp's server refuses
// over DATA and answers with a reset over BDAT. Now the To field is folded
// (no line over 78 octets), unfolds to the 150 addresses, and each
// recipient is reported once, over DATA and over BDAT.
func TestSend150RecipientsFoldsTo(t *testing.T) {
	var to []string
	args := []string{"send", "--from", "sender@example.org"}
	for i := range 150 {
		to = append(to, fmt.Sprintf("recipient-%03d@example.org", i))
		args = append(args, "--to", to[i])
	}
	for _, chunking := range []string{"off", "auto"} {
		t.Run("chunking="+chunking, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{})
			r := smtpkit(t, nil, append(args, "--server", srv.Addr, "--chunking", chunking)...)
			r.want(t, exitOK)
			msgs := srv.Messages()
			if len(msgs) != 1 || len(msgs[0].To) != 150 || msgs[0].Chunked != (chunking == "auto") {
				t.Fatalf("server recorded %d messages (%+v)", len(msgs), msgs)
			}
			fields := headerFields(t, msgs[0].Data, foldWidth)
			if got := fields["To"]; got != addressList(to) {
				t.Errorf("To unfolds to %q", got)
			}
			for _, a := range to {
				if n := strings.Count(r.stdout, "<"+a+">: accepted"); n != 1 {
					t.Errorf("%s reported %d times:\n%s", a, n, r.stdout)
				}
			}
		})
	}
}

// Property: whatever --subject and --to are, the built header has no line
// over 998 octets, none over 78 where the field allows it, and unfolds to
// what was asked for: the address list as given, the Subject once its
// encoded words are decoded (RFC 2047).
func TestPropertyBuiltHeaderUnfolds(t *testing.T) {
	word := rapid.OneOf(
		rapid.StringMatching(`[a-z]{1,12}`),
		rapid.StringMatching(`[A-Za-z0-9.,:;!?()'"-]{60,200}`), // too long for one line
		rapid.SampledFrom([]string{"=?utf-8?q?x?=", "héllo", "日本語のテキスト", "\x01ctl", "\x7f", "_", "=", "?"}),
	)
	space := rapid.SampledFrom([]string{" ", " ", "  ", "\t", " \t "})
	rapid.Check(t, func(t *rapid.T) {
		var subject strings.Builder
		if rapid.Bool().Draw(t, "leading") {
			subject.WriteString(space.Draw(t, "lead"))
		}
		for i, n := 0, rapid.IntRange(0, 30).Draw(t, "words"); i < n; i++ {
			if i > 0 {
				subject.WriteString(space.Draw(t, "space"))
			}
			subject.WriteString(word.Draw(t, "word"))
		}
		if rapid.Bool().Draw(t, "trailing") {
			subject.WriteString(space.Draw(t, "trail"))
		}
		addrs := rapid.SliceOfN(rapid.StringMatching(`[a-z0-9.+-]{1,64}@[a-z0-9-]{1,63}\.example`), 1, 200).Draw(t, "to")
		msg := buildMessage("from@example.org", addrs, subject.String(), "body", time.Unix(0, 0))
		limit := foldWidth
		for _, a := range addrs {
			if len(a)+4 > foldWidth {
				limit = maxHeaderLine // an address too long for 78 octets
			}
		}
		fields := headerFields(t, msg, limit)
		if got := fields["To"]; got != addressList(addrs) {
			t.Fatalf("To unfolds to %q, want %q", got, addressList(addrs))
		}
		got, err := new(mime.WordDecoder).DecodeHeader(fields["Subject"])
		if err != nil || got != subject.String() {
			t.Fatalf("Subject %q decodes to %q (%v), want %q", fields["Subject"], got, err, subject.String())
		}
	})
}

// TestSubjectFolding: a Subject of short words folds at its spaces and
// stays readable; one with a word too long for a line, or text that
// would read as an encoded word, is encoded.
func TestSubjectFolding(t *testing.T) {
	long := strings.Repeat("word ", 40)
	var b bytes.Buffer
	writeField(&b, "Subject", subjectPieces(long))
	if strings.Contains(b.String(), "=?") || strings.Count(b.String(), "\r\n") < 3 {
		t.Errorf("short words: %q", b.String())
	}
	for _, s := range []string{strings.Repeat("x", 100), "=?utf-8?q?not_encoded?=", "naïve"} {
		b.Reset()
		writeField(&b, "Subject", subjectPieces(s))
		if !strings.Contains(b.String(), "=?utf-8?") {
			t.Errorf("%q not encoded: %q", s, b.String())
		}
	}
}

// TestSendBodyLineTooLong: a --body line over 998 octets is a usage
// error; one of 998 is sent.
func TestSendBodyLineTooLong(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	send := func(body string) result {
		return smtpkit(t, nil, "send", "--server", srv.Addr, "--to", "b@example.org", "--body", body)
	}
	r := send("first\n" + strings.Repeat("y", 999))
	r.want(t, exitUsage)
	r.oneErrorLine(t, "--body: line 2 is 999 octets long", "998")
	send("first\n"+strings.Repeat("y", 998)).want(t, exitOK)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("server recorded %d messages", n)
	}
}

// TestSendLongLinesFlag: a --body-file line over 998 octets is refused
// before MAIL by default, folded with --long-lines fold and sent as it is
// with --long-lines send.
func TestSendLongLinesFlag(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	file := filepath.Join(t.TempDir(), "msg.eml")
	msg := "From: <a@example.org>\r\nTo: <b@example.org>\r\nSubject: long\r\n\r\n" + strings.Repeat("z", 1500) + "\r\n"
	os.WriteFile(file, []byte(msg), 0o600)
	send := func(args ...string) result {
		return smtpkit(t, nil, append([]string{"send", "--server", srv.Addr, "--to", "b@example.org", "--body-file", file}, args...)...)
	}
	r := send()
	r.want(t, exitFailed)
	r.oneErrorLine(t, "line 5 of the message is 1500 octets long", "nothing was sent", "--long-lines fold")
	for _, c := range srv.Commands() {
		if strings.HasPrefix(c, "MAIL") {
			t.Fatalf("MAIL sent for a refused message: %q", srv.Commands())
		}
	}
	send("--long-lines", "fold").want(t, exitOK)
	send("--long-lines", "send").want(t, exitOK)
	send("--long-lines", "maybe").want(t, exitUsage)
	m := srv.Messages()
	if len(m) != 2 {
		t.Fatalf("server recorded %d messages", len(m))
	}
	if want := strings.Replace(msg, strings.Repeat("z", 1500), strings.Repeat("z", 998)+"\r\n "+strings.Repeat("z", 502), 1); string(m[0].Data) != want {
		t.Errorf("folded: %q", m[0].Data)
	}
	if string(m[1].Data) != msg {
		t.Errorf("sent as is: %q", m[1].Data)
	}
}
