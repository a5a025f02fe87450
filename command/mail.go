package command

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mail is "MAIL FROM:" Reverse-path [SP Mail-parameters] (RFC 5321
// §4.1.1.2), which starts a transaction.
//
// Its line may exceed [MaxCommandLineLength] by the room each extension grants its
// parameter: SIZE 26 octets (RFC 1870), BODY 16 (RFC 6152), SMTPUTF8 10
// (RFC 6531), RET and ENVID together 100 (RFC 3461), AUTH 500 (RFC 4954
// §5); REQUIRETLS, MT-PRIORITY, BY and extension parameters get the room
// they take.
type Mail struct {
	// From is the reverse-path; the zero Mailbox is the null path "<>",
	// used for bounces.
	From   Mailbox
	Params MailParams
}

// MailParams are the MAIL parameters. Each zero value leaves its parameter
// out.
type MailParams struct {
	// Size is the message size in octets, SIZE=n (RFC 1870); sent when
	// greater than zero.
	Size int64
	// Body is BODY=7BIT, 8BITMIME (RFC 6152) or BINARYMIME (RFC 3030).
	Body Body
	// SMTPUTF8 makes this an internationalised transaction (RFC 6531):
	// From, the recipients and parameter values may then hold UTF-8.
	SMTPUTF8 bool
	// Ret is RET=FULL or RET=HDRS: what a failure DSN returns (RFC 3461).
	Ret Ret
	// EnvID is ENVID, the envelope identifier that DSNs quote (RFC 3461):
	// printable ASCII, at most 100 octets once xtext-encoded.
	EnvID string
	// Auth is AUTH=, the authenticated submitter (RFC 4954 §5): an
	// addr-spec, or "<>" when it is unknown. It is xtext-encoded on the
	// wire.
	Auth string
	// RequireTLS is REQUIRETLS (RFC 8689): relay only over verified TLS.
	RequireTLS bool
	// MTPriority is MT-PRIORITY, -9 to 9 (RFC 6710); nil leaves it out,
	// since 0 is a priority of its own.
	MTPriority *int
	// By is BY=, the delivery deadline (RFC 2852); nil leaves it out.
	By *DeliverBy
	// Extra holds any other parameters, sent after the ones above in
	// order. A keyword that has a field here is refused.
	Extra []Param
}

// Body is the BODY parameter's value.
type Body string

// The bodies of RFC 6152 and RFC 3030.
const (
	Body7Bit       Body = "7BIT"
	Body8BitMIME   Body = "8BITMIME"
	BodyBinaryMIME Body = "BINARYMIME" // needs BDAT (RFC 3030 §3)
)

// Ret is the RET parameter's value (RFC 3461 §4.3).
type Ret string

// The RET values.
const (
	RetFull    Ret = "FULL" // the whole message
	RetHeaders Ret = "HDRS" // only its headers
)

// DeliverBy is the BY parameter (RFC 2852 §4): deliver within Time
// seconds, or else act as Mode says.
type DeliverBy struct {
	// Time is the by-time in seconds, at most 9 digits either side of
	// zero. With ByNotify it must be positive.
	Time int64
	Mode ByMode
	// Trace asks for a delay DSN on every relay (the "T" flag).
	Trace bool
}

// ByMode is what to do when the deadline passes.
type ByMode byte

// The BY modes.
const (
	ByNotify ByMode = 'N' // deliver anyway, send a delay DSN
	ByReturn ByMode = 'R' // give up and return the message
)

// mailReserved are the MAIL keywords that have a field in MailParams.
var mailReserved = []string{"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH", "REQUIRETLS", "MT-PRIORITY", "BY"}

// Limits of RFC 3461 §4 and RFC 2852 §4.
const (
	maxEnvIDLength = 100
	maxAuthLength  = 500
	maxByTime      = 999999999
)

func (Mail) Verb() string { return "MAIL" }

// NeedsSMTPUTF8 reports whether the command can be sent only with the
// SMTPUTF8 parameter: From has a UTF-8 local part, or a parameter value is
// UTF-8.
func (c Mail) NeedsSMTPUTF8() bool {
	return c.From.NeedsSMTPUTF8() || extraNeedsSMTPUTF8(c.Params.Extra)
}

func (c Mail) Append(dst []byte) ([]byte, error) {
	p := &c.Params
	if err := p.check(); err != nil {
		return dst, err
	}
	if !c.From.IsNull() && c.From.Domain == "" {
		// <Postmaster> alone is a recipient, never a sender.
		return dst, argError("MAIL", "FROM domain", ErrMissing)
	}
	start := len(dst)
	dst = append(dst, "MAIL FROM:"...)
	dst, err := appendPath(dst, c.From, p.SMTPUTF8, "MAIL", "FROM")
	if err != nil {
		return dst[:start], err
	}
	limit := MaxCommandLineLength + p.fixedAllowance()
	if p.Size > 0 {
		dst = append(dst, " SIZE="...)
		dst = strconv.AppendInt(dst, p.Size, 10)
	}
	if p.Body != "" {
		dst = append(dst, " BODY="...)
		dst = append(dst, p.Body...)
	}
	if p.SMTPUTF8 {
		dst = append(dst, " SMTPUTF8"...)
	}
	if p.Ret != "" {
		dst = append(dst, " RET="...)
		dst = append(dst, p.Ret...)
	}
	if p.EnvID != "" {
		dst = append(dst, " ENVID="...)
		dst = AppendXtext(dst, p.EnvID)
	}
	if p.Auth != "" {
		dst = append(dst, " AUTH="...)
		dst = AppendXtext(dst, p.Auth)
	}
	n := len(dst)
	if p.RequireTLS {
		dst = append(dst, " REQUIRETLS"...)
	}
	if p.MTPriority != nil {
		dst = append(dst, " MT-PRIORITY="...)
		dst = strconv.AppendInt(dst, int64(*p.MTPriority), 10)
	}
	if p.By != nil {
		dst = append(dst, " BY="...)
		dst = strconv.AppendInt(dst, p.By.Time, 10)
		dst = append(dst, ';', byte(p.By.Mode))
		if p.By.Trace {
			dst = append(dst, 'T')
		}
	}
	dst, _ = appendExtra(dst, p.Extra)
	limit += len(dst) - n
	return finish(dst, start, limit, "MAIL")
}

// fixedAllowance is the room that the RFCs of SIZE, BODY, SMTPUTF8,
// RET/ENVID and AUTH add to the line; the other parameters get their own
// length.
func (p *MailParams) fixedAllowance() int {
	n := 0
	if p.Size > 0 {
		n += mailAllowance("SIZE")
	}
	if p.Body != "" {
		n += mailAllowance("BODY")
	}
	if p.SMTPUTF8 {
		n += mailAllowance("SMTPUTF8")
	}
	if p.Ret != "" || p.EnvID != "" {
		n += mailAllowance("RET")
	}
	if p.Auth != "" {
		n += mailAllowance("AUTH")
	}
	return n
}

// mailAllowance is the room a MAIL parameter's RFC grants the line, or 0
// when it grants none in numbers. RET and ENVID share theirs.
func mailAllowance(keyword string) int {
	switch keyword {
	case "SIZE":
		return 26 // RFC 1870
	case "BODY":
		return 16 // RFC 6152
	case "SMTPUTF8":
		return 10 // RFC 6531
	case "RET", "ENVID":
		return 100 // RFC 3461
	case "AUTH":
		return 500 // RFC 4954
	}
	return 0
}

// check validates everything but From, before anything is appended.
func (p *MailParams) check() error {
	if p.Size < 0 {
		return argError("MAIL", "SIZE", ErrRange)
	}
	switch p.Body {
	case "", Body7Bit, Body8BitMIME, BodyBinaryMIME:
	default:
		return argError("MAIL", "BODY", ErrSyntax)
	}
	switch p.Ret {
	case "", RetFull, RetHeaders:
	default:
		return argError("MAIL", "RET", ErrSyntax)
	}
	if err := checkEnvID(p.EnvID); err != nil {
		return argError("MAIL", "ENVID", err)
	}
	if err := checkAuthParam(p.Auth); err != nil {
		return argError("MAIL", "AUTH", err)
	}
	if p.MTPriority != nil && (*p.MTPriority < -9 || *p.MTPriority > 9) {
		return argError("MAIL", "MT-PRIORITY", ErrRange)
	}
	if p.By != nil {
		if err := p.By.check(); err != nil {
			return argError("MAIL", "BY", err)
		}
	}
	return checkExtra(p.Extra, mailReserved, p.SMTPUTF8, "MAIL")
}

func (b *DeliverBy) check() error {
	if b.Mode != ByNotify && b.Mode != ByReturn {
		return ErrSyntax
	}
	if b.Time < -maxByTime || b.Time > maxByTime || b.Mode == ByNotify && b.Time <= 0 {
		return ErrRange
	}
	return nil
}

// checkEnvID: printable ASCII (RFC 3461 §4.4), 100 octets as xtext.
func checkEnvID(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			if c >= 0x80 {
				return ErrSyntax
			}
			return ErrIllegalChar
		}
	}
	if xtextLen(s) > maxEnvIDLength {
		return ErrTooLong
	}
	return nil
}

// checkAuthParam: "<>" or an addr-spec (RFC 4954 §5), 500 octets as xtext.
// It checks the local part as written rather than decoding it, so that
// building MAIL stays free of allocations.
func checkAuthParam(s string) error {
	if s == "" || s == "<>" {
		return nil
	}
	if xtextLen(s) > maxAuthLength {
		return ErrTooLong
	}
	if classes(s)&cCtl != 0 || !utf8.ValidString(s) {
		return ErrIllegalChar
	}
	var local string
	if s[0] == '"' {
		n, _, err := scanQuoted(s)
		if err != nil {
			return ErrSyntax
		}
		if n > MaxLocalPartLength {
			return ErrTooLong
		}
		local = s[:n]
	} else {
		local = s[:max(strings.IndexByte(s, '@'), 0)]
		if quote, err := checkLocal(local, true); err != nil || quote {
			return ErrSyntax
		}
	}
	if len(local) == len(s) || s[len(local)] != '@' {
		return ErrSyntax
	}
	if err := checkDomainOrLiteral(s[len(local)+1:]); err != nil {
		return ErrSyntax
	}
	return nil
}
