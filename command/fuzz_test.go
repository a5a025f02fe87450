package command_test

// Fuzz targets for Parse, ParseMailbox, ParseAddress and xtext. Each is
// seeded with the files in testdata/fuzz/<FuzzName>/, FuzzParse also with
// fuzz.SeedCommands (encoder output for
// every verb, the lenient forms, CRLF injection, source routes, lines at
// and over their limits, UTF-8), FuzzParseAddress with f.Add; run one with
//
//	go test -run=NONE -fuzz='^FuzzParse$' -fuzztime=20s ./command
//
// A crash the fuzzer finds stays in testdata/fuzz as a regression seed.
// The checks are the ones the property tests use (property_test.go).

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	. "github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/fuzz"
	"golang.org/x/net/idna"
)

// FuzzParse: neither Parser panics; errors are typed; strict acceptance
// implies lenient acceptance with the same result; a strictly parsed
// command appends to one clean line, which parses back to it (parse,
// append, parse is a fixed point); no non-ASCII character is folded into
// ASCII. See checkParseLine.
func FuzzParse(f *testing.F) {
	fuzz.SeedCommands(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		checkParseLine(t, line)
	})
}

// FuzzParseMailbox: ParseMailbox accepts what a path of Parse accepts
// (wireMailbox), but for a path over 256 octets, and refuses with an
// *AddressError that names the address, an offset in it and a reason; what
// it accepts prints back (String) to
// something it parses to the same Mailbox, and goes on the wire in RCPT TO
// and MAIL FROM (with SMTPUTF8 when the mailbox holds UTF-8) to come back
// unchanged; without SMTPUTF8 its U-labels come back as A-labels.
func FuzzParseMailbox(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMailbox(s)
		wire, werr := wireMailbox(s)
		if err != nil {
			// The type, offset and message are checked here; the reasons
			// are pinned by TestParseMailbox.
			checkAddressError(t, "ParseMailbox", s, err)
			var ae *AddressError
			if werr == nil && (!errors.As(err, &ae) || ae.Err != ErrTooLong || ae.Offset != 0) {
				t.Fatalf("ParseMailbox(%q): %v; but a path holds it: %#v", s, err, wire)
			}
			return
		}
		if werr != nil || wire != m {
			t.Fatalf("ParseMailbox(%q) = %#v; in a path it is %#v, %v", s, m, wire, werr)
		}
		if m.Domain == "" || m.IsNull() {
			t.Fatalf("ParseMailbox(%q) = %#v: no domain", s, m)
		}
		if strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
			t.Fatalf("ParseMailbox(%q) = %#v: accepted CR, LF, NUL or bad UTF-8", s, m)
		}
		if m.NeedsSMTPUTF8() != !isASCII(m.Local) {
			t.Fatalf("ParseMailbox(%q) = %#v: NeedsSMTPUTF8() = %v", s, m, m.NeedsSMTPUTF8())
		}
		str := m.String()
		m2, err := ParseMailbox(str)
		if err != nil {
			t.Fatalf("ParseMailbox(%q) = %#v; ParseMailbox(String() = %q): %v", s, m, str, err)
		}
		if d := cmp.Diff(m, m2); d != "" {
			t.Fatalf("ParseMailbox(%q); String() = %q parses differently (-first +second):\n%s", s, str, d)
		}
		if again := m2.String(); again != str {
			t.Fatalf("ParseMailbox(%q): String() = %q, then %q", s, str, again)
		}

		utf8 := m.NeedsSMTPUTF8() || !isASCII(m.Domain)
		pathLen := len(str) + 2
		checkMailboxOnWire(t, Rcpt{To: m, SMTPUTF8: utf8}, pathLen)
		checkMailboxOnWire(t, Mail{From: m, Params: MailParams{SMTPUTF8: utf8}}, pathLen)
		if !m.NeedsSMTPUTF8() {
			// Without SMTPUTF8: the same mailbox with A-labels. Only a
			// non-ASCII name goes through IDNA ("00--0" is a fine
			// RFC 5321 label that IDNA would refuse; seed a6c4a47f664e13a0).
			a := m.Domain
			if !isASCII(a) {
				var err error
				if a, err = idna.Lookup.ToASCII(a); err != nil {
					t.Fatalf("ParseMailbox(%q) = %#v, whose domain idna refuses: %v", s, m, err)
				}
			}
			alen := len(Mailbox{m.Local, a}.String()) + 2
			checkMailboxOnWire(t, Rcpt{To: m}, alen)
			checkMailboxOnWire(t, Mail{From: m}, alen)
		}
	})
}

