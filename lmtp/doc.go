// Package lmtp is the LMTP client (RFC 2033), Python smtplib's LMTP class:
// the SMTP client of package session speaking LHLO instead of EHLO, with
// one reply per accepted recipient after the message.
//
// LMTP is how a mail server hands messages to a local delivery agent
// (Dovecot, Cyrus) over a Unix socket or a TCP port of the caller's
// choosing: there is no well-known port. Because the delivery agent
// stores the message into each mailbox itself, it can succeed for one
// recipient and fail for another (a full mailbox, a quota); the result of
// a send says, per recipient, what happened:
//
//	for _, r := range res.Recipients {
//		switch lmtp.OutcomeOf(r) {
//		case lmtp.Delivered: ...
//		case lmtp.TemporaryFailure: retry r later
//		case lmtp.PermanentFailure, lmtp.Refused: bounce
//		}
//	}
//
// Partial delivery is not an error. Delivery to nobody is a
// *DeliveryError; a server that stops answering before every recipient
// has its reply is an *UnansweredError naming those whose fate is unknown.
//
// Everything else, MAIL and RCPT parameters, PIPELINING, CHUNKING, AUTH,
// STARTTLS, timeouts, tracing and the typed errors, is session's, shared
// rather than copied: a Client is a *session.Client in LMTP mode.
package lmtp
