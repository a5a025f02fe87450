// Package msghdr takes the SMTP envelope of a message from the message's own
// header and cuts the Bcc fields out of it, reading only the header block.
// It is the piece behind session.SendMessage, the counterpart of Python's
// smtplib.SMTP.send_message.
//
// [Read] buffers the header block, at most [DefaultMaxHeaderBytes] of it
// unless told otherwise, and leaves the reader at the first byte of the
// body, so a caller streams the message as
//
//	env, header, err := msghdr.Read(br, 0)
//	// MAIL FROM:<env.From>, RCPT TO:<each of env.To>, DATA, then
//	// header followed by the rest of br.
//
// The header comes back as the same bytes that were read, line endings and
// folding included, less every Bcc and Resent-Bcc field. Lines end where
// the DATA encoder will end them: at CRLF, a bare LF or a bare CR, so what
// is a field here is a field on the wire.
//
// The envelope follows RFC 5322 §3.6 the way send_message does: with
// exactly one Resent-Date field, the Resent- fields (Resent-Sender, else
// Resent-From; Resent-To, Resent-Cc, Resent-Bcc); otherwise Sender, else
// From; To, Cc, Bcc. Where this package departs from Python, it says so at
// [Read].
package msghdr
