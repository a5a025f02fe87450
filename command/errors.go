package command

import (
	"errors"
	"strings"
)

// The kinds of [Error]; test for them with errors.Is.
var (
	// ErrIllegalChar: CR, LF, NUL or another control character, or bytes
	// that are not UTF-8, in an argument. This is the command-injection
	// guard: nothing that could end a line early ever reaches the wire.
	ErrIllegalChar = errors.New("illegal character")
	// ErrNeedsSMTPUTF8: non-ASCII text where only an SMTPUTF8 transaction
	// (RFC 6531) may carry it.
	ErrNeedsSMTPUTF8 = errors.New("non-ASCII text needs SMTPUTF8")
	// ErrTooLong: an argument or the whole line is over its RFC limit.
	ErrTooLong = errors.New("too long")
	// ErrSyntax: the argument does not follow its grammar.
	ErrSyntax = errors.New("syntax error")
	// ErrMissing: a required argument is absent.
	ErrMissing = errors.New("missing argument")
	// ErrDuplicate: a parameter given more than once.
	ErrDuplicate = errors.New("parameter given twice")
	// ErrRange: a number outside the range its RFC allows.
	ErrRange = errors.New("value out of range")
	// ErrAuthCanceled: the client answered a 334 challenge with "*"
	// (RFC 4954 §4).
	ErrAuthCanceled = errors.New("authentication canceled by the client")
)

// Error reports a command that cannot be built, or a line that cannot be
// parsed, and names the argument at fault. Err is one of the kinds above.
type Error struct {
	Verb string // "MAIL", "EHLO", ...; empty for a lone address or xtext
	Arg  string // "FROM", "SIZE", "domain", "line", ...
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("command: ")
	if e.Verb != "" {
		b.WriteString(e.Verb)
		b.WriteByte(' ')
	}
	if e.Arg != "" {
		b.WriteString(e.Arg)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// withVerb fills in the verb of an error raised by a helper that did not
// know it; other errors pass through.
func withVerb(err error, verb string) error {
	var ce *Error
	if errors.As(err, &ce) && ce.Verb == "" {
		return &Error{Verb: verb, Arg: ce.Arg, Err: ce.Err}
	}
	return err
}

func argError(verb, arg string, kind error) error {
	return &Error{Verb: verb, Arg: arg, Err: kind}
}
