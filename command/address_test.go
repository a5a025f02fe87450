package command

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// anyReason in a want-Verb or want-Arg field skips that check.
const anyReason = "\x00any"

// checkErr checks that err is of kind want (nil: no error). For a kind,
// err must also be an *Error whose Verb is verb and whose Arg is arg;
// either may be anyReason to leave it unchecked, and with both anyReason err need
// not be an *Error.
func checkErr(t *testing.T, err, want error, verb, arg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want kind %q", err, want)
	}
	if verb == anyReason && arg == anyReason {
		return
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if verb != anyReason && ce.Verb != verb {
		t.Errorf("Error.Verb = %q, want %q", ce.Verb, verb)
	}
	if arg != anyReason && ce.Arg != arg {
		t.Errorf("Error.Arg = %q, want %q", ce.Arg, arg)
	}
}

// checkAddrErr checks that err is an *AddressError for the input in, of
// kind want, at offset off, whose Reason holds reason, and whose message
// names the address, the offset and the reason.
func checkAddrErr(t *testing.T, err error, in string, want error, off int, reason string) {
	t.Helper()
	var ae *AddressError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *AddressError", err, err)
	}
	if !errors.Is(err, want) {
		t.Errorf("error = %v, want kind %q", err, want)
	}
	if ae.Address != in {
		t.Errorf("Address = %q, want %q", ae.Address, in)
	}
	if ae.Offset != off {
		t.Errorf("Offset = %d, want %d (%v)", ae.Offset, off, err)
	}
	if !strings.Contains(ae.Reason, reason) {
		t.Errorf("Reason = %q, want it to hold %q", ae.Reason, reason)
	}
	msg := err.Error()
	quoted := strconv.Quote(in)
	if len(in) > maxQuotedAddress {
		quoted = quoted[:1+maxQuotedAddress/2] // a prefix of it, at least
	}
	for _, part := range []string{"command: address " + quoted, fmt.Sprintf(": at offset %d: ", off), reason} {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q does not hold %q", msg, part)
		}
	}
}

// domainOfLength returns a valid ASCII domain name of exactly n octets (n >= 1),
// made of labels of at most 10 octets.
func domainOfLength(n int) string {
	k := (n - 1) / 10
	return strings.Repeat("abcdefghi.", k) + strings.Repeat("z", n-10*k)
}

func TestTTDomain(t *testing.T) {
	for _, n := range []int{1, 9, 10, 11, 63, 64, 189, 255, 256} {
		d := domainOfLength(n)
		if len(d) != n {
			t.Errorf("len(domainOfLength(%d)) = %d", n, len(d))
		}
		if n <= MaxDomainLength {
			if err := checkDomain(d); err != nil {
				t.Errorf("domainOfLength(%d) = %q is not a valid domain: %v", n, d, err)
			}
		}
	}
}

