package session

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session/internal/msghdr"
	"github.com/smtpkit/smtpkit/transport"
)

var (
	// ErrServerDisconnected is what every [DisconnectedError] matches with
	// errors.Is: the other end ended the session — the server closed the
	// connection (with or without a 421), or the network broke it — where
	// a reply was expected (smtplib's SMTPServerDisconnected). Compare
	// [ErrClosed], which is this side's doing; the two never match each
	// other.
	ErrServerDisconnected = errors.New("session: server disconnected")

	// ErrClosed is returned by calls on a Client that its user closed
	// (Close, Quit), and on the zero Client, which was never connected.
	// Nothing went wrong with the server: this side ended the session. It
	// does not match [ErrServerDisconnected]. See also [ErrAborted].
	ErrClosed = errors.New("session: client closed")

	// ErrAborted is returned by calls on a Client, and on its
	// [DataWriter], after [DataWriter.Abort] closed the connection in the
	// middle of a message. The server never saw the end of the message,
	// so it did not accept it.
	ErrAborted = errors.New("session: message aborted: connection closed before the end of data")

	// ErrRcptParams is returned by the Send methods, before anything is
	// written, for an [Envelope] whose RcptParams is neither nil nor one
	// entry per recipient.
	ErrRcptParams = errors.New("session: Envelope.RcptParams must be nil or hold one entry per recipient")

	// ErrBadSequence is what every [StateError] matches with errors.Is.
	ErrBadSequence = errors.New("session: command out of sequence")

	// ErrInsecureAuth: a mechanism that carries a credential (every one
	// but EXTERNAL and ANONYMOUS: PLAIN, LOGIN, CRAM-MD5, SCRAM, XOAUTH2,
	// OAUTHBEARER; see auth.NeedsConfidentiality) was refused because the
	// connection is not encrypted and the peer is not known to be on this
	// machine. Nothing was sent. Use TLS, or set Options.AllowInsecureAuth
	// to accept the risk.
	ErrInsecureAuth = errors.New("session: refusing to send a secret over an unencrypted connection (use TLS, or set Options.AllowInsecureAuth)")

	// ErrDataAfterStartTLS means the server sent bytes after its reply to
	// STARTTLS and before the TLS handshake. Whatever they are, they were
	// sent in plaintext and would be read as if they came over TLS (the
	// STARTTLS command-injection class, CVE-2011-0411 and kin), so the
	// connection is closed.
	ErrDataAfterStartTLS = errors.New("session: server sent data after its STARTTLS reply, before the TLS handshake")
)

// ConnectError reports that no SMTP session could be opened: the dial
// failed (Err), or the server's greeting was not 220 (Reply, Err nil), as
// with a 554 "no service here" greeting (RFC 5321 §3.1). It is smtplib's
// SMTPConnectError.
type ConnectError struct {
	Addr  string
	Reply response.Reply // zero when Err is set
	Err   error
}

func (e *ConnectError) Error() string {
	addr := logsafe.Escape(e.Addr)
	if e.Err != nil {
		return "session: connect to " + addr + ": " + connectCause(e.Addr, e.Err)
	}
	return "session: " + addr + " refused the session: " + e.Reply.String()
}

// connectCause is the text of err without what "connect to addr" has
// said already: the address that a dial error or an address error names
// again, the "dial tcp addr" of the network error inside a dial error,
// and the package prefixes.
func connectCause(addr string, err error) string {
	var de *transport.DialError
	if errors.As(err, &de) && de.Addr.String() == addr {
		return dialCause(de.Err)
	}
	var ae *transport.AddressError
	if errors.As(err, &ae) && ae.Input == addr {
		return logsafe.Escape(ae.Reason)
	}
	return trimPrefixes(err.Error())
}

// dialCause is the text of a dial's cause: for the *net.OpError of a
// dial, what went wrong without the "dial tcp host:port" it starts with
// (and without the name of the system call: "connection refused").
func dialCause(err error) string {
	if op, ok := err.(*net.OpError); ok && op.Op == "dial" && op.Err != nil {
		err = op.Err
		if se, ok := err.(*os.SyscallError); ok && se.Err != nil {
			err = se.Err
		}
	}
	return logsafe.Escape(trimPrefixes(err.Error()))
}

