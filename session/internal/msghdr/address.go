package msghdr

import (
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// addrParser is net/mail's parser with a word decoder that takes any
// charset: an encoded word in a display name must not fail the address
// for want of a charset table (net/mail knows only UTF-8, US-ASCII and
// ISO-8859-1), and the display name is thrown away anyway.
var addrParser = &mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, input io.Reader) (io.Reader, error) { return input, nil },
}}

// parseAddressList returns the addr-specs of an address-list field value
// (unfolded), in order; "" for each "<>". A value of only white space
// gives none.
//
// net/mail parses it first. What net/mail refuses goes to parseLenient,
// which also knows RFC 5322's CFWS everywhere it may stand and its
// obsolete syntax (§4.4): empty list elements, dots without words between
// them in a local part, source routes, white space around the dots, an
// unterminated group at the end; display names that are not UTF-8 and
// addresses before an angle-addr ("bob@x <bob@x>") are let go too.
func parseAddressList(v string) ([]string, error) {
	if strings.Trim(v, " \t") == "" {
		return nil, nil
	}
	if list, err := addrParser.ParseList(v); err == nil {
		out := make([]string, 0, len(list))
		for _, a := range list {
			if err := checkAddr(a.Address); err != nil {
				return nil, err
			}
			out = append(out, formatAddr(a.Address))
		}
		return out, nil
	}
	return parseLenient(v)
}

// checkAddr refuses what must not go into MAIL FROM or RCPT TO whatever
// the grammar said: control characters (tab included) and bytes that are
// not UTF-8.
func checkAddr(a string) error {
	if !utf8.ValidString(a) {
		return errors.New("address is not UTF-8")
	}
	for i := 0; i < len(a); i++ {
		if a[i] < ' ' || a[i] == 0x7f {
			return errors.New("control character in an address")
		}
	}
	return nil
}

// formatAddr writes the semantic form of an address, "local@domain" with
// the local part unquoted, as an addr-spec: the local part as is when it is
// a dot-atom, else as a quoted-string. It splits at the last "@", as a
// domain name cannot hold one; a domain literal can ("[@]"), so one that
// ends the address is skipped first.
func formatAddr(a string) string {
	at := strings.LastIndexByte(a, '@')
	if strings.HasSuffix(a, "]") {
		if lb := strings.LastIndexByte(a, '['); lb > 0 && a[lb-1] == '@' {
			at = lb - 1
		}
	}
	local, domain := a[:at], a[at:]
	if isDotAtom(local) {
		return a
	}
	return quote(local) + domain
}

// isDotAtom reports whether s is a dot-atom of RFC 5322 with the UTF-8
// atext of RFC 6532: atoms joined by single dots.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && !isAtext(c) {
			return false
		}
	}
	return true
}

// isAtext reports whether byte c can stand in an atom; every byte of a
// multi-byte UTF-8 sequence can (RFC 6532 §3.2).
func isAtext(c byte) bool {
	switch {
	case c >= 0x80:
		return true
	case c <= ' ' || c == 0x7f:
		return false
	}
	return !strings.ContainsRune(`()<>[]:;@\,."`, rune(c))
}

// quote returns s as a quoted-string, with a backslash before each
// backslash and double quote.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// A token of an address list.
type token struct {
	kind byte   // 'a' atom, 'q' quoted-string, 'l' domain literal, the special itself (< > @ , ; : .), or 0 at the end
	text string // the atom, the quoted-string's content unescaped, the literal with its brackets
}

// lenient is the parser of parseLenient: a recursive descent over tokens
// that it lexes one at a time, so that it holds no more than the value.
type lenient struct {
	s   string
	pos int   // where the token after tok starts, white space and comments aside
	tok token // the current token
	err error // the first lexing error; tok is then the end
	out []string
}

// parseLenient parses an address list as parseAddressList says.
func parseLenient(v string) ([]string, error) {
	l := lenient{s: v}
	l.next()
	err := l.list()
	if l.err != nil {
		return nil, l.err // the parse stopped short because of it
	}
	if err != nil {
		return nil, err
	}
	return l.out, nil
}

func (l *lenient) list() error {
	for {
		for l.peek(',') {
			l.next()
		}
		if l.atEnd() {
			return nil
		}
		if err := l.element(false); err != nil {
			return err
		}
		if !l.atEnd() && !l.peek(',') {
			return errors.New(`expected "," after an address`)
		}
	}
}

func (l *lenient) peek(kind byte) bool { return l.tok.kind == kind }
func (l *lenient) atEnd() bool         { return l.tok.kind == 0 }

