package session

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"

	"github.com/smtpkit/smtpkit/transport"
)

// TLSMode says when a Client uses TLS.
type TLSMode int

const (
	// TLSOpportunistic, the default, upgrades with STARTTLS (RFC 3207)
	// whenever the server offers it, verifying the certificate, and
	// continues in plaintext when it is not offered. Over a Unix socket
	// STARTTLS is not attempted in this mode.
	TLSOpportunistic TLSMode = iota
	// TLSRequired upgrades with STARTTLS and fails closed, before any
	// envelope is sent, when the server does not offer it.
	TLSRequired
	// TLSImplicit speaks TLS from the first byte (port 465, RFC 8314).
	TLSImplicit
	// TLSOff never uses TLS, even when offered.
	TLSOff
)

func (m TLSMode) String() string {
	switch m {
	case TLSOpportunistic:
		return "opportunistic"
	case TLSRequired:
		return "required"
	case TLSImplicit:
		return "implicit"
	case TLSOff:
		return "off"
	}
	return "TLSMode(?)"
}

// Timeouts bound each phase of the session. A zero field takes its
// default, the RFC 5321 §4.5.3.2 value where the RFC names one; a negative
// field means no timeout for that phase (the context still applies),
// except Connect, which is always bounded.
type Timeouts struct {
	Connect   time.Duration // dialing, proxies and implicit TLS; default (and when negative) 30s
	Greeting  time.Duration // the 220 greeting; default 5m
	Command   time.Duration // EHLO, STARTTLS handshake, RSET, NOOP, VRFY, QUIT and others; default 5m
	Mail      time.Duration // MAIL; default 5m
	Rcpt      time.Duration // each RCPT; default 5m
	DataInit  time.Duration // DATA until its 354; default 2m
	DataBlock time.Duration // each write of message data; default 3m
	DataEnd   time.Duration // from the final "." to its reply; default 10m
}

// defaultTimeouts are the values a zero Timeouts field takes. Not
// exported: a package variable callers could change would be global
// state shared by every Client.
var defaultTimeouts = Timeouts{
	Connect:   30 * time.Second,
	Greeting:  5 * time.Minute,
	Command:   5 * time.Minute,
	Mail:      5 * time.Minute,
	Rcpt:      5 * time.Minute,
	DataInit:  2 * time.Minute,
	DataBlock: 3 * time.Minute,
	DataEnd:   10 * time.Minute,
}

