// Package session is the SMTP client: it connects, greets, upgrades to TLS,
// runs mail transactions and reports exactly what the server said about each
// recipient. It is where the codec (wire), the command builders (command),
// the replies (response) and the dialers (transport) meet.
//
// A [Client] holds one connection and a state machine that follows RFC 5321
// §4.1.4: greeting, EHLO (or HELO), then transactions of MAIL, RCPT and DATA.
// Calls out of order are refused before anything is written. [Client.Send]
// runs a whole transaction the way Python's smtplib.sendmail does;
// [Client.SendMessage] takes the envelope from the message's own header, as
// send_message does. The low-level methods ([Client.Mail], [Client.Rcpt],
// [Client.Data], …) are there for per-recipient control.
//
// [Client.Login] authenticates with a password as smtplib's login does,
// choosing the strongest mechanism both sides support; [Client.Auth] runs
// any [auth.Mechanism]. A mechanism that carries a credential (all but
// EXTERNAL and ANONYMOUS, see auth.NeedsConfidentiality) is refused over an
// unencrypted connection unless the peer is known to be on this machine (a
// Unix socket, or a loopback address the Client dialled itself, not
// through a proxy) or Options.AllowInsecureAuth says otherwise.
//
// Every read has a bound (wire's limits, see [Limits]) and a deadline: the
// RFC 5321 §4.5.3.2 timeout of its phase ([Timeouts]) or the context's,
// whichever is sooner, and cancelling the context unblocks a read at once.
// After a network error, a timeout or a protocol violation the connection
// is closed and every later call returns the error that broke it.
//
// Every command the Client writes waits for its reply in one queue, in
// order, whichever way it was sent (one at a time, pipelined, in a
// stream, LMTP), so the same server replies give the same result on
// every path. The guarantees:
//   - every reply is matched to exactly one command; a reply nobody asked
//     for (bytes left once nothing is pending) closes the connection with
//     a [DesyncError];
//   - a 421 (or a 221 to anything but QUIT) answers the command it came
//     for and ends the session: the commands behind it are unanswered,
//     never taken for accepted, and later calls return an error that
//     carries that reply;
//   - each message ends delivered, refused with the server's reply, or
//     unanswered ([UnansweredError], whose MaybeDelivered says whether
//     the whole message had gone out), and is reported exactly once.
//
// # Errors
//
// Errors are typed values; use errors.As and errors.Is, never the text.
// Each one that carries a server reply unwraps to a *response.Error,
// whose Command names the command it answered by its verb ("MAIL",
// "RCPT", "DATA", "AUTH", ...) or "greeting" or "end of data", so
//
//	var re *response.Error
//	if errors.As(err, &re) { use re.Reply.Code, re.Reply.Enhanced, re.Reply.Message() }
//
// works whatever step failed. The types, by when they come:
//   - Connecting: [ConnectError] (the dial failed, wrapping a
//     *transport.DialError, or the greeting was not 220).
//   - Greeting and TLS: [HelloError] (EHLO and HELO refused); a
//     *transport.TLSError, as it is, when the STARTTLS handshake failed
//     (VerificationFailed reports a certificate that did not verify, and
//     the message says where the CA goes: Options.TLSConfig.RootCAs,
//     which transport.LoadCertPool fills from a file); [NotSupportedError]
//     (TLSRequired and no STARTTLS; an extension a call needs);
//     ErrDataAfterStartTLS.
//   - Logging in: [AuthError], matching ErrInsecureAuth when a credential
//     was held back over plaintext.
//   - A message refused: [SenderRefusedError], [RecipientsRefusedError],
//     [DataError], [DeliveryError] (LMTP: no recipient took it).
//   - A message not sent because of what this side found first:
//     [MessageTooLargeError], [NotSupportedError], [HeaderError]
//     (SendMessage), [LineTooLongError] (a line over 998 octets, under
//     Options.LongLines), ErrNoRecipients, ErrRcptParams, an error of package
//     command (*command.Error, *command.AddressError) for an address or
//     argument that cannot be sent, [StateError] (ErrBadSequence: a call
//     out of order; its State says where the session was),
//     [OptionsError] (Options that set one thing in two places).
//   - A message whose fate the server never told: [UnansweredError]
//     (see MaybeDelivered).
//   - The connection ending: [DisconnectedError] (ErrServerDisconnected:
//     the server or the network ended it), [TimeoutError] (a phase
//     timeout, or the context's deadline: errors.Is(err,
//     context.DeadlineExceeded) tells which), a cancelled context
//     (context.Canceled), [UnexpectedReplyError] and [DesyncError] (the
//     server broke the protocol), [BodyError] (reading the message
//     failed); ErrClosed (this side closed the Client, or it is the zero
//     Client) and ErrAborted (DataWriter.Abort closed it).
//
// # Retry or bounce
//
// [Temporary] and [Permanent] answer the question a mail queue asks of any
// error from this package, with exactly one of them true for every error:
//
//	switch {
//	case err == nil:                 // sent; res.Refused() lists refused recipients
//	case session.Temporary(err):     // queue it, retry later (on a new connection if this one is closed)
//	default:                         // Permanent: bounce it, or fix what sends it
//	}
//
// Temporary: a 4yz reply (and a 421 or unasked-for 221 that closed the
// session), any timeout, cancellation, disconnection or protocol breach,
// a network failure while dialling, ErrClosed and ErrAborted, and errors
// from elsewhere. Permanent: a 5yz reply, and everything this side
// refused before asking the server (too large, an extension missing, a
// bad address or header, a call out of order, credentials held back), a
// certificate that did not verify, a body that could not be read. A
// *RecipientsRefusedError or *DeliveryError is Temporary if any recipient
// got a 4yz. Temporary does not promise the message was not delivered: an
// *UnansweredError with MaybeDelivered set, or a *DesyncError, may hide a
// delivery, and a retry may then deliver it twice.
//
// # Security defaults
//
// STARTTLS is used whenever the server
// offers it, with certificate verification on; a certificate that does not
// verify is an error, never a silent fall back to plaintext. [TLSRequired]
// fails closed when STARTTLS is not offered. Bytes that arrive between the
// STARTTLS reply and the handshake are refused ([ErrDataAfterStartTLS]).
package session
