package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
)

// MaxProxyHeaderBytes bounds an HTTP proxy's response to CONNECT: status
// line, header fields and the blank line together, interim (1xx) responses
// before it included. A proxy that sends more gets
// [ErrProxyResponseTooLarge].
const MaxProxyHeaderBytes = 16 << 10

// maxProxyLineBytes bounds one line of that response.
const maxProxyLineBytes = 4 << 10

// HTTPConnect returns a DialFunc that reaches TCP addresses through an HTTP
// proxy at proxyAddr ("host:port") with the CONNECT method (RFC 9110
// §9.3.6). It sends
//
//	CONNECT mx.example.org:25 HTTP/1.1
//	Host: mx.example.org:25
//	<header fields>
//
// and reads the response under ctx, at most [MaxProxyHeaderBytes] of it.
// Interim 1xx responses ("100 Continue", "102 Processing") are skipped,
// as RFC 9110 §15.2 requires, and the final response read after them. A
// 2xx status opens the tunnel; anything else (101 included) is a
// [*ProxyError] wrapping [ErrProxyRefused] with the status. Bytes the proxy sends after its
// response (a server's greeting arriving early) are kept, and read first
// from the returned connection.
//
// header carries extra fields, such as Proxy-Authorization ("Basic ..."),
// which goes in clear unless forward reaches the proxy over TLS. header is
// copied; fields that could break the request are refused at dial time
// ([ErrProxyRequest]). forward makes the connection to the proxy; nil
// means a plain net.Dialer. Host names are resolved by the proxy. Set the
// result as [Dialer.Proxy].
//
// Cancelling ctx aborts the exchange; without a deadline in ctx,
// [DefaultTimeout] bounds it.
func HTTPConnect(proxyAddr string, header http.Header, forward DialFunc) DialFunc {
	if forward == nil {
		forward = defaultDial
	}
	header = header.Clone()
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		fail := func(err error) (net.Conn, error) {
			return nil, &ProxyError{Protocol: "HTTP CONNECT", Proxy: proxyAddr, Target: address, Err: err}
		}
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return fail(fmt.Errorf("%w: CONNECT carries TCP only, not %s", ErrProxyRequest, quote(network)))
		}
		req, err := connectRequest(address, header)
		if err != nil {
			return fail(err)
		}
		ctx, cancel := withDefaultTimeout(ctx)
		defer cancel()
		conn, err := forward(ctx, "tcp", proxyAddr)
		if err != nil {
			if conn != nil {
				conn.Close()
			}
			return fail(ctxErr(ctx, err))
		}
		stop := watch(ctx, conn)
		rest, resp, err := connectExchange(conn, req)
		if !stop() {
			conn.Close()
			return fail(ctxErr(ctx, err))
		}
		if err != nil {
			conn.Close()
			if errors.Is(err, ErrProxyRefused) {
				return nil, &ProxyError{Protocol: "HTTP CONNECT", Proxy: proxyAddr, Target: address,
					StatusCode: resp.code, Status: resp.reason, Err: err}
			}
			return fail(ctxErr(ctx, err))
		}
		if len(rest) > 0 {
			return &prefixConn{Conn: conn, buf: rest}, nil
		}
		return conn, nil
	}
}

// connectRequest builds the CONNECT request for address ("host:port").
func connectRequest(address string, header http.Header) ([]byte, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("%w: target %s is not \"host:port\"", ErrProxyRequest, quote(address))
	}
	if !httpguts.ValidHostHeader(address) || strings.ContainsAny(address, " \t") {
		return nil, fmt.Errorf("%w: target %s has characters a request line cannot carry", ErrProxyRequest, quote(address))
	}
	var b strings.Builder
	b.WriteString("CONNECT ")
	b.WriteString(address)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(address)
	b.WriteString("\r\n")
	for _, name := range slices.Sorted(maps.Keys(header)) {
		values := header[name]
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("%w: header field name %s", ErrProxyRequest, quote(name))
		}
		if http.CanonicalHeaderKey(name) == "Host" {
			continue // the target, always
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("%w: value of header field %s", ErrProxyRequest, quote(name))
			}
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n")
	return []byte(b.String()), nil
}

