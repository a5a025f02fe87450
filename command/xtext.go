package command

import "strings"

const upperHex = "0123456789ABCDEF"

// AppendXtext appends s encoded as xtext (RFC 3461 §4): every octet outside
// "!" to "~", and "+" and "=", becomes "+" and two upper-case hex digits.
// Any string, including one that is not UTF-8, survives [DecodeXtext].
func AppendXtext(dst []byte, s string) []byte {
	i := 0
	for i < len(s) && isXchar(s[i]) {
		i++
	}
	dst = append(dst, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if !isXchar(c) {
			dst = append(dst, '+', upperHex[c>>4], upperHex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// xtextLen is the length of s encoded by AppendXtext.
func xtextLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !isXchar(s[i]) {
			n += 2
		}
	}
	return n
}

// DecodeXtext decodes xtext (RFC 3461 §4). It is strict: "+" must be
// followed by two upper-case hex digits, and a character that xtext has to
// encode ("=", a space, a control or non-ASCII byte) must not appear raw.
func DecodeXtext(s string) (string, error) {
	if strings.IndexByte(s, '+') < 0 {
		if err := checkXchars(s); err != nil {
			return "", &Error{Arg: "xtext", Err: err}
		}
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '+' {
			if !isXchar(c) {
				return "", &Error{Arg: "xtext", Err: syntaxOrIllegal(s[i : i+1])}
			}
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", &Error{Arg: "xtext", Err: ErrSyntax}
		}
		hi, lo := unhexUpper(s[i+1]), unhexUpper(s[i+2])
		if hi < 0 || lo < 0 {
			return "", &Error{Arg: "xtext", Err: ErrSyntax}
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return string(b), nil
}

func checkXchars(s string) error {
	for i := 0; i < len(s); i++ {
		if !isXchar(s[i]) {
			return syntaxOrIllegal(s[i : i+1])
		}
	}
	return nil
}

func unhexUpper(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
