package session

import (
	"context"
	"errors"
	"io"
	"net"
	"os"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/transport"
)

// Temporary reports whether sending the message again later may succeed
// where err failed: what a mail queue asks to choose between "retry
// later" and "bounce" (smtplib's callers ask it of the reply code of an
// SMTPResponseException). For every non-nil error exactly one of
// Temporary and [Permanent] is true; for nil, neither.
//
// Temporary are:
//   - a 4yz reply, wherever it came (greeting, EHLO, AUTH, MAIL, RCPT,
//     DATA, the end of data), and a 421, or a 221 to anything but QUIT,
//     that ended the session;
//   - a *RecipientsRefusedError or, in LMTP, a *DeliveryError in which at
//     least one recipient got a 4yz (retry those; bounce the ones that
//     got a 5yz, whose replies are in the error);
//   - everything that ended the attempt before the server's verdict: a
//     *TimeoutError (a phase timeout or the context's deadline), a
//     cancelled context, a *DisconnectedError (ErrServerDisconnected), a
//     *DesyncError, an *UnexpectedReplyError, a malformed reply,
//     ErrDataAfterStartTLS, and an *UnansweredError that wraps one of
//     these;
//   - a dial that failed on the network (connection refused, no route, a
//     proxy that could not reach the server) and a TLS handshake the
//     network broke;
//   - ErrClosed and ErrAborted: this Client was closed, which says
//     nothing about the message;
//   - any error not from this module, as mail queues defer what they
//     cannot classify.
//
// Temporary does not mean the message was not delivered. After an
// *UnansweredError whose MaybeDelivered is true, or a *DesyncError (the
// replies it came with cannot be trusted), the server may hold the
// message: sending it again may deliver it twice. Retry such a message
// only if a duplicate is better than a loss.
//
// The Client itself is another question: after any error that closed the
// connection (see the package documentation) retry on a new one.
func Temporary(err error) bool { return err != nil && temporary(err) }

// Permanent reports whether sending the same message the same way will
// fail the same way: the message, as it is, should be bounced, or the
// configuration or the code that sends it fixed. For every non-nil error
// exactly one of [Temporary] and Permanent is true.
//
// Permanent are:
//   - a 5yz reply (a refused greeting, HELO, AUTH, sender, recipient or
//     message), and a *RecipientsRefusedError or *DeliveryError in which
//     every recipient got a 5yz;
//   - what this side refused before sending, since the server was not
//     even asked: *MessageTooLargeError, *NotSupportedError (the server
//     lacks an extension the message or the Options need: SMTPUTF8,
//     STARTTLS under TLSRequired, ...), ErrNoRecipients, ErrRcptParams,
//     *HeaderError, *LineTooLongError, an address or argument that cannot be sent (an error
//     of package command, matching one of its kinds: command.ErrSyntax,
//     ErrIllegalChar, ...), a *StateError (a call out of order:
//     ErrBadSequence), and an *OptionsError (Options that say one thing
//     twice);
//   - an *AuthError without a 4yz reply: credentials refused (535), a
//     mechanism that gave up, or ErrInsecureAuth;
//   - a TLS handshake that failed other than on the network (a
//     *transport.TLSError): a certificate that did not verify, no server
//     name to verify it against, no protocol version or cipher both
//     sides accept. A relay that suspects an attacker on the path may
//     prefer to defer these (RFC 8461 §5 asks as much under an MTA-STS
//     policy): test errors.As(err, &tlsErr) first;
//   - a *BodyError: reading the message failed;
//   - an address that cannot be dialled (a *transport.AddressError), a
//     host name that does not exist, a domain that accepts no mail
//     (transport.ErrNullMX, ErrBadMX), and a proxy that refuses the
//     request as made (transport.ErrProxyRequest, or HTTP 407).
func Permanent(err error) bool { return err != nil && !temporary(err) }

// temporary is Temporary for a non-nil error. The rules are tried in
// order, so an error that wraps several things is classified by the
// first that applies: what the server replied, then what this side
// refused, then how the attempt ended.
func temporary(err error) bool {
	// The server's verdict on the recipients, when it gave one per
	// recipient: one worth retrying makes the whole worth retrying.
	var rr *RecipientsRefusedError
	if errors.As(err, &rr) {
		for _, r := range rr.Recipients {
			if !r.Reply.Permanent() {
				return true
			}
		}
		return len(rr.Recipients) == 0
	}
	var de *DeliveryError
	if errors.As(err, &de) && de.Result != nil {
		for _, r := range de.Result.Recipients {
			if r.Accepted && !r.Data.Permanent() {
				return true
			}
		}
		return false
	}

	// A reply: 4yz, or a 221 that closed the session, is temporary.
	var re *response.Error
	if errors.As(err, &re) {
		return !re.Permanent()
	}

	// Refused by this side: sending the same again is refused again.
	var (
		be *BodyError
		he *HeaderError
		ts *MessageTooLargeError
		ns *NotSupportedError
		se *StateError
		ae *AuthError
		ce *command.Error
		ad *transport.AddressError
		lt *LineTooLongError
		oe *OptionsError
	)
	switch {
	case errors.As(err, &be), errors.As(err, &he), errors.As(err, &ts), errors.As(err, &ns),
		errors.As(err, &se), errors.As(err, &ae), errors.As(err, &ce), errors.As(err, &ad),
		errors.As(err, &lt), errors.As(err, &oe),
		isCommandKind(err),
		errors.Is(err, ErrNoRecipients), errors.Is(err, ErrRcptParams),
		errors.Is(err, ErrBadSequence), errors.Is(err, ErrInsecureAuth),
		errors.Is(err, transport.ErrNullMX), errors.Is(err, transport.ErrBadMX):
		return false
	}

	// The attempt ended before the verdict: time, cancellation, the
	// network.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrServerDisconnected) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}

	var te *transport.TLSError
	if errors.As(err, &te) {
		// A handshake the network broke may go through next time; one
		// that failed on what the two sides are (a certificate, versions,
		// ciphers, a peer that does not speak TLS) will not.
		var op *net.OpError
		return !te.VerificationFailed() && !errors.Is(err, transport.ErrNoServerName) && errors.As(te.Err, &op)
	}
	var pe *transport.ProxyError
	if errors.As(err, &pe) {
		return !errors.Is(err, transport.ErrProxyRequest) && pe.StatusCode != 407
	}
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false
	}
	return true
}

// isCommandKind reports whether err is one of package command's kinds of
// error: an address or argument that cannot be sent, whatever type
// carries it (*command.Error, or the *command.AddressError of ParseMailbox and ParseAddress).
func isCommandKind(err error) bool {
	for _, kind := range []error{command.ErrIllegalChar, command.ErrNeedsSMTPUTF8, command.ErrTooLong,
		command.ErrSyntax, command.ErrMissing, command.ErrDuplicate, command.ErrRange} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}
