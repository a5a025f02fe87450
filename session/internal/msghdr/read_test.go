package msghdr

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// readCase is one message for Read: what it should give back.
type readCase struct {
	name    string
	in      string
	max     int // 0: the default
	bufSize int // of the bufio.Reader; 0: bufio's default

	env    Envelope
	header string // the header to transmit
	body   string // what is left in r

	readErr   error // the kind of a read error; then no header, no envelope
	errLine   int   // the line a read error names, when not 0
	senderErr error // the kind in EnvelopeError.Sender
	rcptErr   error // the kind in EnvelopeError.Recipients
}

// runRead runs Read on c.in and checks everything c says.
func runRead(t *testing.T, c readCase) {
	t.Helper()
	var br *bufio.Reader
	if c.bufSize > 0 {
		br = bufio.NewReaderSize(strings.NewReader(c.in), c.bufSize)
	} else {
		br = bufio.NewReader(strings.NewReader(c.in))
	}
	env, header, err := Read(br, c.max)
	checkErrorText(t, err)
	if c.readErr != nil {
		if !errors.Is(err, c.readErr) {
			t.Fatalf("err = %v, want %v", err, c.readErr)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("err = %v (%T), want an *Error", err, err)
		}
		var ee *EnvelopeError
		if errors.As(err, &ee) {
			t.Fatalf("read error %v is an *EnvelopeError", err)
		}
		if c.errLine != 0 && e.Line != c.errLine {
			t.Errorf("err.Line = %d, want %d (%v)", e.Line, c.errLine, err)
		}
		if header != nil || env.From != "" || env.To != nil {
			t.Errorf("a read error came with header %q, envelope %q", header, env)
		}
		return
	}
	if header == nil {
		t.Fatalf("no header, err = %v", err)
	}
	if c.senderErr == nil && c.rcptErr == nil {
		if err != nil {
			t.Fatalf("err = %v", err)
		}
	} else {
		var ee *EnvelopeError
		if !errors.As(err, &ee) {
			t.Fatalf("err = %v (%T), want an *EnvelopeError", err, err)
		}
		checkHalf(t, "Sender", ee.Sender, c.senderErr)
		checkHalf(t, "Recipients", ee.Recipients, c.rcptErr)
		for _, k := range []error{c.senderErr, c.rcptErr} {
			if k != nil && !errors.Is(err, k) {
				t.Errorf("errors.Is(%v, %v) = false", err, k)
			}
		}
	}
	if diff := cmp.Diff(c.env, env, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	if string(header) != c.header {
		t.Errorf("header:\n got %q\nwant %q", header, c.header)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != c.body {
		t.Errorf("left in r:\n got %q\nwant %q", rest, c.body)
	}
}

func checkHalf(t *testing.T, half string, got *Error, want error) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("EnvelopeError.%s = %v, want nil", half, got)
	case want != nil && got == nil:
		t.Errorf("EnvelopeError.%s = nil, want %v", half, want)
	case want != nil && !errors.Is(got, want):
		t.Errorf("EnvelopeError.%s = %v, want %v", half, got, want)
	}
}

// checkErrorText fails if an error message holds a control character.
func checkErrorText(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, r := range err.Error() {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("error message holds control character %U: %q", r, err.Error())
		}
	}
}

