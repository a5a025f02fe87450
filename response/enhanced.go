package response

import "strconv"

// EnhancedCode is an enhanced mail system status code (RFC 3463 §2),
// "class.subject.detail", as servers that offer ENHANCEDSTATUSCODES (RFC 2034)
// put it at the start of a reply's text:
//
//	550 5.1.1 <nobody@example.org>: Recipient address rejected
//
// The zero value means "none".
type EnhancedCode struct {
	Class   int // 2, 4 or 5
	Subject int // 0-999
	Detail  int // 0-999
}

// IsZero reports whether e is the zero value, meaning the reply carried no
// enhanced status code.
func (e EnhancedCode) IsZero() bool { return e == EnhancedCode{} }

// String returns the dotted form "5.1.1", or "" for the zero value.
func (e EnhancedCode) String() string {
	if e.IsZero() {
		return ""
	}
	buf := make([]byte, 0, 11)
	buf = strconv.AppendInt(buf, int64(e.Class), 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(e.Subject), 10)
	buf = append(buf, '.')
	buf = strconv.AppendInt(buf, int64(e.Detail), 10)
	return string(buf)
}

// ParseEnhancedCode parses an enhanced status code at the start of text, as
// RFC 3463 §2 writes it:
//
//	status-code = class "." subject "." detail
//	class       = "2" / "4" / "5"
//	subject     = 1*3digit
//	detail      = 1*3digit
//
// The code must be followed by a space or end the text; "5.1.1x" is not a
// code. ok is false when text does not start with one.
func ParseEnhancedCode(text string) (code EnhancedCode, ok bool) {
	code, _, ok = parseEnhancedCode(text)
	return code, ok
}

// parseEnhancedCode is ParseEnhancedCode that also returns the length of the
// code in text, which differs from len(code.String()) when a field has
// leading zeros ("5.01.1").
func parseEnhancedCode(text string) (code EnhancedCode, length int, ok bool) {
	if len(text) < 5 || text[1] != '.' {
		return EnhancedCode{}, 0, false
	}
	switch text[0] {
	case '2', '4', '5':
	default:
		return EnhancedCode{}, 0, false
	}
	subject, n := leadingNumber(text[2:])
	if n == 0 || 2+n >= len(text) || text[2+n] != '.' {
		return EnhancedCode{}, 0, false
	}
	rest := text[3+n:]
	detail, m := leadingNumber(rest)
	if m == 0 || (m < len(rest) && rest[m] != ' ') {
		return EnhancedCode{}, 0, false
	}
	return EnhancedCode{Class: int(text[0] - '0'), Subject: subject, Detail: detail}, 3 + n + m, true
}

// EnhancedCodeOf returns the enhanced status code that line starts with when
// its class agrees with the reply code's first digit (RFC 3463 §2: "the class
// ... must match the reply code's"), and the zero value otherwise.
func EnhancedCodeOf(code Code, line string) EnhancedCode {
	e, ok := ParseEnhancedCode(line)
	if !ok || e.Class != int(code.Class()) {
		return EnhancedCode{}
	}
	return e
}

// leadingNumber parses one to three decimal digits at the start of s and
// returns their value and count; a fourth digit makes the field invalid
// (count 0).
func leadingNumber(s string) (value, count int) {
	for count < len(s) && s[count] >= '0' && s[count] <= '9' {
		if count == 3 {
			return 0, 0
		}
		value = value*10 + int(s[count]-'0')
		count++
	}
	return value, count
}
