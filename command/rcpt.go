package command

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Rcpt is "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
// Forward-path ) [SP Rcpt-parameters] (RFC 5321 §4.1.1.3).
//
// Its line may exceed [MaxCommandLineLength] by 500 octets for NOTIFY and ORCPT
// (RFC 3461), and by the room extension parameters take.
type Rcpt struct {
	// To is the recipient. Mailbox{Local: "Postmaster"}, with no domain,
	// is the one recipient every server must accept.
	To     Mailbox
	Params RcptParams
	// SMTPUTF8 says that the transaction's MAIL command carried SMTPUTF8,
	// so To and parameter values may be UTF-8. It is not a RCPT parameter
	// and is not sent. Without it a U-label domain goes as A-labels. Parse
	// sets it when the line holds UTF-8.
	SMTPUTF8 bool
}

// RcptParams are the RCPT parameters. Each zero value leaves its parameter
// out.
type RcptParams struct {
	// Notify is NOTIFY=, when to send a DSN (RFC 3461 §4.1).
	Notify Notify
	// ORCPT is ORCPT=, the original recipient (RFC 3461 §4.2).
	ORCPT OriginalRecipient
	// Extra holds any other parameters, sent after the ones above in
	// order. NOTIFY and ORCPT are refused here.
	Extra []Param
}

// Notify is a set of NOTIFY conditions (RFC 3461 §4.1).
type Notify uint8

// The NOTIFY conditions. NotifyNever excludes the others.
const (
	NotifyNever Notify = 1 << iota
	NotifySuccess
	NotifyFailure
	NotifyDelay
)

var notifyNames = [...]struct {
	flag Notify
	name string
}{{NotifyNever, "NEVER"}, {NotifySuccess, "SUCCESS"}, {NotifyFailure, "FAILURE"}, {NotifyDelay, "DELAY"}}

// String returns the NOTIFY value as sent, "SUCCESS,FAILURE".
func (n Notify) String() string { return string(n.append(nil)) }

func (n Notify) append(dst []byte) []byte {
	first := true
	for _, f := range notifyNames {
		if n&f.flag != 0 {
			if !first {
				dst = append(dst, ',')
			}
			dst = append(dst, f.name...)
			first = false
		}
	}
	return dst
}

func (n Notify) valid() bool {
	const all = NotifyNever | NotifySuccess | NotifyFailure | NotifyDelay
	return n&^all == 0 && (n&NotifyNever == 0 || n == NotifyNever)
}

// OriginalRecipient is the ORCPT parameter: addr-type ";" address (RFC
// 3461 §4.2). The zero value leaves it out.
type OriginalRecipient struct {
	// Type is the address type: "rfc822" for an ASCII address, "utf-8"
	// for an internationalised one (RFC 6533 §3). Empty picks one of them
	// from Address.
	Type string
	// Address is the address as the sender gave it, decoded. It is
	// xtext-encoded on the wire; with type "utf-8", non-ASCII characters
	// and "+", "=", "\" and space go as \x{HEX} (RFC 6533 §3).
	Address string
}

// maxORCPTLength bounds addr-type ";" xtext (RFC 3461 §4.2).
const maxORCPTLength = 500

var rcptReserved = []string{"NOTIFY", "ORCPT"}

func (Rcpt) Verb() string { return "RCPT" }

// NeedsSMTPUTF8 reports whether the command can be sent only in an SMTPUTF8
// transaction: To has a UTF-8 local part, or a parameter value is UTF-8.
func (c Rcpt) NeedsSMTPUTF8() bool {
	return c.To.NeedsSMTPUTF8() || extraNeedsSMTPUTF8(c.Params.Extra)
}

