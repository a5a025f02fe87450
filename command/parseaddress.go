package command

import "strings"

// ParseAddress parses one address as a user pastes it into a To field, an
// RFC 5322 §3.4 mailbox, and returns its addr-spec as a [Mailbox]; the
// display name and the comments are dropped, as smtplib's callers do with
// email.utils.parseaddr:
//
//	bob@example.org
//	<bob@example.org>
//	Bob <bob@example.org>
//	"Bob, Jr." <bob@example.org>
//	bob@example.org (Bob)
//
// The addr-spec itself is read as strictly as [ParseMailbox] reads it (RFC
// 5321 §4.1.2 with RFC 6531's UTF-8, no white space or comment inside it,
// no obsolete forms); around it, white space (spaces and tabs) and
// comments may appear, and the display name may hold atoms, dots, UTF-8
// and quoted strings. A list ("a@example.org, b@example.org"), a group
// ("team: a@example.org;"), a source route ("<@relay:bob@example.org>"),
// a mailto: link and the null path "<>" are refused: a caller that takes
// "<>" for the null sender checks for it first.
//
// As with ParseMailbox, the result needs SMTPUTF8 to be sent if
// [Mailbox.NeedsSMTPUTF8] says so. A refusal is an [*AddressError] naming
// the offset in s and the reason.
func ParseAddress(s string) (Mailbox, error) {
	m, _, f := parseAddress(s)
	if f != nil {
		return Mailbox{}, f.err(s)
	}
	return m, nil
}

// addrForm records what surrounds the addr-spec in a pasted address, so
// that ParseMailbox can say what it does not take.
type addrForm struct {
	angle   int  // offset of "<", or -1
	name    bool // a display name before "<"
	comment int  // offset of the first comment, or -1
	space   int  // offset of the first white space around the addr-spec, or -1
}

// hint is ParseMailbox's reason for refusing what ParseAddress takes.
func (form addrForm) hint(m Mailbox) *addrFault {
	const use = "; use ParseAddress or write "
	switch {
	case form.name:
		return faultf(form.angle, ErrSyntax, "a display name is not part of a mailbox"+use+"%s", printable(m.String()))
	case form.angle >= 0:
		return faultf(form.angle, ErrSyntax, "angle brackets are not part of a mailbox"+use+"%s", printable(m.String()))
	case form.comment >= 0:
		return faultf(form.comment, ErrSyntax, "a comment is not part of a mailbox"+use+"%s", printable(m.String()))
	case form.space >= 0:
		return faultf(form.space, ErrSyntax, "white space around an address is not part of a mailbox"+use+"%s", printable(m.String()))
	}
	return nil
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// parseAddress reads s in two passes. The first finds the structure at the
// top level, outside quoted strings, comments and address literals: the
// angle brackets, and the commas, colons and semicolons of lists and
// groups. The second reads the parts: the display name, the addr-spec (by
// scanAddrSpec) and what may follow it.
func parseAddress(s string) (Mailbox, addrForm, *addrFault) {
	form := addrForm{angle: -1, comment: -1, space: -1}
	if strings.TrimLeft(s, " \t") == "" {
		return Mailbox{}, form, faultf(0, ErrMissing, "the address is empty")
	}
	if f := checkChars(s, true); f != nil {
		return Mailbox{}, form, f
	}

	lt, gt := -1, -1
	comma, group := -1, -1
	firstAt := -1        // the first top-level "@" outside the angle brackets
	var stray *addrFault // a second "<", a ">" that closes none: reported after lists and groups
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			end, f := skipQuoted(s, i)
			if f != nil {
				return Mailbox{}, form, f
			}
			i = end - 1
		case '(':
			end, f := skipComment(s, i)
			if f != nil {
				return Mailbox{}, form, f
			}
			if form.comment < 0 {
				form.comment = i
			}
			i = end - 1
		case ')':
			return Mailbox{}, form, faultf(i, ErrSyntax, "a ) that closes no comment")
		case '[':
			end := strings.IndexByte(s[i:], ']')
			if end < 0 {
				return Mailbox{}, form, faultf(i, ErrSyntax, "unbalanced [: the address literal has no closing ]")
			}
			i += end
		case '<':
			if lt < 0 {
				lt = i
			} else if stray == nil {
				stray = shapef(i, "a second <; give one address at a time")
			}
		case '>':
			if lt >= 0 && gt < 0 {
				gt = i
			} else if stray == nil {
				stray = shapef(i, "a > that closes no <")
			}
		case ',':
			if comma < 0 {
				comma = i
			}
		case ':', ';':
			if group < 0 && (lt < 0 || gt >= 0) {
				group = i
			}
		case '@':
			if firstAt < 0 && (lt < 0 || gt >= 0) {
				firstAt = i
			}
		}
	}

	start := skipCFWS(s, 0)
	if group >= 0 && hasPrefixFold(s[start:], "mailto:") {
		return Mailbox{}, form, shapef(start, "a mailto: link is not an address; write the address alone")
	}
	if lt >= 0 && gt >= 0 {
		if j := skipWSP(s, lt+1); j < gt && s[j] == '@' && strings.IndexByte(s[j:gt], ':') >= 0 {
			return Mailbox{}, form, shapef(j, "a source route (@relay:) is obsolete (RFC 5321 §4.1.1.3); write the address without it")
		}
	}
	if group >= 0 && (comma < 0 || group < comma) {
		f := faultf(group, ErrSyntax, "a group (name: addresses;) is not one address; give its addresses one at a time")
		f.shape = strings.IndexByte(s[group:], ';') >= 0 // "a:b@example.org" is more likely a typo
		return Mailbox{}, form, f
	}
	if comma >= 0 {
		if lt >= 0 && comma < lt && (firstAt < 0 || firstAt > comma) {
			return Mailbox{}, form, shapef(comma, `a comma in a display name must be quoted ("Smith, Bob" <bob@example.org>); unquoted, it separates addresses`)
		}
		if skipCFWS(s, comma+1) == len(s) {
			return Mailbox{}, form, shapef(comma, "a comma after the address; remove it")
		}
		return Mailbox{}, form, shapef(comma, "a comma separates a list of addresses; give one address at a time")
	}
	if stray != nil {
		return Mailbox{}, form, stray
	}

	if start > 0 && isWSP(s[0]) {
		form.space = 0
	}
	if lt >= 0 {
		return parseNameAddr(s, lt, gt, form)
	}

	// An addr-spec alone, with white space and comments around it.
	end := start
	for end < len(s) && !isWSP(s[end]) && s[end] != '(' {
		switch s[end] {
		case '"':
			n, _ := skipQuoted(s, end)
			end = n
		case '[':
			if n := strings.IndexByte(s[end:], ']'); n >= 0 {
				end += n + 1
				continue
			}
			end = len(s) // not reached: the first pass found the ]
		default:
			end++
		}
	}
	if after := skipCFWS(s, end); after < len(s) {
		if end > start && (s[end-1] == '@' || s[end-1] == '.') || s[after] == '@' || s[after] == '.' {
			what := "white space"
			if s[end] == '(' {
				what = "a comment"
			}
			return Mailbox{}, form, faultf(end, ErrSyntax, "%s inside the address, which has none between its parts", what)
		}
		if firstAt >= 0 && firstAt < end {
			return Mailbox{}, form, faultf(after, ErrSyntax,
				"%s after the address; a name goes before it, with the address in angle brackets: Name <local@domain>", charName(s, after))
		}
		if firstAt >= 0 {
			return Mailbox{}, form, faultf(start, ErrSyntax,
				"words before the address; put the address in angle brackets after them: Name <local@domain>")
		}
		return Mailbox{}, form, faultf(len(s), ErrMissing, "no @: an address is local-part@domain")
	}
	if form.space < 0 && end < len(s) && isWSP(s[end]) {
		form.space = end
	}
	m, f := scanAddrSpec(s[start:end])
	return m, form, f.shift(start)
}

