package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"unicode"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// The kinds of error wrapped by [*ProxyError], [*TLSError] and [*MXError];
// test for them with errors.Is.
var (
	// ErrProxyRefused: the proxy answered, and said no. For HTTP CONNECT the
	// [ProxyError] carries the status.
	ErrProxyRefused = errors.New("proxy refused the connection")
	// ErrProxyProtocol: the proxy's answer is not the protocol it should
	// speak (a garbled HTTP status line or header, a connection closed
	// mid-response).
	ErrProxyProtocol = errors.New("malformed proxy response")
	// ErrProxyResponseTooLarge: the proxy's response headers went past
	// [MaxProxyHeaderBytes], or one line of them past 4 KiB.
	ErrProxyResponseTooLarge = errors.New("proxy response headers too large")
	// ErrProxyRequest: the CONNECT request could not be sent as asked: a
	// target address or header field that would break the request line.
	ErrProxyRequest = errors.New("invalid CONNECT request")
	// ErrNoServerName: a TLS client handshake without tls.Config.ServerName
	// and without InsecureSkipVerify, so there is nothing to verify the
	// certificate against. [ClientTLSConfig] fills ServerName in.
	ErrNoServerName = errors.New("no tls.Config.ServerName to verify the certificate against")
	// ErrNullMX: the domain publishes the null MX "0 ." (RFC 7505 §3): it
	// accepts no mail at all. Delivery to it fails permanently; do not retry.
	ErrNullMX = errors.New("domain accepts no mail (null MX, RFC 7505)")
	// ErrBadMX: the domain has MX records, but none names a usable host
	// (each exchanger is a malformed name, an IP address, a name with a
	// port, ...). The domain is misconfigured; its mail is not sent to the
	// implicit MX instead.
	ErrBadMX = errors.New("no valid mail exchanger name in the MX records")
)

// AddressError reports an address that [ParseAddress] refuses, or an
// [Address] or local address that cannot be dialed.
type AddressError struct {
	Input  string // the address as given
	Reason string // what is wrong with it
}

func (e *AddressError) Error() string {
	return "transport: address " + quote(e.Input) + ": " + logsafe.Escape(e.Reason)
}

// DialError reports a connection that could not be made to Addr. Err is the
// cause: a *net.OpError from the network, a [*ProxyError], a [*TLSError]
// for implicit TLS, an [*AddressError], or the context's error
// (errors.Is(err, context.Canceled) and context.DeadlineExceeded work).
type DialError struct {
	Addr Address
	Err  error
}

func (e *DialError) Error() string {
	return "transport: dial " + safe(e.Addr.network()) + " " + safe(e.Addr.String()) + ": " + causeFor(e.Addr.String(), dialCause(e.Err))
}

// dialCause is what to say of a dial's cause: for the *net.OpError a dial
// returns, its own cause, since its "dial tcp host:port" would repeat the
// DialError's.
func dialCause(err error) error {
	if op, ok := err.(*net.OpError); ok && op.Op == "dial" && op.Err != nil {
		return op.Err
	}
	return err
}

func (e *DialError) Unwrap() error { return e.Err }

// ProxyError reports a failure to reach Target through the proxy at Proxy.
// Err is one of [ErrProxyRefused], [ErrProxyProtocol],
// [ErrProxyResponseTooLarge] or [ErrProxyRequest] (wrapped, with detail),
// the error of the connection to the proxy, or the context's error.
type ProxyError struct {
	Protocol string // "SOCKS5" or "HTTP CONNECT"
	Proxy    string // the proxy's address
	Target   string // the address the proxy was asked to reach
	// StatusCode and Status are an HTTP proxy's answer when it refused
	// (Err is then ErrProxyRefused): 407 means it wants credentials, which
	// go in the Proxy-Authorization header given to [HTTPConnect]. Status
	// is the reason phrase, reduced to printable ASCII.
	StatusCode int
	Status     string
	Err        error
}

func (e *ProxyError) Error() string {
	var b strings.Builder
	b.WriteString("transport: ")
	b.WriteString(e.Protocol)
	b.WriteString(" proxy ")
	b.WriteString(safe(e.Proxy))
	b.WriteString(" to ")
	b.WriteString(safe(e.Target))
	b.WriteString(": ")
	b.WriteString(cause(e.Err))
	if e.StatusCode != 0 {
		b.WriteString(": ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		if e.Status != "" {
			b.WriteByte(' ')
			b.WriteString(e.Status)
		}
	}
	return b.String()
}