func TestRead(t *testing.T) {
	alice, bob, carol, dave := "alice@example.org", "bob@example.org", "carol@example.org", "dave@example.org"
	cases := []readCase{
		{
			name:   "CRLF",
			in:     "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: hi\r\n\r\nHello.\r\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: hi\r\n\r\n",
			body:   "Hello.\r\n",
		},
		{
			name:   "LF only",
			in:     "From: alice@example.org\nTo: bob@example.org\nCc: carol@example.org\n\nHello.\nBye.\n",
			env:    Envelope{From: alice, To: []string{bob, carol}},
			header: "From: alice@example.org\nTo: bob@example.org\nCc: carol@example.org\n\n",
			body:   "Hello.\nBye.\n",
		},
		{
			name:   "mixed line endings kept",
			in:     "From: alice@example.org\nTo: bob@example.org\r\nX-A: 1\n\r\nbody\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\nTo: bob@example.org\r\nX-A: 1\n\r\n",
			body:   "body\n",
		},
		{
			name:   "body looks like a header and is left alone",
			in:     "From: alice@example.org\r\nTo: bob@example.org\r\n\r\nBcc: carol@example.org\r\nTo: dave@example.org\r\n\r\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\r\nTo: bob@example.org\r\n\r\n",
			body:   "Bcc: carol@example.org\r\nTo: dave@example.org\r\n\r\n",
		},
		{
			name:   "binary body",
			in:     "From: alice@example.org\nTo: bob@example.org\n\n\x00\xff\r\r\n.\r\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\nTo: bob@example.org\n\n",
			body:   "\x00\xff\r\r\n.\r\n",
		},
		{
			name:   "EOF before the empty line",
			in:     "From: alice@example.org\r\nTo: bob@example.org\r\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\r\nTo: bob@example.org\r\n",
		},
		{
			name:   "EOF in the last line",
			in:     "From: alice@example.org\nTo: bob@example.org",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\nTo: bob@example.org",
		},
		{
			name:   "EOF in a continuation line",
			in:     "From: alice@example.org\nTo: bob@example.org,\n carol@example.org",
			env:    Envelope{From: alice, To: []string{bob, carol}},
			header: "From: alice@example.org\nTo: bob@example.org,\n carol@example.org",
		},
		{
			name:   "empty line then body, no field",
			in:     "\r\nbody",
			header: "\r\n",
			body:   "body",
			env:    Envelope{}, senderErr: ErrNoSender, rcptErr: ErrNoRecipients,
		},
		{
			name:      "empty input",
			in:        "",
			header:    "",
			senderErr: ErrNoSender, rcptErr: ErrNoRecipients,
		},
		{
			name:   "Sender over From",
			in:     "From: alice@example.org, carol@example.org\nSender: dave@example.org\nTo: bob@example.org\n\n",
			env:    Envelope{From: dave, To: []string{bob}},
			header: "From: alice@example.org, carol@example.org\nSender: dave@example.org\nTo: bob@example.org\n\n",
		},
		{
			name:   "empty Sender gives the null sender (Python 3.11 raises IndexError)",
			in:     "From: alice@example.org\nSender:\nTo: bob@example.org\n\n",
			env:    Envelope{From: "", To: []string{bob}},
			header: "From: alice@example.org\nSender:\nTo: bob@example.org\n\n",
		},
		{
			name:   "From with several addresses: the first",
			in:     "From: Carol <carol@example.org>, alice@example.org\nTo: bob@example.org\n\n",
			env:    Envelope{From: carol, To: []string{bob}},
			header: "From: Carol <carol@example.org>, alice@example.org\nTo: bob@example.org\n\n",
		},
		{
			name:   "From <>",
			in:     "From: <>\nTo: bob@example.org\n\n",
			env:    Envelope{From: "", To: []string{bob}},
			header: "From: <>\nTo: bob@example.org\n\n",
		},
		{
			name:   "From an empty group",
			in:     "From: undisclosed:;\nTo: bob@example.org\n\n",
			env:    Envelope{From: "", To: []string{bob}},
			header: "From: undisclosed:;\nTo: bob@example.org\n\n",
		},
		{
			name:   "From empty",
			in:     "From:   \nTo: bob@example.org\n\n",
			env:    Envelope{From: "", To: []string{bob}},
			header: "From:   \nTo: bob@example.org\n\n",
		},
		{
			name:   "first From of two",
			in:     "From: alice@example.org\nFrom: carol@example.org\nTo: bob@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\nFrom: carol@example.org\nTo: bob@example.org\n\n",
		},
		{
			name:   "undisclosed-recipients and a Bcc",
			in:     "From: alice@example.org\r\nTo: undisclosed-recipients:;\r\nBcc: bob@example.org\r\n\r\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\r\nTo: undisclosed-recipients:;\r\n\r\n",
		},
		{
			name:      "undisclosed-recipients only",
			in:        "From: alice@example.org\r\nTo: undisclosed-recipients:;\r\n\r\nbody",
			env:       Envelope{From: alice},
			header:    "From: alice@example.org\r\nTo: undisclosed-recipients:;\r\n\r\n",
			body:      "body",
			rcptErr:   ErrNoRecipients,
			senderErr: nil,
		},
		{
			name:   "group with members",
			in:     "From: alice@example.org\nTo: Friends: bob@example.org, Carol <carol@example.org>;, dave@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob, carol, dave}},
			header: "From: alice@example.org\nTo: Friends: bob@example.org, Carol <carol@example.org>;, dave@example.org\n\n",
		},
		{
			name:   "field names in any case",
			in:     "FROM: alice@example.org\nsender: carol@example.org\ntO: bob@example.org\nCC: dave@example.org\nbcc: eve@example.org\n\n",
			env:    Envelope{From: carol, To: []string{bob, dave, "eve@example.org"}},
			header: "FROM: alice@example.org\nsender: carol@example.org\ntO: bob@example.org\nCC: dave@example.org\n\n",
		},
		{
			name:   "white space before the colon (obsolete)",
			in:     "From : alice@example.org\nTo\t: bob@example.org\nBcc  : carol@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob, carol}},
			header: "From : alice@example.org\nTo\t: bob@example.org\n\n",
		},
		{
			name:   "no space after the colon",
			in:     "From:alice@example.org\nTo:bob@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From:alice@example.org\nTo:bob@example.org\n\n",
		},
		{
			name:   "folded To, space and tab",
			in:     "From: alice@example.org\r\nTo: Bob\r\n <bob@example.org>,\r\n\tcarol@example.org\r\n  , dave@example.org\r\n\r\nx",
			env:    Envelope{From: alice, To: []string{bob, carol, dave}},
			header: "From: alice@example.org\r\nTo: Bob\r\n <bob@example.org>,\r\n\tcarol@example.org\r\n  , dave@example.org\r\n\r\n",
			body:   "x",
		},
		{
			name:   "folded From",
			in:     "From:\n Alice\n <alice@example.org>\nTo: bob@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From:\n Alice\n <alice@example.org>\nTo: bob@example.org\n\n",
		},
		{
			name:   "a line of white space continues the field",
			in:     "From: alice@example.org\nTo: bob@example.org,\n \t\n carol@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob, carol}},
			header: "From: alice@example.org\nTo: bob@example.org,\n \t\n carol@example.org\n\n",
		},
		{
			name:   "every To, Cc and Bcc counts, in header order",
			in:     "Bcc: dave@example.org\nTo: bob@example.org\nFrom: alice@example.org\nCc: carol@example.org\nTo: eve@example.org\n\n",
			env:    Envelope{From: alice, To: []string{dave, bob, carol, "eve@example.org"}},
			header: "To: bob@example.org\nFrom: alice@example.org\nCc: carol@example.org\nTo: eve@example.org\n\n",
		},
		{
			name:   "duplicates removed, the first kept",
			in:     "From: alice@example.org\nTo: bob@example.org, carol@example.org, Bob <bob@example.org>\nCc: carol@example.org, BOB@example.org\nBcc: bob@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob, carol, "BOB@example.org"}},
			header: "From: alice@example.org\nTo: bob@example.org, carol@example.org, Bob <bob@example.org>\nCc: carol@example.org, BOB@example.org\n\n",
		},
		{
			name:   "empty addresses left out",
			in:     "From: alice@example.org\nTo: <>, bob@example.org,,\nCc:\n\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\nTo: <>, bob@example.org,,\nCc:\n\n",
		},
		{
			name:   "Resent- block",
			in:     "Resent-From: carol@example.org\nResent-To: dave@example.org\nResent-Cc: eve@example.org\nResent-Bcc: frank@example.org\nResent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nFrom: alice@example.org\nTo: bob@example.org\nBcc: ghost@example.org\n\nbody",
			env:    Envelope{From: carol, To: []string{dave, "eve@example.org", "frank@example.org"}},
			header: "Resent-From: carol@example.org\nResent-To: dave@example.org\nResent-Cc: eve@example.org\nResent-Date: Mon, 1 Jan 2024 00:00:00 +0000\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			body:   "body",
		},
		{
			name:   "Resent-Sender over Resent-From",
			in:     "resent-date: x\nRESENT-FROM: carol@example.org\nResent-Sender: Dave <dave@example.org>\nResent-To: bob@example.org\nSender: eve@example.org\nFrom: alice@example.org\n\n",
			env:    Envelope{From: dave, To: []string{bob}},
			header: "resent-date: x\nRESENT-FROM: carol@example.org\nResent-Sender: Dave <dave@example.org>\nResent-To: bob@example.org\nSender: eve@example.org\nFrom: alice@example.org\n\n",
		},
		{
			name:   "Resent- fields without Resent-Date are not a resending",
			in:     "Resent-From: carol@example.org\nResent-To: dave@example.org\nResent-Bcc: eve@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "Resent-From: carol@example.org\nResent-To: dave@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
		},
		{
			name:      "Resent-Date without Resent-From",
			in:        "Resent-Date: x\nResent-To: dave@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			env:       Envelope{To: []string{dave}},
			header:    "Resent-Date: x\nResent-To: dave@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			senderErr: ErrNoSender,
		},
		{
			name:    "Resent-Date without Resent- recipients",
			in:      "Resent-Date: x\nResent-From: carol@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			env:     Envelope{From: carol},
			header:  "Resent-Date: x\nResent-From: carol@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			rcptErr: ErrNoRecipients,
		},
		{
			name:      "two Resent- blocks",
			in:        "Resent-Date: y\nResent-From: carol@example.org\nResent-Bcc: eve@example.org\nResent-To: dave@example.org\nResent-Date: x\nResent-From: alice@example.org\nResent-To: bob@example.org\nFrom: alice@example.org\nTo: bob@example.org\nBcc: ghost@example.org\n\nbody\n",
			header:    "Resent-Date: y\nResent-From: carol@example.org\nResent-To: dave@example.org\nResent-Date: x\nResent-From: alice@example.org\nResent-To: bob@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			body:      "body\n",
			senderErr: ErrMultipleResent, rcptErr: ErrMultipleResent,
		},
		{
			name:      "no sender field",
			in:        "To: bob@example.org\nReply-To: alice@example.org\n\n",
			env:       Envelope{To: []string{bob}},
			header:    "To: bob@example.org\nReply-To: alice@example.org\n\n",
			senderErr: ErrNoSender,
		},
		{
			name:    "no recipient field",
			in:      "From: alice@example.org\nSubject: x\n\n",
			env:     Envelope{From: alice},
			header:  "From: alice@example.org\nSubject: x\n\n",
			rcptErr: ErrNoRecipients,
		},
		{
			name:    "look-alike fields are not recipient fields",
			in:      "From: alice@example.org\nX-To: bob@example.org\nTo-Do: carol@example.org\nBcc-X: dave@example.org\nX-Bcc: eve@example.org\n\n",
			env:     Envelope{From: alice},
			header:  "From: alice@example.org\nX-To: bob@example.org\nTo-Do: carol@example.org\nBcc-X: dave@example.org\nX-Bcc: eve@example.org\n\n",
			rcptErr: ErrNoRecipients,
		},
		{
			name:    "To that does not parse",
			in:      "From: alice@example.org\nTo: bob@example.org\nCc: carol\n\n",
			env:     Envelope{From: alice},
			header:  "From: alice@example.org\nTo: bob@example.org\nCc: carol\n\n",
			rcptErr: ErrBadAddress,
		},
		{
			name:      "From that does not parse",
			in:        "From: alice@example.org (unclosed\nTo: bob@example.org\n\n",
			env:       Envelope{To: []string{bob}},
			header:    "From: alice@example.org (unclosed\nTo: bob@example.org\n\n",
			senderErr: ErrBadAddress,
		},
		{
			name:      "both halves fail",
			in:        "From: <alice\nCc: \"bob\n\n",
			header:    "From: <alice\nCc: \"bob\n\n",
			senderErr: ErrBadAddress, rcptErr: ErrBadAddress,
		},
		{
			name:   "UTF-8 addresses pass through (RFC 6532)",
			in:     "From: Jöhn Dœ <jöhn@exämple.org>\nTo: 用户@例子.广告, \"ünï cödé\"@example.org\nCc: Δ <δοκιμή@παράδειγμα.δοκιμή>\n\n",
			env:    Envelope{From: "jöhn@exämple.org", To: []string{"用户@例子.广告", `"ünï cödé"@example.org`, "δοκιμή@παράδειγμα.δοκιμή"}},
			header: "From: Jöhn Dœ <jöhn@exämple.org>\nTo: 用户@例子.广告, \"ünï cödé\"@example.org\nCc: Δ <δοκιμή@παράδειγμα.δοκιμή>\n\n",
		},
		{
			name:   "display names, comments, quoted local parts",
			in:     "From: \"Smith, Alice\" <alice@example.org> (work)\nTo: (the boss) bob@example.org, \"john doe\"@example.org, \"john\"@example.org,\n \"a\\\"b\"@example.org, =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?= <carol@example.org>\n\n",
			env:    Envelope{From: alice, To: []string{bob, `"john doe"@example.org`, "john@example.org", `"a\"b"@example.org`, carol}},
			header: "From: \"Smith, Alice\" <alice@example.org> (work)\nTo: (the boss) bob@example.org, \"john doe\"@example.org, \"john\"@example.org,\n \"a\\\"b\"@example.org, =?iso-2022-jp?B?GyRCJUYlOSVIGyhC?= <carol@example.org>\n\n",
		},
		{
			name:   "a long line over the bufio buffer",
			in:     "From: alice@example.org\nSubject: " + strings.Repeat("x", 5000) + "\nX-" + strings.Repeat("N", 40) + ": v\nTo: bob@example.org\n\nbody",
			env:    Envelope{From: alice, To: []string{bob}},
			header: "From: alice@example.org\nSubject: " + strings.Repeat("x", 5000) + "\nX-" + strings.Repeat("N", 40) + ": v\nTo: bob@example.org\n\n",
			body:   "body", bufSize: 16,
		},
		{
			name:   "the smallest bufio buffer",
			in:     "From: alice@example.org\r\nBcc: carol@example.org,\r\n dave@example.org\r\nTo: bob@example.org\r\n\r\nbody",
			env:    Envelope{From: alice, To: []string{carol, dave, bob}},
			header: "From: alice@example.org\r\nTo: bob@example.org\r\n\r\n",
			body:   "body", bufSize: 16,
		},

		// Read errors.
		{name: "line with no colon", in: "From: alice@example.org\nTo: bob@example.org\nnot a field\n\nbody", readErr: ErrMalformed, errLine: 3},
		{name: "continuation first", in: " From: alice@example.org\nTo: bob@example.org\n\n", readErr: ErrMalformed, errLine: 1},
		{name: "space in the field name", in: "From: alice@example.org\nX Foo: 1\n\n", readErr: ErrMalformed, errLine: 2},
		{name: "empty field name", in: "From: alice@example.org\n: 1\n\n", readErr: ErrMalformed, errLine: 2},
		{name: "non-ASCII field name", in: "From: alice@example.org\nÜber: 1\n\n", readErr: ErrMalformed, errLine: 2},
		{name: "control character in the field name", in: "From: alice@example.org\nX-\x01: 1\n\n", readErr: ErrMalformed, errLine: 2},
		{name: "mbox From line", in: "From alice@example.org Mon Jan  1 00:00:00 2024\nFrom: alice@example.org\n\n", readErr: ErrMalformed, errLine: 1},
		// A bare CR ends a line, as the encoder sends it as CRLF.
		{name: "lone CR for the empty line", in: "From: alice@example.org\r\nTo: bob@example.org\r\n\r",
			env: Envelope{From: alice, To: []string{bob}}, header: "From: alice@example.org\r\nTo: bob@example.org\r\n\r"},
		{name: "CR CR LF: the bare CR is the empty line", in: "From: alice@example.org\r\n\r\r\nbody",
			env: Envelope{From: alice}, rcptErr: ErrNoRecipients, header: "From: alice@example.org\r\n\r", body: "\r\nbody"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runRead(t, c) })
	}
}