func (c Rcpt) Append(dst []byte) ([]byte, error) {
	p := &c.Params
	if c.To.IsNull() {
		return dst, argError("RCPT", "TO", ErrMissing)
	}
	if !p.Notify.valid() {
		return dst, argError("RCPT", "NOTIFY", ErrSyntax)
	}
	orcptType, err := p.ORCPT.check()
	if err != nil {
		return dst, argError("RCPT", "ORCPT", err)
	}
	if err := checkExtra(p.Extra, rcptReserved, c.SMTPUTF8, "RCPT"); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, "RCPT TO:"...)
	dst, err = appendPath(dst, c.To, c.SMTPUTF8, "RCPT", "TO")
	if err != nil {
		return dst[:start], err
	}
	limit := MaxCommandLineLength + p.fixedAllowance()
	if p.Notify != 0 {
		dst = append(dst, " NOTIFY="...)
		dst = p.Notify.append(dst)
	}
	if orcptType != "" {
		dst = append(dst, " ORCPT="...)
		dst = append(dst, orcptType...)
		dst = append(dst, ';')
		dst = appendORCPTAddress(dst, orcptType, p.ORCPT.Address)
	}
	dst, n := appendExtra(dst, p.Extra)
	return finish(dst, start, limit+n, "RCPT")
}

// fixedAllowance is the room RFC 3461 adds for NOTIFY and ORCPT.
func (p *RcptParams) fixedAllowance() int {
	if p.Notify != 0 || p.ORCPT.Address != "" {
		return 500
	}
	return 0
}

// check validates o and returns the type to send, "" when o is absent.
func (o *OriginalRecipient) check() (string, error) {
	if o.Address == "" {
		if o.Type != "" {
			return "", ErrMissing
		}
		return "", nil
	}
	typ := o.Type
	if typ == "" {
		typ = "rfc822"
		if !isASCII(o.Address) {
			typ = "utf-8"
		}
	}
	if !isAtom(typ) {
		return "", syntaxOrIllegal(typ)
	}
	if err := checkText(o.Address, true); err != nil {
		return "", err
	}
	if equalFold(typ, "rfc822") && !isASCII(o.Address) {
		return "", ErrSyntax // RFC 6533 §3: such an address is of type "utf-8"
	}
	if len(typ)+1+orcptAddressLen(typ, o.Address) > maxORCPTLength {
		return "", ErrTooLong
	}
	return typ, nil
}

func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAtext(s[i]) {
			return false
		}
	}
	return true
}

func isUTF8AddrType(typ string) bool { return equalFold(typ, "utf-8") }

func appendORCPTAddress(dst []byte, typ, addr string) []byte {
	if !isUTF8AddrType(typ) {
		return AppendXtext(dst, addr)
	}
	for _, r := range addr {
		if r < 0x80 && isQChar(byte(r)) {
			dst = append(dst, byte(r))
			continue
		}
		dst = append(dst, `\x{`...)
		dst = appendUpperHex(dst, uint32(r))
		dst = append(dst, '}')
	}
	return dst
}

func orcptAddressLen(typ, addr string) int {
	if !isUTF8AddrType(typ) {
		return xtextLen(addr)
	}
	var buf [16]byte
	n := 0
	for _, r := range addr {
		if r < 0x80 && isQChar(byte(r)) {
			n++
			continue
		}
		n += 4 + len(appendUpperHex(buf[:0], uint32(r)))
	}
	return n
}

// appendUpperHex writes v in upper-case hex with at least two digits, the
// HEXPOINT form of RFC 6533.
func appendUpperHex(dst []byte, v uint32) []byte {
	digits := 2
	for v>>(4*digits) != 0 {
		digits++
	}
	for i := digits - 1; i >= 0; i-- {
		dst = append(dst, upperHex[(v>>(4*i))&0xf])
	}
	return dst
}

// decodeORCPTAddress reverses appendORCPTAddress.
func decodeORCPTAddress(typ, s string) (string, error) {
	if !isUTF8AddrType(typ) {
		return DecodeXtext(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			if c >= 0x80 {
				// utf-8-addr-unitext (RFC 6533 §3) carries UTF-8 raw.
				r, size := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError {
					return "", ErrIllegalChar
				}
				b.WriteString(s[i : i+size])
				i += size - 1
				continue
			}
			if !isQChar(c) {
				return "", syntaxOrIllegal(s[i : i+1])
			}
			b.WriteByte(c)
			continue
		}
		if !strings.HasPrefix(s[i:], `\x{`) {
			return "", ErrSyntax
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 5 || end > 9 {
			return "", ErrSyntax
		}
		v, err := strconv.ParseUint(s[i+3:i+end], 16, 32)
		if err != nil || v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF || strings.ContainsAny(s[i+3:i+end], "abcdef") {
			return "", ErrSyntax
		}
		b.WriteRune(rune(v))
		i += end
	}
	return b.String(), nil
}
