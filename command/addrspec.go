package command

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The addr-spec as a user writes it, read with a reason for every refusal.
// What it accepts is what Parse accepts inside "<" and ">" (the checks
// below decide with the same rules as checkMailbox; FuzzParseMailbox holds
// the two to it), and also what fits the 256-octet path of RFC 5321
// §4.5.3.1.3.

// addrFault is what a check of an address found: where (a byte offset into
// the string checked), the kind and the reason. It becomes an
// [*AddressError] once the whole input is known.
type addrFault struct {
	off    int
	kind   error
	reason string
	// shape marks a fault in the shape of what was pasted (a list, a
	// group, a link, a source route, "<>", an unclosed "<"), which
	// ParseMailbox reports as ParseAddress does.
	shape bool
}

func faultf(off int, kind error, format string, args ...any) *addrFault {
	return &addrFault{off: off, kind: kind, reason: fmt.Sprintf(format, args...)}
}

// shapef is faultf for a fault in the shape of a pasted address.
func shapef(off int, format string, args ...any) *addrFault {
	f := faultf(off, ErrSyntax, format, args...)
	f.shape = true
	return f
}

// shift moves f by the offset of the string it was found in; nil stays nil.
func (f *addrFault) shift(n int) *addrFault {
	if f != nil {
		f.off += n
	}
	return f
}

func (f *addrFault) err(addr string) *AddressError {
	return &AddressError{Address: addr, Offset: f.off, Reason: f.reason, Err: f.kind}
}

// charName names the character at s[i] for a reason: quoted and escaped in
// Go syntax, with the name of the usual suspects.
func charName(s string, i int) string {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return strconv.Quote(s[i : i+1])
	}
	q := strconv.Quote(s[i : i+n])
	switch r {
	case ' ':
		return q + " (space)"
	case '\t':
		return q + " (tab)"
	case '\r':
		return q + " (CR)"
	case '\n':
		return q + " (LF)"
	case 0:
		return q + " (NUL)"
	case 0x7f:
		return q + " (DEL)"
	}
	return q
}

// printable returns s as it is when a terminal shows it faithfully, else
// quoted in Go syntax.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// checkChars finds the first control character (a tab too, unless tab is
// set) or the first bytes that are not UTF-8: never part of an address,
// and the command-injection guard, so reported before anything else.
func checkChars(s string, tab bool) *addrFault {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch k := charClass[c]; {
		case k&cCtl != 0:
			if c == '\t' && tab {
				continue
			}
			return faultf(i, ErrIllegalChar, "control character %s: never part of an address", charName(s, i))
		case k&cHigh != 0:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n <= 1 {
				return faultf(i, ErrIllegalChar, "%s is not UTF-8", strconv.Quote(s[i:i+1]))
			}
			i += n - 1
		}
	}
	return nil
}

// scanAddrSpec reads s, all of it, as Local-part "@" ( Domain /
// address-literal ) (RFC 5321 §4.1.2, with RFC 6531's UTF-8).
func scanAddrSpec(s string) (Mailbox, *addrFault) {
	if s == "" {
		return Mailbox{}, faultf(0, ErrMissing, "the address is empty")
	}
	if f := checkChars(s, false); f != nil {
		return Mailbox{}, f
	}
	var local string
	at := 0
	if s[0] == '"' {
		n, f := scanQuotedLocal(s)
		if f != nil {
			return Mailbox{}, f
		}
		if n > MaxLocalPartLength { // counted as written, quotes and all, as Parse does
			return Mailbox{}, faultf(MaxLocalPartLength, ErrTooLong,
				"the quoted local part is %d octets with its quotes; RFC 5321 §4.5.3.1.1 allows %d", n, MaxLocalPartLength)
		}
		if n == len(s) {
			return Mailbox{}, faultf(n, ErrMissing, "no @ and domain after the local part")
		}
		if s[n] != '@' {
			return Mailbox{}, faultf(n, ErrSyntax, "%s after the closing quote of the local part, where an @ belongs", charName(s, n))
		}
		local, _, _ = parseQuoted(s[:n])
		at = n
	} else {
		at = strings.IndexByte(s, '@')
		if at < 0 {
			if equalFold(s, "postmaster") {
				return Mailbox{}, faultf(len(s), ErrMissing,
					"no @ and domain: only the recipient RCPT TO:<Postmaster> may go without one (RFC 5321 §4.1.1.3)")
			}
			return Mailbox{}, faultf(len(s), ErrMissing, "no @: an address is local-part@domain")
		}
		local = s[:at]
		if f := checkDotString(local); f != nil {
			return Mailbox{}, f
		}
		if len(local) > MaxLocalPartLength {
			return Mailbox{}, faultf(MaxLocalPartLength, ErrTooLong,
				"the local part is %d octets; RFC 5321 §4.5.3.1.1 allows %d", len(local), MaxLocalPartLength)
		}
	}
	if at+1 == len(s) {
		return Mailbox{}, faultf(len(s), ErrMissing, "nothing after the @: the domain is missing")
	}
	m := Mailbox{Local: local, Domain: s[at+1:]}
	if f := checkDomainDetail(m.Domain); f != nil {
		return Mailbox{}, f.shift(at + 1)
	}
	if f := checkPathLength(m); f != nil {
		return Mailbox{}, f
	}
	return m, nil
}

