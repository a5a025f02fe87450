package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// DefaultTimeout bounds connecting when [Dialer.Timeout] is zero, and each
// of [StartTLS], [SOCKS5] and [HTTPConnect] when their context has no
// deadline. RFC 5321 §4.5.3.2.1 gives the server five minutes for its
// greeting; connecting, a proxy exchange and a TLS handshake need far less.
const DefaultTimeout = 30 * time.Second

var (
	noDeadline   time.Time
	aLongTimeAgo = time.Unix(1, 0)
)

// DialFunc makes a connection, like net.Dialer.DialContext: network is
// "tcp" (or "tcp4", "tcp6", "unix") and address is "host:port" or a socket
// path. It must return when ctx is done.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dialer connects to mail servers. The zero value dials directly, without
// TLS, with [DefaultTimeout]. A Dialer may be used by several goroutines at
// once, as long as its fields do not change.
type Dialer struct {
	// LocalAddr is the local (source) IP address to dial from, like
	// smtplib's source_address: "192.0.2.7", "2001:db8::7", or with a port,
	// "192.0.2.7:0", "[2001:db8::7]:2525". Empty means any. It is used only
	// for direct TCP connections: not with Dial, Proxy or a Unix socket.
	// When it is set, host names resolve to addresses of its family only.
	LocalAddr string

	// Timeout bounds the whole of connecting: resolving the host, the TCP
	// connect, the proxy exchange and the implicit TLS handshake. Zero (or
	// less) means DefaultTimeout, 30 seconds. The context passed to
	// DialContext can end it sooner.
	Timeout time.Duration

	// Dial, if set, makes the underlying connection, TCP or Unix, in place
	// of a net.Dialer: a test's net.Pipe, a caller's own dialer. LocalAddr
	// is then ignored.
	Dial DialFunc

	// Proxy, if set, makes TCP connections, in place of Dial and the
	// net.Dialer: see [SOCKS5] and [HTTPConnect]. It is given the target's
	// "host:port", and a host name is resolved by the proxy, not locally.
	// Unix sockets are never proxied. The proxy is reached with the
	// forward DialFunc it was made with, not with Dial or LocalAddr.
	Proxy DialFunc

	// ImplicitTLS starts TLS as soon as the connection is made, before the
	// server's greeting (RFC 8314 §3.3; port 465, [PortSubmissions]).
	ImplicitTLS bool

	// TLSConfig is the TLS configuration for ImplicitTLS; nil means the
	// defaults. It goes through [ClientTLSConfig] for the address's host,
	// so certificates are verified unless the config says otherwise. Over
	// a Unix socket there is no host name: TLSConfig must set ServerName.
	TLSConfig *tls.Config
}

// DialContext connects to addr, through the Proxy when one is set (TCP
// only), and runs the TLS handshake when ImplicitTLS is set. Cancelling ctx
// aborts it at any stage; Timeout bounds it too.
//
// The returned connection has no deadline set. For ImplicitTLS it is a
// *tls.Conn. On failure DialContext closes whatever it opened and returns
// a [*DialError] naming addr and wrapping the cause; errors.Is(err,
// context.Canceled) and errors.Is(err, context.DeadlineExceeded) tell a
// cancelled or timed-out dial.
func (d *Dialer) DialContext(ctx context.Context, addr Address) (net.Conn, error) {
	if err := addr.check(); err != nil {
		return nil, &DialError{Addr: addr, Err: err}
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	conn, err := d.connect(ctx, addr)
	if err != nil {
		return nil, &DialError{Addr: addr, Err: ctxErr(ctx, err)}
	}
	if !d.ImplicitTLS {
		return conn, nil
	}
	host := addr.Host
	if addr.network() == "unix" {
		host = ""
	}
	tc, err := clientHandshake(ctx, conn, ClientTLSConfig(d.TLSConfig, host))
	if err != nil {
		return nil, &DialError{Addr: addr, Err: err}
	}
	return tc, nil
}

// connect makes the connection, without TLS.
func (d *Dialer) connect(ctx context.Context, addr Address) (net.Conn, error) {
	network, address := addr.network(), addr.String()
	var (
		conn net.Conn
		err  error
	)
	switch {
	case d.Proxy != nil && network != "unix":
		conn, err = d.Proxy(ctx, network, address)
	case d.Dial != nil:
		conn, err = d.Dial(ctx, network, address)
	default:
		var nd net.Dialer
		if d.LocalAddr != "" && network != "unix" {
			ap, perr := parseLocalAddr(d.LocalAddr)
			if perr != nil {
				return nil, perr
			}
			nd.LocalAddr = net.TCPAddrFromAddrPort(ap)
		}
		conn, err = nd.DialContext(ctx, network, address)
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	if conn == nil {
		return nil, errors.New("transport: the DialFunc returned neither a connection nor an error")
	}
	return conn, nil
}

// parseLocalAddr parses Dialer.LocalAddr: an IP address, with or without a
// port, IPv6 in brackets when a port follows.
func parseLocalAddr(s string) (netip.AddrPort, error) {
	bare := s
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		bare = s[1 : len(s)-1]
	}
	if ip, err := netip.ParseAddr(bare); err == nil && (bare == s || ip.Is6()) {
		return netip.AddrPortFrom(ip, 0), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	return netip.AddrPort{}, &AddressError{Input: s, Reason: "local address is not an IP address, or \"ip:port\""}
}

// defaultDial dials with a plain net.Dialer.
func defaultDial(ctx context.Context, network, address string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(ctx, network, address)
}

// withDefaultTimeout bounds ctx by DefaultTimeout if it has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// ctxErr returns the context's error when ctx is done and err does not
// already say so: an I/O error caused by the deadline or by cancellation
// (a read interrupted by SetDeadline, a closed connection) is reported as
// what caused it.
func ctxErr(ctx context.Context, err error) error {
	if err == nil && ctx.Err() == nil {
		return nil
	}
	if c := ctx.Err(); c != nil {
		if err == nil {
			return c
		}
		if errors.Is(err, c) {
			return err
		}
		return fmt.Errorf("%w (%v)", c, dialCause(err))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return fmt.Errorf("%w (%v)", context.DeadlineExceeded, dialCause(err))
		}
	}
	return err
}

// watch sets a deadline in the past on conn when ctx is done, so that a
// read or write in progress returns; it also applies ctx's deadline to
// conn. The returned stop reports false if ctx ended (the caller must then
// treat the connection as failed); it clears the deadline otherwise.
func watch(ctx context.Context, conn net.Conn) (stop func() bool) {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stopFunc := context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
	return func() bool {
		if !stopFunc() {
			return false
		}
		conn.SetDeadline(noDeadline)
		return true
	}
}