// trimPrefixes removes the package prefix of an error wrapped in another
// one: "session: connect to x: session: server disconnected" says
// "session" once.
func trimPrefixes(s string) string {
	for _, p := range []string{"session: ", "transport: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

// Unwrap returns the dial error, or the greeting as a *response.Error.
func (e *ConnectError) Unwrap() error {
	if e.Err != nil {
		return e.Err
	}
	return e.Reply.Err("greeting")
}

// HelloError reports that the server refused both EHLO and HELO, or
// refused EHLO with a reply that does not allow a HELO retry (only 500 and
// 502 do: a 421 or a 550 is reported as itself). smtplib's SMTPHeloError.
type HelloError struct {
	Command string // "EHLO", "HELO" or "LHLO": the command Reply answers
	Reply   response.Reply
}

func (e *HelloError) Error() string {
	return fmt.Sprintf("session: %s refused: %s", e.Command, e.Reply)
}

// Unwrap returns the reply as a *response.Error.
func (e *HelloError) Unwrap() error { return e.Reply.Err(e.Command) }

// SenderRefusedError reports a MAIL command the server refused
// (smtplib's SMTPSenderRefused). The transaction was reset.
type SenderRefusedError struct {
	Sender string
	Reply  response.Reply
}

func (e *SenderRefusedError) Error() string {
	return fmt.Sprintf("session: sender <%s> refused: %s", e.Sender, e.Reply)
}

// Unwrap returns the reply as a *response.Error.
func (e *SenderRefusedError) Unwrap() error { return e.Reply.Err("MAIL") }

// RecipientsRefusedError reports that the server refused every recipient
// of a message (smtplib's SMTPRecipientsRefused), so nothing was sent. The
// transaction was reset. Recipients holds every recipient with its reply,
// in the order given.
type RecipientsRefusedError struct {
	Recipients []RecipientResult
}

func (e *RecipientsRefusedError) Error() string {
	var b strings.Builder
	b.WriteString("session: all recipients refused:")
	for i, r := range e.Recipients {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(e.Recipients)-3)
			break
		}
		fmt.Fprintf(&b, " <%s>: %s;", r.Address, r.Reply)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap returns the first recipient's reply as a *response.Error, so that
// errors.As finds a code to act on.
func (e *RecipientsRefusedError) Unwrap() error {
	if len(e.Recipients) == 0 {
		return nil
	}
	return e.Recipients[0].Reply.Err("RCPT")
}

// DataError reports that the server refused the message: DATA got no 354,
// or the reply after the data was not 2yz (smtplib's SMTPDataError).
// Command is "DATA" or "end of data"; only after the latter did the server
// see the message.
type DataError struct {
	Command string
	Reply   response.Reply
	// Result, from the Send methods, holds the replies to MAIL and each
	// RCPT that came before the refusal (nil from the low-level Data).
	Result *Result
}

func (e *DataError) Error() string {
	return fmt.Sprintf("session: message refused at %s: %s", e.Command, e.Reply)
}

// Unwrap returns the reply as a *response.Error.
func (e *DataError) Unwrap() error { return e.Reply.Err(e.Command) }

// NotSupportedError reports that the server does not offer an extension
// the call needs: STARTTLS in TLSRequired mode, SMTPUTF8 for an address
// with a UTF-8 local part, and so on (smtplib's SMTPNotSupportedError).
// It also reports an extension offered without anything the call can use
// in it: AUTH with only mechanisms [Client.Login] does not implement
// (Offered lists them). Nothing was sent for the call.
type NotSupportedError struct {
	Extension string
	Reason    string // why it was needed
	// Offered, when not nil, is what the server offers of Extension, none
	// of which will do.
	Offered []string
}

func (e *NotSupportedError) Error() string {
	if e.Offered != nil {
		return fmt.Sprintf("session: server offers %s %s only, and none of them is supported %s",
			e.Extension, logsafe.Escape(strings.Join(e.Offered, " ")), e.Reason)
	}
	return fmt.Sprintf("session: server does not offer %s, needed %s", e.Extension, e.Reason)
}

// AuthError reports a failed authentication (smtplib's
// SMTPAuthenticationError): the server refused (Reply holds its 535, 534,
// 454, 504 or other reply), the mechanism gave up (Err says why, and the
// exchange was cancelled with "*"; Reply is the answer to the cancel), or
// the client refused to run the mechanism at all (Err is
// [ErrInsecureAuth] and Reply is zero). It unwraps to the reply as a
// *response.Error, when there is one, and to Err.
type AuthError struct {
	Mechanism string
	Reply     response.Reply
	Err       error
}

func (e *AuthError) Error() string {
	s := "session: AUTH " + e.Mechanism
	switch {
	case e.Reply.Code != 0 && e.Err != nil:
		return s + ": " + e.Err.Error() + "; server: " + e.Reply.String()
	case e.Reply.Code != 0:
		return s + " refused: " + e.Reply.String()
	case e.Err != nil:
		return s + ": " + e.Err.Error()
	}
	return s + " failed"
}

func (e *AuthError) Unwrap() []error {
	var errs []error
	// Reply.Err is nil for a 2yz reply (a SCRAM server's unproven 235),
	// and Unwrap must not return nil elements.
	if re := e.Reply.Err("AUTH"); e.Reply.Code != 0 && re != nil {
		errs = append(errs, re)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// MessageTooLargeError reports a message larger than the limit the server
// announced with SIZE (RFC 1870). It is returned before MAIL is sent.
type MessageTooLargeError struct {
	Size, Limit int64
}

func (e *MessageTooLargeError) Error() string {
	return fmt.Sprintf("session: message of %d octets exceeds the server's SIZE limit of %d", e.Size, e.Limit)
}

// DisconnectedError reports that the connection ended, or failed, while
// Op was in progress. It matches [ErrServerDisconnected] with errors.Is
// and unwraps to the network error as well.
type DisconnectedError struct {
	Op  string
	Err error
}

func (e *DisconnectedError) Error() string {
	return fmt.Sprintf("session: server disconnected during %s: %v", e.Op, e.Err)
}

func (e *DisconnectedError) Unwrap() []error { return []error{ErrServerDisconnected, e.Err} }

// TimeoutError reports that Phase ran out of time while the Client
// waited on the server: its own timeout (see [Timeouts]) ran out, After
// that long, or the context's deadline passed (After is then 0). The
// connection is closed: where the server was in the exchange is unknown.
//
// Every TimeoutError matches os.ErrDeadlineExceeded with errors.Is; one
// caused by the context's deadline also matches context.DeadlineExceeded,
// and a phase timeout does not. So errors.As(err, &te) asks "did it time
// out?", and errors.Is(err, context.DeadlineExceeded) "was it the
// caller's deadline?". A context already done before a call writes
// anything is reported as the context's own error, and the connection
// stays open.
type TimeoutError struct {
	Phase string
	After time.Duration // the phase's timeout; 0 when the context's deadline passed
	Err   error
}

func (e *TimeoutError) Error() string {
	if e.After <= 0 {
		return fmt.Sprintf("session: %s: %v", e.Phase, e.Err)
	}
	return fmt.Sprintf("session: %s timed out after %s", e.Phase, e.After)
}

func (e *TimeoutError) Unwrap() []error { return []error{os.ErrDeadlineExceeded, e.Err} }

// Timeout reports true, for net.Error-style checks.
func (e *TimeoutError) Timeout() bool { return true }

// OptionsError reports Options that say one thing in two places, before
// any I/O: Field is set, and Use is where that setting belongs.
type OptionsError struct {
	Field string
	Use   string
}

func (e *OptionsError) Error() string {
	return fmt.Sprintf("session: Options.%s is not used: set %s instead", e.Field, e.Use)
}

// StateError reports a call made out of order (RCPT before MAIL, DATA
// with no accepted recipient, MAIL inside a transaction). Nothing was
// written. It matches [ErrBadSequence] with errors.Is.
type StateError struct {
	Op    string // the call or command refused
	State State  // where the session was, or why the call could not be made
}

func (e *StateError) Error() string {
	return fmt.Sprintf("session: %s not allowed %v", e.Op, e.State)
}

func (e *StateError) Unwrap() error { return ErrBadSequence }

// UnexpectedReplyError reports a reply of a kind the command cannot have
// (a 354 to RCPT, a 250 to DATA): the server and the client disagree on
// where they are in the exchange, so the connection is closed.
type UnexpectedReplyError struct {
	Command string
	Reply   response.Reply
}

func (e *UnexpectedReplyError) Error() string {
	return fmt.Sprintf("session: unexpected reply to %s: %s", e.Command, e.Reply)
}

// UnansweredError reports that the session ended before the server
// answered for a message: the connection broke or timed out, or the
// server closed it (a 421 or 221 to an earlier command), while Command
// and what followed it were still waiting for replies. Err is why the
// session ended, and what it unwraps to: a *DisconnectedError carrying
// the server's 421 (errors.As finds the *response.Error), a
// *TimeoutError, and so on.
//
// When MaybeDelivered is false the server cannot have accepted the
// message: its end was never written, or the server said it was closing
// before it got there. When it is true the whole message had been
// written and only the reply was lost: the message may have been
// delivered, and sending it again may deliver it twice. In LMTP,
// Recipients lists the accepted recipients without a reply after the
// message (the others' replies are in Result). For a message sent in
// several transactions (see Client.SendEnvelope), MaybeDelivered is set
// when an earlier one delivered it: Result says to whom, Recipients lists
// the recipients whose fate is not known.
type UnansweredError struct {
	Command        string // "MAIL", "RCPT", "DATA", "BDAT" or "end of data"
	MaybeDelivered bool
	Recipients     []string
	Result         *Result // the replies that did come
	Err            error
}

func (e *UnansweredError) Error() string {
	fate := "not delivered"
	if e.MaybeDelivered {
		fate = "fate unknown"
	}
	if len(e.Recipients) > 0 {
		return fmt.Sprintf("session: no reply to %s for %s, message %s for them: %v",
			e.Command, strings.Join(e.Recipients, ", "), fate, e.Err)
	}
	return fmt.Sprintf("session: no reply to %s, message %s: %v", e.Command, fate, e.Err)
}

func (e *UnansweredError) Unwrap() error { return e.Err }

// DesyncError reports that the server sent more than the commands asked
// for: bytes were left to read after the reply to After, with nothing
// pending. Client and server no longer agree on which reply answers which
// command, and a reply taken for the wrong command could report a message
// delivered that was not, so the connection is closed.
type DesyncError struct {
	After    string // the command whose reply came last
	Buffered int    // octets left unread
}

func (e *DesyncError) Error() string {
	return fmt.Sprintf("session: %d octets from the server after the reply to %s, with no command awaiting a reply: connection closed", e.Buffered, e.After)
}

// BodyError reports that reading the caller's message body failed. The
// connection was closed before the end of data, so the server did not
// accept the truncated message. It unwraps to the reader's error.
type BodyError struct {
	Err error
}

func (e *BodyError) Error() string {
	return fmt.Sprintf("session: reading the message: %v (connection closed before the end of data, so the server did not accept it)", e.Err)
}

func (e *BodyError) Unwrap() error { return e.Err }

// HeaderError reports that [Client.SendMessage] could not take the
// envelope from the message's header, or could not read the header.
// Nothing was sent, and the Client is still usable: give the envelope
// with [Client.Send] or [Client.SendEnvelope], or fix the header.
//
// It matches [ErrNoRecipients] with errors.Is when no To, Cc or Bcc field
// (Resent-To, Resent-Cc, Resent-Bcc for a resent message) holds an
// address. When reading the message failed, Err is the reader's error.
type HeaderError struct {
	Line   int    // the line of the header block at fault, from 1; 0 when no one line is
	Field  string // the field at fault, as written ("To", "resent-from"); "" when none
	Reason string // what is wrong, for people: "address does not parse: ..."
	Err    error  // ErrNoRecipients, the reader's error, or nil
}

func (e *HeaderError) Error() string {
	var b strings.Builder
	b.WriteString("session: message header: ")
	msghdr.WriteLocation(&b, e.Line, e.Field)
	b.WriteString(logsafe.Escape(e.Reason))
	return b.String()
}

func (e *HeaderError) Unwrap() error { return e.Err }
