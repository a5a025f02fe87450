package session_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

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
