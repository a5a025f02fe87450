package command_test

// Property tests, with rapid, for Append and Parse. The generators are
// package fuzz's (an external test package, since fuzz imports command); the checks that the fuzz targets share (checkParseLine,
// checkWireLine, checkXtext...) are here.
//
//	1. Parse(Append(c)) == c for every canonical command of every type.
//	2. A U-label domain sent without SMTPUTF8 comes back as its A-label.
//	3. xtext round-trips any byte string and encodes to xchars and "+HH".
//	4. Append never lets CR, LF or NUL out, and leaves dst alone on error;
//	   a line that Append writes, strict Parse accepts and Append rewrites
//	   byte for byte.
//	5. Parse never panics; the lenient Parser accepts what the strict one
//	   does, with the same result (but for the spaces it trims around a
//	   Raw command's arguments); parse, append, parse is a fixed point; no
//	   parameter is dropped and no non-ASCII character is folded away.
//	6. Append into a buffer with room does not allocate.
//
// A few named regression tests at the end pin the bugs these properties
// found, with their minimal inputs.
//
// rapid writes the input of a failing run to testdata/rapid/<Test>/; set
// RAPID_NOFAILFILE=1 (or pass -rapid.nofailfile) to keep the tree clean.

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	. "github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/fuzz"
	"golang.org/x/net/idna"
	"pgregory.net/rapid"
)

// failer is what the checks need of a *testing.T or a *rapid.T, so that the
// properties and the fuzz targets share them.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
}

// errKinds are the kinds every *Error must wrap.
var errKinds = []error{
	ErrIllegalChar, ErrNeedsSMTPUTF8, ErrTooLong, ErrSyntax, ErrMissing, ErrDuplicate, ErrRange, ErrAuthCanceled,
}

// checkError fails unless err is an *Error of one of the documented
// kinds.
func checkError(t failer, what string, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v (%T) is not a *command.Error", what, err, err)
	}
	for _, k := range errKinds {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("%s: error %v wraps no documented kind", what, err)
}

// addrKinds are the kinds an *AddressError may have.
var addrKinds = []error{ErrSyntax, ErrIllegalChar, ErrTooLong, ErrMissing}

// checkAddressError fails unless err is the *AddressError of a parser
// (what) given in: of a documented kind, at an offset within in, with a
// reason, and a message that names the address, the offset and the reason
// and holds no control character. CR, LF and NUL in the input are always
// what is reported, as ErrIllegalChar.
func checkAddressError(t failer, what, in string, err error) {
	t.Helper()
	var ae *AddressError
	if !errors.As(err, &ae) {
		t.Fatalf("%s(%q): error %v (%T) is not an *AddressError", what, in, err, err)
	}
	if ae.Address != in {
		t.Fatalf("%s(%q): Address = %q", what, in, ae.Address)
	}
	if ae.Offset < 0 || ae.Offset > len(in) {
		t.Fatalf("%s(%q): Offset %d is outside the input (%v)", what, in, ae.Offset, err)
	}
	if ae.Reason == "" {
		t.Fatalf("%s(%q): no Reason (%v)", what, in, err)
	}
	if !slices.ContainsFunc(addrKinds, func(k error) bool { return ae.Err == k }) {
		t.Fatalf("%s(%q): kind %v is not one of an AddressError's", what, in, ae.Err)
	}
	if strings.ContainsAny(in, "\r\n\x00") && ae.Err != ErrIllegalChar {
		t.Fatalf("%s(%q): %v, not ErrIllegalChar", what, in, err)
	}
	msg := err.Error()
	want := fmt.Sprintf(": at offset %d: %s", ae.Offset, ae.Reason)
	if !strings.HasPrefix(msg, "command: address ") || !strings.HasSuffix(msg, want) {
		t.Fatalf("%s(%q): message %q does not end with %q", what, in, msg, want)
	}
	if len(in) <= MaxQuotedAddress && !strings.Contains(msg, strconv.Quote(in)) {
		t.Fatalf("%s(%q): message %q does not name the address", what, in, msg)
	}
	for i := 0; i < len(msg); i++ {
		if msg[i] < ' ' || msg[i] == 0x7f {
			t.Fatalf("%s(%q): message %q holds a control character", what, in, msg)
		}
	}
}

// wireMailbox reads s as Parse reads the mailbox of a path, with the
// same helpers: the reference for what ParseMailbox accepts.
func wireMailbox(s string) (Mailbox, error) {
	if s == "" {
		return Mailbox{}, ErrMissing
	}
	m, n, err := ParseMailboxForTest(s, "address")
	if err != nil {
		return Mailbox{}, err
	}
	if n != len(s) || m.Domain == "" {
		return Mailbox{}, ErrSyntax
	}
	if _, err := CheckMailboxForTest(m, true, "address"); err != nil {
		return Mailbox{}, err
	}
	return m, nil
}

// mustAppend appends c to a fresh prefix and returns the line alone, failing
// the test if Append refuses it or touches the prefix.
func mustAppend(t failer, c Command) []byte {
	t.Helper()
	prefix := []byte("250 OK\r\n")
	out, err := c.Append(slices.Clip(prefix))
	if err != nil {
		t.Fatalf("Append(%#v): %v", c, err)
	}
	if !bytes.HasPrefix(out, []byte("250 OK\r\n")) {
		t.Fatalf("Append(%#v) changed the prefix: %q", c, out)
	}
	return out[len(prefix):]
}

