// Package transport gets a client a connection to a mail server: it parses
// the addresses users write, dials TCP or a Unix socket (directly, from a
// chosen source address, through a SOCKS5 or HTTP CONNECT proxy, or with any
// function that returns a net.Conn), starts implicit TLS (RFC 8314) or
// upgrades a connection after STARTTLS (RFC 3207), and finds the mail
// exchangers of a domain for direct delivery (RFC 5321 §5.1, RFC 7505).
//
// A typical submission client:
//
//	addr, err := transport.ParseAddress("smtp.example.org", transport.PortSubmissions)
//	d := transport.Dialer{ImplicitTLS: true, Timeout: 10 * time.Second}
//	conn, err := d.DialContext(ctx, addr)
//
// Everything that can block takes a context.Context, and cancelling it
// aborts the work in progress: the TCP connect, the proxy exchange and the
// TLS handshake. When the context carries no deadline, [DefaultTimeout]
// bounds each of them; every read this package makes is bounded in size as
// well as in time.
//
// Certificates are verified by default. A certificate that does not verify
// is a [*TLSError] whose message says how to fix it (pass the CA in
// TLSConfig.RootCAs, [LoadCertPool] reading it from a file, or turn TLS
// off); nothing here falls back to plaintext.
//
// Errors are typed: [*AddressError], [*DialError], [*ProxyError],
// [*TLSError] and [*MXError], with sentinel kinds ([ErrNullMX],
// [ErrProxyRefused], ...) for errors.Is. Use errors.As and errors.Is on them,
// never the message text.
//
// The package speaks no SMTP; package session does, on the connections made
// here.
package transport
