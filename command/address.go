package command

import (
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Size limits of RFC 5321 §4.5.3.1, counted in octets as sent.
const (
	MaxLocalPartLength = 64  // §4.5.3.1.1
	MaxDomainLength    = 255 // §4.5.3.1.2
	MaxPathLength      = 256 // §4.5.3.1.3, with the angle brackets
)

// Mailbox is an RFC 5321 §4.1.2 Mailbox: Local-part "@" ( Domain /
// address-literal ). The zero Mailbox is the null reverse-path "<>".
//
// A source route ("<@relay:user@example.org>") is accepted by [Parse] and
// dropped, as RFC 5321 §4.1.1.3 tells servers to do; it is never generated.
type Mailbox struct {
	// Local is the local part as its owner knows it, without the quotes
	// and backslashes of a quoted-string: a local part that is not a
	// dot-string is quoted when sent. It is case-sensitive and kept as is.
	// UTF-8 is allowed only in an SMTPUTF8 transaction (RFC 6531 §3.3).
	Local string
	// Domain is a domain name, in ASCII or with U-labels, or an address
	// literal with its brackets: "[192.0.2.1]", "[IPv6:2001:db8::1]".
	// Without SMTPUTF8, U-labels are sent as A-labels (IDNA, RFC 5891).
	// It is empty only in the special recipient "<Postmaster>".
	Domain string
}

// ParseMailbox parses an address as RFC 5321 §4.1.2 writes it between the
// angle brackets of MAIL and RCPT, the addr-spec "local@domain" and
// nothing else, extended by RFC 6531 (UTF-8 local parts and U-labels): the
// result still needs SMTPUTF8 to be sent if [Mailbox.NeedsSMTPUTF8] says
// so. It accepts what [Parse] accepts in a path, within the 256 octets
// RFC 5321 §4.5.3.1.3 allows the path in the form the mailbox needs (UTF-8
// when its local part is, else with A-labels).
//
// It takes no angle brackets, display name or comment: those belong to
// message headers. For what users paste into a To field, "Bob
// <bob@example.org>", use [ParseAddress]. A refusal is an [*AddressError]
// that says where and why, and says so when ParseAddress would have
// taken the input.
func ParseMailbox(s string) (Mailbox, error) {
	m, f := scanAddrSpec(s)
	if f == nil {
		return m, nil
	}
	switch pm, form, pf := parseAddress(s); {
	case pf == nil:
		if hint := form.hint(pm); hint != nil {
			f = hint
		}
	case pf.shape && f.kind != ErrIllegalChar:
		f = pf
	}
	return Mailbox{}, f.err(s)
}

// IsNull reports whether m is the null reverse-path "<>".
func (m Mailbox) IsNull() bool { return m.Local == "" && m.Domain == "" }

// NeedsSMTPUTF8 reports whether m can be sent only in an SMTPUTF8
// transaction: its local part has non-ASCII characters. A non-ASCII domain
// does not need it, since it can be sent as A-labels.
func (m Mailbox) NeedsSMTPUTF8() bool { return !isASCII(m.Local) }

// String returns m as an addr-spec, "local@domain", with the local part
// quoted when it has to be; the null path is "". It does not validate m.
func (m Mailbox) String() string {
	if m.IsNull() {
		return ""
	}
	quote := !isDotString(m.Local)
	if !quote && m.Domain != "" {
		return m.Local + "@" + m.Domain // one allocation
	}
	return string(appendMailbox(nil, m.Local, quote, m.Domain))
}

// isPostmaster reports the one mailbox RFC 5321 §4.1.1.3 lets go without a
// domain, and only as a recipient.
func (m Mailbox) isPostmaster() bool {
	return m.Domain == "" && equalFold(m.Local, "postmaster")
}

// appendPath appends "<" mailbox ">" after checking m. utf8ok is true in an
// SMTPUTF8 transaction; otherwise a U-label domain is converted to A-labels
// and a UTF-8 local part is an error. arg names the argument in errors.
func appendPath(dst []byte, m Mailbox, utf8ok bool, verb, arg string) ([]byte, error) {
	start := len(dst)
	if m.IsNull() {
		return append(dst, "<>"...), nil
	}
	quote, err := checkMailbox(m, utf8ok, arg)
	if err != nil {
		return dst, withVerb(err, verb)
	}
	domain := m.Domain
	if !utf8ok && !isASCII(domain) {
		a, err := idnaToASCII(domain)
		if err != nil {
			return dst, argError(verb, arg+" domain", ErrSyntax)
		}
		domain = a
	}
	dst = append(dst, '<')
	dst = appendMailbox(dst, m.Local, quote, domain)
	dst = append(dst, '>')
	if len(dst)-start > MaxPathLength {
		return dst[:start], argError(verb, arg, ErrTooLong)
	}
	return dst, nil
}

func appendMailbox(dst []byte, local string, quote bool, domain string) []byte {
	if quote {
		dst = appendQuoted(dst, local)
	} else {
		dst = append(dst, local...)
	}
	if domain == "" {
		return dst
	}
	dst = append(dst, '@')
	return append(dst, domain...)
}

func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// checkMailbox checks that m can be sent; the Postmaster form passes, and
// the caller decides whether it is allowed where m is used.
func checkMailbox(m Mailbox, utf8ok bool, arg string) (quote bool, err error) {
	quote, err = checkLocal(m.Local, utf8ok)
	if err != nil {
		return quote, argError("", arg+" local part", err)
	}
	if m.Domain == "" {
		if m.isPostmaster() {
			return quote, nil
		}
		return quote, argError("", arg+" domain", ErrMissing)
	}
	if err := checkDomainOrLiteral(m.Domain); err != nil {
		return quote, argError("", arg+" domain", err)
	}
	return quote, nil
}

// checkLocal checks that s can be sent as a local part, as a dot-string or a
// quoted-string, within 64 octets, and reports whether it must be quoted.
func checkLocal(s string, utf8ok bool) (quote bool, err error) {
	cls, dotString := scanLocal(s)
	if cls&cCtl != 0 {
		return false, ErrIllegalChar
	}
	if cls&cHigh != 0 {
		if !utf8.ValidString(s) {
			return false, ErrIllegalChar
		}
		if !utf8ok {
			return false, ErrNeedsSMTPUTF8
		}
	}
	n := len(s)
	if !dotString {
		n += 2 + strings.Count(s, `"`) + strings.Count(s, `\`)
	}
	if n > MaxLocalPartLength {
		return !dotString, ErrTooLong
	}
	return !dotString, nil
}

// scanLocal returns the classes of the bytes of s and whether s is an RFC
// 5321 Dot-string: atoms of atext (or UTF-8, RFC 6531 §3.3) separated by
// single dots. One pass, since every MAIL and RCPT needs both answers.
func scanLocal(s string) (cls uint8, dotString bool) {
	dotString = s != "" && s[0] != '.' && s[len(s)-1] != '.'
	prevDot := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		k := charClass[c]
		cls |= k
		if c == '.' {
			if prevDot {
				dotString = false
			}
			prevDot = true
			continue
		}
		prevDot = false
		if k&(cAtext|cHigh) == 0 {
			dotString = false
		}
	}
	return cls, dotString
}

func isDotString(s string) bool {
	_, ok := scanLocal(s)
	return ok
}

func checkDomainOrLiteral(d string) error {
	if d != "" && d[0] == '[' {
		if len(d) > MaxDomainLength {
			return ErrTooLong
		}
		return checkAddressLiteral(d)
	}
	return checkDomain(d)
}

// checkDomain checks an RFC 5321 Domain; a name with non-ASCII characters
// must be a valid IDN (RFC 6531 §3.3 allows U-labels).
func checkDomain(d string) error {
	if d == "" {
		return ErrMissing
	}
	// The limit is on the name as DNS sees it: A-labels for an IDN. Its
	// UTF-8 form can be at most four times longer.
	if len(d) > 4*MaxDomainLength {
		return ErrTooLong
	}
	err := checkASCIIDomain(d)
	if err != errNonASCII {
		if err == nil && len(d) > MaxDomainLength {
			err = ErrTooLong
		}
		return err
	}
	if classes(d)&cCtl != 0 || !utf8.ValidString(d) {
		return ErrIllegalChar
	}
	a, err := idnaToASCII(d)
	if err != nil {
		return ErrSyntax
	}
	if len(a) > MaxDomainLength {
		return ErrTooLong
	}
	if err := checkASCIIDomain(a); err != nil {
		return ErrSyntax
	}
	return nil
}

// errNonASCII tells checkDomain to try the name as an IDN; it never leaves
// the package.
var errNonASCII = errors.New("non-ASCII domain")

// checkASCIIDomain checks sub-domain *("." sub-domain), where sub-domain =
// Let-dig [Ldh-str] (RFC 5321 §4.1.2) of at most 63 octets (RFC 1035), in
// one pass.
func checkASCIIDomain(d string) error {
	start := 0
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			l := d[start:i]
			if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
				return ErrSyntax
			}
			if len(l) > 63 {
				return ErrTooLong
			}
			start = i + 1
			continue
		}
		if k := charClass[d[i]]; k&cLetDig == 0 && d[i] != '-' {
			if k&cHigh != 0 {
				return errNonASCII
			}
			return syntaxOrIllegal(d[i : i+1])
		}
	}
	return nil
}

// checkLabel checks one sub-domain.
func checkLabel(l string) error {
	if strings.IndexByte(l, '.') >= 0 {
		return ErrSyntax
	}
	err := checkASCIIDomain(l)
	if err == errNonASCII {
		return ErrSyntax
	}
	return err
}

// checkAddressLiteral checks "[" ( IPv4-address-literal /
// IPv6-address-literal / General-address-literal ) "]" (RFC 5321 §4.1.3).
func checkAddressLiteral(d string) error {
	if classes(d)&(cCtl|cHigh) != 0 {
		return ErrIllegalChar
	}
	if len(d) < 3 || d[0] != '[' || d[len(d)-1] != ']' {
		return ErrSyntax
	}
	in := d[1 : len(d)-1]
	colon := strings.IndexByte(in, ':')
	if colon < 0 {
		if isIPv4Literal(in) {
			return nil
		}
		return ErrSyntax
	}
	tag, rest := in[:colon], in[colon+1:]
	if equalFold(tag, "IPv6") {
		a, err := netip.ParseAddr(rest)
		if err != nil || !a.Is6() || a.Zone() != "" || strings.IndexByte(rest, '%') >= 0 {
			return ErrSyntax
		}
		return nil
	}
	// General-address-literal: Standardized-tag ":" 1*dcontent.
	if checkLabel(tag) != nil || rest == "" {
		return ErrSyntax
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 33 || c == '[' || c == '\\' || c == ']' {
			return ErrSyntax
		}
	}
	return nil
}

// isIPv4Literal reports Snum 3("." Snum), Snum being 1*3DIGIT up to 255.
func isIPv4Literal(s string) bool {
	parts := 0
	for part := range strings.SplitSeq(s, ".") {
		parts++
		if part == "" || len(part) > 3 {
			return false
		}
		v := 0
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
			v = v*10 + int(part[i]-'0')
		}
		if v > 255 {
			return false
		}
	}
	return parts == 4
}

// idnaToASCII converts U-labels to A-labels with the lookup profile of
// RFC 5891 §5, which also maps case and width.
func idnaToASCII(d string) (string, error) { return idna.Lookup.ToASCII(d) }

// syntaxOrIllegal classifies leftover input: control characters are
// reported as such, so injection attempts are easy to tell apart.
func syntaxOrIllegal(s string) error {
	if classes(s)&cCtl != 0 {
		return ErrIllegalChar
	}
	return ErrSyntax
}

// parseMailbox reads Local-part "@" ( Domain / address-literal ) from the
// start of s, stopping at '>', a space or the end, and returns how much it
// read. The Postmaster form (no "@") comes back with an empty Domain. It
// checks only the syntax it needs to find the end; checkMailbox does the
// rest.
func parseMailbox(s, arg string) (Mailbox, int, error) {
	var m Mailbox
	i := 0
	if i < len(s) && s[i] == '"' {
		local, n, err := parseQuoted(s)
		if err == nil && n > MaxLocalPartLength {
			err = ErrTooLong // counted as sent, quotes and all
		}
		if err != nil {
			return m, 0, argError("", arg+" local part", err)
		}
		m.Local, i = local, n
	} else {
		for i < len(s) && s[i] != '@' && s[i] != '>' && s[i] != ' ' {
			i++
		}
		m.Local = s[:i]
		if !isDotString(m.Local) {
			return m, 0, argError("", arg+" local part", syntaxOrIllegal(m.Local))
		}
	}
	if i == len(s) || s[i] != '@' {
		if m.isPostmaster() {
			return m, i, nil
		}
		return m, 0, argError("", arg+" domain", ErrMissing)
	}
	i++
	start := i
	if i < len(s) && s[i] == '[' {
		end := strings.IndexByte(s[i:], ']')
		if end < 0 {
			return m, 0, argError("", arg+" domain", ErrSyntax)
		}
		i += end + 1
	} else {
		for i < len(s) && s[i] != '>' && s[i] != ' ' {
			i++
		}
	}
	m.Domain = s[start:i]
	if m.Domain == "" {
		return m, 0, argError("", arg+" domain", ErrMissing)
	}
	return m, i, nil
}

// parseQuoted reads a Quoted-string (RFC 5321 §4.1.2, with UTF-8 from RFC
// 6531) at the start of s and returns its content without the escapes.
func parseQuoted(s string) (string, int, error) {
	n, escaped, err := scanQuoted(s)
	if err != nil || !escaped {
		return s[1:max(n-1, 1)], n, err
	}
	b := make([]byte, 0, n-2)
	for i := 1; i < n-1; i++ {
		if s[i] == '\\' {
			i++
		}
		b = append(b, s[i])
	}
	return string(b), n, nil
}

// scanQuoted finds the end of the Quoted-string at the start of s and
// reports whether it holds quoted-pairs, without allocating.
func scanQuoted(s string) (n int, escaped bool, err error) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			if i+1 == len(s) || s[i+1] < ' ' || s[i+1] > '~' {
				return 0, false, syntaxOrIllegal(s[i:])
			}
			escaped = true
			i++
		case c < ' ' || c == 0x7f:
			return 0, false, ErrIllegalChar
		}
	}
	return 0, false, ErrSyntax // no closing quote
}
