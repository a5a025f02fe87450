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
	// Command is the command line the reply answered ("RCPT TO:<bob@example.org>"),
	// with any secret already removed by whoever set it; empty when unknown or
	// when the reply answered no command (the greeting, the end of the data).
	Command string
}

// Error returns "response: 550 5.1.1 no such user (reply to RCPT TO:<bob@example.org>)",
// on one line whatever the reply's line count, with the reply's text and the
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
