package transport

import (
	"context"
	"errors"
	"net"

	"golang.org/x/net/proxy"
)

// SOCKS5 returns a DialFunc that reaches TCP addresses through the SOCKS5
// proxy at proxyAddr ("host:port"), with RFC 1929 username/password
// authentication when auth is not nil (the password crosses the network in
// clear, as the RFC has it). forward makes the connection to the proxy; nil
// means a plain net.Dialer. The protocol (RFC 1928) is golang.org/x/net/proxy's.
//
// Host names are sent to the proxy to resolve (like curl's socks5h), so the
// client does no DNS lookup of its own. Set the result as [Dialer.Proxy].
//
// Cancelling ctx aborts the exchange; without a deadline in ctx,
// [DefaultTimeout] bounds it. Errors are [*ProxyError]s: the proxy's refusal
// (a SOCKS reply other than "succeeded") and a malformed answer come back
// as x/net's errors, wrapped.
func SOCKS5(proxyAddr string, auth *proxy.Auth, forward DialFunc) DialFunc {
	if forward == nil {
		forward = defaultDial
	}
	if auth != nil {
		a := *auth
		auth = &a
	}
	pd, err := proxy.SOCKS5("tcp", proxyAddr, auth, forwardDialer(forward))
	var cd proxy.ContextDialer
	if err == nil {
		var ok bool
		if cd, ok = pd.(proxy.ContextDialer); !ok {
			err = errors.New("x/net/proxy's SOCKS5 dialer has no DialContext")
		}
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		fail := func(err error) (net.Conn, error) {
			return nil, &ProxyError{Protocol: "SOCKS5", Proxy: proxyAddr, Target: address, Err: err}
		}
		if err != nil {
			return fail(err)
		}
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return fail(errors.New("SOCKS5 carries TCP only, not " + quote(network)))
		}
		ctx, cancel := withDefaultTimeout(ctx)
		defer cancel()
		conn, err := cd.DialContext(ctx, network, address)
		if err != nil {
			// x/net wraps everything in a *net.OpError whose text repeats
			// both addresses; keep the cause.
			var op *net.OpError
			if errors.As(err, &op) && len(op.Op) > 6 && op.Op[:6] == "socks " && op.Err != nil {
				err = op.Err
			}
			return fail(ctxErr(ctx, err))
		}
		return conn, nil
	}
}

// forwardDialer adapts a DialFunc to x/net's proxy.Dialer and
// proxy.ContextDialer.
type forwardDialer DialFunc

func (f forwardDialer) Dial(network, address string) (net.Conn, error) {
	return f(context.Background(), network, address)
}

func (f forwardDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}