// parseNameAddr reads [display-name] "<" addr-spec ">" [CFWS], the angle
// brackets at lt and gt.
func parseNameAddr(s string, lt, gt int, form addrForm) (Mailbox, addrForm, *addrFault) {
	form.angle = lt
	if gt < 0 {
		return Mailbox{}, form, shapef(lt, "unbalanced <: no > closes it")
	}
	if j := skipCFWS(s, gt+1); j < len(s) {
		return Mailbox{}, form, faultf(j, ErrSyntax, "%s after the closing >; only white space or a comment may follow it", charName(s, j))
	}
	for i := 0; i < lt; i++ {
		switch c := s[i]; {
		case isWSP(c):
		case c == '"':
			i, _ = skipQuoted(s, i)
			i--
			form.name = true
		case c == '(':
			i, _ = skipComment(s, i)
			i--
		case c == '.' || charClass[c]&(cAtext|cHigh) != 0:
			form.name = true
		case c == '@':
			return Mailbox{}, form, faultf(i, ErrSyntax, `an @ in a display name must be quoted: "bob@example.org" <bob@example.org>`)
		default:
			return Mailbox{}, form, faultf(i, ErrSyntax, "%s in a display name must be quoted", charName(s, i))
		}
	}
	a, b := skipWSP(s, lt+1), gt
	for b > a && isWSP(s[b-1]) {
		b--
	}
	if a == b {
		return Mailbox{}, form, &addrFault{off: lt, kind: ErrMissing, reason: "<> is the null reverse-path, not an address", shape: true}
	}
	m, f := scanAddrSpec(s[a:b])
	return m, form, f.shift(a)
}

// skipQuoted returns the offset after the RFC 5322 quoted-string at s[i]:
// a quoted-pair is a backslash and any character.
func skipQuoted(s string, i int) (int, *addrFault) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '"':
			return j + 1, nil
		case '\\':
			j++
		}
	}
	return len(s), faultf(i, ErrSyntax, `unbalanced quote: no " closes the one here`)
}

// skipComment returns the offset after the RFC 5322 comment at s[i], which
// may nest.
func skipComment(s string, i int) (int, *addrFault) {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return j + 1, nil
			}
		case '\\':
			j++
		}
	}
	return len(s), faultf(i, ErrSyntax, "unbalanced parenthesis: no ) closes the comment that starts here")
}

// skipCFWS returns the offset of the first character at or after i that is
// neither white space nor in a comment. The comments have been checked.
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch {
		case isWSP(s[i]):
			i++
		case s[i] == '(':
			i, _ = skipComment(s, i)
		default:
			return i
		}
	}
	return i
}

func skipWSP(s string, i int) int {
	for i < len(s) && isWSP(s[i]) {
		i++
	}
	return i
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && equalFold(s[:len(prefix)], prefix)
}