// checkWireLine fails unless line is one command line: CRLF at the end
// and no other CR, LF, nor any NUL.
func checkWireLine(t failer, c any, line []byte) {
	t.Helper()
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		t.Fatalf("Append(%#v) = %q: no CRLF at the end", c, line)
	}
	if i := bytes.IndexAny(line[:len(line)-2], "\r\n\x00"); i >= 0 {
		t.Fatalf("Append(%#v) = %q: CR, LF or NUL at %d", c, line, i)
	}
}

// toALabel is d with its U-labels turned into A-labels, as Append sends a
// domain without SMTPUTF8.
func toALabel(d string) string {
	if isASCII(d) {
		return d
	}
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return "(idna: " + err.Error() + ")"
	}
	return a
}

// canonical returns c as Parse gives it back once Append has sent it: the
// documented A-label conversion of a domain sent without SMTPUTF8, and
// Rcpt.SMTPUTF8 set from what the line holds.
func canonical(c Command) Command {
	switch v := c.(type) {
	case Helo:
		v.Domain = toALabel(v.Domain)
		return v
	case Ehlo:
		v.Domain = toALabel(v.Domain)
		return v
	case Lhlo:
		v.Domain = toALabel(v.Domain)
		return v
	case Mail:
		if !v.Params.SMTPUTF8 {
			v.From.Domain = toALabel(v.From.Domain)
		}
		return v
	case Rcpt:
		if !v.SMTPUTF8 {
			v.To.Domain = toALabel(v.To.Domain)
		}
		v.SMTPUTF8 = !isASCII(v.To.Local) || !isASCII(v.To.Domain)
		for _, p := range v.Params.Extra {
			v.SMTPUTF8 = v.SMTPUTF8 || !isASCII(p.Value)
		}
		return v
	}
	return c
}

// lenientView is what the lenient Parser returns for a line that strict
// Parse returned c for. They differ in one place: the lenient Parser trims
// the spaces around a Raw command's arguments, where the strict one keeps
// them.
func lenientView(c Command) Command {
	if r, ok := c.(Raw); ok {
		r.Args = strings.Trim(r.Args, " ")
		return r
	}
	return c
}

// collectStrings collects every string field of v, recursively.
func collectStrings(v reflect.Value, out *[]string) {
	switch v.Kind() {
	case reflect.String:
		*out = append(*out, v.String())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			collectStrings(v.Field(i), out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			collectStrings(v.Index(i), out)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectStrings(v.Elem(), out)
		}
	}
}

// nonASCII counts the non-ASCII runes of s.
func nonASCII(s string, into map[rune]int) {
	for _, r := range s {
		if r >= utf8.RuneSelf {
			into[r]++
		}
	}
}

// stripRoute removes the source route of a MAIL or RCPT line ("<@a,@b:"
// becomes "<"), which Parse drops by design.
func stripRoute(line string, c Command) string {
	switch c.(type) {
	case Mail, Rcpt:
	default:
		return line
	}
	i := strings.IndexByte(line, '<')
	if i < 0 || i+1 >= len(line) || line[i+1] != '@' {
		return line
	}
	colon := strings.IndexByte(line[i:], ':')
	if colon < 0 {
		return line
	}
	return line[:i+1] + line[i+colon+1:]
}

// checkRunesKept fails when strict Parse returned c for line but a
// non-ASCII character of the line is in none of c's fields: it was folded
// into ASCII (a verb, a keyword or a value matched with Unicode case
// folding) or dropped.
func checkRunesKept(t failer, line []byte, c Command) {
	t.Helper()
	inLine := map[rune]int{}
	nonASCII(stripRoute(string(line), c), inLine)
	if len(inLine) == 0 {
		return
	}
	var fields []string
	collectStrings(reflect.ValueOf(c), &fields)
	inFields := map[rune]int{}
	for _, f := range fields {
		nonASCII(f, inFields)
	}
	for r, n := range inLine {
		if inFields[r] < n {
			t.Fatalf("strict Parse(%q) = %#v: the line's %q (U+%04X) is in no field; non-ASCII was matched as ASCII", line, c, r, r)
		}
	}
}

// paramKeywords returns the upper-cased keywords of the parameters of a
// strictly parsed MAIL or RCPT line, in order; SIZE with a zero value is
// left out (Size 0 is "absent" by design). It finds the end of the path
// by the grammar: quoted-strings and address literals may hold '>'.
func paramKeywords(line string) []string {
	line = strings.TrimSuffix(line, "\r\n")
	i := strings.IndexByte(line, '<')
	if i < 0 {
		return nil
	}
	for i++; i < len(line) && line[i] != '>'; i++ {
		switch line[i] {
		case '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' {
					i++
				}
			}
		case '[':
			for i < len(line) && line[i] != ']' {
				i++
			}
		}
	}
	var kws []string
	for _, w := range strings.Fields(line[min(i+1, len(line)):]) {
		kw, val, _ := strings.Cut(w, "=")
		kw = strings.ToUpper(kw)
		if kw == "SIZE" && strings.Trim(val, "0") == "" && val != "" {
			continue
		}
		kws = append(kws, kw)
	}
	slices.Sort(kws)
	return kws
}

