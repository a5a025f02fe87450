package command

// Param is an ESMTP parameter of MAIL or RCPT that has no field of its own
// (RFC 5321 §4.1.2): esmtp-keyword ["=" esmtp-value].
type Param struct {
	// Keyword is (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"), matched without
	// regard to case.
	Keyword string
	// Value is sent after "=" when not empty: printable ASCII except "=",
	// or also UTF-8 in an SMTPUTF8 transaction (RFC 6531 §3.4).
	Value string
}

// checkExtra checks extension parameters: their grammar, that none names
// a parameter with a field of its own (in reserved), and that none repeats.
func checkExtra(extra []Param, reserved []string, utf8ok bool, verb string) error {
	for i, p := range extra {
		if !isKeyword(p.Keyword) {
			return argError(verb, "parameter "+safeName(p.Keyword), syntaxOrIllegal(p.Keyword))
		}
		for _, r := range reserved {
			if equalFold(p.Keyword, r) {
				// It has a field: two ways to set it would mean two
				// values on the wire.
				return argError(verb, "parameter "+p.Keyword, ErrDuplicate)
			}
		}
		for _, q := range extra[:i] {
			if equalFold(p.Keyword, q.Keyword) {
				return argError(verb, "parameter "+p.Keyword, ErrDuplicate)
			}
		}
		if err := checkValue(p.Value, utf8ok); err != nil {
			return argError(verb, "parameter "+p.Keyword, err)
		}
	}
	return nil
}

// appendExtra appends " KEYWORD[=VALUE]" for each parameter and returns
// how many octets it added.
func appendExtra(dst []byte, extra []Param) ([]byte, int) {
	n := len(dst)
	for _, p := range extra {
		dst = append(dst, ' ')
		dst = append(dst, p.Keyword...)
		if p.Value != "" {
			dst = append(dst, '=')
			dst = append(dst, p.Value...)
		}
	}
	return dst, len(dst) - n
}

func extraNeedsSMTPUTF8(extra []Param) bool {
	for _, p := range extra {
		if !isASCII(p.Value) {
			return true
		}
	}
	return false
}

func isKeyword(s string) bool {
	if s == "" || !isLetDig(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetDig(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// checkValue checks esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 when
// utf8ok; the empty value means "no value".
func checkValue(s string, utf8ok bool) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == 0x7f {
			return ErrIllegalChar
		}
		if c == ' ' || c == '=' {
			return ErrSyntax
		}
	}
	return checkText(s, utf8ok)
}

// safeName keeps a rejected keyword out of an error message when it holds
// control characters, so the message is safe to log.
func safeName(s string) string {
	if syntaxOrIllegal(s) == ErrIllegalChar || len(s) > 32 {
		return "(invalid)"
	}
	return s
}