func TestParseMailbox(t *testing.T) {
	local64 := strings.Repeat("a", 64)
	label63 := strings.Repeat("b", 63)
	tests := []struct {
		name      string
		in        string
		want      Mailbox
		needsUTF8 bool
		err       error  // the kind of the *AddressError
		off       int    // its Offset
		reason    string // in its Reason
	}{
		// RFC 5321 §4.1.2 Dot-string local parts.
		{name: "dot-atom", in: "john.doe@example.org", want: Mailbox{"john.doe", "example.org"}},
		{name: "all atext specials", in: "!#$%&'*+-/=?^_`{|}~@example.org", want: Mailbox{"!#$%&'*+-/=?^_`{|}~", "example.org"}},
		{name: "case kept", in: "John.Doe@Example.ORG", want: Mailbox{"John.Doe", "Example.ORG"}},
		{name: "sub-address", in: "bounces+42@lists.example.org", want: Mailbox{"bounces+42", "lists.example.org"}},
		{name: "digit labels", in: "u@123.example", want: Mailbox{"u", "123.example"}},
		{name: "single label", in: "root@localhost", want: Mailbox{"root", "localhost"}},
		{name: "A-label", in: "a@xn--bcher-kva.de", want: Mailbox{"a", "xn--bcher-kva.de"}},
		{name: "postmaster with domain", in: "Postmaster@example.org", want: Mailbox{"Postmaster", "example.org"}},

		// Quoted-string local parts: the escapes are removed.
		{name: "quoted escaped quote", in: `"john\"doe"@example.org`, want: Mailbox{`john"doe`, "example.org"}},
		{name: "quoted escaped backslash", in: `"a\\b"@example.org`, want: Mailbox{`a\b`, "example.org"}},
		{name: "quoted space", in: `"john doe"@example.org`, want: Mailbox{"john doe", "example.org"}},
		{name: "quoted empty", in: `""@example.org`, want: Mailbox{"", "example.org"}},
		{name: "quoted needless escape", in: `"\a"@example.org`, want: Mailbox{"a", "example.org"}},
		{name: "quoted dot-string", in: `"abc"@example.org`, want: Mailbox{"abc", "example.org"}},
		{name: "quoted leading dot", in: `".a"@example.org`, want: Mailbox{".a", "example.org"}},
		{name: "quoted at sign", in: `"a@b"@example.org`, want: Mailbox{"a@b", "example.org"}},
		{name: "quoted UTF-8", in: `"θ σ"@example.org`, want: Mailbox{"θ σ", "example.org"}, needsUTF8: true},

		// RFC 5321 §4.1.3 address literals.
		{name: "IPv4 literal", in: "user@[192.0.2.1]", want: Mailbox{"user", "[192.0.2.1]"}},
		{name: "IPv4 literal 255", in: "user@[255.255.255.255]", want: Mailbox{"user", "[255.255.255.255]"}},
		{name: "IPv6 literal", in: "user@[IPv6:2001:db8::1]", want: Mailbox{"user", "[IPv6:2001:db8::1]"}},
		{name: "IPv6 literal lower-case tag", in: "user@[ipv6:::1]", want: Mailbox{"user", "[ipv6:::1]"}},
		{name: "IPv6 literal full", in: "user@[IPv6:2001:db8:0:0:0:0:0:1]", want: Mailbox{"user", "[IPv6:2001:db8:0:0:0:0:0:1]"}},
		{name: "IPv6v4 literal", in: "user@[IPv6:::ffff:192.0.2.1]", want: Mailbox{"user", "[IPv6:::ffff:192.0.2.1]"}},
		{name: "general literal", in: "user@[x-tag:abc]", want: Mailbox{"user", "[x-tag:abc]"}},

		// RFC 6531 §3.3 / RFC 6532 internationalised addresses.
		{name: "UTF-8 local, ASCII domain", in: "Pelé@example.com", want: Mailbox{"Pelé", "example.com"}, needsUTF8: true},
		{name: "Chinese", in: "用户@例子.广告", want: Mailbox{"用户", "例子.广告"}, needsUTF8: true},
		{name: "Greek", in: "θσερ@εχαμπλε.ψομ", want: Mailbox{"θσερ", "εχαμπλε.ψομ"}, needsUTF8: true},
		{name: "U-label domain only", in: "info@bücher.de", want: Mailbox{"info", "bücher.de"}},
		{name: "U-label domain upper case", in: "info@BÜCHER.de", want: Mailbox{"info", "BÜCHER.de"}},

		// Limits of RFC 5321 §4.5.3.1.
		{name: "local part 64", in: local64 + "@example.org", want: Mailbox{local64, "example.org"}},
		{name: "local part 65", in: local64 + "a@example.org", err: ErrTooLong, off: 64, reason: "the local part is 65 octets; RFC 5321 §4.5.3.1.1 allows 64"},
		{name: "quoted local part 64 quoted", in: `"` + strings.Repeat("a", 61) + ` "@example.org`, want: Mailbox{strings.Repeat("a", 61) + " ", "example.org"}},
		{name: "quoted local part 65 quoted", in: `"` + strings.Repeat("a", 62) + ` "@example.org`, err: ErrTooLong, off: 64, reason: "the quoted local part is 65 octets with its quotes"},
		{name: "quoted escapes count 64", in: `"` + strings.Repeat("a", 60) + `\""@example.org`, want: Mailbox{strings.Repeat("a", 60) + `"`, "example.org"}},
		{name: "quoted escapes count 65", in: `"` + strings.Repeat("a", 61) + `\""@example.org`, err: ErrTooLong, off: 64, reason: "the quoted local part is 65 octets"},
		{name: "UTF-8 local 64 octets", in: strings.Repeat("é", 32) + "@example.org", want: Mailbox{strings.Repeat("é", 32), "example.org"}, needsUTF8: true},
		{name: "UTF-8 local 66 octets", in: strings.Repeat("é", 33) + "@example.org", err: ErrTooLong, off: 64, reason: "the local part is 66 octets"},
		{name: "label 63", in: "a@" + label63 + ".org", want: Mailbox{"a", label63 + ".org"}},
		{name: "label 64", in: "a@" + label63 + "b.org", err: ErrTooLong, off: 65, reason: "a label of the domain is 64 octets; DNS allows 63"},
		{name: "domain 256", in: "a@" + domainOfLength(256), err: ErrTooLong, off: 257, reason: "the domain is 256 octets; RFC 5321 §4.5.3.1.2 allows 255"},
		{name: "domain over four times 255", in: "a@" + domainOfLength(1021), err: ErrTooLong, off: 257, reason: "the domain is 1021 octets"},
		{name: "domain 256 as A-labels", in: "a@bücher." + domainOfLength(242), err: ErrTooLong, off: 2, reason: "the domain is 256 octets as A-labels"},
		// The path, "<" mailbox ">", in the form the mailbox is sent in.
		{name: "path 256", in: "a@" + domainOfLength(252), want: Mailbox{"a", domainOfLength(252)}},
		{name: "path 257", in: "a@" + domainOfLength(253), err: ErrTooLong, off: 0, reason: "the path <local@domain> is 257 octets; RFC 5321 §4.5.3.1.3 allows 256"},
		{name: "domain 255 makes a path of 259", in: "a@" + domainOfLength(255), err: ErrTooLong, off: 0, reason: "is 259 octets"},
		{name: "UTF-8 path 256", in: strings.Repeat("é", 32) + "@" + domainOfLength(189), want: Mailbox{strings.Repeat("é", 32), domainOfLength(189)}, needsUTF8: true},
		{name: "UTF-8 path 257", in: strings.Repeat("é", 32) + "@" + domainOfLength(190), err: ErrTooLong, off: 0, reason: "is 257 octets;"},
		// "bücher." is 8 octets, "xn--bcher-kva." 14: without SMTPUTF8,
		// the A-labels are sent.
		{name: "A-label path 256", in: "a@bücher." + domainOfLength(238), want: Mailbox{"a", "bücher." + domainOfLength(238)}},
		{name: "A-label path 257", in: "a@bücher." + domainOfLength(239), err: ErrTooLong, off: 0, reason: "is 257 octets with A-labels"},

		// Missing parts.
		{name: "empty", in: "", err: ErrMissing, off: 0, reason: "the address is empty"},
		{name: "no domain", in: "john", err: ErrMissing, off: 4, reason: "no @: an address is local-part@domain"},
		{name: "postmaster alone", in: "Postmaster", err: ErrMissing, off: 10, reason: "only the recipient RCPT TO:<Postmaster> may go without one"},
		{name: "empty domain", in: "john@", err: ErrMissing, off: 5, reason: "nothing after the @: the domain is missing"},
		{name: "quoted, no domain", in: `"john"`, err: ErrMissing, off: 6, reason: "no @ and domain after the local part"},
		{name: "null path", in: "<>", err: ErrMissing, off: 0, reason: "<> is the null reverse-path, not an address"},

		// Local-part syntax.
		{name: "empty local", in: "@example.org", err: ErrSyntax, off: 0, reason: "the local part before the @ is empty"},
		{name: "double dot", in: "john..doe@example.org", err: ErrSyntax, off: 5, reason: "two dots in a row in the local part"},
		{name: "leading dot", in: ".john@example.org", err: ErrSyntax, off: 0, reason: "the local part starts with a dot"},
		{name: "trailing dot", in: "john.@example.org", err: ErrSyntax, off: 4, reason: "the local part ends with a dot"},
		{name: "special unquoted", in: "jo(hn)@example.org", err: ErrSyntax, off: 2, reason: `"(" is not allowed in a local part unless it is quoted`},
		{name: "space unquoted", in: "a b@example.org", err: ErrSyntax, off: 1, reason: `" " (space) is not allowed in a local part unless it is quoted`},
		{name: "unterminated quote", in: `"john@example.org`, err: ErrSyntax, off: 0, reason: `unbalanced quote: the quoted local part that starts here has no closing "`},
		{name: "text after the quote", in: `"john"x@example.org`, err: ErrSyntax, off: 6, reason: `"x" after the closing quote of the local part`},
		{name: "escaped control", in: "\"a\\\x01\"@example.org", err: ErrIllegalChar, off: 3, reason: `control character "\x01": never part of an address`},
		{name: "escaped UTF-8", in: `"a\é"@example.org`, err: ErrSyntax, off: 3, reason: `"é" after a backslash: only printable ASCII can be escaped`},

		// What users paste: ParseAddress takes it, ParseMailbox says so.
		{name: "angle brackets", in: "<john@example.org>", err: ErrSyntax, off: 0, reason: "angle brackets are not part of a mailbox; use ParseAddress or write john@example.org"},
		{name: "display name", in: "Bob <bob@example.org>", err: ErrSyntax, off: 4, reason: "a display name is not part of a mailbox; use ParseAddress or write bob@example.org"},
		{name: "quoted display name", in: `"Bob, Jr." <bob@example.org>`, err: ErrSyntax, off: 11, reason: "a display name is not part of a mailbox"},
		{name: "comment", in: "bob@example.org (Bob)", err: ErrSyntax, off: 16, reason: "a comment is not part of a mailbox; use ParseAddress or write bob@example.org"},
		{name: "leading space", in: " bob@example.org", err: ErrSyntax, off: 0, reason: "white space around an address is not part of a mailbox"},
		{name: "trailing space", in: "bob@example.org ", err: ErrSyntax, off: 15, reason: "white space around an address is not part of a mailbox"},
		{name: "quoted local part in brackets", in: `Bob <"bob smith"@example.org>`, err: ErrSyntax, off: 4, reason: `write "bob smith"@example.org`},
		// ... and what neither takes.
		{name: "list", in: "a@example.org, b@example.org", err: ErrSyntax, off: 13, reason: "a comma separates a list of addresses; give one address at a time"},
		{name: "group", in: "team: a@example.org;", err: ErrSyntax, off: 4, reason: "a group (name: addresses;) is not one address"},
		{name: "trailing bracket", in: "john@example.org>", err: ErrSyntax, off: 16, reason: "a > that closes no <"},
		{name: "trailing word", in: "john@example.org x", err: ErrSyntax, off: 16, reason: `" " (space) is not allowed in a domain name`},

		// Address literals that are not.
		{name: "IPv4 octet 256", in: "a@[256.1.1.1]", err: ErrSyntax, off: 3, reason: "256 is over 255; an IPv4 address literal is four numbers from 0 to 255"},
		{name: "IPv4 four digits", in: "a@[0001.1.1.1]", err: ErrSyntax, off: 3, reason: "0001 has more than three digits"},
		{name: "IPv4 three parts", in: "a@[1.2.3]", err: ErrSyntax, off: 3, reason: `"1.2.3" has 3 numbers`},
		{name: "IPv4 five parts", in: "a@[1.2.3.4.5]", err: ErrSyntax, off: 3, reason: `"1.2.3.4.5" has 5 numbers`},
		{name: "IPv4 empty part", in: "a@[1..3.4]", err: ErrSyntax, off: 5, reason: `a number is missing in "1..3.4"`},
		{name: "IPv4 with a space", in: "a@[1.2.3.4 ]", err: ErrSyntax, off: 10, reason: `" " (space) in an address literal without a tag`},
		{name: "name in brackets", in: "a@[example.org]", err: ErrSyntax, off: 2, reason: `"example.org" is a domain name in brackets, not an address literal`},
		{name: "IPv6 tag on IPv4", in: "a@[IPv6:1.2.3.4]", err: ErrSyntax, off: 3, reason: "an IPv4 address takes no IPv6: tag; write [1.2.3.4]"},
		{name: "IPv6 zone", in: "a@[IPv6:fe80::1%eth0]", err: ErrSyntax, off: 15, reason: `an IPv6 zone ("%eth0") has no place in an address literal`},
		{name: "IPv6 bad", in: "a@[IPv6:2001:db8:::1]", err: ErrSyntax, off: 8, reason: `"2001:db8:::1" is not an IPv6 address: `},
		{name: "unbalanced literal", in: "a@[1.2.3.4", err: ErrSyntax, off: 2, reason: "unbalanced [: the address literal has no closing ]"},
		{name: "text after literal", in: "a@[1.2.3.4]x", err: ErrSyntax, off: 11, reason: `"x" after the ] that ends the address literal`},
		{name: "empty literal", in: "a@[]", err: ErrSyntax, off: 3, reason: "the address literal is empty"},
		{name: "general literal empty content", in: "a@[x-tag:]", err: ErrSyntax, off: 9, reason: `nothing after "x-tag": in the address literal`},
		{name: "general literal bad tag", in: "a@[-x:abc]", err: ErrSyntax, off: 3, reason: `"-x" is not a tag`},
		{name: "general literal no tag", in: "a@[:abc]", err: ErrSyntax, off: 3, reason: "nothing before the : of the address literal"},
		{name: "general literal backslash", in: `a@[x-tag:a\b]`, err: ErrSyntax, off: 10, reason: `"\\" is not allowed in an address literal`},
		{name: "literal non-ASCII", in: "a@[IPv6:é]", err: ErrIllegalChar, off: 8, reason: `"é" in an address literal, which is ASCII only`},
		{name: "literal over 255", in: "a@[x:" + strings.Repeat("a", 300) + "]", err: ErrTooLong, off: 257, reason: "the address literal is 304 octets"},

		// Domain syntax.
		{name: "label leading hyphen", in: "a@-a.org", err: ErrSyntax, off: 2, reason: `the label "-a" of the domain starts with a hyphen`},
		{name: "label trailing hyphen", in: "a@a-.org", err: ErrSyntax, off: 3, reason: `the label "a-" of the domain ends with a hyphen`},
		{name: "empty label", in: "a@a..org", err: ErrSyntax, off: 4, reason: "two dots in a row in the domain"},
		{name: "leading dot domain", in: "a@.org", err: ErrSyntax, off: 2, reason: "the domain starts with a dot"},
		{name: "trailing dot domain", in: "a@a.org.", err: ErrSyntax, off: 7, reason: "the domain ends with a dot"},
		{name: "underscore", in: "a@exa_mple.org", err: ErrSyntax, off: 5, reason: `"_" is not allowed in a domain name`},
		{name: "second at sign", in: "a@b@example.org", err: ErrSyntax, off: 3, reason: "a second @; an @ in the local part must be quoted"},
		{name: "invalid IDN character", in: "a@bü_cher.de", err: ErrSyntax, off: 5, reason: `"_" is not allowed in a domain name`},
		{name: "IDN disallowed rune", in: "a@example.b\u00a0c.org", err: ErrSyntax, off: 10, reason: `the label "b\u00a0c" is not a valid internationalized domain label: disallowed rune U+00A0`},
		{name: "IDN leading combining mark", in: "a@\u0301x.org", err: ErrSyntax, off: 2, reason: "the label \"\u0301x\" is not a valid internationalized domain label: invalid label"},
		{name: "IDN bidi rule", in: "a@مثال.1a", err: ErrSyntax, off: 2, reason: "not a valid internationalized domain name"},
		{name: "A-label over 63", in: "a@" + strings.Repeat("ü", 60) + ".de", err: ErrTooLong, off: 2, reason: "octets as an A-label; DNS allows 63"},

		// Bytes that are not UTF-8, and control characters.
		{name: "invalid UTF-8 local", in: "\xff@example.org", err: ErrIllegalChar, off: 0, reason: `"\xff" is not UTF-8`},
		{name: "truncated UTF-8 local", in: "Pel\xc3@example.org", err: ErrIllegalChar, off: 3, reason: `"\xc3" is not UTF-8`},
		{name: "invalid UTF-8 domain", in: "a@\xff.org", err: ErrIllegalChar, off: 2, reason: `"\xff" is not UTF-8`},
		{name: "NUL in local", in: "jo\x00hn@example.org", err: ErrIllegalChar, off: 2, reason: `control character "\x00" (NUL)`},
		{name: "CRLF in domain", in: "a@b\r\n.org", err: ErrIllegalChar, off: 3, reason: `control character "\r" (CR)`},
		{name: "LF at the end", in: "a@b.org\n", err: ErrIllegalChar, off: 7, reason: `control character "\n" (LF)`},
		{name: "CRLF and a command", in: "a@b.org\r\nRCPT TO:<c@d.org>", err: ErrIllegalChar, off: 7, reason: `control character "\r" (CR)`},
		{name: "DEL in quoted", in: "\"a\x7f\"@example.org", err: ErrIllegalChar, off: 2, reason: `control character "\x7f" (DEL)`},
		{name: "tab", in: "a\tb@example.org", err: ErrIllegalChar, off: 1, reason: `control character "\t" (tab)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMailbox(tc.in)
			if tc.err != nil {
				checkAddrErr(t, err, tc.in, tc.err, tc.off, tc.reason)
				if got != (Mailbox{}) {
					t.Errorf("ParseMailbox returned %#v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMailbox(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ParseMailbox(%q) (-want +got):\n%s", tc.in, diff)
			}
			if n := got.NeedsSMTPUTF8(); n != tc.needsUTF8 {
				t.Errorf("NeedsSMTPUTF8() = %v, want %v", n, tc.needsUTF8)
			}
			if got.IsNull() {
				t.Errorf("IsNull() = true")
			}
			// String gives an addr-spec that parses back to the same value.
			back, err := ParseMailbox(got.String())
			if err != nil {
				t.Fatalf("ParseMailbox(String() = %q): %v", got.String(), err)
			}
			if diff := cmp.Diff(got, back); diff != "" {
				t.Errorf("String() = %q does not parse back (-want +got):\n%s", got.String(), diff)
			}
		})
	}
}

func TestMailboxString(t *testing.T) {
	tests := []struct {
		name string
		m    Mailbox
		want string
	}{
		{"null", Mailbox{}, ""},
		{"dot-string", Mailbox{"john.doe", "example.org"}, "john.doe@example.org"},
		{"space quoted", Mailbox{"john doe", "example.org"}, `"john doe"@example.org`},
		{"quote escaped", Mailbox{`john"doe`, "example.org"}, `"john\"doe"@example.org`},
		{"backslash escaped", Mailbox{`a\b`, "example.org"}, `"a\\b"@example.org`},
		{"empty local", Mailbox{"", "example.org"}, `""@example.org`},
		{"leading dot", Mailbox{".a", "example.org"}, `".a"@example.org`},
		{"double dot", Mailbox{"a..b", "example.org"}, `"a..b"@example.org`},
		{"at sign", Mailbox{"a@b", "example.org"}, `"a@b"@example.org`},
		{"postmaster", Mailbox{"Postmaster", ""}, "Postmaster"},
		{"literal", Mailbox{"a", "[192.0.2.1]"}, "a@[192.0.2.1]"},
		{"UTF-8 kept", Mailbox{"用户", "例子.广告"}, "用户@例子.广告"},
		{"U-label kept", Mailbox{"info", "bücher.de"}, "info@bücher.de"},
		{"UTF-8 with space", Mailbox{"θ σ", "example.org"}, `"θ σ"@example.org`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMailboxPredicates(t *testing.T) {
	tests := []struct {
		name                  string
		m                     Mailbox
		null, needs, postmast bool
	}{
		{"zero", Mailbox{}, true, false, false},
		{"empty quoted local", Mailbox{"", "example.org"}, false, false, false},
		{"ASCII", Mailbox{"a", "example.org"}, false, false, false},
		{"U-label domain", Mailbox{"a", "bücher.de"}, false, false, false},
		{"UTF-8 local", Mailbox{"Pelé", "example.com"}, false, true, false},
		{"Postmaster", Mailbox{"Postmaster", ""}, false, false, true},
		{"postmaster lower", Mailbox{"postmaster", ""}, false, false, true},
		{"postmaster with domain", Mailbox{"postmaster", "example.org"}, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.m.IsNull(); got != tc.null {
				t.Errorf("IsNull() = %v, want %v", got, tc.null)
			}
			if got := tc.m.NeedsSMTPUTF8(); got != tc.needs {
				t.Errorf("NeedsSMTPUTF8() = %v, want %v", got, tc.needs)
			}
			if got := tc.m.isPostmaster(); got != tc.postmast {
				t.Errorf("isPostmaster() = %v, want %v", got, tc.postmast)
			}
		})
	}
}

// TestPathLength checks the 256-octet path limit of RFC 5321 §4.5.3.1.3,
// brackets included, as sent: after A-label conversion.
func TestPathLength(t *testing.T) {
	local64 := strings.Repeat("l", 64)
	// "<" + 64 + "@" + d + ">" = 67 + len(d)
	mb := func(d int) Mailbox { return Mailbox{local64, domainOfLength(d)} }
	path := func(d int) string { return "<" + local64 + "@" + domainOfLength(d) + ">" }
	tests := []build{
		{name: "MAIL path 256", cmd: Mail{From: mb(189)}, want: "MAIL FROM:" + path(189) + "\r\n"},
		{name: "MAIL path 257", cmd: Mail{From: mb(190)}, err: ErrTooLong, arg: "FROM"},
		{name: "RCPT path 256", cmd: Rcpt{To: mb(189)}, want: "RCPT TO:" + path(189) + "\r\n"},
		{name: "RCPT path 257", cmd: Rcpt{To: mb(190)}, err: ErrTooLong, arg: "TO"},
		{name: "RCPT quoted path 256", cmd: Rcpt{To: Mailbox{strings.Repeat("q", 61) + " ", domainOfLength(189)}},
			want: `RCPT TO:<"` + strings.Repeat("q", 61) + ` "@` + domainOfLength(189) + ">\r\n"},
		{name: "RCPT quoted path 257", cmd: Rcpt{To: Mailbox{strings.Repeat("q", 61) + " ", domainOfLength(190)}}, err: ErrTooLong, arg: "TO"},
		// "bücher" is 7 octets in UTF-8 and 16 as "xn--bcher-kva": the
		// A-label form is what counts without SMTPUTF8.
		{name: "A-label path 257", cmd: Rcpt{To: Mailbox{local64, "bücher." + domainOfLength(176)}}, err: ErrTooLong, arg: "TO"},
		{name: "A-label path 256", cmd: Rcpt{To: Mailbox{local64, "bücher." + domainOfLength(175)}},
			want: "RCPT TO:<" + local64 + "@xn--bcher-kva." + domainOfLength(175) + ">\r\n",
			back: Rcpt{To: Mailbox{local64, "xn--bcher-kva." + domainOfLength(175)}}},
		{name: "U-label path with SMTPUTF8", cmd: Rcpt{To: Mailbox{local64, "bücher." + domainOfLength(176)}, SMTPUTF8: true},
			want: "RCPT TO:<" + local64 + "@bücher." + domainOfLength(176) + ">\r\n"},
	}
	runBuild(t, tests)
}

// TestDomainLengthAsSent: RFC 5321 limits count octets as sent (the
// package's own doc on MaxDomainLength). Without SMTPUTF8 a U-label domain
// is sent as A-labels, so the length of its UTF-8 form must not matter.
func TestDomainLengthAsSent(t *testing.T) {
	// 50 CJK characters: 150 octets of UTF-8, a 56-octet A-label.
	u := strings.Repeat("中", 50)
	a := "xn--fiq" + strings.Repeat("a", 49)
	uDomain := u + "." + u + ".cn" // 304 octets
	aDomain := a + "." + a + ".cn" // 116 octets
	tests := []build{
		{name: "EHLO U-labels over 255 octets, A-labels under", cmd: Ehlo{Domain: uDomain},
			want: "EHLO " + aDomain + "\r\n", back: Ehlo{Domain: aDomain}},
		{name: "RCPT without SMTPUTF8", cmd: Rcpt{To: Mailbox{"a", uDomain}},
			want: "RCPT TO:<a@" + aDomain + ">\r\n", back: Rcpt{To: Mailbox{"a", aDomain}}},
		{name: "RCPT with SMTPUTF8 sends 304 octets", cmd: Rcpt{To: Mailbox{"a", uDomain}, SMTPUTF8: true}, err: ErrTooLong, arg: anyReason},
	}
	runBuild(t, tests)
}

// Issue 18: ParseMailbox("Bob <bob@example.org>") said "command: address
// domain: missing argument", which names neither the address, nor where it
// went wrong, nor why.
func TestParseMailboxIssue18DisplayName(t *testing.T) {
	_, err := ParseMailbox("Bob <bob@example.org>")
	const want = `command: address "Bob <bob@example.org>": at offset 4: a display name is not part of a mailbox; use ParseAddress or write bob@example.org`
	if err == nil || err.Error() != want {
		t.Fatalf("ParseMailbox error:\n got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("errors.Is(%v, ErrSyntax) = false", err)
	}
}

// TestAddressErrorMessage: the message escapes what a terminal would act
// on, and repeats at most maxQuotedAddress octets of a long input, cut
// between characters.
func TestAddressErrorMessage(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 octets
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"CR and LF escaped", "a@b.org\r\nRSET",
			`command: address "a@b.org\r\nRSET": at offset 7: control character "\r" (CR): never part of an address`},
		{"bidi override escaped", "a\u202e@b..org",
			`command: address "a\u202e@b..org": at offset 7: two dots in a row in the domain`},
		{"suggestion escaped", "<a\u2028b@example.org>",
			`command: address "<a\u2028b@example.org>": at offset 0: angle brackets are not part of a mailbox; use ParseAddress or write "a\u2028b@example.org"`},
		{"long input cut", long,
			`command: address "` + strings.Repeat("é", 160) + `"... (800 octets): at offset 800: no @: an address is local-part@domain`},
		{"long input cut between characters", "x" + long,
			`command: address "x` + strings.Repeat("é", 159) + `"... (801 octets): at offset 801: no @: an address is local-part@domain`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMailbox(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestParseMailboxRegressionNULAfterSyntaxError is FuzzParseMailbox's
// finding 6d6063be0e79dc32, kept in testdata/fuzz: in "0000 000\x00" the
// syntax breaks at the space, before the NUL, and ParseMailbox reported
// the syntax error. A control character is what a caller must hear of
// (it may be an injection attempt), wherever the syntax broke, so the NUL
// is reported, at its offset.
func TestParseMailboxRegressionNULAfterSyntaxError(t *testing.T) {
	const in = "0000 000\x00"
	m, err := ParseMailbox(in)
	checkAddrErr(t, err, in, ErrIllegalChar, 8, `control character "\x00" (NUL)`)
	if m != (Mailbox{}) {
		t.Errorf("ParseMailbox(%q) = %#v with the error, want the zero Mailbox", in, m)
	}
}

// TestParseMailboxRegressionHyphensInLabel is FuzzParseMailbox's finding
// a6c4a47f664e13a0, kept in testdata/fuzz: "0@00--0". The label "00--0"
// has hyphens in its third and fourth places, which IDNA (RFC 5891
// §4.2.3.1) refuses but RFC 5321's Domain allows. What was wrong was the
// fuzz invariant, which put every domain through IDNA to build the
// command without SMTPUTF8; only a non-ASCII domain goes through it. The
// mailbox parses, and MAIL and RCPT without SMTPUTF8 carry it as it is.
func TestParseMailboxRegressionHyphensInLabel(t *testing.T) {
	m, err := ParseMailbox("0@00--0")
	if err != nil || m != (Mailbox{Local: "0", Domain: "00--0"}) {
		t.Fatalf("ParseMailbox = %#v, %v; want 0 at 00--0", m, err)
	}
	for _, c := range []Command{Rcpt{To: m}, Mail{From: m}} {
		line, err := c.Append(nil)
		if err != nil || !strings.Contains(string(line), ":<0@00--0>") {
			t.Errorf("Append(%#v) = %q, %v; want the domain as it is", c, line, err)
			continue
		}
		got, err := Parse(line)
		if err != nil {
			t.Errorf("Parse(%q): %v", line, err)
		} else if d := cmp.Diff(c, got); d != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", line, d)
		}
	}
}