// checkParamsKept fails when a parameter of a strictly parsed MAIL or
// RCPT line has no counterpart in the result, so that it is missing from
// the line Append writes back: it was accepted and then lost.
func checkParamsKept(t failer, line, built []byte, c Command) {
	t.Helper()
	switch c.(type) {
	case Mail, Rcpt:
	default:
		return
	}
	if a, b := paramKeywords(string(line)), paramKeywords(string(built)); !slices.Equal(a, b) {
		t.Fatalf("strict Parse(%q) = %#v: parameters %q, but Append writes %q with %q", line, c, a, built, b)
	}
}

// lineBody is the line without its line ending, as Parse strips it.
func lineBody(line []byte, lenient bool) []byte {
	switch n := len(line); {
	case n >= 2 && line[n-2] == '\r' && line[n-1] == '\n':
		return line[:n-2]
	case lenient && n >= 1 && line[n-1] == '\n':
		return line[:n-1]
	}
	return line
}

// checkParseLine is property 5 and the invariant of FuzzParse for one
// line: neither Parser panics, errors are typed, CR/LF/NUL and bad UTF-8
// are ErrIllegalChar, what strict Parse accepts the lenient Parser accepts
// alike, and parse, append, parse is a fixed point whose line is clean.
func checkParseLine(t failer, line []byte) {
	t.Helper()
	orig := bytes.Clone(line)
	c, err := Parse(line)
	lc, lerr := Parser{Lenient: true}.Parse(line)
	if !bytes.Equal(line, orig) {
		t.Fatalf("Parse modified its input %q to %q", orig, line)
	}
	for _, mode := range []struct {
		lenient bool
		err     error
	}{{false, err}, {true, lerr}} {
		body := lineBody(line, mode.lenient)
		if bytes.ContainsAny(body, "\r\n\x00") || !utf8.Valid(body) {
			if !errors.Is(mode.err, ErrIllegalChar) {
				t.Fatalf("Parse(%q) (lenient %v): %v, want ErrIllegalChar", line, mode.lenient, mode.err)
			}
		}
		if mode.err != nil {
			checkError(t, fmt.Sprintf("Parse(%q) (lenient %v)", line, mode.lenient), mode.err)
		}
	}
	if err != nil {
		return
	}
	if lerr != nil {
		t.Fatalf("strict Parse(%q) = %#v, but the lenient Parser refuses it: %v", line, c, lerr)
	}
	if d := cmp.Diff(lenientView(c), lc); d != "" {
		t.Fatalf("Parse(%q): lenient result differs from strict (-strict +lenient):\n%s", line, d)
	}
	checkRunesKept(t, line, c)

	built := mustAppend(t, c)
	checkWireLine(t, c, built)
	checkParamsKept(t, line, built, c)
	c2, err := Parse(built)
	if err != nil {
		t.Fatalf("Parse(%q) = %#v; Append = %q, which Parse refuses: %v", line, c, built, err)
	}
	if d := cmp.Diff(canonical(c), c2); d != "" {
		t.Fatalf("Parse(%q) = %#v; Append = %q; Parse of that differs (-want +got):\n%s", line, c, built, d)
	}
	if again := mustAppend(t, c2); !bytes.Equal(again, built) {
		t.Fatalf("Parse(%q): Append of the parsed line is %q, then %q", line, built, again)
	}
}

// ---- property 1 ----

// checkRoundTrip checks Parse(Append(c)) == c, strict and lenient.
func checkRoundTrip(t failer, c Command) {
	t.Helper()
	line := mustAppend(t, c)
	checkWireLine(t, c, line)
	got, err := Parse(line)
	if err != nil {
		t.Fatalf("Parse(%q) of %#v: %v", line, c, err)
	}
	if d := cmp.Diff(c, got); d != "" {
		t.Fatalf("Parse(Append(c)) != c; line %q (-c +parsed):\n%s", line, d)
	}
	lgot, err := Parser{Lenient: true}.Parse(line)
	if err != nil {
		t.Fatalf("lenient Parse(%q) of %#v: %v", line, c, err)
	}
	if d := cmp.Diff(lenientView(c), lgot); d != "" {
		t.Fatalf("lenient Parse(Append(c)) != c; line %q (-c +parsed):\n%s", line, d)
	}
	if c.Verb() != got.Verb() {
		t.Fatalf("Verb() = %q, parsed %q", c.Verb(), got.Verb())
	}
}

func TestPropertyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, fuzz.Command().Draw(t, "c"))
	})
}

// The envelope commands carry most of the grammar: give them runs of their
// own.
func TestPropertyRoundTripMail(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, fuzz.Mail().Draw(t, "c"))
	})
}

func TestPropertyRoundTripRcpt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, fuzz.Rcpt().Draw(t, "c"))
	})
}

// ParseMailbox(m.String()) == m for every generated mailbox.
func TestPropertyMailboxStringRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := fuzz.Mailbox(rapid.Bool().Draw(t, "utf8")).Draw(t, "m")
		got, err := ParseMailbox(m.String())
		if err != nil {
			t.Fatalf("ParseMailbox(%q): %v", m.String(), err)
		}
		if d := cmp.Diff(m, got); d != "" {
			t.Fatalf("ParseMailbox(%q) (-want +got):\n%s", m.String(), d)
		}
		if m.NeedsSMTPUTF8() != !isASCII(m.Local) {
			t.Fatalf("%#v.NeedsSMTPUTF8() = %v", m, m.NeedsSMTPUTF8())
		}
	})
}

