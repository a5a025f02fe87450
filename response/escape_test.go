package response

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// hostileLines are reply lines a hostile server sends to drive a terminal
// or to hide what a log line says.
var hostileLines = []string{
	"\x1b]0;pwned\x07 OSC title",             // ESC-based OSC: sets the window title
	"\x1b[2J\x1b[H cleared",                  // ESC-based CSI: clears the screen
	"\u009b31m C1 CSI",                       // the one-rune C1 form of CSI
	"\u0085 NEL",                             // C1 next line
	"user \u202egnp.exe",                     // RIGHT-TO-LEFT OVERRIDE
	"\u2066isolate\u2069 \u200e\u200f\u061c", // isolates and marks
	"bad \xff\xfe bytes \xc3",                // invalid UTF-8
	"overwritten\rfake 250 ok",               // bare CR
}

// checkPrintable fails unless s is valid UTF-8 of printable runes only.
func checkPrintable(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s = %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			t.Errorf("%s = %q holds %U raw", what, s, r)
		}
	}
}

// TestReplyStringEscapesC1BidiInvalidUTF8 is the regression test for
// issue 17 item 3: Reply.String escaped C0 and DEL only, so a C1 CSI
// (U+009B), a bidi override (U+202E) and invalid UTF-8 reached logs and
// terminals raw; Error.Error did the same with the command.
func TestReplyStringEscapesC1BidiInvalidUTF8(t *testing.T) {
	r := New(550, hostileLines...)
	s := r.String()
	checkPrintable(t, "Reply.String()", s)
	for _, want := range []string{`\x1b]0;pwned\a`, `\u009b31m`, `\u202egnp.exe`, `\u2066isolate\u2069 \u200e\u200f\u061c`, `bad \xff\xfe bytes \xc3`, `overwritten\rfake`} {
		if !strings.Contains(s, want) {
			t.Errorf("Reply.String() = %q lacks %q", s, want)
		}
	}
	if got, want := strings.Count(s, " | "), len(hostileLines)-1; got != want {
		t.Errorf("Reply.String() = %q: %d separators, want %d", s, got, want)
	}

	e := &Error{Reply: r, Command: "RCPT TO:<\u202eeve@example.org>\x9b\xff"}
	msg := e.Error()
	checkPrintable(t, "Error.Error()", msg)
	if !strings.Contains(msg, `(reply to RCPT TO:<\u202eeve@example.org>\x9b\xff)`) {
		t.Errorf("Error.Error() = %q: command not escaped as expected", msg)
	}

	// Printable text, non-ASCII included, is left as it is.
	if got := New(250, "grüße", "例子.广告").String(); got != "250 grüße | 例子.广告" {
		t.Errorf("printable text changed: %q", got)
	}
}