// next lexes the next token into l.tok, skipping white space and comments.
func (l *lenient) next() {
	s, i := l.s, l.pos
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
				} else if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if i >= len(s) {
				l.fail("unterminated comment")
				return
			}
			i++
		case c == '"':
			var b strings.Builder
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				l.fail("unterminated quoted string")
				return
			}
			l.tok, l.pos = token{'q', b.String()}, i+1
			return
		case c == '[':
			var b strings.Builder
			b.WriteByte('[')
			for i++; i < len(s) && s[i] != ']'; i++ {
				switch s[i] {
				case ' ', '\t':
					continue // FWS inside a literal means nothing
				case '[', '\\':
					l.fail("bad domain literal")
					return
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				l.fail("unterminated domain literal")
				return
			}
			b.WriteByte(']')
			l.tok, l.pos = token{'l', b.String()}, i+1
			return
		case strings.IndexByte("<>@,;:.", c) >= 0:
			l.tok, l.pos = token{c, s[i : i+1]}, i+1
			return
		case isAtext(c):
			j := i
			for j < len(s) && isAtext(s[j]) {
				j++
			}
			l.tok, l.pos = token{'a', s[i:j]}, j
			return
		case c < ' ' || c == 0x7f:
			l.fail("control character")
			return
		default: // ) ] \
			l.fail("unexpected " + string(c))
			return
		}
	}
	l.tok, l.pos = token{}, len(s)
}

// fail ends the token stream with a lexing error.
func (l *lenient) fail(msg string) {
	if l.err == nil {
		l.err = errors.New(msg)
	}
	l.tok, l.pos = token{}, len(l.s)
}

// phrase skips words and dots (an obs-phrase, or what may turn out to be a
// local part) and reports whether there were any.
func (l *lenient) phrase() bool {
	found := false
	for l.peek('a') || l.peek('q') || l.peek('.') {
		l.next()
		found = true
	}
	return found
}

// element parses a mailbox, or a group when not already in one.
func (l *lenient) element(inGroup bool) error {
	startPos, startTok := l.pos, l.tok
	hadPhrase := l.phrase()
	switch {
	case l.peek(':'):
		if inGroup {
			return errors.New("group inside a group")
		}
		l.next()
		for {
			for l.peek(',') {
				l.next()
			}
			if l.atEnd() { // obsolete: no ";"
				return nil
			}
			if l.peek(';') {
				l.next()
				return nil
			}
			if err := l.element(true); err != nil {
				return err
			}
			if !l.atEnd() && !l.peek(',') && !l.peek(';') {
				return errors.New(`expected "," or ";" after an address`)
			}
		}
	case l.peek('<'):
		return l.angleAddr()
	case l.peek('@'):
		l.pos, l.tok = startPos, startTok // the phrase was the local part
		a, err := l.addrSpec()
		if err != nil {
			return err
		}
		if l.peek('<') {
			// "bob@example.org <bob@example.org>": a display name
			// someone forgot to quote; the angle-addr is the address.
			return l.angleAddr()
		}
		l.out = append(l.out, a)
		return nil
	case hadPhrase:
		return errors.New(`no "@domain" in an address`)
	case l.atEnd():
		return errors.New("address missing")
	}
	return errors.New("unexpected " + l.tok.text)
}

// angleAddr parses "<" [obs-route] [addr-spec] ">".
func (l *lenient) angleAddr() error {
	l.next() // past "<"
	// An obs-route, "@a.example,@b.example:", is dropped.
	if l.peek('@') {
		for !l.atEnd() && !l.peek(':') {
			switch l.tok.kind {
			case '@', ',', '.', 'a', 'l':
				l.next()
			default:
				return errors.New("bad source route")
			}
		}
		if !l.peek(':') {
			return errors.New("bad source route")
		}
		l.next()
	}
	a := ""
	if !l.peek('>') {
		var err error
		if a, err = l.addrSpec(); err != nil {
			return err
		}
	}
	if !l.peek('>') {
		return errors.New(`no ">" after an address`)
	}
	l.next()
	l.out = append(l.out, a)
	return nil
}

// addrSpec parses local-part "@" domain, both with their obsolete forms,
// and returns it formatted by formatAddr.
func (l *lenient) addrSpec() (string, error) {
	var b strings.Builder
	lastWord, words := false, 0
	for l.peek('a') || l.peek('q') || l.peek('.') {
		if l.tok.kind != '.' {
			if lastWord {
				return "", errors.New("words with no dot between them in a local part")
			}
			lastWord = true
			words++
		} else {
			lastWord = false
		}
		b.WriteString(l.tok.text)
		l.next()
	}
	if words == 0 && l.peek('@') {
		return "", errors.New(`no local part before "@"`)
	}
	if !l.peek('@') {
		return "", errors.New(`no "@domain" in an address`)
	}
	l.next()
	local := b.String()
	b.Reset()
	if l.peek('l') {
		b.WriteString(l.tok.text)
		l.next()
	} else {
		for {
			if !l.peek('a') {
				return "", errors.New("bad domain")
			}
			b.WriteString(l.tok.text)
			l.next()
			if !l.peek('.') {
				break
			}
			b.WriteByte('.')
			l.next()
		}
	}
	a := local + "@" + b.String()
	if err := checkAddr(a); err != nil {
		return "", err
	}
	return formatAddr(a), nil
}