// scanQuotedLocal finds the end of the Quoted-string at the start of s (RFC
// 5321 §4.1.2: quoted-pairSMTP is a backslash and printable ASCII). Control
// characters have been refused already.
func scanQuotedLocal(s string) (int, *addrFault) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 == len(s) {
				break
			}
			if c := s[i+1]; c < ' ' || c > '~' {
				return 0, faultf(i+1, ErrSyntax, "%s after a backslash: only printable ASCII can be escaped", charName(s, i+1))
			}
			i++
		}
	}
	return 0, faultf(0, ErrSyntax, `unbalanced quote: the quoted local part that starts here has no closing "`)
}

// checkDotString checks an unquoted local part: atoms of atext or UTF-8
// separated by single dots.
func checkDotString(s string) *addrFault {
	if s == "" {
		return faultf(0, ErrSyntax, "the local part before the @ is empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if i == 0 {
				return faultf(0, ErrSyntax, "the local part starts with a dot; quote the local part if the dot belongs to it")
			}
			if s[i-1] == '.' {
				return faultf(i, ErrSyntax, "two dots in a row in the local part; quote the local part if they belong to it")
			}
		case charClass[c]&(cAtext|cHigh) != 0:
		default:
			return faultf(i, ErrSyntax, "%s is not allowed in a local part unless it is quoted", charName(s, i))
		}
	}
	if s[len(s)-1] == '.' {
		return faultf(len(s)-1, ErrSyntax, "the local part ends with a dot; quote the local part if the dot belongs to it")
	}
	return nil
}

