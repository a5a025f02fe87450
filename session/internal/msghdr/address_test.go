package msghdr

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
)

func TestParseAddressList(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
		bad      bool
	}{
		// What net/mail takes.
		{"plain", "alice@example.org", []string{"alice@example.org"}, false},
		{"display name", "Alice Smith <alice@example.org>", []string{"alice@example.org"}, false},
		{"quoted display name with a comma", `"Smith, Alice" <alice@example.org>`, []string{"alice@example.org"}, false},
		{"trailing comment", "alice@example.org (Alice)", []string{"alice@example.org"}, false},
		{"list", "a@x.example, B <b@y.example>,c@z.example", []string{"a@x.example", "b@y.example", "c@z.example"}, false},
		{"empty elements", ",a@x.example,,b@y.example,", []string{"a@x.example", "b@y.example"}, false},
		{"empty group", "undisclosed-recipients:;", nil, false},
		{"empty group, spaced", "undisclosed-recipients: ;", nil, false},
		{"group", "Team: a@x.example, b@y.example;, c@z.example", []string{"a@x.example", "b@y.example", "c@z.example"}, false},
		{"quoted local part", `"john doe"@example.org`, []string{`"john doe"@example.org`}, false},
		{"quoted local part that needs no quotes", `"john"@example.org`, []string{"john@example.org"}, false},
		{"quoted-pair", `"a\"b\\c"@example.org`, []string{`"a\"b\\c"@example.org`}, false},
		{"quoted @", `"a@b"@example.org`, []string{`"a@b"@example.org`}, false},
		{"UTF-8 local part and domain", "jöhn@exämple.org", []string{"jöhn@exämple.org"}, false},
		{"UTF-8 quoted local part", `"jöhn dœ"@example.org`, []string{`"jöhn dœ"@example.org`}, false},
		{"UTF-8 display name", "Jöhn <j@example.org>", []string{"j@example.org"}, false},
		{"encoded word", "=?utf-8?q?J=C3=B6hn?= <j@example.org>", []string{"j@example.org"}, false},
		{"encoded word, unknown charset", "=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?= <j@example.org>", []string{"j@example.org"}, false},
		{"IPv4 literal", "a@[192.0.2.1]", []string{"a@[192.0.2.1]"}, false},
		{"atext specials", "{a}|b~c+d=e/f?g^h`i'j!k#l$m%n&o*p@example.org", []string{"{a}|b~c+d=e/f?g^h`i'j!k#l$m%n&o*p@example.org"}, false},
		{"empty angle-addr", "<>", []string{""}, false},
		{"empty angle-addr in a list", "<>, a@example.org", []string{"", "a@example.org"}, false},
		{"white space only", " \t ", nil, false},

		// What only the fallback takes.
		{"leading comment", "(boss) bob@example.org", []string{"bob@example.org"}, false},
		{"comments everywhere", "(x)bob(y)@(z)example(w).(v)org(u)", []string{"bob@example.org"}, false},
		{"nested comments", "bob@example.org (a (b) \\) c)", []string{"bob@example.org"}, false},
		{"comment in an angle-addr", "Bob <(c) bob@example.org>", []string{"bob@example.org"}, false},
		{"spaces in an angle-addr", "Bob < bob@example.org >", []string{"bob@example.org"}, false},
		{"IPv6 literal", "a@[IPv6:2001:db8::1]", []string{"a@[IPv6:2001:db8::1]"}, false},
		{"source route", "<@relay.example,@r2.example:bob@example.org>", []string{"bob@example.org"}, false},
		{"obs local part, two dots", "a..b@docomo.ne.jp", []string{`"a..b"@docomo.ne.jp`}, false},
		{"obs local part, final dot", "a.@docomo.ne.jp", []string{`"a."@docomo.ne.jp`}, false},
		{"obs local part, spaces round the dots", "john . doe @ example . org", []string{"john.doe@example.org"}, false},
		{"obs local part, quoted word", `john."doe x"@example.org`, []string{`"john.doe x"@example.org`}, false},
		{"empty quoted local part", `""@example.org`, []string{`""@example.org`}, false},
		{"group with no semicolon at the end", "Team: a@x.example, b@y.example", []string{"a@x.example", "b@y.example"}, false},
		{"two groups", "G1: ;, G2: (c) b@y.example;", []string{"b@y.example"}, false},
		{"address as display name", "bob@example.org <bob@example.org>", []string{"bob@example.org"}, false},
		{"display name not UTF-8", "Jos\xe9 <jose@example.org>", []string{"jose@example.org"}, false},
		{"display name with dots", "John Q. Public <jqp@example.org>", []string{"jqp@example.org"}, false},

		// What nobody takes.
		{"no domain", "alice", nil, true},
		{"no local part", "@example.org", nil, true},
		{"empty domain", "alice@", nil, true},
		{"domain with an empty label", "alice@example..org", nil, true},
		{"domain ending in a dot", "alice@example.org.", nil, true},
		{"unquoted comma in a display name", "Smith, Alice <alice@example.org>", nil, true},
		{"two words before the @", "john doe@example.org", nil, true},
		{"no comma", "a@x.example b@y.example", nil, true},
		{"semicolon for a comma", "a@x.example; b@y.example", nil, true},
		{"unclosed angle", "<alice@example.org", nil, true},
		{"unclosed comment", "alice@example.org (x", nil, true},
		{"unclosed quote", `"alice@example.org`, nil, true},
		{"unclosed literal", "a@[192.0.2.1", nil, true},
		{"two groups with no comma", "G1: ; G2: b@y.example;", nil, true},
		{"nested group", "A: B: c@x.example;;", nil, true},
		{"bad route", "<@relay.example bob@example.org>", nil, true},
		{"control character", "ali\x01ce@example.org", nil, true},
		{"control character quoted", "\"ali\x01ce\"@example.org", nil, true},
		{"tab quoted", "\"a\tb\"@example.org", nil, true},
		{"NUL", "alice@example.org\x00", nil, true},
		{"CR", "alice@exam\rple.org", nil, true},
		{"local part not UTF-8", "a\xffb@example.org", nil, true},
		{"domain not UTF-8", "ab@exa\xffmple.org", nil, true},
		{"stray bracket", "alice]@example.org", nil, true},
		{"stray backslash", "ali\\ce@example.org", nil, true},
		{"stray >", "alice@example.org>", nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseAddressList(c.in)
			if c.bad {
				if err == nil {
					t.Fatalf("parseAddressList(%q) = %q, want an error", c.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAddressList(%q): %v", c.in, err)
			}
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("parseAddressList(%q) (-want +got):\n%s", c.in, diff)
			}
			// A result is its own address list, and an address for
			// package command.
			for _, a := range got {
				if a == "" {
					continue
				}
				if _, err := command.ParseMailbox(a); err != nil {
					t.Errorf("command.ParseMailbox(%q): %v", a, err)
				}
				again, err := parseAddressList(a)
				if err != nil || len(again) != 1 || again[0] != a {
					t.Errorf("parseAddressList(%q) = %q, %v; want it back", a, again, err)
				}
			}
		})
	}
}

