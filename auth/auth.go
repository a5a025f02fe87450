package auth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
)

// A Mechanism is the client side of one SASL exchange (RFC 4422). It works
// on raw bytes: base64, the "=" that stands for an empty initial response
// and the "*" that cancels belong to the protocol (session, RFC 4954).
//
// Start returns the mechanism's name and its initial response. A nil
// initial response means "none, wait for a challenge"; an empty non-nil one
// is sent as "=" (RFC 4954 §4). Next answers one server challenge.
//
// When Next returns both a response and an error, the response must still
// be sent (XOAUTH2 and OAUTHBEARER answer an error challenge before the
// server gives its final reply) and the error explains the failure. When it
// returns an error and a nil response, the exchange is cancelled.
//
// A Mechanism is used for one exchange only.
type Mechanism interface {
	Start() (mech string, initial []byte, err error)
	Next(challenge []byte) ([]byte, error)
}

// MaxChallengeLength is the longest server challenge, in decoded octets,
// that the mechanisms of this package parse, and the default of what a
// session passes to any Mechanism (session.Limits.AuthChallengeLength).
// Real challenges to these mechanisms are a few hundred octets at most (a
// SCRAM server-first message, an OAuth error document); a longer one is
// refused with [ErrChallengeTooLong] rather than parsed.
const MaxChallengeLength = 4096

