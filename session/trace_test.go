package session_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// rawHandler is a slog.Handler that keeps every attribute value as the
// record carried it, so that a test sees what any handler would get, not
// what slog's own handlers make of it.
type rawHandler struct {
	mu     sync.Mutex
	values []string
}

func (h *rawHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *rawHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *rawHandler) WithGroup(string) slog.Handler            { return h }
func (h *rawHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		h.values = append(h.values, a.Value.String())
		return true
	})
	return nil
}

// checkTraceText fails unless s is valid UTF-8 of printable runes, line
// feeds aside.
func checkTraceText(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s is not valid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r != '\n' && !unicode.IsPrint(r) {
			t.Errorf("%s holds %U raw: %q", what, r, s)
			return
		}
	}
}

// TestTraceEscapesReplies is the regression test for issue 17 item 3:
// Options.Trace and Options.Logger got reply lines raw, so a server could
// set the terminal's title (OSC), overwrite a trace line with a bare CR,
// reverse text with U+202E, or send invalid UTF-8 into a log.
func TestTraceEscapesReplies(t *testing.T) {
	greeting := response.New(220, "mx.example.org \x1b]0;pwned\x07 ESMTP")
	srv := smtptest.NewServer(smtptest.Config{
		Greeting: &greeting,
		Overrides: []smtptest.Override{{Verb: "NOOP", Reply: response.New(250,
			"2.0.0 ok\r250 forged line",
			"user \u202egnp.exe \u009b31m \x1b[2J",
			"bad \xff byte")}},
	})
	defer srv.Close()

	var trace bytes.Buffer
	h := &rawHandler{}
	ctx := context.Background()
	c, err := session.Dial(ctx, srv.Addr, &session.Options{
		TLS: session.TLSOff, Trace: &trace, Logger: slog.New(h),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Noop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "\u202e") || !strings.Contains(r.Text, "\r") {
		t.Fatalf("the reply did not arrive as sent: %q", r.Text)
	}

	got := trace.String()
	checkTraceText(t, "the trace", got)
	for _, want := range []string{
		`S: 220 mx.example.org \x1b]0;pwned\a ESMTP` + "\n",
		`S: 250-2.0.0 ok\r250 forged line` + "\n",
		`S: 250-user \u202egnp.exe \u009b31m \x1b[2J` + "\n",
		`S: 250 bad \xff byte` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the trace lacks %q:\n%s", want, got)
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.values) == 0 {
		t.Fatal("nothing logged")
	}
	for _, v := range h.values {
		checkTraceText(t, "a logged value", v)
	}
	if all := strings.Join(h.values, "\n"); !strings.Contains(all, `user \u202egnp.exe`) {
		t.Errorf("the log lacks the escaped reply line:\n%s", all)
	}
}

func TestTrace(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	var trace bytes.Buffer
	c := dial(t, srv, &session.Options{Trace: &trace, LocalName: "me.example.org"})
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	c.Do(testCtx(t), command.Auth{Mechanism: "PLAIN", InitialResponse: []byte("\x00user\x00s3cret")})
	got := trace.String()
	for _, want := range []string{"S: 220 ", "C: EHLO me.example.org\n", "C: MAIL FROM:<alice@example.org>", "C: RCPT TO:<bob@example.org>\n", "C: DATA\n", "S: 354 ", "C: <message data: ", "C: .\n", "C: AUTH PLAIN [redacted]\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"s3cret", "AHVzZXIAczNjcmV0", "Hello."} {
		if strings.Contains(got, secret) {
			t.Errorf("trace shows %q:\n%s", secret, got)
		}
	}
}

func TestLogger(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := dial(t, srv, &session.Options{Logger: log})
	if _, err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "dir=C line=NOOP") || !strings.Contains(out, "dir=S line=\"250 ") {
		t.Errorf("log:\n%s", out)
	}
}