// ParseAddress(m.String()) == m and ParseAddress("Name <"+m.String()+">")
// == m for every generated mailbox, and so for the other forms users
// paste.
func TestPropertyParseAddressRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := fuzz.Mailbox(rapid.Bool().Draw(t, "utf8")).Draw(t, "m")
		for _, s := range []string{m.String(), "Name <" + m.String() + ">", fuzz.PastedAddress(m).Draw(t, "pasted")} {
			got, err := ParseAddress(s)
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", s, err)
			}
			if d := cmp.Diff(m, got); d != "" {
				t.Fatalf("ParseAddress(%q) (-want +got):\n%s", s, d)
			}
		}
	})
}

// ParseAddress never panics on a hostile edit of a pasted address: it
// returns a mailbox whose String is an addr-spec ParseMailbox gives back,
// or an *AddressError that names the input, an offset in it and a reason.
func TestPropertyParseAddressHostile(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkParseAddress(t, fuzz.HostileAddress().Draw(t, "s"))
	})
}

// checkParseAddress holds ParseAddress and ParseMailbox to what they
// promise for any input s; FuzzParseAddress shares it. When net/mail takes
// s too, it must find the same mailbox.
func checkParseAddress(t failer, s string) {
	t.Helper()
	m, err := ParseAddress(s)
	pm, perr := ParseMailbox(s)
	if perr != nil {
		checkAddressError(t, "ParseMailbox", s, perr)
	} else if err != nil || pm != m {
		// An addr-spec ParseMailbox takes is an address ParseAddress takes.
		t.Fatalf("ParseMailbox(%q) = %#v, but ParseAddress: %#v, %v", s, pm, m, err)
	}
	if err != nil {
		checkAddressError(t, "ParseAddress", s, err)
		return
	}
	if m.IsNull() || m.Domain == "" {
		t.Fatalf("ParseAddress(%q) = %#v: no domain", s, m)
	}
	if strings.ContainsAny(s, "\r\n\x00") || !utf8.ValidString(s) {
		t.Fatalf("ParseAddress(%q) = %#v: took CR, LF, NUL or bad UTF-8", s, m)
	}
	str := m.String()
	for _, again := range []string{str, "Name <" + str + ">"} {
		if back, err := ParseAddress(again); err != nil || back != m {
			t.Fatalf("ParseAddress(%q) = %#v; ParseAddress(%q) = %#v, %v", s, m, again, back, err)
		}
	}
	if back, err := ParseMailbox(str); err != nil || back != m {
		t.Fatalf("ParseAddress(%q) = %#v, whose String %q ParseMailbox reads as %#v, %v", s, m, str, back, err)
	}
	if a, err := mail.ParseAddress(s); err == nil && !strings.HasPrefix(m.Domain, "[") {
		if nm, err := MailboxFromAddress(a); err != nil || nm != m {
			t.Fatalf("ParseAddress(%q) = %#v; net/mail: %#v, then %#v, %v", s, m, a, nm, err)
		}
	}
}

// ---- property 2 ----

func TestPropertyULabelWithoutSMTPUTF8(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := fuzz.IDNDomain().Draw(t, "domain")
		want, err := idna.Lookup.ToASCII(d)
		if err != nil {
			t.Fatalf("idna.Lookup.ToASCII(%q): %v (but checkDomain accepted it)", d, err)
		}
		local := fuzz.LocalPart(false).Draw(t, "local")
		mp := fuzz.MailParams(false).Draw(t, "mailParams")
		rp := fuzz.RcptParams(false).Draw(t, "rcptParams")
		cases := []struct{ in, want Command }{
			{Helo{Domain: d}, Helo{Domain: want}},
			{Ehlo{Domain: d}, Ehlo{Domain: want}},
			{Lhlo{Domain: d}, Lhlo{Domain: want}},
			{Mail{From: Mailbox{local, d}, Params: mp}, Mail{From: Mailbox{local, want}, Params: mp}},
			{Rcpt{To: Mailbox{local, d}, Params: rp}, Rcpt{To: Mailbox{local, want}, Params: rp}},
		}
		for _, tc := range cases {
			line := mustAppend(t, tc.in)
			checkWireLine(t, tc.in, line)
			if !isASCII(string(line)) {
				t.Fatalf("Append(%#v) = %q: not ASCII without SMTPUTF8", tc.in, line)
			}
			got, err := Parse(line)
			if err != nil {
				t.Fatalf("Parse(%q): %v", line, err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("Parse(Append(%#v)) (-want +got):\n%s", tc.in, d)
			}
		}
	})
}

// ---- property 3 ----

// xtextByte draws any byte, favouring those xtext has to encode or that
// sit at the edges of xchar.
func xtextByte() *rapid.Generator[byte] {
	return rapid.OneOf(rapid.Byte(), rapid.SampledFrom([]byte{'+', '=', ' ', '!', '~', 0x7f, 0x80, 0xff, 0, '\r', '\n', 'A', 'f'}))
}

