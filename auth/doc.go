// Package auth implements SASL (RFC 4422) mechanisms for SMTP AUTH: the
// client side of PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER, SCRAM-SHA-1,
// SCRAM-SHA-256 and their -PLUS variants with TLS channel binding,
// EXTERNAL and ANONYMOUS, and the server side of PLAIN, LOGIN, CRAM-MD5
// and SCRAM for test servers.
//
// A [Mechanism] is two methods on raw bytes, Start and Next; the SMTP layer
// (session) does the base64, the "=" that stands for an empty initial
// response, the "*" that cancels, and the safety checks: a mechanism that
// needs confidentiality ([NeedsConfidentiality]) is refused over an
// unencrypted connection unless the session knows the peer is on the same
// machine or the caller opts in, and a SCRAM mechanism is bound to the TLS connection
// ([ChannelBinder]) when there is one.
//
// Held back over an unencrypted connection, and why:
//
//   - PLAIN, LOGIN: the password crosses the wire.
//   - XOAUTH2, OAUTHBEARER: the bearer token crosses the wire; it is as
//     good as a password until it expires.
//   - CRAM-MD5: an eavesdropper can test password guesses offline against
//     the challenge and its HMAC-MD5, fast.
//   - SCRAM-SHA-1, SCRAM-SHA-256: the same, at a cost per guess the server
//     chooses (the iteration count); a server that strips STARTTLS can make
//     it nearly free. The -PLUS variants need TLS to start at all.
//   - any Mechanism that does not implement [ConfidentialityNeeder].
//
// Allowed: EXTERNAL (the credential is the TLS client certificate, outside
// SASL) and ANONYMOUS (trace information, no credential).
//
// A SCRAM client also refuses a server that announces fewer than
// [DefaultSCRAMMinIterations] (4096, RFC 7677 §4) iterations, over TLS or
// not: the count sets what each password guess against the exchange costs
// whoever holds it, the server included. [IterationLimiter] lowers the
// minimum for a server that needs it.
//
// Strength, strongest first, as a session's Login chooses:
// SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1,
// CRAM-MD5, PLAIN, LOGIN. SCRAM proves the password without sending it and
// makes the server prove it too; the -PLUS variants also prove that no one
// sits between client and server. CRAM-MD5 does not send the password but
// lets an eavesdropper try passwords offline. PLAIN and LOGIN send it.
//
// The package has no global state; a Mechanism value serves one exchange.
package auth
