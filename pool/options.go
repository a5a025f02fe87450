package pool

import (
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// Defaults of the Options fields left zero.
const (
	DefaultMaxConnections = 4
	DefaultIdleTimeout    = 30 * time.Second
	DefaultMaxAttempts    = 3
	DefaultBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
)

// Options configure a [Pool]. The zero value is ready to use: up to four
// connections, each kept for 30 seconds of idleness, three attempts per
// message, no rate limit, no login.
type Options struct {
	// Session configures every connection as it configures a
	// session.Client: TLS, LocalName, timeouts, LMTP, tracing. Its Trace
	// and Logger, when set, receive every connection's exchange, one
	// connection at a time per line but interleaved between connections.
	Session session.Options

	// MaxConnections bounds the connections open (or being opened) at
	// once; 0 means DefaultMaxConnections.
	MaxConnections int

	// MaxMessagesPerConnection, when positive, retires a connection (QUIT)
	// once it has taken that many messages, before the server's own
	// limit answers 421. A server's LIMITS MAILMAX (RFC 9422) retires it
	// too, whichever is lower; 0 means no limit but the server's.
	MaxMessagesPerConnection int

	// IdleTimeout is how long a connection waits for a message before it
	// is retired (QUIT); 0 means DefaultIdleTimeout, negative means it
	// waits until Close.
	IdleTimeout time.Duration

	// MaxAttempts bounds the attempts at each message, the first one
	// included; 0 means DefaultMaxAttempts, 1 means never retry. See the
	// package documentation for which outcomes are retried.
	MaxAttempts int
	// Backoff is the wait before the third attempt; each later one waits
	// twice as long as the one before, up to MaxBackoff, less a random
	// part of up to a half (so that messages refused together do not come
	// back together). The second attempt goes at once, on another
	// connection: most first failures are a connection the server had
	// closed, or its per-connection limit. 0 means DefaultBackoff and
	// DefaultMaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration

	// RetryUnknown retries a message whose fate is unknown (the
	// connection was lost after the whole message had gone out, before
	// the server's reply: see session.UnansweredError.MaybeDelivered).
	// The server may have accepted it, so a retry may deliver it twice.
	// Off by default: such a message is reported as it is.
	RetryUnknown bool

	// Rate, when positive, bounds the messages handed to connections, per
	// second, over the pool, with bursts of up to Burst (at least 1).
	// Retries count. 0 means no limit.
	Rate  float64
	Burst int
	// DialRate, when positive, bounds the new connections per second,
	// with bursts of up to DialBurst (at least 1). 0 means no limit.
	DialRate  float64
	DialBurst int

	// Credentials, when set, log every new connection in (after EHLO and
	// STARTTLS) before it takes a message. Over plaintext the session's
	// rules apply: see session.Options.AllowInsecureAuth.
	Credentials *Credentials

	// Dial, when set, makes the network connections in place of the
	// session's dialer (Session.Dialer.Dial): a test's wrapped connection,
	// a caller's own dialer. The address is dialled as session.Dial
	// parses it.
	Dial transport.DialFunc
}

// Credentials are what a pool logs in with on each new connection: a user
// name and password for session.Client.Login, or a fresh auth.Mechanism
// per connection for session.Client.Auth (a mechanism keeps state for one
// exchange, so one value cannot serve several connections). String and
// GoString never show the password.
type Credentials struct {
	Username string
	Password string
	// Mechanism, when set, is called for each new connection and used
	// instead of Username and Password: a token (auth.XOAUTH2,
	// auth.OAuthBearer), a client certificate (auth.External).
	Mechanism func() auth.Mechanism
}

// String describes c without its secrets.
func (c Credentials) String() string {
	if c.Mechanism != nil {
		return "pool.Credentials{Mechanism: [redacted]}"
	}
	return "pool.Credentials{Username: " + c.Username + ", Password: [redacted]}"
}

// GoString is String, so that %#v does not show the password either.
func (c Credentials) GoString() string { return c.String() }

// withDefaults returns o with every zero field at its default.
func (o Options) withDefaults() Options {
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = max(DefaultMaxBackoff, o.Backoff)
	}
	o.Burst = max(o.Burst, 1)
	o.DialBurst = max(o.DialBurst, 1)
	return o
}