// checkXtext checks the encoding of s: it decodes back to s, holds only
// xchars and "+" with two upper-case hex digits, has the length xtextLen
// says, and leaves the prefix alone.
func checkXtext(t failer, s string) {
	t.Helper()
	enc := AppendXtext([]byte("pre"), s)
	if !bytes.HasPrefix(enc, []byte("pre")) {
		t.Fatalf("AppendXtext(%q) changed the prefix: %q", s, enc)
	}
	enc = enc[3:]
	for i := 0; i < len(enc); i++ {
		c := enc[i]
		if c < '!' || c > '~' || c == '=' {
			t.Fatalf("AppendXtext(%q) = %q: byte %q at %d", s, enc, c, i)
		}
		if c == '+' {
			if i+2 >= len(enc) || !isUpperHex(enc[i+1]) || !isUpperHex(enc[i+2]) {
				t.Fatalf("AppendXtext(%q) = %q: '+' at %d without two upper-case hex digits", s, enc, i)
			}
			i += 2
		}
	}
	if len(enc) != xtextLen(s) || len(enc) != XtextLen(s) {
		t.Fatalf("AppendXtext(%q) = %q: length %d, xtextLen %d, reference %d", s, enc, len(enc), XtextLen(s), xtextLen(s))
	}
	dec, err := DecodeXtext(string(enc))
	if err != nil || dec != s {
		t.Fatalf("DecodeXtext(AppendXtext(%q) = %q) = %q, %v", s, enc, dec, err)
	}
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// decodeXtext is a reference decoder (RFC 3461 §4, upper-case hex only,
// hexchar allowed for any octet) that also returns the canonical encoding
// of its input: every optional hexchar (one that encodes an xchar) folded
// to the character.
func decodeXtext(s string) (dec, canon string, ok bool) {
	var d, c []byte
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '+':
			if i+2 >= len(s) || !isUpperHex(s[i+1]) || !isUpperHex(s[i+2]) {
				return "", "", false
			}
			b := byte(strings.IndexByte("0123456789ABCDEF", s[i+1])<<4 | strings.IndexByte("0123456789ABCDEF", s[i+2]))
			d = append(d, b)
			if b >= '!' && b <= '~' && b != '+' && b != '=' {
				c = append(c, b)
			} else {
				c = append(c, s[i:i+3]...)
			}
			i += 2
		case ch >= '!' && ch <= '~' && ch != '=':
			d = append(d, ch)
			c = append(c, ch)
		default:
			return "", "", false
		}
	}
	return string(d), string(c), true
}

// checkDecodeXtext checks DecodeXtext on arbitrary input against the
// reference decoder, and that re-encoding gives the input back with only
// its optional hexchars folded (RFC 3461 lets an encoder write "+41" for
// "A", so the input itself comes back only when it has none).
func checkDecodeXtext(t failer, s string) {
	t.Helper()
	dec, err := DecodeXtext(s)
	wdec, canon, ok := decodeXtext(s)
	if ok != (err == nil) {
		t.Fatalf("DecodeXtext(%q) = %q, %v; reference says ok=%v (%q)", s, dec, err, ok, wdec)
	}
	if err != nil {
		checkError(t, fmt.Sprintf("DecodeXtext(%q)", s), err)
		return
	}
	if dec != wdec {
		t.Fatalf("DecodeXtext(%q) = %q, reference %q", s, dec, wdec)
	}
	if re := string(AppendXtext(nil, dec)); re != canon {
		t.Fatalf("AppendXtext(DecodeXtext(%q)) = %q, want %q", s, re, canon)
	}
}

func TestPropertyXtextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := string(rapid.SliceOfN(xtextByte(), 0, 200).Draw(t, "s"))
		checkXtext(t, s)
	})
}

func TestPropertyDecodeXtextArbitrary(t *testing.T) {
	pieces := []string{"+", "+2B", "+3D", "+41", "+4", "+4a", "+0D+0A", "A", "~", "!", "=", " ", "\x7f", "é", "\x00", "0", "F", "f", "+FF", "+20"}
	rapid.Check(t, func(t *rapid.T) {
		parts := rapid.SliceOfN(rapid.SampledFrom(pieces), 0, 12).Draw(t, "parts")
		checkDecodeXtext(t, strings.Join(parts, ""))
	})
}

// ---- property 4 ----

// checkAppendHostile checks one Append of a possibly hostile command:
// on error dst comes back as it was, byte for byte; on success exactly one
// clean line follows dst.
func checkAppendHostile(t failer, c Command, prefix []byte, spare int) {
	t.Helper()
	dst := make([]byte, len(prefix), len(prefix)+spare)
	copy(dst, prefix)
	out, err := c.Append(dst)
	if !bytes.Equal(out[:min(len(out), len(prefix))], prefix) || len(out) < len(prefix) {
		t.Fatalf("Append(%#v) on %q: prefix became %q (err %v)", c, prefix, out, err)
	}
	if err != nil {
		checkError(t, fmt.Sprintf("Append(%#v)", c), err)
		if len(out) != len(prefix) {
			t.Fatalf("Append(%#v) failed (%v) but returned %q after the prefix", c, err, out[len(prefix):])
		}
		return
	}
	checkWireLine(t, c, out[len(prefix):])
}

func TestPropertyAppendNeverSplitsLines(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := fuzz.HostileCommand().Draw(t, "c")
		prefix := rapid.SliceOfN(rapid.Byte(), 1, 16).Draw(t, "prefix")
		spare := rapid.SampledFrom([]int{0, 1, 64, 2048}).Draw(t, "spare")
		checkAppendHostile(t, c, prefix, spare)
	})
}

