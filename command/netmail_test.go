package command

import (
	"net/mail"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMailboxFromAddress(t *testing.T) {
	tests := []struct {
		name   string
		parse  string        // given to mail.ParseAddress
		addr   *mail.Address // or this, built by hand
		want   Mailbox
		err    error
		off    int
		reason string
	}{
		{name: "name-addr", parse: "Bob <bob@example.org>", want: Mailbox{"bob", "example.org"}},
		{name: "quoted local part", parse: `"john doe"@example.org`, want: Mailbox{"john doe", "example.org"}},
		{name: "quoted at sign", parse: `"a@b"@example.org`, want: Mailbox{"a@b", "example.org"}},
		{name: "escaped quote", parse: `"a\"b"@example.org`, want: Mailbox{`a"b`, "example.org"}},
		{name: "UTF-8", parse: "Pelé <pelé@例子.广告>", want: Mailbox{"pelé", "例子.广告"}},
		{name: "IPv4 literal", parse: "bob@[192.0.2.1]", want: Mailbox{"bob", "[192.0.2.1]"}},
		// net/mail writes IPv6 literals without the tag RFC 5321 needs.
		{name: "IPv6 literal gets its tag", parse: "bob@[2001:db8::1]", want: Mailbox{"bob", "[IPv6:2001:db8::1]"}},
		{name: "IPv4-mapped IPv6 literal", parse: "bob@[::ffff:192.0.2.1]", want: Mailbox{"bob", "[IPv6:::ffff:192.0.2.1]"}},
		// mail.ParseAddress returns the one member of a group.
		{name: "group of one", parse: "team: bob@example.org;", want: Mailbox{"bob", "example.org"}},
		{name: "tagged IPv6 literal by hand", addr: &mail.Address{Address: "bob@[IPv6:2001:db8::1]"}, want: Mailbox{"bob", "[IPv6:2001:db8::1]"}},
		{name: "general literal with an at sign", addr: &mail.Address{Address: "a@b@[x-tag:c@d]"}, want: Mailbox{"a@b", "[x-tag:c@d]"}},

		{name: "nil", addr: nil, err: ErrMissing, off: 0, reason: "the *mail.Address is nil"},
		{name: "empty", addr: &mail.Address{Name: "Bob"}, err: ErrMissing, off: 0, reason: "the address is empty"},
		{name: "no at sign", addr: &mail.Address{Address: "bob"}, err: ErrMissing, off: 3, reason: "no @"},
		{name: "empty local part", addr: &mail.Address{Address: "@example.org"}, err: ErrSyntax, off: 0, reason: "the local part before the @ is empty"},
		{name: "CRLF in the local part", addr: &mail.Address{Address: "a\r\nb@example.org"}, err: ErrIllegalChar, off: 1, reason: `control character "\r" (CR)`},
		{name: "LF in the domain", addr: &mail.Address{Address: "a@example.org\nRSET"}, err: ErrIllegalChar, off: 13, reason: `control character "\n" (LF)`},
		{name: "not UTF-8", addr: &mail.Address{Address: "\xff@example.org"}, err: ErrIllegalChar, off: 0, reason: `"\xff" is not UTF-8`},
		{name: "local part 65", addr: &mail.Address{Address: strings.Repeat("l", 65) + "@example.org"}, err: ErrTooLong, off: 64, reason: "the local part is 65 octets as sent"},
		{name: "local part 65 once quoted", addr: &mail.Address{Address: strings.Repeat("l", 62) + " @example.org"}, err: ErrTooLong, off: 63, reason: "the local part is 65 octets as sent"},
		{name: "bad domain", addr: &mail.Address{Address: "bob@exa_mple.org"}, err: ErrSyntax, off: 7, reason: `"_" is not allowed in a domain name`},
		{name: "bad literal", addr: &mail.Address{Address: "bob@[1.2.3]"}, err: ErrSyntax, off: 5, reason: `"1.2.3" has 3 numbers`},
		{name: "path 257", addr: &mail.Address{Address: "a@" + domainOfLength(253)}, err: ErrTooLong, off: 0, reason: "the path <local@domain> is 257 octets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.addr
			if tc.parse != "" {
				var err error
				if a, err = mail.ParseAddress(tc.parse); err != nil {
					t.Fatalf("mail.ParseAddress(%q): %v", tc.parse, err)
				}
			}
			got, err := MailboxFromAddress(a)
			if tc.err != nil {
				in := ""
				if a != nil {
					in = a.Address
				}
				checkAddrErr(t, err, in, tc.err, tc.off, tc.reason)
				return
			}
			if err != nil {
				t.Fatalf("MailboxFromAddress(%#v): %v", a, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("MailboxFromAddress(%#v) (-want +got):\n%s", a, diff)
			}
		})
	}
}

func TestMailboxMailAddress(t *testing.T) {
	tests := []struct {
		name string
		m    Mailbox
		dn   string
		want string // String() of the result; "" for nil
	}{
		{"plain", Mailbox{"bob", "example.org"}, "", "<bob@example.org>"},
		{"name", Mailbox{"bob", "example.org"}, "Bob", `"Bob" <bob@example.org>`},
		{"name with a comma", Mailbox{"bob", "example.org"}, "Smith, Bob", `"Smith, Bob" <bob@example.org>`},
		{"quoted local part", Mailbox{"john doe", "example.org"}, "", `<"john doe"@example.org>`},
		{"UTF-8 name and address", Mailbox{"pelé", "例子.广告"}, "Pelé", "=?utf-8?q?Pel=C3=A9?= <pelé@例子.广告>"},
		{"IPv6 literal loses its tag", Mailbox{"bob", "[IPv6:2001:db8::1]"}, "", "<bob@[2001:db8::1]>"},
		{"IPv4 literal", Mailbox{"bob", "[192.0.2.1]"}, "", "<bob@[192.0.2.1]>"},
		{"null path", Mailbox{}, "Nobody", ""},
		{"Postmaster", Mailbox{"Postmaster", ""}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.m.MailAddress(tc.dn)
			if tc.want == "" {
				if a != nil {
					t.Fatalf("MailAddress = %#v, want nil", a)
				}
				return
			}
			if a == nil {
				t.Fatalf("MailAddress = nil, want %s", tc.want)
			}
			if a.Name != tc.dn {
				t.Errorf("Name = %q, want %q", a.Name, tc.dn)
			}
			if got := a.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
