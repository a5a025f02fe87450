package msghdr

// Fuzz targets for Read and the address parsers. Run one with
//
//	go test -run=NONE -fuzz='^FuzzRead$' -fuzztime=60s ./session/internal/msghdr
//
// A crash the fuzzer finds stays in testdata/fuzz as a regression seed.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzRead: Read never panics; a read error is an *Error of a read kind
// and comes with no header; otherwise the header is no longer than the
// input, its lines are a subsequence of the header block's, the block is
// within the bound, r is left at the rest of the input, the header read
// again comes back unchanged with the same sender, and every address is
// clean UTF-8 with no control character, the recipients each once.
func FuzzRead(f *testing.F) {
	seeds := []string{
		"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nBcc: carol@example.org,\r\n dave@example.org\r\nSubject: hi\r\n\r\nbody\r\n",
		"From: a@x.example\nTo: undisclosed-recipients:;\nBcc: b@y.example\n\n",
		"Resent-Date: x\nResent-From: a@x.example\nResent-To: b@y.example\nResent-Bcc: c@z.example\nFrom: d@x.example\nTo: e@y.example\n",
		"Resent-Date: x\nResent-Date: y\nFrom: a@x.example\n\nbody",
		"From: jöhn@exämple.org\nTo: \"john doe\"@example.org, (c) <@r.example:b@y.example>, a..b@x.example\n\n",
		"Bcc: only",
		"From: a\n b\nnot a field\n\n",
		" continuation first\n\n",
		"\r\n",
		"From: a@x.example\r\nTo: b@y.example\r\n\r",
		"X: \x00\x7f\xff\r\n\r\n\x00",
		"From: a@x.example\nTo: b@y.example\nX: y\rBcc: c@z.example\n\nbody",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint16(0), false)
		f.Add([]byte(s), uint16(40), true)
	}
	f.Fuzz(func(t *testing.T, in []byte, max uint16, small bool) {
		size := 4096
		if small {
			size = 16
		}
		br := bufio.NewReaderSize(bytes.NewReader(in), size)
		env, header, err := Read(br, int(max))
		checkErrorText(t, err)
		var ee *EnvelopeError
		if err != nil && !errors.As(err, &ee) {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrHeaderTooLarge) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("read error %v (%T) is not an *Error of a read kind", err, err)
			}
			if header != nil || env.From != "" || env.To != nil {
				t.Fatalf("read error %v came with %q, %q", err, env, header)
			}
			return
		}
		if header == nil {
			t.Fatalf("no header and no read error (err = %v)", err)
		}
		if len(header) > len(in) {
			t.Fatalf("header of %d bytes from %d bytes of input", len(header), len(in))
		}
		rest, _ := io.ReadAll(br)
		if !bytes.HasSuffix(in, rest) {
			t.Fatalf("left in r %q is not the end of the input %q", rest, in)
		}
		block := in[:len(in)-len(rest)]
		bound := int(max)
		if bound == 0 {
			bound = DefaultMaxHeaderBytes
		}
		if len(block) > bound {
			t.Fatalf("a block of %d bytes passed the bound %d", len(block), bound)
		}
		if !isLineSubsequence(string(header), string(block)) {
			t.Fatalf("header %q is not a subsequence by lines of the block %q", header, block)
		}

		// The header read again is the same header, with the same sender.
		env2, header2, err2 := Read(bufio.NewReaderSize(bytes.NewReader(header), size), int(max))
		if !bytes.Equal(header2, header) {
			t.Fatalf("header read again:\n got %q (%v)\nwant %q", header2, err2, header)
		}
		var ee2 *EnvelopeError
		if err2 != nil && !errors.As(err2, &ee2) {
			t.Fatalf("header read again: %v", err2)
		}
		if (ee == nil || ee.Sender == nil) && (ee2 != nil && ee2.Sender != nil || env2.From != env.From) {
			t.Fatalf("header read again: sender %q, %v; was %q", env2.From, err2, env.From)
		}

		for i, a := range append([]string{env.From}, env.To...) {
			if i > 0 && a == "" {
				t.Fatalf("empty recipient in %q", env.To)
			}
			if checkAddr(a) != nil {
				t.Fatalf("address %q has a control character or is not UTF-8", a)
			}
		}
		for i, a := range env.To {
			if slices.Contains(env.To[:i], a) {
				t.Fatalf("recipient %q twice in %q", a, env.To)
			}
		}
	})
}

// FuzzAddressList: parseAddressList never panics; what it returns is clean
// and is its own address list; where net/mail takes a value, the fallback
// parser takes it too and gives the same addresses, so which parser
// answers does not change the answer.
func FuzzAddressList(f *testing.F) {
	for _, s := range []string{
		"alice@example.org", "Alice <alice@example.org>, bob@example.org (Bob)",
		`"Smith, Alice" <alice@example.org>`, "undisclosed-recipients:;",
		"Team: a@x.example, b@y.example;, c@z.example", `"john doe"@example.org`,
		`"a\"b\\c"@example.org`, "jöhn@exämple.org", "=?utf-8?q?J=C3=B6hn?= <j@example.org>",
		"a@[192.0.2.1]", "a@[IPv6:2001:db8::1]", "<>", "(boss) bob@example.org",
		"<@relay.example:bob@example.org>", "a..b@x.example", `""@x.example`,
		"bob@example.org <bob@example.org>", "Jos\xe9 <jose@example.org>", "alice",
		"a@x; b@y", "<a@x", "a@x (", "\"a\x01\"@x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseAddressList(s)
		if err != nil {
			if got != nil {
				t.Fatalf("parseAddressList(%q) = %q and %v", s, got, err)
			}
			checkErrorText(t, &Error{Err: ErrBadAddress, Detail: err.Error()})
			return
		}
		for _, a := range got {
			if a == "" {
				continue
			}
			if checkAddr(a) != nil {
				t.Fatalf("parseAddressList(%q) gave %q", s, a)
			}
			again, err := parseAddressList(a)
			if err != nil || len(again) != 1 || again[0] != a {
				t.Fatalf("parseAddressList(%q) gave %q, which parses to %q, %v", s, a, again, err)
			}
		}
		if _, err := addrParser.ParseList(s); err == nil && utf8.ValidString(s) {
			lenient, err := parseLenient(s)
			if err != nil {
				t.Fatalf("net/mail takes %q (%q), the fallback does not: %v", s, got, err)
			}
			if !slices.Equal(lenient, got) {
				t.Fatalf("%q: net/mail gives %q, the fallback %q", s, got, lenient)
			}
		}
	})
}