// What Append writes, strict Parse accepts, and Append writes the parsed
// command back byte for byte (the doc's "for every command that Append
// accepts, Parse returns it"). Raw is left out: it is sent as given, for
// test harnesses.
func TestPropertyAppendedLineParses(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := fuzz.HostileCommand().Draw(t, "c")
		if _, ok := c.(Raw); ok {
			return
		}
		line, err := c.Append(nil)
		if err != nil {
			return
		}
		got, err := Parse(line)
		if err != nil {
			t.Fatalf("Append(%#v) = %q, which strict Parse refuses: %v", c, line, err)
		}
		if d := cmp.Diff(canonical(canonicalHostile(c)), got); d != "" {
			t.Fatalf("Parse(Append(%#v)) (-want +got):\n%s", c, d)
		}
		again, err := got.Append(nil)
		if err != nil || !bytes.Equal(again, line) {
			t.Fatalf("Append(%#v) = %q; parsed and appended again: %q, %v", c, line, again, err)
		}
	})
}

// canonicalHostile fills in what a hostile command that Append accepted
// leaves to Append's choice: an empty Extra (nil and empty are the same on
// the wire, and Parse says nil), and an ORCPT without a type (Append picks
// "rfc822" for an ASCII address, else "utf-8").
func canonicalHostile(c Command) Command {
	switch v := c.(type) {
	case Mail:
		if len(v.Params.Extra) == 0 {
			v.Params.Extra = nil
		}
		return v
	case Rcpt:
		if len(v.Params.Extra) == 0 {
			v.Params.Extra = nil
		}
		if o := &v.Params.ORCPT; o.Type == "" && o.Address != "" {
			o.Type = "rfc822"
			if !isASCII(o.Address) {
				o.Type = "utf-8"
			}
		}
		return v
	}
	return c
}

// ---- property 5 ----

// linePieces are fragments for building and mutating lines.
var linePieces = []string{
	" ", "  ", "<", ">", "<>", "@", ":", ",", ";", ".", "=", "\"", "\\", "[", "]", "+", "-", "*",
	"\r", "\n", "\r\n", "\x00", "\t", "\x7f", "é", "例", "😀", "\xff", "\xc3",
	"MAIL", "RCPT", "FROM:", "TO:", "from:", "<@relay.example:", "@[192.0.2.1],", "postmaster",
	" AUTH", " ENVID", " SMTPUTF8", " REQUIRETLS", " X-Y", "SIZE=", "BODY=", "8BITMIME", "SMTPUTF8", "RET=", "HDRS", "ENVID=", "AUTH=", "REQUIRETLS",
	"MT-PRIORITY=", "BY=", ";R", ";NT", "NOTIFY=", "SUCCESS", "NEVER", "ORCPT=", "rfc822;", "utf-8;",
	"\\x{E9}", "+2B", "LAST", "PLAIN", "=", "a", "Z", "0", "99999999999999999999", "-9", "[IPv6:::1]",
	"x@y.example", "bücher.example", "xn--bcher-kva.example",
}

// paramPieces are parameters, valid and not, to insert between words.
var paramPieces = []string{
	" AUTH", " ENVID", " SIZE=0", " SIZE=00", " SIZE", " X-Y", " x-y=é", " SMTPUTF8", " NOTIFY=NEVER", " BODY=7bit",
	" REQUIRETLS", " MT-PRIORITY=+1", " BY=1;N", " BY=-0;rt", " RET=full", " ORCPT=rfc822;a", " ORCPT=utf-8;\\x{E9}",
	" AUTH=<>", " ENVID=+41", " LAST", " SMTPUTF8=", " =", " ",
}

// genLine draws a command line: a canonical one, mutated now and then,
// or pieces after a verb.
func genLine() *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		var line []byte
		if rapid.IntRange(0, 3).Draw(t, "fromPieces") == 0 {
			verb := rapid.SampledFrom(append(slices.Clone(knownVerbs), "mail", "Rcpt", "ETRN", "X")).Draw(t, "verb")
			parts := rapid.SliceOfN(rapid.SampledFrom(linePieces), 0, 10).Draw(t, "parts")
			line = []byte(verb + " " + strings.Join(parts, ""))
		} else {
			c := fuzz.Command().Draw(t, "c")
			var err error
			line, err = c.Append(nil)
			if err != nil {
				t.Fatalf("Append(%#v): %v", c, err)
			}
		}
		n := rapid.IntRange(0, 3).Draw(t, "mutations")
		for range n {
			line = mutate(t, line)
		}
		if rapid.IntRange(0, 4).Draw(t, "dropCRLF") == 0 {
			line = bytes.TrimSuffix(line, []byte("\r\n"))
		}
		return line
	})
}

// mutate applies one random edit to line.
func mutate(t *rapid.T, line []byte) []byte {
	pos := rapid.IntRange(0, len(line)).Draw(t, "pos")
	switch rapid.IntRange(0, 5).Draw(t, "op") {
	case 5: // insert a parameter at a word boundary
		var at []int
		for i, b := range line {
			if b == ' ' || b == '\r' {
				at = append(at, i)
			}
		}
		if len(at) == 0 {
			return line
		}
		i := rapid.SampledFrom(at).Draw(t, "at")
		p := rapid.SampledFrom(paramPieces).Draw(t, "param")
		return slices.Concat(line[:i], []byte(p), line[i:])
	case 0: // insert a piece
		p := rapid.SampledFrom(linePieces).Draw(t, "piece")
		return slices.Concat(line[:pos], []byte(p), line[pos:])
	case 1: // delete a run
		end := rapid.IntRange(pos, min(len(line), pos+8)).Draw(t, "end")
		return slices.Concat(line[:pos], line[end:])
	case 2: // replace a byte
		if pos == len(line) {
			return line
		}
		out := bytes.Clone(line)
		out[pos] = rapid.SampledFrom([]byte{' ', '<', '>', '@', '"', '\\', '=', ':', 'a', '.', 0, '\r', '\n', 0x80}).Draw(t, "byte")
		return out
	case 3: // swap case
		return bytes.Clone(append(bytes.ToLower(line[:pos:pos]), line[pos:]...))
	default: // duplicate a run
		end := rapid.IntRange(pos, min(len(line), pos+12)).Draw(t, "end")
		return slices.Concat(line[:end], line[pos:end], line[end:])
	}
}