// connectStatus is the status line of a proxy's response.
type connectStatus struct {
	code   int
	reason string
}

// connectExchange sends req and reads the response headers, those of 1xx
// interim responses included, at most MaxProxyHeaderBytes of them in all.
// It returns what the proxy sent after the final response's headers.
func connectExchange(conn net.Conn, req []byte) ([]byte, connectStatus, error) {
	var st connectStatus
	if _, err := conn.Write(req); err != nil {
		return nil, st, err
	}
	lr := &io.LimitedReader{R: conn, N: MaxProxyHeaderBytes}
	br := bufio.NewReaderSize(lr, maxProxyLineBytes)
	readLine := func() (string, error) {
		line, err := br.ReadSlice('\n')
		switch {
		case err == bufio.ErrBufferFull:
			return "", fmt.Errorf("%w: a line longer than %d bytes", ErrProxyResponseTooLarge, maxProxyLineBytes)
		case err == io.EOF && lr.N == 0:
			return "", fmt.Errorf("%w: more than %d bytes", ErrProxyResponseTooLarge, MaxProxyHeaderBytes)
		case err == io.EOF:
			return "", fmt.Errorf("%w: connection closed in the response headers (%w)", ErrProxyProtocol, io.ErrUnexpectedEOF)
		case err != nil:
			return "", err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		return string(line), nil
	}

	// Interim (1xx) responses may come before the final one, and are
	// skipped (RFC 9110 §15.2); all of them together count against
	// MaxProxyHeaderBytes. 101 (Switching Protocols) is final, and not 2xx.
	for {
		line, err := readLine()
		if err != nil {
			return nil, st, err
		}
		if st, err = parseStatusLine(line); err != nil {
			return nil, st, err
		}
		for {
			line, err := readLine()
			if err != nil {
				return nil, st, err
			}
			if line == "" {
				break
			}
			// Field lines are skipped: a 2xx response to CONNECT has no
			// body, whatever Content-Length or Transfer-Encoding say (RFC
			// 9110 §9.3.6), and a 1xx response never has one. Obsolete
			// folded lines begin with a space or a tab.
			if line[0] != ' ' && line[0] != '\t' && !strings.Contains(line, ":") {
				return nil, st, fmt.Errorf("%w: header line %s", ErrProxyProtocol, quote(line))
			}
		}
		if st.code >= 200 || st.code == http.StatusSwitchingProtocols {
			break
		}
	}
	if st.code < 200 || st.code > 299 {
		return nil, st, ErrProxyRefused
	}
	var rest []byte
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		rest = append([]byte(nil), b...)
	}
	return rest, st, nil
}

// parseStatusLine parses "HTTP/1.x NNN reason" (RFC 9112 §4).
func parseStatusLine(line string) (connectStatus, error) {
	var st connectStatus
	bad := fmt.Errorf("%w: status line %s", ErrProxyProtocol, quote(line))
	if len(line) < 12 || line[:7] != "HTTP/1." || line[7] < '0' || line[7] > '9' || line[8] != ' ' {
		return st, bad
	}
	for i := 9; i < 12; i++ {
		if line[i] < '0' || line[i] > '9' {
			return st, bad
		}
		st.code = st.code*10 + int(line[i]-'0')
	}
	if st.code < 100 || (len(line) > 12 && line[12] != ' ') {
		return connectStatus{}, bad
	}
	if len(line) > 13 {
		st.reason = printable(line[13:], 64)
	}
	return st, nil
}

// printable keeps at most max bytes of the printable ASCII in s.
func printable(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= ' ' && c <= '~' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// prefixConn is a connection whose first reads return buf: the bytes read
// ahead of the tunnel's start.
type prefixConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
