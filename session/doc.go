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
// Errors are typed and carry the server's reply: [ConnectError],
// [HelloError], [AuthError], [SenderRefusedError],
// [RecipientsRefusedError], [DataError], [DeliveryError] (LMTP),
// [UnansweredError], [MessageTooLargeError], [NotSupportedError],
// [DisconnectedError], [TimeoutError], [UnexpectedReplyError],
// [DesyncError], [BodyError], [StateError]. Each one that
// carries a reply unwraps to a *response.Error, so
//
//	var re *response.Error
//	if errors.As(err, &re) && re.Temporary() { retry later }
//
// works whatever step failed.
//
// Security defaults (see DESIGN.md): STARTTLS is used whenever the server
// offers it, with certificate verification on; a certificate that does not
// verify is an error, never a silent fall back to plaintext. [TLSRequired]
// fails closed when STARTTLS is not offered. Bytes that arrive between the
// STARTTLS reply and the handshake are refused ([ErrDataAfterStartTLS]).
package session