func TestPipelineTrace(t *testing.T) {
	data := normalise([]byte(markedBody))
	size := strconv.Itoa(len(data))
	for _, tt := range []struct {
		name string
		exts []string
		want []string
	}{
		{"BDAT", smtptest.DefaultExtensions(), []string{
			"C: MAIL FROM:<alice@example.org> SIZE=" + size,
			"C: RCPT TO:<bob@example.org>",
			"C: RCPT TO:<carol@example.org>",
			"C: BDAT " + size + " LAST",
			"C: <message data: " + size + " octets>",
			"S: 250 2.1.0 OK",
			"S: 250 2.1.5 OK",
			"S: 250 2.1.5 OK",
			"S: 250 2.0.0 OK queued",
		}},
		{"DATA", pipelinedDataExtensions(), []string{
			"C: MAIL FROM:<alice@example.org> SIZE=" + size,
			"C: RCPT TO:<bob@example.org>",
			"C: RCPT TO:<carol@example.org>",
			"C: DATA",
			"S: 250 2.1.0 OK",
			"S: 250 2.1.5 OK",
			"S: 250 2.1.5 OK",
			"S: 354 End data with <CR><LF>.<CR><LF>",
			fmt.Sprintf("C: <message data: %d octets>", len(markedBody)),
			"C: .",
			"S: 250 2.0.0 OK queued",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServerOffering(t, tt.exts, smtptest.Config{})
			var trace bytes.Buffer
			c := dialHello(t, srv, &session.Options{Trace: &trace})
			trace.Reset()
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := strings.Split(strings.TrimSuffix(trace.String(), "\n"), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Contains(trace.String(), "SECRET-BODY-MARKER") {
				t.Errorf("the trace copies the message")
			}
		})
	}
	// The BDAT lines traced are those sent, chunk by chunk.
	for _, body := range []string{strings.Repeat("x", 33), "a\nb\n", "", strings.Repeat("y\n", 10), "bin\x00ary\n"} {
		t.Run(fmt.Sprintf("chunks of %q", body), func(t *testing.T) {
			srv := newServerOffering(t, binaryExtensions(), smtptest.Config{})
			var trace bytes.Buffer
			c := dialHello(t, srv, &session.Options{Trace: &trace, ChunkSize: 10})
			trace.Reset()
			before := len(srv.Commands())
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			var traced []string
			for l := range strings.SplitSeq(trace.String(), "\n") {
				if s, ok := strings.CutPrefix(l, "C: "); ok {
					traced = append(traced, s)
				}
			}
			sent := srv.Commands()[before:]
			m := srv.Messages()
			if len(m) != 1 {
				t.Fatalf("server recorded %d messages", len(m))
			}
			// Each BDAT line is followed by the size of what it carried.
			var want []string
			for _, line := range sent {
				want = append(want, line)
				if size, ok := strings.CutPrefix(line, "BDAT "); ok {
					want = append(want, fmt.Sprintf("<message data: %s octets>", strings.TrimSuffix(size, " LAST")))
				}
			}
			if !slices.Equal(traced, want) {
				t.Errorf("client lines traced:\n%q\nsent:\n%q", traced, want)
			}
		})
	}
	t.Run("stream", func(t *testing.T) {
		srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
		var trace bytes.Buffer
		c := dialHello(t, srv, &session.Options{Trace: &trace})
		trace.Reset()
		msgs := manyMessages(2)
		msgs[1].body += "SECRET-BODY-MARKER\r\n"
		ys, _ := runStream(testCtx(t), c, msgs, nil)
		for _, y := range ys {
			if y.err != nil {
				t.Fatal(y.err)
			}
		}
		var cs []string
		var replies int
		for l := range strings.SplitSeq(strings.TrimSuffix(trace.String(), "\n"), "\n") {
			if s, ok := strings.CutPrefix(l, "C: "); ok {
				cs = append(cs, strings.Fields(s)[0])
			} else if strings.HasPrefix(l, "S: ") {
				replies++
			}
		}
		want := []string{"MAIL", "RCPT", "RCPT", "BDAT", "<message", "RSET", "MAIL", "RCPT", "RCPT", "BDAT", "<message"}
		if !slices.Equal(cs, want) || replies != 9 {
			t.Errorf("trace:\n%s\nwant client lines %q and 9 replies", trace.String(), want)
		}
		if strings.Contains(trace.String(), "SECRET-BODY-MARKER") {
			t.Errorf("the trace copies the message")
		}
	})
}