// Errors of the mechanisms. Each is matched with errors.Is; most arrive
// wrapped in a *ProtocolError or the session's *AuthError.
var (
	// ErrChallengeTooLong: the server sent a challenge longer than
	// [MaxChallengeLength].
	ErrChallengeTooLong = errors.New("auth: server challenge too long")
	// ErrUnexpectedChallenge: a challenge arrived after the mechanism had
	// nothing more to say.
	ErrUnexpectedChallenge = errors.New("auth: unexpected server challenge")
	// ErrServerSignature: the SCRAM server could not prove that it knows
	// the password (RFC 5802 §3), so it is not the server the password is
	// for. The exchange is cancelled even if the server would accept it.
	ErrServerSignature = errors.New("auth: SCRAM server signature does not verify")
	// ErrNoChannelBinding: a -PLUS mechanism was started without TLS
	// channel-binding data (see [ChannelBinder]).
	ErrNoChannelBinding = errors.New("auth: channel binding needs a TLS connection")
	// ErrInvalidCredentials: a server mechanism rejected the user name or
	// the password (SMTP reply 535).
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrBadInput: a credential a mechanism cannot encode (a NUL in a PLAIN
	// user name, a string SASLprep prohibits, and so on).
	ErrBadInput = errors.New("auth: credential cannot be encoded")
)

// ProtocolError reports a malformed message in a SASL exchange: a server
// challenge a client mechanism cannot parse, or a client response a server
// mechanism cannot parse. It matches errors.Is(err, Err).
type ProtocolError struct {
	Mechanism string
	Reason    string
	Err       error // optional cause
}

func (e *ProtocolError) Error() string {
	s := "auth: " + e.Mechanism + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(mech, format string, args ...any) *ProtocolError {
	return &ProtocolError{Mechanism: mech, Reason: fmt.Sprintf(format, args...)}
}

// A SecretRevealer is a Mechanism that says whether it puts the secret
// itself (a password, a bearer token) on the wire. Mechanisms that do not
// implement SecretRevealer are treated as revealing the secret: the safe
// assumption.
//
// Revealing the secret is one of the reasons a mechanism needs an
// encrypted connection, not the only one: sessions decide with
// [NeedsConfidentiality], which also holds back CRAM-MD5 and SCRAM.
type SecretRevealer interface {
	RevealsSecret() bool
}

// RevealsSecret reports whether m sends its secret in a form an
// eavesdropper can reuse: true for PLAIN, LOGIN, XOAUTH2, OAUTHBEARER and
// any Mechanism that does not say otherwise. It does not say whether m
// may run in plaintext; see [NeedsConfidentiality].
func RevealsSecret(m Mechanism) bool {
	if r, ok := m.(SecretRevealer); ok {
		return r.RevealsSecret()
	}
	return true
}

// A ConfidentialityNeeder is a Mechanism that says whether it must only
// run over a connection nobody else can read or alter (TLS, or one that
// never leaves the machine). Mechanisms that do not implement it are
// treated as needing one: the safe assumption, which also applies to a
// Mechanism that implements only [SecretRevealer].
type ConfidentialityNeeder interface {
	NeedsConfidentiality() bool
}

// NeedsConfidentiality reports whether m gives an eavesdropper or a man in
// the middle something to use when it runs over an unencrypted
// connection. A session refuses such a mechanism over an unencrypted
// connection to anything but a loopback peer, unless the caller opts in.
//
// It is true for every mechanism here that carries a credential:
//
//   - PLAIN and LOGIN send the password.
//   - XOAUTH2 and OAUTHBEARER send a bearer token, which whoever reads it
//     can use until it expires.
//   - CRAM-MD5 sends an HMAC-MD5 of the server's challenge keyed with the
//     password: anyone who sees the exchange can test password guesses
//     against it offline, fast, and a man in the middle chooses the
//     challenge.
//   - SCRAM (and -PLUS, which cannot start without TLS anyway) sends a
//     proof from which password guesses can be tested offline too; a
//     server that strips STARTTLS also chooses the salt and the iteration
//     count (see [IterationLimiter]).
//
// It is false for EXTERNAL, whose credential is outside SASL (the TLS
// client certificate), and ANONYMOUS, which carries only trace
// information. Any other Mechanism needs confidentiality unless it
// implements [ConfidentialityNeeder] and says otherwise.
func NeedsConfidentiality(m Mechanism) bool {
	if r, ok := m.(ConfidentialityNeeder); ok {
		return r.NeedsConfidentiality()
	}
	return true
}

// ChannelBinding is the data that ties a SASL exchange to the TLS
// connection it runs over (RFC 5056): its type name, as it appears in a
// SCRAM gs2 header, and its data.
type ChannelBinding struct {
	Type string // "tls-exporter" (RFC 9266) or "tls-unique" (RFC 5929)
	Data []byte
}

// exporterLabel is the RFC 9266 §2 label for tls-exporter.
const exporterLabel = "EXPORTER-Channel-Binding"

// ChannelBindingFor returns the channel binding of a TLS connection: with
// TLS 1.3, tls-exporter (RFC 9266); with TLS 1.2, tls-unique (RFC 5929),
// which crypto/tls gives for full handshakes and for resumed sessions with
// the extended master secret, the cases where it is safe (RFC 7677 §4).
// Both sides of a connection get the same value.
func ChannelBindingFor(cs *tls.ConnectionState) (ChannelBinding, error) {
	if cs == nil || !cs.HandshakeComplete {
		return ChannelBinding{}, ErrNoChannelBinding
	}
	if cs.Version >= tls.VersionTLS13 {
		data, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
		if err != nil {
			return ChannelBinding{}, fmt.Errorf("auth: tls-exporter: %w", err)
		}
		return ChannelBinding{Type: "tls-exporter", Data: data}, nil
	}
	if len(cs.TLSUnique) == 0 {
		return ChannelBinding{}, fmt.Errorf("%w: a resumed TLS 1.2 session without extended master secret has no safe binding", ErrNoChannelBinding)
	}
	return ChannelBinding{Type: "tls-unique", Data: append([]byte(nil), cs.TLSUnique...)}, nil
}

// A ChannelBinder is a Mechanism that can bind the exchange to the TLS
// connection: the SCRAM mechanisms. A session calls SetChannelBinding
// before Start when the connection is TLS and has binding data, saying
// whether the server offers any -PLUS mechanism (it then supports channel
// binding). A -PLUS
// mechanism uses the data; a plain SCRAM mechanism only learns that the
// client could have bound, and when the server does not offer -PLUS says
// so in its gs2 header ("y"), which lets a server that does offer -PLUS
// detect a downgrade by a man in the middle (RFC 5802 §6).
type ChannelBinder interface {
	SetChannelBinding(cb ChannelBinding, serverOffersPlus bool)
}

// A ServerVerifier is a Mechanism that authenticates the server as well
// (SCRAM). A session treats the server's success reply as a failure unless
// ServerVerified reports true by then: a server that skips its proof may
// not be the server the password is for.
type ServerVerifier interface {
	ServerVerified() bool
}

// A Server is the server side of one SASL exchange, for test servers such
// as smtptest.
//
// Next is called first with the client's initial response (nil when there
// was none, empty non-nil for "="), then with each response to a
// challenge. It returns a challenge to send, or done. When done, err is nil
// for success and otherwise says why the client failed
// ([ErrInvalidCredentials], a *ProtocolError). A challenge may be returned
// with done (SCRAM's server-final message): send it, then the outcome.
type Server interface {
	Next(response []byte) (challenge []byte, done bool, err error)
	// Identity is the authenticated user after a successful exchange.
	Identity() string
}

// ServerConfig is what a server mechanism needs to know.
type ServerConfig struct {
	// Password returns a user's password, and false for an unknown user.
	// Servers here keep passwords in the clear: they are for tests.
	Password func(user string) (password string, ok bool)
	// Hostname goes into CRAM-MD5 challenges; default "localhost".
	Hostname string
	// ChannelBinding is the connection's channel binding (see
	// [ChannelBindingFor]); its zero value means the connection is not TLS,
	// and -PLUS mechanisms are then refused.
	ChannelBinding ChannelBinding
	// SCRAMIterations is the PBKDF2 iteration count SCRAM servers announce;
	// default 4096, the RFC 7677 minimum.
	SCRAMIterations int
}

// ServerMechanisms lists the mechanisms [NewServer] implements, strongest
// first.
func ServerMechanisms() []string {
	return PasswordMechanisms()
}

// NewServer returns the server side of mech (case-insensitive), or an
// error when it is not one of [ServerMechanisms] or cfg lacks what it needs.
func NewServer(mech string, cfg ServerConfig) (Server, error) {
	if cfg.Password == nil {
		return nil, errors.New("auth: ServerConfig.Password is nil")
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	switch m := strings.ToUpper(mech); m {
	case "PLAIN":
		return newPlainServer(cfg), nil
	case "LOGIN":
		return newLoginServer(cfg), nil
	case "CRAM-MD5":
		return newCRAMMD5Server(cfg), nil
	case "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS":
		return newSCRAMServer(m, cfg)
	}
	return nil, fmt.Errorf("auth: no server mechanism %q", mech)
}
