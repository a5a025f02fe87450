package command

import "encoding/base64"

// Auth is "AUTH" SP sasl-mech [SP initial-response] (RFC 4954 §4). The
// mechanism's bytes are base64-encoded here, so mechanisms (package auth)
// deal in raw bytes only.
type Auth struct {
	// Mechanism is the SASL mechanism name, 1 to 20 of A-Z, 0-9, "-"
	// and "_" (RFC 4422 §3.1); lower case is sent as given.
	Mechanism string
	// InitialResponse is sent base64-encoded. nil sends none; an empty,
	// non-nil slice sends "=", the empty initial response. The two differ:
	// with nil the server asks with an empty 334 challenge.
	//
	// An initial response that makes the line longer than MaxCommandLineLength is
	// an [ErrTooLong] error: RFC 4954 §4 then has the client send AUTH
	// without it and answer the empty challenge instead.
	InitialResponse []byte
}

// MaxAuthResponseLength is the longest base64 line, CRLF excluded, that a
// client may send in answer to a 334 challenge: RFC 4954 §4 names 12288
// octets as enough for deployed mechanisms, and Postfix enforces it.
const MaxAuthResponseLength = 12288

func (Auth) Verb() string { return "AUTH" }

func (c Auth) Append(dst []byte) ([]byte, error) {
	if err := checkMechanism(c.Mechanism); err != nil {
		return dst, argError("AUTH", "mechanism", err)
	}
	start := len(dst)
	dst = append(dst, "AUTH "...)
	dst = append(dst, c.Mechanism...)
	if c.InitialResponse != nil {
		if len(c.InitialResponse) > MaxCommandLineLength {
			// Settles it before encoding a large secret for nothing.
			return dst[:start], argError("AUTH", "line", ErrTooLong)
		}
		dst = append(dst, ' ')
		dst = appendAuthData(dst, c.InitialResponse)
	}
	return finish(dst, start, MaxCommandLineLength, "AUTH")
}

func appendAuthData(dst, data []byte) []byte {
	if len(data) == 0 {
		return append(dst, '=')
	}
	return base64.StdEncoding.AppendEncode(dst, data)
}

func checkMechanism(s string) error {
	if s == "" {
		return ErrMissing
	}
	if len(s) > 20 {
		return ErrTooLong
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetDig(c) && c != '-' && c != '_' {
			return syntaxOrIllegal(s[i : i+1])
		}
	}
	return nil
}

// AppendAuthResponse appends the client's answer to a 334 challenge (RFC
// 4954 §4): data base64-encoded, and CRLF. An empty answer is an empty
// line: "=" stands for an empty string only in the AUTH command's initial
// response, and servers such as Dovecot refuse it here ("Invalid base64
// data in continued response"). An answer longer than
// [MaxAuthResponseLength] is an [ErrTooLong] error.
func AppendAuthResponse(dst, data []byte) ([]byte, error) {
	if base64.StdEncoding.EncodedLen(len(data)) > MaxAuthResponseLength {
		return dst, argError("AUTH", "response", ErrTooLong)
	}
	dst = base64.StdEncoding.AppendEncode(dst, data)
	return append(dst, '\r', '\n'), nil
}

// AppendAuthCancel appends "*" CRLF, which abandons the exchange (RFC 4954
// §4); the server answers 501.
func AppendAuthCancel(dst []byte) []byte { return append(dst, '*', '\r', '\n') }

// ParseAuthResponse decodes a client's answer to a 334 challenge, with or
// without its CRLF, for servers. An empty line is the empty response, and
// so, leniently, is "=" (which some clients send, carrying the initial
// response's convention over); "*" returns [ErrAuthCanceled].
func ParseAuthResponse(line []byte) ([]byte, error) {
	line = trimCRLF(line)
	switch {
	case len(line) > MaxAuthResponseLength:
		return nil, argError("AUTH", "response", ErrTooLong)
	case len(line) == 1 && line[0] == '*':
		return nil, ErrAuthCanceled
	case len(line) == 0:
		return []byte{}, nil
	}
	return decodeAuthData(line, "response")
}

func decodeAuthData(s []byte, arg string) ([]byte, error) {
	if len(s) == 1 && s[0] == '=' {
		return []byte{}, nil
	}
	if len(s) == 0 {
		return nil, argError("AUTH", arg, ErrMissing)
	}
	if classes(string(s))&cCtl != 0 {
		// The base64 decoder would skip CR and LF; they are never data.
		return nil, argError("AUTH", arg, ErrIllegalChar)
	}
	out, err := base64.StdEncoding.Strict().AppendDecode(nil, s)
	if err != nil {
		return nil, argError("AUTH", arg, syntaxOrIllegal(string(s)))
	}
	return out, nil
}

func trimCRLF(line []byte) []byte {
	if n := len(line); n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' {
		return line[:n-2]
	}
	return line
}
