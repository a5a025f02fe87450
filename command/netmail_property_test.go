package command_test

// The net/mail bridge against every mailbox package fuzz draws.

import (
	"net/mail"
	"net/netip"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
	. "github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/fuzz"
	"pgregory.net/rapid"
)

// throughNetMail returns m as it comes back through net/mail (see the
// notes in netmail.go), or false for what net/mail cannot carry: an empty
// local part, a general address literal, an IPv4 literal with a leading
// zero (net.ParseIP refuses "01.2.3.4"). An IPv6 literal comes back with
// its tag written "IPv6:", and so does a general literal whose text is an
// IPv6 address ("[a::]", tag "a").
func throughNetMail(m Mailbox) (Mailbox, bool) {
	if m.Local == "" {
		return m, false
	}
	in, ok := strings.CutPrefix(m.Domain, "[")
	if !ok {
		return m, true
	}
	in = strings.TrimSuffix(in, "]")
	if HasPrefixFold(in, "IPv6:") {
		in = in[len("IPv6:"):]
	}
	ip, err := netip.ParseAddr(in)
	switch {
	case err != nil:
		return m, false
	case ip.Is6():
		m.Domain = "[IPv6:" + in + "]"
	}
	return m, true
}

// The net/mail bridge round-trips every generated mailbox, ASCII and
// UTF-8, with a display name, through net/mail's own String and
// ParseAddress, but for what net/mail cannot carry.
func TestPropertyNetMailRoundTrip(t *testing.T) {
	word := rapid.StringOfN(rapid.OneOf(rapid.RuneFrom([]rune("abcXYZ019")), rapid.RuneFrom(nil, unicode.L)), 1, 8, -1)
	rapid.Check(t, func(t *rapid.T) {
		m := fuzz.Mailbox(rapid.Bool().Draw(t, "utf8")).Draw(t, "m")
		name := strings.Join(rapid.SliceOfN(word, 0, 3).Draw(t, "name"), " ")
		a := m.MailAddress(name)
		s := a.String()
		want, carried := throughNetMail(m)
		b, err := mail.ParseAddress(s)
		if err != nil {
			if !carried {
				return
			}
			t.Fatalf("mail.ParseAddress(%q) (from %#v): %v", s, m, err)
		}
		if !carried {
			t.Fatalf("mail.ParseAddress(%q) (from %#v) = %#v: net/mail took it after all", s, m, b)
		}
		if b.Name != name {
			t.Fatalf("mail.ParseAddress(%q).Name = %q, want %q", s, b.Name, name)
		}
		got, err := MailboxFromAddress(b)
		if err != nil {
			t.Fatalf("MailboxFromAddress(%#v) (from %#v, %q): %v", b, m, s, err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%#v through %q (-want +got):\n%s", m, s, d)
		}
		// And ParseAddress reads what net/mail writes the same way (but
		// for an untagged IPv6 literal, a general one to RFC 5321).
		if strings.HasPrefix(m.Domain, "[") {
			return
		}
		if pa, err := ParseAddress(s); err != nil || pa != got {
			t.Fatalf("ParseAddress(%q) = %#v, %v; want %#v", s, pa, err, got)
		}
	})
}
