package command

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAddress(t *testing.T) {
	bob := Mailbox{"bob", "example.org"}
	local65 := strings.Repeat("l", 65)
	tests := []struct {
		name   string
		in     string
		want   Mailbox
		err    error  // the kind of the *AddressError
		off    int    // its Offset
		reason string // in its Reason
	}{
		// The forms users paste (issue 18).
		{name: "addr-spec", in: "bob@example.org", want: bob},
		{name: "angle-addr", in: "<bob@example.org>", want: bob},
		{name: "display name", in: "Bob <bob@example.org>", want: bob},
		{name: "quoted display name with a comma", in: `"Bob, Jr." <bob@example.org>`, want: bob},
		{name: "comment after", in: "bob@example.org (Bob)", want: bob},

		// Around them: white space, comments, the phrase of RFC 5322 §3.2.5.
		{name: "comment before", in: "(Bob) bob@example.org", want: bob},
		{name: "nested comment", in: "bob@example.org (Bob (the builder))", want: bob},
		{name: "empty comment", in: "bob@example.org ()", want: bob},
		{name: "escaped parenthesis in a comment", in: `bob@example.org (a \) b)`, want: bob},
		{name: "comments around a name-addr", in: "Bob (work) <bob@example.org> (note)", want: bob},
		{name: "white space around", in: "  Bob Smith   <bob@example.org>  ", want: bob},
		{name: "tabs", in: "\tBob\t<bob@example.org>\t", want: bob},
		{name: "no space before <", in: "Bob<bob@example.org>", want: bob},
		{name: "space inside the brackets", in: "< bob@example.org >", want: bob},
		{name: "dots in the name", in: "Bob J. Smith <bob@example.org>", want: bob},
		{name: "quoted words in the name", in: `Bob "the builder" Smith <bob@example.org>`, want: bob},
		{name: "quoted name with an @", in: `"bob@example.org" <bob@example.org>`, want: bob},
		{name: "quoted name with brackets", in: `"a <b@c.org>" <bob@example.org>`, want: bob},
		{name: "quoted name with an escaped quote", in: `"Bob \"B\" Smith" <bob@example.org>`, want: bob},
		{name: "encoded word", in: "=?utf-8?q?Pel=C3=A9?= <bob@example.org>", want: bob},
		{name: "UTF-8 name and address", in: "Pelé <pelé@例子.广告>", want: Mailbox{"pelé", "例子.广告"}},
		{name: "UTF-8 look-alike space in the name", in: "Bob\u00a0Smith <bob@example.org>", want: bob},
		{name: "sub-address", in: "Bob <bob+tag@example.org>", want: Mailbox{"bob+tag", "example.org"}},

		// The addr-spec as RFC 5321 has it.
		{name: "quoted local part", in: `"john doe"@example.org`, want: Mailbox{"john doe", "example.org"}},
		{name: "quoted local part in brackets", in: `John <"john doe"@example.org>`, want: Mailbox{"john doe", "example.org"}},
		{name: "quoted local part with specials", in: `"a,b:c;d<e>(f)"@example.org`, want: Mailbox{"a,b:c;d<e>(f)", "example.org"}},
		{name: "escaped quote", in: `"a\"b"@example.org`, want: Mailbox{`a"b`, "example.org"}},
		{name: "IPv4 literal", in: "bob@[192.0.2.1]", want: Mailbox{"bob", "[192.0.2.1]"}},
		{name: "IPv6 literal in brackets", in: "Bob <bob@[IPv6:2001:db8::1]>", want: Mailbox{"bob", "[IPv6:2001:db8::1]"}},
		{name: "general literal with specials", in: `Bob <bob@[x-tag:a,b;c:d"e>f]>`, want: Mailbox{"bob", `[x-tag:a,b;c:d"e>f]`}},

		// Nothing there.
		{name: "empty", in: "", err: ErrMissing, off: 0, reason: "the address is empty"},
		{name: "spaces", in: "   ", err: ErrMissing, off: 0, reason: "the address is empty"},
		{name: "comment only", in: "(just a comment)", err: ErrMissing, off: 16, reason: "the address is empty"},
		{name: "name only", in: "Bob", err: ErrMissing, off: 3, reason: "no @: an address is local-part@domain"},
		{name: "two words", in: "Bob Smith", err: ErrMissing, off: 9, reason: "no @"},
		{name: "null path", in: "<>", err: ErrMissing, off: 0, reason: "<> is the null reverse-path, not an address"},
		{name: "name and null path", in: "Bob < >", err: ErrMissing, off: 4, reason: "<> is the null reverse-path"},
		{name: "no domain in brackets", in: "Bob <bob>", err: ErrMissing, off: 8, reason: "no @"},
		{name: "empty domain in brackets", in: "Bob <bob@>", err: ErrMissing, off: 9, reason: "nothing after the @"},

		// Lists, groups, links, routes.
		{name: "list", in: "a@example.org, b@example.org", err: ErrSyntax, off: 13, reason: "a comma separates a list of addresses; give one address at a time"},
		{name: "list of name-addrs", in: "<a@example.org>, <b@example.org>", err: ErrSyntax, off: 15, reason: "a comma separates a list of addresses"},
		{name: "list inside brackets", in: "<a@example.org, b@example.org>", err: ErrSyntax, off: 14, reason: "a comma separates a list of addresses"},
		{name: "trailing comma", in: "bob@example.org,", err: ErrSyntax, off: 15, reason: "a comma after the address; remove it"},
		{name: "unquoted comma in a name", in: "Smith, Bob <bob@example.org>", err: ErrSyntax, off: 5, reason: `a comma in a display name must be quoted ("Smith, Bob" <bob@example.org>)`},
		{name: "group", in: "team: a@example.org, b@example.org;", err: ErrSyntax, off: 4, reason: "a group (name: addresses;) is not one address"},
		{name: "empty group", in: "undisclosed-recipients:;", err: ErrSyntax, off: 22, reason: "a group (name: addresses;) is not one address"},
		{name: "mailto link", in: "mailto:bob@example.org", err: ErrSyntax, off: 0, reason: "a mailto: link is not an address; write the address alone"},
		{name: "source route", in: "<@relay.example:bob@example.org>", err: ErrSyntax, off: 1, reason: "a source route (@relay:) is obsolete"},

		// Angle brackets, quotes and parentheses that do not pair.
		{name: "unclosed <", in: "Bob <bob@example.org", err: ErrSyntax, off: 4, reason: "unbalanced <: no > closes it"},
		{name: "> alone", in: "bob@example.org>", err: ErrSyntax, off: 15, reason: "a > that closes no <"},
		{name: "second <", in: "Bob <a@example.org> <b@example.org>", err: ErrSyntax, off: 20, reason: "a second <; give one address at a time"},
		{name: "unclosed quote in the name", in: `Bob "Jr <bob@example.org>`, err: ErrSyntax, off: 4, reason: `unbalanced quote: no " closes the one here`},
		{name: "unclosed quote in brackets", in: `Bob <"bob@example.org>`, err: ErrSyntax, off: 5, reason: "unbalanced quote"},
		{name: "unclosed comment", in: "Bob (Jr <bob@example.org>", err: ErrSyntax, off: 4, reason: "unbalanced parenthesis: no ) closes the comment that starts here"},
		{name: ") alone", in: "Bob) <bob@example.org>", err: ErrSyntax, off: 3, reason: "a ) that closes no comment"},
		{name: "unclosed literal", in: "Bob <bob@[192.0.2.1>", err: ErrSyntax, off: 9, reason: "unbalanced [: the address literal has no closing ]"},

		// Text where it does not belong.
		{name: "text after >", in: "Bob <bob@example.org> Smith", err: ErrSyntax, off: 22, reason: `"S" after the closing >; only white space or a comment may follow it`},
		{name: "name after the address", in: "bob@example.org Bob", err: ErrSyntax, off: 16, reason: `"B" after the address; a name goes before it, with the address in angle brackets`},
		{name: "name without brackets", in: "Bob bob@example.org", err: ErrSyntax, off: 0, reason: "words before the address; put the address in angle brackets after them"},
		{name: "spaces around the @", in: "bob @ example.org", err: ErrSyntax, off: 3, reason: "white space inside the address"},
		{name: "space before a dot", in: "bob@example .org", err: ErrSyntax, off: 11, reason: "white space inside the address"},
		{name: "comment inside", in: "bob(x)@example.org", err: ErrSyntax, off: 3, reason: "a comment inside the address"},
		{name: "unquoted @ in the name", in: "b@example.org <bob@example.org>", err: ErrSyntax, off: 1, reason: "an @ in a display name must be quoted"},
		{name: "bracket in the name", in: "Bob [x] <bob@example.org>", err: ErrSyntax, off: 4, reason: `"[" in a display name must be quoted`},
		{name: "backslash in the name", in: `Bob\ <bob@example.org>`, err: ErrSyntax, off: 3, reason: `"\\" in a display name must be quoted`},

		// The addr-spec inside, read as ParseMailbox reads it, the offset
		// counted in the whole input.
		{name: "empty local part", in: "Bob <@example.org>", err: ErrSyntax, off: 5, reason: "the local part before the @ is empty"},
		{name: "double dot", in: "Bob <bob..x@example.org>", err: ErrSyntax, off: 9, reason: "two dots in a row in the local part"},
		{name: "trailing dot", in: "Bob <bob.@example.org>", err: ErrSyntax, off: 8, reason: "the local part ends with a dot"},
		{name: "bad domain character", in: "Bob <bob@exa_mple.org>", err: ErrSyntax, off: 12, reason: `"_" is not allowed in a domain name`},
		{name: "local part 65", in: "Bob <" + local65 + "@example.org>", err: ErrTooLong, off: 69, reason: "the local part is 65 octets"},
		{name: "path 257", in: "Bob <a@" + domainOfLength(253) + ">", err: ErrTooLong, off: 5, reason: "the path <local@domain> is 257 octets"}, // the whole addr-spec
		{name: "bad literal", in: "Bob <bob@[IPv6:1.2.3.4]>", err: ErrSyntax, off: 10, reason: "an IPv4 address takes no IPv6: tag"},
		{name: "bad IDN", in: "Bob <bob@b\u00a0c.org>", err: ErrSyntax, off: 9, reason: "is not a valid internationalized domain label: disallowed rune U+00A0"},

		// Control characters and bytes that are not UTF-8: anywhere, even
		// in the part that is dropped.
		{name: "CRLF in the name", in: "Bob\r\n <bob@example.org>", err: ErrIllegalChar, off: 3, reason: `control character "\r" (CR)`},
		{name: "NUL after", in: "Bob <bob@example.org>\x00", err: ErrIllegalChar, off: 21, reason: `control character "\x00" (NUL)`},
		{name: "LF and a command after", in: "bob@example.org\nRCPT TO:<eve@example.org>", err: ErrIllegalChar, off: 15, reason: `control character "\n" (LF)`},
		{name: "ESC in a comment", in: "bob@example.org (\x1b[31m)", err: ErrIllegalChar, off: 17, reason: `control character "\x1b"`},
		{name: "tab inside the addr-spec", in: "Bob <bob\t@example.org>", err: ErrIllegalChar, off: 8, reason: `control character "\t" (tab)`},
		{name: "not UTF-8 in the name", in: "B\xffob <bob@example.org>", err: ErrIllegalChar, off: 1, reason: `"\xff" is not UTF-8`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAddress(tc.in)
			if tc.err != nil {
				checkAddrErr(t, err, tc.in, tc.err, tc.off, tc.reason)
				if got != (Mailbox{}) {
					t.Errorf("ParseAddress returned %#v with the error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("ParseAddress(%q) (-want +got):\n%s", tc.in, diff)
			}
			// What ParseAddress returns is an addr-spec ParseMailbox takes.
			back, err := ParseMailbox(got.String())
			if err != nil || back != got {
				t.Fatalf("ParseMailbox(%q) = %#v, %v; want %#v", got.String(), back, err, got)
			}
		})
	}
}

// Issue 18: what a user pastes into a To field is taken, the display name
// dropped.
func TestParseAddressIssue18(t *testing.T) {
	m, err := ParseAddress("Bob <bob@example.org>")
	if err != nil || m != (Mailbox{"bob", "example.org"}) {
		t.Fatalf(`ParseAddress("Bob <bob@example.org>") = %#v, %v`, m, err)
	}
}