func (e *ProxyError) Unwrap() error { return e.Err }

// TLSError reports a TLS handshake that failed, after STARTTLS ([StartTLS])
// or for implicit TLS ([Dialer.ImplicitTLS]). Host is the name the
// certificate was checked against (tls.Config.ServerName). When the
// certificate did not verify, [TLSError.VerificationFailed] is true and the
// message says how to fix it: pass the CA in TLSConfig.RootCAs (see
// [LoadCertPool]), or turn TLS off.
type TLSError struct {
	Host string
	Err  error
	// Hint, when not empty, replaces the advice the message ends with when
	// the certificate did not verify: a caller that knows how its own
	// users pass a CA or turn TLS off says so here (package session names
	// its Options).
	Hint string
}

func (e *TLSError) Error() string {
	var b strings.Builder
	b.WriteString("transport: TLS handshake")
	if e.Host != "" {
		b.WriteString(" with ")
		b.WriteString(safe(e.Host))
	}
	b.WriteString(": ")
	b.WriteString(cause(e.Err))
	if e.VerificationFailed() {
		var he x509.HostnameError
		switch {
		case e.Hint != "":
			b.WriteString(" (")
			b.WriteString(logsafe.Escape(e.Hint))
			b.WriteString(")")
		case errors.As(e.Err, &he):
			b.WriteString(" (the certificate does not name this host: connect by a name it lists," +
				" or set TLSConfig.ServerName to one; to trust another certificate, pass its CA" +
				" in TLSConfig.RootCAs (transport.LoadCertPool reads a CA file); or turn TLS off)")
		default:
			b.WriteString(" (the server's certificate did not verify: pass the CA that issued it" +
				" in TLSConfig.RootCAs (transport.LoadCertPool reads a CA file), or turn TLS off)")
		}
	}
	return b.String()
}

func (e *TLSError) Unwrap() error { return e.Err }

// VerificationFailed reports whether the handshake failed because the
// server's certificate did not verify (an unknown authority, a name
// mismatch, an expired or otherwise invalid certificate), as opposed to a
// network or protocol failure.
func (e *TLSError) VerificationFailed() bool {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		sr  x509.SystemRootsError
	)
	return errors.As(e.Err, &cve) || errors.As(e.Err, &ua) || errors.As(e.Err, &he) ||
		errors.As(e.Err, &ci) || errors.As(e.Err, &sr)
}

// MXError reports a failed mail-exchanger lookup for Domain (RFC 5321
// §5.1). Err is [ErrNullMX], [ErrBadMX] (wrapped, with detail), the
// resolver's error (a *net.DNSError: check IsTemporary and IsTimeout to
// decide whether to retry), or an [*AddressError] for a domain that cannot
// be looked up.
type MXError struct {
	Domain string
	Err    error
}

func (e *MXError) Error() string {
	return "transport: MX lookup for " + quote(e.Domain) + ": " + causeFor(e.Domain, e.Err)
}

func (e *MXError) Unwrap() error { return e.Err }

// cause is the text of a wrapped error without a repeated "transport: ",
// escaped: a wrapped error's text can carry a peer's or a caller's control
// characters (certificate names, socket paths, addresses).
func cause(err error) string {
	if err == nil {
		return "unknown error"
	}
	return logsafe.Escape(strings.TrimPrefix(err.Error(), "transport: "))
}

// safe returns s for an error message: as it is when it is printable
// text, quoted otherwise.
func safe(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' {
			return quote(s)
		}
	}
	if len(s) > maxQuoted {
		return quote(s)
	}
	return s
}

// causeFor is cause, without an [*AddressError]'s repetition of input.
func causeFor(input string, err error) string {
	if ae, ok := err.(*AddressError); ok && ae.Input == input {
		return logsafe.Escape(ae.Reason)
	}
	return cause(err)
}

// maxQuoted is how much of a peer- or user-supplied string an error message
// shows.
const maxQuoted = 100

// quote renders s for an error message: Go-quoted, so control characters
// never reach a terminal or log raw, and cut after maxQuoted bytes.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
