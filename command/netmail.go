package command

import (
	"net/mail"
	"net/netip"
	"strings"
)

// MailboxFromAddress returns the mailbox of a net/mail address, its display
// name dropped, after checking it as [ParseMailbox] checks what it parses;
// a refusal is an [*AddressError] whose Address is a.Address. A mail.Address
// with a UTF-8 local part gives a Mailbox that needs SMTPUTF8
// ([Mailbox.NeedsSMTPUTF8]).
//
// net/mail's quirks, which MailboxFromAddress and [Mailbox.MailAddress]
// absorb where they can:
//
//   - mail.Address.Address keeps the local part without its quotes and
//     backslashes: `"john doe"@example.org` is "john doe@example.org". The
//     domain starts after the last "@" (after the "@[" of an address
//     literal, whose general form may hold an "@"), and a local part that
//     is not a dot-string is quoted again when sent.
//   - net/mail takes a domain literal only when it holds an IP address, and
//     writes an IPv6 one without the "IPv6:" tag of RFC 5321 §4.1.3: the tag
//     is added on the way in and dropped on the way out. A general address
//     literal ("[x-tag:abc]") cannot go through net/mail, but for one whose
//     text happens to be an IPv6 address ("[a::]", tag "a"), which comes
//     back as the IPv6 literal "[IPv6:a::]". Nor can an IPv4 literal with a
//     leading zero ("[192.0.2.01]"): net.ParseIP refuses it.
//   - net/mail refuses the empty quoted local part `""@example.org` that
//     RFC 5321 allows; MailboxFromAddress refuses an empty local part too.
//   - mail.ParseAddress returns the one member of a group ("team:
//     bob@example.org;") as if it were an address; [ParseAddress] refuses
//     groups.
//   - net/mail checks none of the limits of RFC 5321 §4.5.3.1; this does.
func MailboxFromAddress(a *mail.Address) (Mailbox, error) {
	if a == nil {
		return Mailbox{}, (&addrFault{kind: ErrMissing, reason: "no address: the *mail.Address is nil"}).err("")
	}
	m, f := mailboxFromAddress(a.Address)
	if f != nil {
		return Mailbox{}, f.err(a.Address)
	}
	return m, nil
}

func mailboxFromAddress(s string) (Mailbox, *addrFault) {
	if s == "" {
		return Mailbox{}, faultf(0, ErrMissing, "the address is empty")
	}
	at := strings.LastIndexByte(s, '@')
	if strings.HasSuffix(s, "]") {
		if i := strings.LastIndex(s, "@["); i >= 0 {
			at = i
		}
	}
	if at < 0 {
		return Mailbox{}, faultf(len(s), ErrMissing, "no @: an address is local-part@domain")
	}
	if at == 0 {
		// net/mail cannot write it back (it makes "<@example.org>"), nor
		// does it parse `""@example.org`.
		return Mailbox{}, faultf(0, ErrSyntax, "the local part before the @ is empty")
	}
	m := Mailbox{Local: s[:at], Domain: s[at+1:]}
	if f := checkLocalDetail(m.Local); f != nil {
		return Mailbox{}, f
	}
	if f := checkChars(m.Domain, false); f != nil {
		return Mailbox{}, f.shift(at + 1)
	}
	if in, ok := strings.CutPrefix(m.Domain, "["); ok {
		if in, ok := strings.CutSuffix(in, "]"); ok && !hasPrefixFold(in, "IPv6:") {
			if ip, err := netip.ParseAddr(in); err == nil && ip.Is6() && ip.Zone() == "" {
				// The tag was never in s: a fault in the literal would
				// point at the wrong place, but this one has none.
				m.Domain = "[IPv6:" + in + "]"
			}
		}
	}
	if f := checkDomainDetail(m.Domain); f != nil {
		return Mailbox{}, f.shift(at + 1)
	}
	if f := checkPathLength(m); f != nil {
		return Mailbox{}, f
	}
	return m, nil
}

// MailAddress returns m as a net/mail address with the given display name
// (may be empty), for a message header: its String method quotes the local
// part when it has to and encodes a non-ASCII name (RFC 2047); a UTF-8
// local part is written as it is (RFC 6532), so such a header needs
// SMTPUTF8 too. An IPv6 address literal loses its "IPv6:" tag, which
// net/mail does not parse. The null path and the domainless Postmaster
// have no header form: MailAddress returns nil for them. An empty local
// part gives "<@example.org>", which net/mail does not read back. It does
// not validate m.
func (m Mailbox) MailAddress(name string) *mail.Address {
	if m.Domain == "" {
		return nil
	}
	d := m.Domain
	if in, ok := strings.CutPrefix(d, "["); ok && hasPrefixFold(in, "IPv6:") {
		d = "[" + in[len("IPv6:"):]
	}
	return &mail.Address{Name: name, Address: m.Local + "@" + d}
}
