package command

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The kinds of [Error] and [AddressError]; test for them with errors.Is.
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
	Verb string // "MAIL", "EHLO", ...; empty for xtext
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

// AddressError reports an address that [ParseMailbox], [ParseAddress] or
// [MailboxFromAddress] cannot take: the input, where in it the trouble
// starts, and why, in words:
//
//	command: address "Bob <bob@example.org>": at offset 4: a display name is not part of a mailbox; use ParseAddress or write bob@example.org
//
// Err is the kind, one of the errors above ([ErrSyntax], [ErrIllegalChar],
// [ErrTooLong], [ErrMissing]), so errors.Is tells a command-injection
// attempt (CR, LF, NUL) apart from a typo. Commands that cannot be built
// and lines that cannot be parsed still report an [*Error].
type AddressError struct {
	// Address is the input as given; for MailboxFromAddress, the
	// mail.Address's Address field.
	Address string
	// Offset is the byte offset in Address of the first octet at fault:
	// len(Address) when something is missing at the end, and where the
	// addr-spec starts when the fault is its length as a whole.
	Offset int
	// Reason says what is wrong and, where it is clear, what to write
	// instead. Characters from the input appear escaped, in Go syntax.
	Reason string
	// Err is the kind: ErrSyntax, ErrIllegalChar, ErrTooLong or
	// ErrMissing.
	Err error
}

// maxQuotedAddress bounds how much of AddressError.Address its message
// repeats: more than any valid address, less than a screenful of a
// hostile one.
const maxQuotedAddress = 320

func (e *AddressError) Error() string {
	var b strings.Builder
	b.WriteString("command: address ")
	if len(e.Address) <= maxQuotedAddress {
		b.WriteString(strconv.Quote(e.Address))
	} else {
		cut := maxQuotedAddress
		for cut > 0 && !utf8.RuneStart(e.Address[cut]) {
			cut--
		}
		b.WriteString(strconv.Quote(e.Address[:cut]))
		b.WriteString("... (")
		b.WriteString(strconv.Itoa(len(e.Address)))
		b.WriteString(" octets)")
	}
	b.WriteString(": at offset ")
	b.WriteString(strconv.Itoa(e.Offset))
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

func (e *AddressError) Unwrap() error { return e.Err }