// TestReadBcc pins the removal of Bcc and Resent-Bcc byte for byte: every
// other byte stays, in place, with its line ending.
func TestReadBcc(t *testing.T) {
	cases := []struct{ name, in, header string }{
		{"first field",
			"Bcc: carol@example.org\r\nFrom: alice@example.org\r\nTo: bob@example.org\r\n\r\nbody",
			"From: alice@example.org\r\nTo: bob@example.org\r\n\r\n"},
		{"last field before the empty line",
			"From: alice@example.org\r\nTo: bob@example.org\r\nBcc: carol@example.org\r\n\r\nbody",
			"From: alice@example.org\r\nTo: bob@example.org\r\n\r\n"},
		{"last field, EOF, no line ending",
			"From: alice@example.org\nTo: bob@example.org\nBcc: carol@example.org",
			"From: alice@example.org\nTo: bob@example.org\n"},
		{"last field, EOF after its line ending",
			"From: alice@example.org\nTo: bob@example.org\nBcc: carol@example.org\n",
			"From: alice@example.org\nTo: bob@example.org\n"},
		{"folded, in the middle",
			"From: alice@example.org\r\nBcc: carol@example.org,\r\n\tdave@example.org,\r\n  eve@example.org\r\nTo: bob@example.org\r\n\r\nbody",
			"From: alice@example.org\r\nTo: bob@example.org\r\n\r\n"},
		{"folded, first, LF",
			"Bcc:\n carol@example.org\nFrom: alice@example.org\nTo: bob@example.org\n\n",
			"From: alice@example.org\nTo: bob@example.org\n\n"},
		{"folded, last, EOF inside the continuation",
			"From: alice@example.org\nTo: bob@example.org\nBcc: carol@example.org,\n dave@example.org",
			"From: alice@example.org\nTo: bob@example.org\n"},
		{"several, with Resent-Bcc, in any case",
			"BCC: carol@example.org\r\nFrom: alice@example.org\r\nresent-bcc: dave@example.org\r\nbcc : eve@example.org\r\nTo: bob@example.org\r\nBcc:\r\n\r\n",
			"From: alice@example.org\r\nTo: bob@example.org\r\n\r\n"},
		{"adjacent to a folded field",
			"From: alice@example.org\nTo: bob@example.org,\n carol@example.org\nBcc: dave@example.org\nSubject: a\n b\n\n",
			"From: alice@example.org\nTo: bob@example.org,\n carol@example.org\nSubject: a\n b\n\n"},
		{"mixed endings around it",
			"From: alice@example.org\nBcc: carol@example.org\r\n dave@example.org\nTo: bob@example.org\r\n\n",
			"From: alice@example.org\nTo: bob@example.org\r\n\n"},
		{"only Bcc",
			"Bcc: bob@example.org\r\n\r\nbody",
			"\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(c.in))
			_, header, err := Read(br, 0)
			var ee *EnvelopeError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("err = %v", err)
			}
			if string(header) != c.header {
				t.Errorf("header:\n got %q\nwant %q", header, c.header)
			}
			rest, _ := io.ReadAll(br)
			block := len(c.in) - len(rest)
			if !strings.HasSuffix(c.in, string(rest)) || !isLineSubsequence(string(header), c.in[:block]) {
				t.Errorf("header %q + rest %q is not the input %q less some lines", header, rest, c.in)
			}
			if strings.Contains(strings.ToLower(string(header)), "bcc") {
				t.Errorf("a Bcc is left in %q", header)
			}
		})
	}
}

// isLineSubsequence reports whether the lines of sub (each with its line
// ending) are a subsequence of the lines of s. A line of sub that ends in
// CRLF matches a line of s that ends in a bare CR: the one change Read
// makes to a kept line (see header.transmit).
func isLineSubsequence(sub, s string) bool {
	a, b := splitLines(sub), splitLines(s)
	j := 0
	for _, l := range b {
		if j < len(a) && (a[j] == l || strings.HasSuffix(l, "\r") && a[j] == l+"\n") {
			j++
		}
	}
	return j == len(a)
}

// splitLines splits s into lines as the DATA encoder does: after each
// CRLF, bare LF and bare CR; the last line may have no ending.
func splitLines(s string) []string {
	var lines []string
	for s != "" {
		i := strings.IndexAny(s, "\r\n") + 1
		switch {
		case i == 0:
			i = len(s)
		case s[i-1] == '\r' && i < len(s) && s[i] == '\n':
			i++
		}
		lines = append(lines, s[:i])
		s = s[i:]
	}
	return lines
}