func TestPropertyParseLine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkParseLine(t, genLine().Draw(t, "line"))
	})
}

// foldAlikes are the non-ASCII letters that Unicode case folding or
// upper-casing turns into ASCII ones: "ſ" (U+017F) folds to "s", "ı"
// (U+0131) upper-cases to "I", "K" (U+212A, Kelvin) folds to "k".
var foldAlikes = map[byte]string{'s': "ſ", 'S': "ſ", 'i': "ı", 'I': "ı", 'k': "K", 'K': "K"}

// Strict Parse must read verbs, keywords and keyword values in ASCII: a
// canonical line with one letter replaced by a non-ASCII look-alike that
// folds to it is either refused or has that letter in a field of the
// result (in a local part, a value...). checkParseLine checks the
// latter.
func TestPropertyStrictParseASCIIKeywords(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := fuzz.Command().Draw(t, "c")
		line, err := c.Append(nil)
		if err != nil {
			t.Fatalf("Append(%#v): %v", c, err)
		}
		var at []int
		for i, b := range line {
			if _, ok := foldAlikes[b]; ok {
				at = append(at, i)
			}
		}
		if len(at) == 0 {
			return
		}
		i := rapid.SampledFrom(at).Draw(t, "at")
		line = slices.Concat(line[:i], []byte(foldAlikes[line[i]]), line[i+1:])
		checkParseLine(t, line)
	})
}

// ---- property 6 ----

func TestPropertyAppendNoAlloc(t *testing.T) {
	prio := -3
	mail := Mail{
		From: Mailbox{Local: "bounces+x", Domain: "lists.example.org"},
		Params: MailParams{
			Size: 123456, Body: Body8BitMIME, Ret: RetHeaders, EnvID: "QQ 31=4",
			Auth: "sender@example.org", RequireTLS: true, MTPriority: &prio,
			By: &DeliverBy{Time: 3600, Mode: ByNotify, Trace: true}, Extra: []Param{{"X-A", "1"}, {"HOLD", ""}},
		},
	}
	rcpts := []Rcpt{
		{
			To: Mailbox{Local: "john doe", Domain: "[IPv6:2001:db8::1]"},
			Params: RcptParams{
				Notify: NotifySuccess | NotifyDelay,
				ORCPT:  OriginalRecipient{Type: "rfc822", Address: "john+doe@example.com"},
				Extra:  []Param{{"X-B", "2"}},
			},
		},
		{
			To:     Mailbox{Local: "Postmaster"},
			Params: RcptParams{ORCPT: OriginalRecipient{Type: "utf-8", Address: `a\b+c@example.com`}},
		},
		{
			To:     Mailbox{Local: "r", Domain: "example.com"},
			Params: RcptParams{Notify: NotifyNever, ORCPT: OriginalRecipient{Address: "r@example.com"}},
		},
	}
	buf := make([]byte, 0, 4096)
	var err error
	if n := testing.AllocsPerRun(100, func() { buf, err = mail.Append(buf[:0]) }); n != 0 || err != nil {
		t.Errorf("Mail.Append: %v allocations, err %v", n, err)
	}
	for _, r := range rcpts {
		if n := testing.AllocsPerRun(100, func() { buf, err = r.Append(buf[:0]) }); n != 0 || err != nil {
			t.Errorf("Rcpt.Append(%#v): %v allocations, err %v", r, n, err)
		}
	}
	// And every generated ASCII MAIL and RCPT.
	rapid.Check(t, func(t *rapid.T) {
		var c Command
		if rapid.Bool().Draw(t, "mail") {
			p := fuzz.MailParams(false).Draw(t, "params")
			if !isASCII(p.Auth) {
				return // checking a U-label domain in AUTH= takes IDNA, which allocates
			}
			c = Mail{From: fuzz.Mailbox(false).Draw(t, "from"), Params: p}
		} else {
			r := fuzz.Rcpt().Draw(t, "rcpt").(Rcpt)
			if r.SMTPUTF8 {
				return // may hold U-labels, which are converted with allocation when not SMTPUTF8
			}
			c = r
		}
		buf := make([]byte, 0, 4096)
		var err error
		if n := testing.AllocsPerRun(5, func() { buf, err = c.Append(buf[:0]) }); n != 0 || err != nil {
			t.Fatalf("%#v.Append: %v allocations, err %v", c, n, err)
		}
	})
}

// ---- regressions for the bugs the properties found ----
//
// Each was found on 077b661 and fixed in 69e1e4e; the tests keep the
// minimal inputs.