// TestErrors pins the errors' types and text: they name the line and the
// field and never carry a control character from the message.
func TestErrors(t *testing.T) {
	cases := []struct {
		name, in string
		want     string // the message
		kind     error
	}{
		{"no colon", "From: a@example.org\nnot \x1b[31mred\x00\n\n",
			`msghdr: line 2: line is neither a header field nor a continuation: no colon: "not \x1b[31mred\x00"`, ErrMalformed},
		{"long line cut", "From: a@example.org\n" + strings.Repeat("y", 100) + "\n\n",
			`msghdr: line 2: line is neither a header field nor a continuation: no colon: "` + strings.Repeat("y", 40) + `"...`, ErrMalformed},
		{"continuation first", "\tx\r\n\r\n",
			`msghdr: line 1: line is neither a header field nor a continuation: continuation line with no field before it: "\tx"`, ErrMalformed},
		{"bad address", "From: a@example.org\r\nTo: b@example.org,\r\n \"c\x07d\"@example.org\r\n\r\n",
			`msghdr: line 2: field "To": address does not parse: control character in an address`, ErrBadAddress},
		{"bad address names the field as written", "From: a@example.org\r\ncC: \u202ebob\r\n\r\n",
			`msghdr: line 2: field "cC": address does not parse: no "@domain" in an address`, ErrBadAddress},
		{"no sender", "To: a@example.org\n\n",
			`msghdr: no sender field: no Sender or From field`, ErrNoSender},
		{"no sender, resent", "Resent-Date: x\nResent-To: a@example.org\n\n",
			`msghdr: no sender field: no Resent-Sender or Resent-From field`, ErrNoSender},
		{"both halves", "X: y\n\n",
			`msghdr: no sender field: no Sender or From field; no recipients: no address in To, Cc or Bcc`, ErrNoRecipients},
		{"multiple resent", "Resent-Date: x\nresent-date: y\nResent-Date: z\n\n",
			`msghdr: line 2: field "resent-date": several Resent- blocks; give the envelope explicitly: 3 Resent-Date fields`, ErrMultipleResent},
		{"too large", "From: a@example.org\nSubject: " + strings.Repeat("s", 200) + "\n\n",
			`msghdr: line 2: header block too large: more than 100 bytes`, ErrHeaderTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			max := 0
			if c.kind == ErrHeaderTooLarge {
				max = 100
			}
			_, _, err := Read(bufio.NewReader(strings.NewReader(c.in)), max)
			if !errors.Is(err, c.kind) {
				t.Fatalf("err = %v, want %v", err, c.kind)
			}
			checkErrorText(t, err)
			if err.Error() != c.want {
				t.Errorf("message\n got %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestPrintable(t *testing.T) {
	cases := map[string]string{
		"plain":              "plain",
		"jöhn 用户":            "jöhn 用户",
		"a\x00b":             `a\x00b`,
		"tab\there":          `tab\there`,
		"\r\n":               `\r\n`,
		"del\x7f":            `del\x7f`,
		"c1\u0085":           `c1\u0085`,
		"bidi\u202e":         `bidi\u202e`,
		"bad\xff\xfe":        `bad\xff\xfe`,
		"replacement\ufffd!": "replacement\ufffd!",
	}
	for in, want := range cases {
		if got := logsafe.Escape(in); got != want {
			t.Errorf("logsafe.Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// errReader gives its data, then its error.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadIOError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, data := range []string{"", "From: a@example.org\r\n", "From: a@exa", "From: a@example.org\r\n "} {
		env, header, err := Read(bufio.NewReader(&errReader{data, boom}), 0)
		if !errors.Is(err, boom) || header != nil || env.From != "" || env.To != nil {
			t.Errorf("after %q: Read = %q, %q, %v; want only the error", data, env, header, err)
		}
	}
}

// TestParseAddressListRegressionAtInDomainLiteral is FuzzAddressList's
// finding, kept as testdata/fuzz/FuzzAddressList/domain-literal-at:
// "0@[@]" came back as "\"0@[\"@]". formatAddr split the address at its
// last "@", which for a domain literal is inside the brackets, so part of
// the literal was quoted as the local part; the address must come back as
// it was, and parse again to itself.
func TestParseAddressListRegressionAtInDomainLiteral(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0@[@]", "0@[@]"},
		{`"a b"@[@]`, `"a b"@[@]`},
		{"x <0@[a@b]>", "0@[a@b]"},
	} {
		got, err := parseAddressList(tc.in)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("parseAddressList(%q) = %q, %v; want [%q]", tc.in, got, err, tc.want)
			continue
		}
		if again, err := parseAddressList(got[0]); err != nil || len(again) != 1 || again[0] != got[0] {
			t.Errorf("parseAddressList(%q) = %q, %v; want it back", got[0], again, err)
		}
	}
}
