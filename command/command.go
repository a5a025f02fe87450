package command

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxCommandLineLength is the longest command line RFC 5321 §4.5.3.1.4 allows,
// verb and CRLF included. MAIL and RCPT get more room for each extension
// parameter they carry (see [Mail] and [Rcpt]); no other command does, not
// even AUTH (RFC 4954 §4: a client whose initial response does not fit
// sends it after the 334 instead).
const MaxCommandLineLength = 512

// Command is one command line. Append appends its wire form, CRLF included,
// to dst after checking every argument; on error it returns dst unchanged,
// so nothing half-built can be sent. It does not allocate when dst has room
// (a U-label domain that must become A-labels is the exception).
//
// The command types are plain values: build them with a composite literal,
// and get them back from [Parse].
type Command interface {
	// Verb is the command's name in upper case ("MAIL", "EHLO"), or a
	// [Raw] command's name as given.
	Verb() string
	Append(dst []byte) ([]byte, error)
}

// finish ends a line with CRLF and enforces limit on the whole line; on
// error it drops what was appended since start.
func finish(dst []byte, start, limit int, verb string) ([]byte, error) {
	dst = append(dst, '\r', '\n')
	if len(dst)-start > limit {
		return dst[:start], argError(verb, "line", ErrTooLong)
	}
	return dst, nil
}

// Helo is "HELO" SP Domain (RFC 5321 §4.1.1.1), the greeting of a client
// that does not speak ESMTP.
type Helo struct {
	// Domain is the client's name or address literal. U-labels are sent
	// as A-labels: no extension is negotiated yet that could carry them.
	Domain string
}

// Ehlo is "EHLO" SP ( Domain / address-literal ) (RFC 5321 §4.1.1.1).
type Ehlo struct {
	Domain string // as in [Helo]
}

// Lhlo is "LHLO" SP ( Domain / address-literal ), LMTP's EHLO (RFC 2033
// §4.1).
type Lhlo struct {
	Domain string // as in [Helo]
}

func (Helo) Verb() string { return "HELO" }
func (Ehlo) Verb() string { return "EHLO" }
func (Lhlo) Verb() string { return "LHLO" }

func (c Helo) Append(dst []byte) ([]byte, error) { return appendHello(dst, "HELO", c.Domain) }
func (c Ehlo) Append(dst []byte) ([]byte, error) { return appendHello(dst, "EHLO", c.Domain) }
func (c Lhlo) Append(dst []byte) ([]byte, error) { return appendHello(dst, "LHLO", c.Domain) }

func appendHello(dst []byte, verb, domain string) ([]byte, error) {
	if domain == "" {
		return dst, argError(verb, "domain", ErrMissing)
	}
	if err := checkDomainOrLiteral(domain); err != nil {
		return dst, argError(verb, "domain", err)
	}
	if !isASCII(domain) {
		a, err := idnaToASCII(domain)
		if err != nil {
			return dst, argError(verb, "domain", ErrSyntax)
		}
		domain = a
	}
	start := len(dst)
	dst = append(dst, verb...)
	dst = append(dst, ' ')
	dst = append(dst, domain...)
	return finish(dst, start, MaxCommandLineLength, verb)
}

// Data is "DATA" (RFC 5321 §4.1.1.4).
type Data struct{}

// Rset is "RSET" (RFC 5321 §4.1.1.5).
type Rset struct{}

// Quit is "QUIT" (RFC 5321 §4.1.1.10).
type Quit struct{}

// StartTLS is "STARTTLS" (RFC 3207 §4).
type StartTLS struct{}

func (Data) Verb() string     { return "DATA" }
func (Rset) Verb() string     { return "RSET" }
func (Quit) Verb() string     { return "QUIT" }
func (StartTLS) Verb() string { return "STARTTLS" }

func (Data) Append(dst []byte) ([]byte, error)     { return append(dst, "DATA\r\n"...), nil }
func (Rset) Append(dst []byte) ([]byte, error)     { return append(dst, "RSET\r\n"...), nil }
func (Quit) Append(dst []byte) ([]byte, error)     { return append(dst, "QUIT\r\n"...), nil }
func (StartTLS) Append(dst []byte) ([]byte, error) { return append(dst, "STARTTLS\r\n"...), nil }

// Bdat is "BDAT" SP chunk-size [SP "LAST"] (RFC 3030 §2); the chunk's
// octets follow the line. Package wire frames whole bodies into chunks.
type Bdat struct {
	Size int64
	Last bool
}

func (Bdat) Verb() string { return "BDAT" }

func (c Bdat) Append(dst []byte) ([]byte, error) {
	if c.Size < 0 {
		return dst, argError("BDAT", "chunk-size", ErrRange)
	}
	dst = append(dst, "BDAT "...)
	dst = strconv.AppendInt(dst, c.Size, 10)
	if c.Last {
		dst = append(dst, " LAST"...)
	}
	return append(dst, '\r', '\n'), nil
}