// checkLocalDetail checks a local part that will be quoted as needed (the
// Mailbox.Local of a value, not text to parse): what checkLocal checks.
func checkLocalDetail(s string) *addrFault {
	if f := checkChars(s, false); f != nil {
		return f
	}
	if _, err := checkLocal(s, true); err != nil {
		n := len(s)
		if !isDotString(s) {
			n += 2 + strings.Count(s, `"`) + strings.Count(s, `\`)
		}
		return faultf(min(MaxLocalPartLength, len(s)), ErrTooLong,
			"the local part is %d octets as sent; RFC 5321 §4.5.3.1.1 allows %d", n, MaxLocalPartLength)
	}
	return nil
}

// checkDomainDetail checks what follows the "@": a domain name or an
// address literal. It accepts what checkDomainOrLiteral accepts; the
// reasons come from its own pass, the decision on an IDN from IDNA.
func checkDomainDetail(d string) *addrFault {
	if d == "" {
		return faultf(0, ErrMissing, "nothing after the @: the domain is missing")
	}
	if d[0] == '[' {
		return checkLiteralDetail(d)
	}
	if len(d) > 4*MaxDomainLength {
		return faultf(MaxDomainLength, ErrTooLong, "the domain is %d octets; RFC 5321 §4.5.3.1.2 allows %d", len(d), MaxDomainLength)
	}
	nonASCII, labelNonASCII := false, false
	start := 0
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			c := d[i]
			switch {
			case charClass[c]&cLetDig != 0 || c == '-':
			case c >= 0x80:
				nonASCII, labelNonASCII = true, true
			case c == '@':
				return faultf(i, ErrSyntax, `a second @; an @ in the local part must be quoted: "a@b"@example.org`)
			default:
				return faultf(i, ErrSyntax, "%s is not allowed in a domain name (letters, digits, hyphens and dots)", charName(d, i))
			}
			continue
		}
		l := d[start:i]
		switch {
		case l == "" && start == 0:
			return faultf(0, ErrSyntax, "the domain starts with a dot")
		case l == "" && i == len(d):
			return faultf(i-1, ErrSyntax, "the domain ends with a dot; write it without the dot of the DNS root")
		case l == "":
			return faultf(i, ErrSyntax, "two dots in a row in the domain")
		case l[0] == '-':
			return faultf(start, ErrSyntax, "the label %s of the domain starts with a hyphen", strconv.Quote(l))
		case l[len(l)-1] == '-':
			return faultf(i-1, ErrSyntax, "the label %s of the domain ends with a hyphen", strconv.Quote(l))
		case !labelNonASCII && len(l) > 63:
			return faultf(start+63, ErrTooLong, "a label of the domain is %d octets; DNS allows 63 (RFC 1035 §2.3.4)", len(l))
		}
		start, labelNonASCII = i+1, false
	}
	if !nonASCII {
		if len(d) > MaxDomainLength {
			return faultf(MaxDomainLength, ErrTooLong, "the domain is %d octets; RFC 5321 §4.5.3.1.2 allows %d", len(d), MaxDomainLength)
		}
		return nil
	}
	return checkIDNDetail(d)
}

// checkIDNDetail decides on a domain with U-labels as checkDomain does: by
// IDNA (RFC 5891) and then by the A-labels it gives.
func checkIDNDetail(d string) *addrFault {
	a, err := idnaToASCII(d)
	if err != nil {
		// Point at the first label IDNA refuses on its own; the bidi
		// rule, for one, can refuse only the name as a whole.
		start := 0
		for l := range strings.SplitSeq(d, ".") {
			if !isASCII(l) {
				if _, lerr := idnaToASCII(l); lerr != nil {
					return faultf(start, ErrSyntax, "the label %s is not a valid internationalized domain label: %s",
						strconv.Quote(l), strings.TrimPrefix(lerr.Error(), "idna: "))
				}
			}
			start += len(l) + 1
		}
		return faultf(0, ErrSyntax, "not a valid internationalized domain name: %s", strings.TrimPrefix(err.Error(), "idna: "))
	}
	if len(a) > MaxDomainLength {
		return faultf(0, ErrTooLong, "the domain is %d octets as A-labels (%s); RFC 5321 §4.5.3.1.2 allows %d",
			len(a), strconv.Quote(a), MaxDomainLength)
	}
	if err := checkASCIIDomain(a); err != nil {
		for l := range strings.SplitSeq(a, ".") {
			if len(l) > 63 {
				return faultf(0, ErrTooLong, "the label %s is %d octets as an A-label; DNS allows 63 (RFC 1035 §2.3.4)",
					strconv.Quote(l), len(l))
			}
		}
		return faultf(0, ErrSyntax, "as A-labels, %s is not a domain name", strconv.Quote(a))
	}
	return nil
}

// checkLiteralDetail checks "[" ( IPv4-address-literal /
// IPv6-address-literal / General-address-literal ) "]" (RFC 5321 §4.1.3),
// the whole of d.
func checkLiteralDetail(d string) *addrFault {
	const forms = "[192.0.2.1] or [IPv6:2001:db8::1]"
	end := strings.IndexByte(d, ']')
	if end < 0 {
		return faultf(0, ErrSyntax, "unbalanced [: the address literal has no closing ]")
	}
	if end != len(d)-1 {
		return faultf(end+1, ErrSyntax, "%s after the ] that ends the address literal", charName(d, end+1))
	}
	if len(d) > MaxDomainLength {
		return faultf(MaxDomainLength, ErrTooLong, "the address literal is %d octets; RFC 5321 §4.5.3.1.2 allows %d", len(d), MaxDomainLength)
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			return faultf(i, ErrIllegalChar, "%s in an address literal, which is ASCII only", charName(d, i))
		}
	}
	in := d[1:end]
	if in == "" {
		return faultf(1, ErrSyntax, "the address literal is empty; write %s", forms)
	}
	colon := strings.IndexByte(in, ':')
	if colon < 0 {
		if isIPv4Literal(in) {
			return nil
		}
		return checkIPv4Detail(in).shift(1)
	}
	tag, rest := in[:colon], in[colon+1:]
	restOff := 1 + colon + 1
	if equalFold(tag, "IPv6") {
		if pct := strings.IndexByte(rest, '%'); pct >= 0 {
			return faultf(restOff+pct, ErrSyntax, "an IPv6 zone (%s) has no place in an address literal", strconv.Quote(rest[pct:]))
		}
		a, err := netip.ParseAddr(rest)
		if err != nil {
			why := err.Error()
			if _, after, ok := strings.Cut(why, "): "); ok {
				why = after
			}
			return faultf(restOff, ErrSyntax, "%s is not an IPv6 address: %s", strconv.Quote(rest), why)
		}
		if !a.Is6() {
			return faultf(1, ErrSyntax, "an IPv4 address takes no IPv6: tag; write [%s]", rest)
		}
		return nil
	}
	if tag == "" {
		return faultf(1, ErrSyntax, "nothing before the : of the address literal; write %s", forms)
	}
	if checkLabel(tag) != nil {
		return faultf(1, ErrSyntax, "%s is not a tag (letters, digits and hyphens) of a general address literal; write %s",
			strconv.Quote(tag), forms)
	}
	if rest == "" {
		return faultf(restOff, ErrSyntax, "nothing after %s: in the address literal", strconv.Quote(tag))
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 33 || c == '[' || c == '\\' {
			return faultf(restOff+i, ErrSyntax, "%s is not allowed in an address literal", charName(rest, i))
		}
	}
	return nil
}

// checkIPv4Detail explains why in, an address literal without a colon, is
// not Snum 3("." Snum).
func checkIPv4Detail(in string) *addrFault {
	const v4 = "an IPv4 address literal is four numbers from 0 to 255, [192.0.2.1]"
	for i := 0; i < len(in); i++ {
		if c := in[i]; c != '.' && (c < '0' || c > '9') {
			if checkDomain(in) == nil {
				return faultf(-1, ErrSyntax, "%s is a domain name in brackets, not an address literal; write it without them", strconv.Quote(in))
			}
			return faultf(i, ErrSyntax, "%s in an address literal without a tag; %s", charName(in, i), v4)
		}
	}
	parts, start := 0, 0
	for p := range strings.SplitSeq(in, ".") {
		parts++
		if p == "" {
			return faultf(start, ErrSyntax, "a number is missing in %s; %s", strconv.Quote(in), v4)
		}
		if len(p) > 3 {
			return faultf(start, ErrSyntax, "%s has more than three digits; %s", p, v4)
		}
		if n, _ := strconv.Atoi(p); n > 255 {
			return faultf(start, ErrSyntax, "%s is over 255; %s", p, v4)
		}
		start += len(p) + 1
	}
	return faultf(0, ErrSyntax, "%s has %d numbers; %s", strconv.Quote(in), parts, v4)
}

// checkPathLength checks the 256 octets of RFC 5321 §4.5.3.1.3 on the path
// "<" mailbox ">" in the form m needs: UTF-8 when its local part is (an
// SMTPUTF8 transaction), else with the domain as A-labels. The domain has
// been checked.
func checkPathLength(m Mailbox) *addrFault {
	form := ""
	if !m.NeedsSMTPUTF8() && !isASCII(m.Domain) {
		if a, err := idnaToASCII(m.Domain); err == nil {
			m.Domain, form = a, " with A-labels"
		}
	}
	n := len(m.Local) + 1 + len(m.Domain) + 2
	if !isDotString(m.Local) {
		n += 2 + strings.Count(m.Local, `"`) + strings.Count(m.Local, `\`)
	}
	if n > MaxPathLength {
		return faultf(0, ErrTooLong, "the path <local@domain> is %d octets%s; RFC 5321 §4.5.3.1.3 allows %d",
			n, form, MaxPathLength)
	}
	return nil
}
