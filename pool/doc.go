// Package pool sends mail from many goroutines over a bounded set of
// connections to one server, honouring the server's limits and reporting
// what became of every message exactly once.
//
// A [Pool] opens connections as messages need them, up to
// Options.MaxConnections, and keeps them for the messages that follow.
// Each connection pipelines: it takes the messages waiting for a
// connection at that moment and sends them back to back in one
// session.Client.SendStream (with PIPELINING and CHUNKING, one write for
// the lot), so many goroutines calling [Pool.Send] at once share a few
// round trips. One idle connection at a time gathers: messages handed
// over together go out together on it, rather than one to each idle
// connection, as long as the server answers fast (a round trip then costs
// about as much for one message as for a hundred). Once the server takes
// 200 µs or more per message (its round trips over their messages), a
// connection takes only its share of the messages in flight, and the
// rest go to the others, which the server then works on at once.
// [Pool.SendStream] spreads a stream of messages over the connections and
// yields the outcomes in input order.
//
// A connection retires (QUIT, then close) once it has taken
// Options.MaxMessagesPerConnection messages or the MAILMAX the server
// announced with LIMITS (RFC 9422), whichever is lower; once it has been
// idle for Options.IdleTimeout; and when the server ends it (a 421) or
// the connection breaks (then it is closed without QUIT). Before a
// connection that has been used takes another message, the pool checks
// that the server has not closed it meanwhile (nor sent anything to it):
// one that it has is closed and replaced, and the message waits for the
// new one, so a server's idle timeout costs a reconnection, not a message.
//
// # What happens to each message
//
// Every message handed to the pool ends in exactly one of four
// [Outcome]s, which [OutcomeOf] reads from the error:
//
//   - Delivered: the server accepted it. The error is nil; the
//     *session.Result holds every reply (and the refused recipients, if
//     some were: that is not an error, as in package session).
//   - Refused: the server refused it with a reply, which the error
//     carries: a *session.SenderRefusedError, *RecipientsRefusedError,
//     *DataError or *DeliveryError. Not delivered.
//   - Unknown: the whole message went out and the connection was lost
//     before the server's reply to it (a *session.UnansweredError with
//     MaybeDelivered set), or the server answered out of step (a
//     *session.DesyncError). The server may have it.
//   - NotSent: it was not delivered, and the server never judged it:
//     it was never written, or the server closed the connection before
//     its end (an *session.UnansweredError without MaybeDelivered), on
//     every attempt; or no connection could be opened for it (the
//     session's *ConnectError, *HelloError, *AuthError ...); or the
//     context ended, or the pool closed, while it waited; or it was
//     refused before sending (too large for the server's SIZE, a bad
//     address, a header without an envelope, an extension missing).
//
// The retry rule. The pool sends a message again, on another connection,
// only when it is certain the server does not have it:
//
//   - never written, or written but unanswered when the session ended
//     before its end of data went out (an *session.UnansweredError
//     without MaybeDelivered: the connection broke, or the server closed
//     it with a 421 to an earlier command);
//   - refused with a 421 (the server closing the connection: its
//     per-connection limit, a shutdown), wherever the 421 came;
//   - no connection could be opened, for a reason that may pass (the
//     network, a 4yz greeting or login reply).
//
// A message whose fate is unknown is not sent again, since that may
// deliver it twice, unless Options.RetryUnknown says a duplicate is
// better than a loss. A refusal with any other reply is reported as it
// is, 4yz included: whether and when to try a 450 or 452 again is the
// decision of the caller's queue (see session.Temporary), not the
// pool's. A message refused before sending is not retried either.
//
// Each message has at most Options.MaxAttempts attempts (3 by default):
// an attempt is a connection taking the message, or a connection that
// could not be opened for it. The second goes at once; later ones wait
// Options.Backoff, doubling. After the last, the message is reported with
// the last attempt's error. Two things cost no attempt: a connection
// that finds itself closed before it takes a message hands it back, and
// a message pipelined behind one that the server answered with 421 (its
// limit reached) was never judged, so it goes again at once; the message
// whose own command got the 421 pays the attempt.
//
// A retry reads the body again: a body that is an io.Seeker (a
// *bytes.Reader, *strings.Reader, *os.File) is sought back to where it
// was when the message was handed over; any other reader is read into
// memory first (unless MaxAttempts is 1). So a caller must not touch the
// body until the message's outcome is reported.
//
// # Contexts
//
// The context of a Send call bounds the wait for a connection (and the
// rate limit, and the waits between attempts). Once a connection has
// taken the message, its outcome is waited for, whatever the context:
// the session's timeouts (session.Timeouts) bound that wait, and
// [Pool.Close] with a context that ends cuts it short. A Send whose
// context ends while it waits returns the last attempt's error, or the
// context's error when there was none: the message is NotSent.
//
// The session layer (package session) does the protocol; this package
// only decides where and when a message goes. Recipients refused with
// 452 (too many recipients) and RCPTMAX are the session's business.
package pool