// Vrfy is "VRFY" SP String [SP "SMTPUTF8"] (RFC 5321 §4.1.1.6, RFC 6531
// §3.7.4.2): is Arg, a user name or mailbox, known here?
type Vrfy struct {
	// Arg is sent as is when it has no space, else as a quoted-string.
	Arg string
	// SMTPUTF8 asks for UTF-8 in the reply, and allows it in Arg.
	SMTPUTF8 bool
}

// Expn is "EXPN" SP String [SP "SMTPUTF8"] (RFC 5321 §4.1.1.7): the
// members of the mailing list Arg.
type Expn struct {
	Arg      string // as in [Vrfy]
	SMTPUTF8 bool   // as in [Vrfy]
}

// Help is "HELP" [SP String] (RFC 5321 §4.1.1.8).
type Help struct {
	Topic string // optional, ASCII
}

// Noop is "NOOP" [SP String] (RFC 5321 §4.1.1.9); the server ignores Arg.
type Noop struct {
	Arg string // optional, ASCII
}

func (Vrfy) Verb() string { return "VRFY" }
func (Expn) Verb() string { return "EXPN" }
func (Help) Verb() string { return "HELP" }
func (Noop) Verb() string { return "NOOP" }

// NeedsSMTPUTF8 reports whether Arg is UTF-8, so that the command can be
// sent only with SMTPUTF8 set, to a server that offers it.
func (c Vrfy) NeedsSMTPUTF8() bool { return !isASCII(c.Arg) }

// NeedsSMTPUTF8 is as for [Vrfy].
func (c Expn) NeedsSMTPUTF8() bool { return !isASCII(c.Arg) }

func (c Vrfy) Append(dst []byte) ([]byte, error) {
	return appendStringCommand(dst, "VRFY", c.Arg, true, c.SMTPUTF8)
}

func (c Expn) Append(dst []byte) ([]byte, error) {
	return appendStringCommand(dst, "EXPN", c.Arg, true, c.SMTPUTF8)
}

func (c Help) Append(dst []byte) ([]byte, error) {
	return appendStringCommand(dst, "HELP", c.Topic, false, false)
}

func (c Noop) Append(dst []byte) ([]byte, error) {
	return appendStringCommand(dst, "NOOP", c.Arg, false, false)
}

// appendStringCommand appends verb [SP String] [SP "SMTPUTF8"].
func appendStringCommand(dst []byte, verb, arg string, required, smtputf8 bool) ([]byte, error) {
	if arg == "" && required {
		return dst, argError(verb, "argument", ErrMissing)
	}
	if err := checkText(arg, smtputf8); err != nil {
		return dst, argError(verb, "argument", err)
	}
	start := len(dst)
	dst = append(dst, verb...)
	if arg != "" {
		dst = append(dst, ' ')
		if isToken(arg) {
			dst = append(dst, arg...)
		} else {
			dst = appendQuoted(dst, arg)
		}
	}
	if smtputf8 {
		dst = append(dst, " SMTPUTF8"...)
	}
	return finish(dst, start, MaxCommandLineLength, verb)
}

// checkText accepts printable text with spaces: ASCII, or UTF-8 when
// utf8ok.
func checkText(s string, utf8ok bool) error {
	cls := classes(s)
	if cls&cCtl != 0 {
		return ErrIllegalChar
	}
	if cls&cHigh != 0 {
		if !utf8.ValidString(s) {
			return ErrIllegalChar
		}
		if !utf8ok {
			return ErrNeedsSMTPUTF8
		}
	}
	return nil
}

// isToken reports whether a checked String argument can go without quotes:
// one word that a parser cannot take for a quoted-string.
func isToken(s string) bool {
	return s != "" && s[0] != '"' && strings.IndexByte(s, ' ') < 0
}

// Raw is any command line, for commands this package does not model
// (ETRN, XCLIENT, ...) and for session's Client.Do (smtplib's docmd). Name
// and Args are sent as given, separated by a space when Args is not empty;
// only CR, LF, NUL and the line length are checked, so a test harness can
// send what it likes.
type Raw struct {
	Name string
	Args string
}

func (c Raw) Verb() string { return c.Name }

func (c Raw) Append(dst []byte) ([]byte, error) {
	if c.Name == "" {
		return dst, argError("", "verb", ErrMissing)
	}
	for i := 0; i < len(c.Name); i++ {
		if ch := c.Name[i]; ch <= ' ' || ch == 0x7f {
			return dst, argError(safeName(c.Name), "verb", syntaxOrIllegal(c.Name[i:i+1]))
		}
	}
	if strings.ContainsAny(c.Args, "\r\n\x00") {
		return dst, argError(c.Name, "arguments", ErrIllegalChar)
	}
	start := len(dst)
	dst = append(dst, c.Name...)
	if c.Args != "" {
		dst = append(dst, ' ')
		dst = append(dst, c.Args...)
	}
	return finish(dst, start, MaxCommandLineLength, c.Name)
}