// FuzzParseAddress: ParseAddress never panics; it refuses with an
// *AddressError that names the input, an offset in it and a reason, or
// returns a mailbox whose String ParseMailbox and ParseAddress give back,
// bare or after a display name; it takes every addr-spec ParseMailbox
// takes, and where net/mail takes the input too, both find the same
// mailbox. See checkParseAddress. Seeded with the forms users paste and
// the ones it refuses.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"bob@example.org", "<bob@example.org>", "Bob <bob@example.org>", `"Bob, Jr." <bob@example.org>`,
		"bob@example.org (Bob)", "(Bob (the builder)) bob@example.org", "\tBob\t<bob@example.org> (note)",
		"=?utf-8?q?Pel=C3=A9?= <pelé@例子.广告>", `"john \"doe\""@example.org`, "Bob <bob@[IPv6:2001:db8::1]>",
		`x <a@[x-tag:a,b;c"d>e]>`, "a@example.org, b@example.org", "Smith, Bob <bob@example.org>",
		"team: a@example.org;", "undisclosed-recipients:;", "mailto:bob@example.org", "<@relay:bob@example.org>",
		"<>", "Bob <bob@example.org", "bob@example.org>", `Bob "Jr <bob@example.org>`, "Bob (Jr <bob@example.org>",
		"bob @ example.org", "Bob bob@example.org", "Bob <bob@example.org>\r\nRCPT TO:<eve@example.org>",
		"Bob\x00 <bob@example.org>", "B\xffob <bob@example.org>", "Bob <" + strings.Repeat("l", 64) + "@" + strings.Repeat("d", 63) + "." + strings.Repeat("e", 63) + "." + strings.Repeat("f", 63) + ">",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParseAddress(t, s)
	})
}

// checkMailboxOnWire appends c, a MAIL or RCPT whose path is pathLen
// octets on the wire: Append refuses it only when that is over
// MaxPathLength, and otherwise Parse gives back c, with A-labels where it
// had U-labels without SMTPUTF8.
func checkMailboxOnWire(t *testing.T, c Command, pathLen int) {
	t.Helper()
	line, err := c.Append(nil)
	if err != nil {
		if errors.Is(err, ErrTooLong) && pathLen > MaxPathLength {
			return
		}
		t.Fatalf("Append(%#v) (path of %d octets): %v", c, pathLen, err)
	}
	if pathLen > MaxPathLength {
		t.Fatalf("Append(%#v) = %q: path of %d octets accepted", c, line, pathLen)
	}
	checkWireLine(t, c, line)
	got, err := Parse(line)
	if err != nil {
		t.Fatalf("Append(%#v) = %q; Parse: %v", c, line, err)
	}
	if d := cmp.Diff(canonical(c), got); d != "" {
		t.Fatalf("Parse(Append(%#v)) (-want +got):\n%s", c, d)
	}
}

// FuzzXtext: any string xtext-encodes to xchars and "+HH" and decodes back;
// any input DecodeXtext accepts agrees with a reference decoder and
// re-encodes to the input with its optional hexchars folded.
func FuzzXtext(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		checkXtext(t, s)
		checkDecodeXtext(t, s)
	})
}

// TestParseTruncated: every prefix of every seed line of FuzzParse either
// parses to a command that builds and parses back, or fails with a typed
// error; none panics. A server reading a cut-off line must not do worse.
func TestParseTruncated(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// Corpus file: "go test fuzz v1" then []byte("...") on one line.
		_, lit, ok := strings.Cut(string(data), "[]byte(")
		if !ok {
			t.Fatalf("%s: not a []byte corpus entry", e.Name())
		}
		line, err := strconv.Unquote(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lit), ")")))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		for n := 0; n <= len(line); n++ {
			checkParseLine(t, []byte(line[:n]))
		}
		lines++
	}
	if lines < 20 {
		t.Fatalf("only %d seed lines; the corpus is missing", lines)
	}
}
