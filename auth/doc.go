// Package auth implements SASL (RFC 4422) mechanisms for SMTP AUTH: the
// client side of PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER, SCRAM-SHA-1,
// SCRAM-SHA-256 and their -PLUS variants with TLS channel binding,
// EXTERNAL and ANONYMOUS, and the server side of PLAIN, LOGIN, CRAM-MD5
// and SCRAM for test servers.
//
// A [Mechanism] is two methods on raw bytes, Start and Next; the SMTP layer
// (session) does the base64, the "=" that stands for an empty initial
// response, the "*" that cancels, and the safety checks: a mechanism that
// reveals the secret ([RevealsSecret]) is refused over an unencrypted
// connection unless the peer is loopback or the caller opts in, and a SCRAM
// mechanism is bound to the TLS connection ([ChannelBinder]) when there is
// one.
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
