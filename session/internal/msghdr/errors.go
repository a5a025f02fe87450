package msghdr

import (
	"errors"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// The kinds of [Error]; test for them with errors.Is.
//
// ErrHeaderTooLarge and ErrMalformed are read errors: [Read] returns no
// header with them. The others are envelope errors: they come inside an
// [*EnvelopeError], and the header was read whole and is returned.
var (
	// ErrHeaderTooLarge: the header block is longer than the bound given
	// to Read.
	ErrHeaderTooLarge = errors.New("header block too large")
	// ErrMalformed: a line in the header block is neither a header field
	// ("Name: value") nor the continuation of one.
	ErrMalformed = errors.New("line is neither a header field nor a continuation")
	// ErrBadAddress: an address field the envelope is taken from does not
	// parse as an RFC 5322 address list.
	ErrBadAddress = errors.New("address does not parse")
	// ErrMultipleResent: more than one Resent-Date field, so more than one
	// Resent- block, and no telling which one is this resending (RFC 5322
	// §3.6.6).
	ErrMultipleResent = errors.New("several Resent- blocks; give the envelope explicitly")
	// ErrNoSender: neither a Sender nor a From field (or, for a resent
	// message, neither Resent-Sender nor Resent-From).
	ErrNoSender = errors.New("no sender field")
	// ErrNoRecipients: the To, Cc and Bcc fields (or their Resent-
	// counterparts) hold no address, or are absent.
	ErrNoRecipients = errors.New("no recipients")
)

// Error is one problem in a header, with where it is. Err is one of the
// kinds above.
type Error struct {
	Line   int    // line of the header block, from 1; 0 when no one line is at fault
	Field  string // the field's name as written ("To", "resent-from"); "" when none
	Err    error  // the kind
	Detail string // what exactly; may be empty (Error escapes what is not printable)
}

// Error returns a one-line message such as
// `msghdr: line 3: field "To": address does not parse: expected "," after an address`.
// It never holds a control character: whatever came from the input is
// escaped.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("msghdr: ")
	WriteLocation(&b, e.Line, e.Field)
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(logsafe.Escape(e.Detail))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// WriteLocation writes where in a header an error is, `line 3: field "To": `,
// leaving out a line of 0 and an empty field name; the name is quoted in
// ASCII, since it came from the message.
func WriteLocation(b *strings.Builder, line int, field string) {
	if line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(line))
		b.WriteString(": ")
	}
	if field != "" {
		b.WriteString("field ")
		b.WriteString(strconv.QuoteToASCII(field))
		b.WriteString(": ")
	}
}

// EnvelopeError is returned by [Read] when the header was read whole, and
// is returned with r at the body, but the envelope could not be taken from
// it. Sender and Recipients say which half failed; the other half of the
// returned [Envelope] is good. A caller that has its own sender, its own
// recipients or both can go on with the header.
//
// errors.Is sees through it to the kinds: errors.Is(err, ErrNoRecipients).
type EnvelopeError struct {
	Sender     *Error // nil when Envelope.From is good
	Recipients *Error // nil when Envelope.To is good
}

func (e *EnvelopeError) Error() string {
	switch {
	case e.Sender == nil && e.Recipients == nil:
		return "msghdr: no envelope"
	case e.Recipients == nil || e.Recipients == e.Sender:
		return e.Sender.Error()
	case e.Sender == nil:
		return e.Recipients.Error()
	}
	return e.Sender.Error() + "; " + strings.TrimPrefix(e.Recipients.Error(), "msghdr: ")
}

// Unwrap returns the errors of the halves that failed.
func (e *EnvelopeError) Unwrap() []error {
	var errs []error
	if e.Sender != nil {
		errs = append(errs, e.Sender)
	}
	if e.Recipients != nil && e.Recipients != e.Sender {
		errs = append(errs, e.Recipients)
	}
	return errs
}

// excerpt returns at most the first 40 bytes of a line, without its line
// ending, for an error's Detail (which printable escapes).
func excerpt(line []byte) string {
	line = trimEOL(line)
	const max = 40
	if len(line) > max {
		return strconv.Quote(string(line[:max])) + "..."
	}
	return strconv.Quote(string(line))
}
