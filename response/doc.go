// Package response holds what an SMTP, ESMTP or LMTP server says back: a
// [Reply] with its three-digit code, its enhanced status code (RFC 3463) when
// the server sent one, and its text lines; and [Error], a 4yz or 5yz reply as a
// Go error.
//
// The package does no I/O. Package wire reads replies off the connection; this
// package only describes them, so that every layer above (session, lmtp, the
// command-line tool, users' own code) speaks about replies in one vocabulary.
package response
