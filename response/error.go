package response

import (
	"strings"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// Error is a transient (4yz) or permanent (5yz) reply as a Go error: the
// server refused a command. It carries the whole [Reply], so callers decide
// with errors.As and the code, never by parsing the message:
//
//	var re *response.Error
//	if errors.As(err, &re) && re.Temporary() {
//		// queue the message and retry later
//	}
type Error struct {
	Reply Reply
	// Command names what the reply answered, for programs to compare and
	// people to read: the command's verb in upper case, without its
	// arguments ("MAIL", "RCPT", "DATA", "BDAT", "AUTH", "EHLO", "VRFY"),
	// or, for a reply that answers no command line, "greeting" or "end of
	// data" (the reply after DATA's final "."; a BDAT LAST chunk's reply is
	// "BDAT"). Which recipient or mechanism it was is for the error that
	// wraps this one to say (package session's RecipientsRefusedError,
	// AuthError), and no address or credential reaches an error string
	// through here. Empty when unknown. Package session sets it so on every
	// path, the low-level calls and the Send methods alike.
	Command string
}

// Error returns "response: 550 5.1.1 no such user (reply to RCPT)", on one
// line whatever the reply's line count, with the reply's text and the
// command escaped as [Reply.String] escapes them.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("response: ")
	b.WriteString(e.Reply.String())
	if e.Command != "" {
		b.WriteString(" (reply to ")
		b.WriteString(logsafe.Escape(e.Command))
		b.WriteByte(')')
	}
	return b.String()
}

// Code returns the reply code.
func (e *Error) Code() Code { return e.Reply.Code }

// Temporary reports whether the failure is transient (4yz): the same command
// may succeed later, so a sender should queue and retry rather than bounce.
func (e *Error) Temporary() bool { return e.Reply.Transient() }

// Permanent reports whether the failure is permanent (5yz).
func (e *Error) Permanent() bool { return e.Reply.Permanent() }