// Mail{From: Mailbox{Local: "postmaster"}} (no domain) was accepted by
// Append and written "MAIL FROM:<postmaster>", which strict Parse refuses
// (MAIL FROM domain: missing argument): RFC 5321 §4.1.1.3 allows the
// domainless Postmaster only as a recipient. checkMailbox let it through
// and Mail.Append did not refuse it.
func TestPropertyRegressionMailFromPostmaster(t *testing.T) {
	c := Mail{From: Mailbox{Local: "postmaster"}}
	line, err := c.Append(nil)
	if err != nil {
		return // refused: consistent with Parse
	}
	if _, perr := Parse(line); perr != nil {
		t.Errorf("Append(%#v) = %q, nil; strict Parse refuses that line: %v", c, line, perr)
	}
}

// Strict Parse matched verbs and keyword values with Unicode case mapping
// (strings.ToUpper, strings.EqualFold), so non-ASCII look-alikes passed as
// the ASCII keyword: "ſ" (U+017F) folds to "s", "ı" (U+0131) upper-cases to
// "I". A strict parser must take only ASCII here (RFC 5321 §2.4: verbs and
// keywords are ASCII, case-insensitive in ASCII), and a filter in front of
// this parser that matches verbs in ASCII would be bypassed.
func TestPropertyRegressionASCIIKeywords(t *testing.T) {
	for _, line := range []string{
		"ſtarttls",                // parse.go: strings.ToUpper(verb) gives STARTTLS
		"QUıT",                    // ... QUIT
		"MAıL FROM:<a@b.example>", // ... MAIL
		"RſET",                    // ... RSET
		"MAIL FROM:<a@b.example> BODY=8BıTMıME", // parse.go mailParam: Body(strings.ToUpper(val))
		"MAIL FROM:<a@b.example> RET=HDRſ",      // parse.go mailParam: Ret(strings.ToUpper(val))
		"RCPT TO:<a@b.example> NOTIFY=ſUCCEſſ",  // parse.go parseNotify: strings.EqualFold
		"BDAT 5 LAſT",                                // parse.go bdat: strings.EqualFold(last, "LAST")
		"RCPT TO:<poſtmaster>",                       // address.go isPostmaster: strings.EqualFold
		"RCPT TO:<poſtmaster> NOTIFY=NEVER",          // same, with a parameter
		"RCPT TO:<a@b.example> NOTIFY=DELAY,ſUCCEſſ", // same as NOTIFY above
	} {
		if c, err := Parse([]byte(line)); err == nil {
			t.Errorf("strict Parse(%q) = %#v, nil; want an error (non-ASCII taken for an ASCII keyword)", line, c)
		}
	}
	// Append had the same fault for the domainless Postmaster: a local part
	// that only folds to "postmaster" was sent without a domain.
	c := Rcpt{To: Mailbox{Local: "poſtmaster"}, SMTPUTF8: true}
	if line, err := c.Append(nil); err == nil {
		t.Errorf("Append(%#v) = %q, nil; want ErrMissing (no domain, not Postmaster)", c, line)
	}
}

// MAIL with an AUTH= value whose local part is a quoted-string with a
// backslash escape allocated on every Append (2 allocations), though the
// buffer had room and everything was ASCII (doc.go: "Nothing is allocated
// when the buffer has room"): checkAuthParam parsed the value with
// parseMailbox, whose parseQuoted built the unescaped local part in a new
// slice and string only to validate it.
func TestPropertyRegressionAuthParamAllocates(t *testing.T) {
	c := Mail{From: Mailbox{Local: "a", Domain: "example.org"}, Params: MailParams{Auth: `"a\"b"@example.org`}}
	buf := make([]byte, 0, 1024)
	var err error
	if n := testing.AllocsPerRun(100, func() { buf, err = c.Append(buf[:0]) }); n != 0 || err != nil {
		t.Errorf("Append(%#v): %v allocations, err %v; want 0, nil", c, n, err)
	}
}

// Strict Parse accepted the MAIL parameters AUTH and ENVID without a value
// and then dropped them: "MAIL FROM:<a@b.example> AUTH" parsed to a Mail
// with Params.Auth "", which Append writes without AUTH. RFC 4954 §5 has
// "AUTH=" mailbox (or "<>"), RFC 3461 §4.4 "ENVID=" 1*xchar: both need a
// value, as SIZE, BODY, RET, MT-PRIORITY and BY do (parse.go, mailParam:
// decodeXtextValue("") succeeded with "", and checkEnvID("") and
// checkAuthParam("") accepted it). FuzzParse found it too: seed
// 137d874571b85a2e.
func TestPropertyRegressionValuelessAuthEnvID(t *testing.T) {
	for _, line := range []string{
		"MAIL FROM:<a@b.example> AUTH",
		"MAIL FROM:<a@b.example> ENVID",
		"MAIL FROM:<> ENVID AUTH SIZE=5",
	} {
		if c, err := Parse([]byte(line)); err == nil {
			t.Errorf("strict Parse(%q) = %#v, nil; want ErrSyntax (parameter without its value)", line, c)
		}
	}
}

// ---- small references, written apart from the package ----

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// xtextLen is the length of s as xtext (RFC 3461 §4).
func xtextLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' || c == '+' || c == '=' {
			n += 3
		} else {
			n++
		}
	}
	return n
}

// knownVerbs are the verbs Parse gives a type of their own.
var knownVerbs = []string{
	"HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT", "STARTTLS",
	"BDAT", "VRFY", "EXPN", "HELP", "NOOP", "AUTH",
}