func pick(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func (t Timeouts) withDefaults() Timeouts {
	d := defaultTimeouts
	return Timeouts{
		Connect:   pick(t.Connect, d.Connect),
		Greeting:  pick(t.Greeting, d.Greeting),
		Command:   pick(t.Command, d.Command),
		Mail:      pick(t.Mail, d.Mail),
		Rcpt:      pick(t.Rcpt, d.Rcpt),
		DataInit:  pick(t.DataInit, d.DataInit),
		DataBlock: pick(t.DataBlock, d.DataBlock),
		DataEnd:   pick(t.DataEnd, d.DataEnd),
	}
}

// Limits bound what the client reads. A zero field takes its default.
type Limits struct {
	// ReplyLineLength bounds one line of a reply, in octets with its line
	// ending; default wire.DefaultMaxReplyLineLength, 8192.
	ReplyLineLength int
	// ReplyLines bounds the lines of one reply; default
	// wire.DefaultMaxReplyLines, 512.
	ReplyLines int
	// ReplyBytes bounds one reply, in octets; default
	// wire.DefaultMaxReplyBytes, 64 KiB.
	ReplyBytes int
	// MessageHeaderBytes bounds the header [Client.SendMessage] reads to
	// take the envelope from (the body then streams); default 1 MiB, far
	// above what servers accept (Postfix's header_size_limit is 100 KiB).
	MessageHeaderBytes int
	// AuthChallengeLength bounds one AUTH challenge, in decoded octets,
	// before it reaches the Mechanism; default auth.MaxChallengeLength,
	// 4096, which is also what the mechanisms of package auth parse. A
	// Mechanism of your own with larger challenges (GSSAPI tokens can be
	// tens of KiB) needs it raised, and Reply limits to carry them.
	AuthChallengeLength int
	// AuthChallenges bounds the 334 challenges of one AUTH exchange;
	// default 16. The longest real mechanism (SCRAM) takes two; a server
	// that keeps challenging is cut off with "*".
	AuthChallenges int
}

// defaultAuthChallenges is Limits.AuthChallenges' default.
const defaultAuthChallenges = 16

// Options configure a Client. The zero value is ready to use: opportunistic
// STARTTLS with verified certificates, RFC 5321 timeouts, wire's limits.
type Options struct {
	// LocalName is the name sent with EHLO and HELO. The default is the
	// host's name when it is a fully qualified domain name, and otherwise
	// the address literal of the connection's local address ("[192.0.2.1]",
	// "[IPv6:2001:db8::1]"), as RFC 5321 §4.1.4 prefers to a bare name.
	LocalName string

	// TLS says when TLS is used; see [TLSMode].
	TLS TLSMode
	// TLSConfig is used for STARTTLS and implicit TLS. Nil means a default
	// config. ServerName, when empty, is taken from the address dialled;
	// certificates are verified unless the config says otherwise. To trust
	// a private CA or a self-signed server, set RootCAs to the pool
	// transport.LoadCertPool reads from its PEM file.
	TLSConfig *tls.Config

	// AllowInsecureAuth lets every mechanism that carries a credential
	// (auth.NeedsConfidentiality: PLAIN, LOGIN, CRAM-MD5, SCRAM, XOAUTH2,
	// OAUTHBEARER) run over an unencrypted connection to a peer that is
	// not known to be local. Anyone on the path can then read the password
	// or token, or test password guesses against what was sent. Leave it
	// off unless the network itself is trusted.
	//
	// Without it, credentials go in plaintext only to a peer known to be on
	// this machine: with [Dial], a Unix socket, or an address that is
	// loopback both as asked for and as reached, without a proxy; with
	// [NewClient], only a *net.UnixConn. NewClient cannot tell where the
	// bytes of any other connection go (a connection through a local SOCKS
	// or HTTP CONNECT proxy reports 127.0.0.1 and reaches a remote server),
	// so over a TCP connection to loopback that you made yourself, set
	// AllowInsecureAuth to say it stays on the machine.
	AllowInsecureAuth bool

	// LMTP makes the Client speak LMTP (RFC 2033) instead of SMTP: LHLO in
	// place of EHLO (there is no HELO), no default port, and after the
	// message one reply per accepted recipient, which the Send methods
	// report in each RecipientResult.Data. It is the one switch: package
	// lmtp's Dial and NewClient set it and add the LMTP vocabulary
	// (lmtp.OutcomeOf); set it here where a session.Options is all there
	// is, as in pool.Options.Session.
	LMTP bool

	// DisablePipelining stops the Send methods from pipelining (RFC 2920)
	// even when the server offers PIPELINING: each command then waits for
	// its reply. For servers that offer it and get it wrong.
	DisablePipelining bool
	// DisableChunking stops the Send methods from using BDAT (RFC 3030)
	// even when the server offers CHUNKING; messages go with DATA, and a
	// BODY=BINARYMIME message cannot be sent.
	DisableChunking bool
	// ChunkSize is the size of the BDAT chunks; 0 means
	// wire.DefaultChunkSize (1 MiB). Smaller chunks cost a reply each.
	ChunkSize int
	// LongLines says what the Send methods, and a [DataWriter], do with
	// a message line over 998 octets; the zero value refuses it, before
	// MAIL when the body can be read beforehand. See [LongLines].
	LongLines LongLines

	// Timeouts per phase; see [Timeouts].
	Timeouts Timeouts
	// Limits on replies; see [Limits].
	Limits Limits

	// Dialer makes the connection in [Dial]: source address, proxies, a
	// custom dial function. TLS, TLSConfig and Timeouts.Connect above are
	// the one place for what the Dialer's ImplicitTLS, TLSConfig and
	// Timeout would say: Dial refuses a Dialer that sets any of them with
	// an *OptionsError, rather than choose between two settings.
	Dialer *transport.Dialer

	// Trace, when set, receives the protocol exchange as text, one line per
	// command or reply line, prefixed "C: " or "S: " (smtplib's
	// set_debuglevel). Secrets in AUTH exchanges are replaced; message data
	// is summarised, not copied.
	Trace io.Writer
	// Logger, when set, receives the same exchange as Debug records
	// ("dir": "C" or "S", "line": the line), each with the attributes
	// "server" (the address dialled, or the connection's remote address)
	// and "conn" (the connection's local address and port, or a random id
	// where it has none, as over a Unix socket), so that the records of
	// concurrent sessions can be told apart.
	Logger *slog.Logger

	// Progress, when set, is called after each write of message data with
	// the number of body octets written so far (before dot-stuffing).
	Progress func(written int64)
}
