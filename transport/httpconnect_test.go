package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

// httpProxy is a minimal HTTP CONNECT proxy for tests, to loopback
// targets only. Its mode says how it answers:
//
//	ok          "HTTP/1.1 200 Connection established", then the tunnel
//	early       the 200 response and a greeting in one write, then the tunnel
//	lf          a 200 response with bare LF line endings and fields that a
//	            CONNECT response must ignore, then the tunnel
//	refuse      407 Proxy Authentication Required
//	garbage     an SSH banner
//	badheader   a 200 status line, then a line that is no header field
//	truncated   a status line and a field, then closes
//	endless     a 200 status line, then header fields without end
//	longline    a 200 status line, then one header line without end
//	silent      nothing at all
type httpProxy struct {
	*testfixture.Server
	mode string

	mu   sync.Mutex
	reqs []string // the request heads received
}

func startHTTPProxy(t *testing.T, mode string) *httpProxy {
	t.Helper()
	p := &httpProxy{mode: mode}
	p.Server = testfixture.Serve(t, p.handle)
	return p
}

func (p *httpProxy) requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

func (p *httpProxy) handle(srv *testfixture.Server, c net.Conn) {
	if p.mode == "silent" {
		silent(srv, c)
		return
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(io.LimitReader(c, 64<<10))
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	p.mu.Lock()
	p.reqs = append(p.reqs, head.String())
	p.mu.Unlock()

	var target string
	if f := strings.Fields(head.String()); len(f) >= 2 {
		target = f[1]
	}
	const ok = "HTTP/1.1 200 Connection established\r\n\r\n"
	switch p.mode {
	case "refuse":
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n")
		return
	case "garbage":
		io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
		return
	case "badheader":
		io.WriteString(c, "HTTP/1.1 200 OK\r\nthis is not a header\r\n\r\n")
		return
	case "truncated":
		io.WriteString(c, "HTTP/1.1 200 OK\r\nVia: 1.1 proxy\r\n")
		return
	case "endless":
		c.SetDeadline(time.Time{})
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 100) + "\r\n"
		for {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	case "longline":
		c.SetDeadline(time.Time{})
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Long: ")
		chunk := strings.Repeat("a", 1024)
		for {
			if _, err := io.WriteString(c, chunk); err != nil {
				return
			}
		}
	}

	host, port, err := net.SplitHostPort(target)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		return
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\n\r\n")
		return
	}
	up, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	if !srv.Track(up) {
		return
	}
	switch p.mode {
	case "early":
		io.WriteString(c, ok+"220 early greeting\r\n")
	case "lf":
		io.WriteString(c, "HTTP/1.0 200 OK\nContent-Length: 100\nTransfer-Encoding: chunked\n  folded\n\n")
	default:
		io.WriteString(c, ok)
	}
	c.SetDeadline(time.Time{})
	// Whatever the client sent after its request (nothing, normally).
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		up.Write(b)
	}
	relay(c, up)
}

func TestHTTPConnect(t *testing.T) {
	testfixture.CheckGoroutines(t)
	echoSrv := startEcho(t)

	t.Run("tunnel", func(t *testing.T) {
		p := startHTTPProxy(t, "ok")
		h := http.Header{"Proxy-Authorization": {"Basic YW5uYTpzM2NyZXQ="}, "X-Two": {"a", "b"}, "Host": {"ignored"}}
		d := Dialer{Proxy: HTTPConnect(p.Addr, h, nil)}
		h.Set("X-Late", "changed after HTTPConnect") // must not be sent
		addr := Address{Host: "127.0.0.1", Port: echoSrv.Port()}
		conn, err := d.DialContext(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		roundTrip(t, conn, "EHLO client.example\r\n")
		target := addr.String()
		want := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" +
			"Proxy-Authorization: Basic YW5uYTpzM2NyZXQ=\r\nX-Two: a\r\nX-Two: b\r\n\r\n"
		if got := p.requests(); len(got) != 1 || got[0] != want {
			t.Errorf("proxy got %q\nwant %q", got, want)
		}
	})

	t.Run("name target and tcp4", func(t *testing.T) {
		p := startHTTPProxy(t, "ok")
		conn, err := HTTPConnect(p.Addr, nil, nil)(context.Background(), "tcp4", net.JoinHostPort("localhost", itoa(echoSrv.Port())))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		roundTrip(t, conn, "NOOP\r\n")
		if got := p.requests(); len(got) != 1 || !strings.HasPrefix(got[0], "CONNECT localhost:") {
			t.Errorf("proxy got %q", got)
		}
	})

	t.Run("bytes after the response are kept", func(t *testing.T) {
		p := startHTTPProxy(t, "early")
		conn, err := HTTPConnect(p.Addr, nil, nil)(context.Background(), "tcp", echoSrv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, ok := conn.(*prefixConn); !ok {
			t.Errorf("conn is a %T; the early bytes arrived in the same segment and should be buffered", conn)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		// A one-byte buffer first: the prefix is handed out piecewise.
		var got []byte
		one := make([]byte, 1)
		for len(got) < len("220 early greeting\r\n") {
			n, err := conn.Read(one)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, one[:n]...)
		}
		if string(got) != "220 early greeting\r\n" {
			t.Fatalf("first bytes %q", got)
		}
		roundTrip(t, conn, "EHLO x\r\n")
	})

	t.Run("bare LF and body fields ignored", func(t *testing.T) {
		p := startHTTPProxy(t, "lf")
		conn, err := HTTPConnect(p.Addr, nil, nil)(context.Background(), "tcp", echoSrv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		roundTrip(t, conn, "NOOP\r\n")
	})
}

func itoa(n int) string { return strings.TrimPrefix(Address{Host: "h", Port: n}.String(), "h:") }

func TestHTTPConnectErrors(t *testing.T) {
	testfixture.CheckGoroutines(t)
	echoSrv := startEcho(t)
	down := listen(t)
	downAddr := down.Addr().String()
	down.Close()

	tests := []struct {
		name    string
		mode    string // "" for no proxy at all (downAddr)
		header  http.Header
		network string
		target  string
		kind    error // errors.Is
		status  int
		text    string
	}{
		{"refused", "refuse", nil, "tcp", "", ErrProxyRefused, 407, "407 Proxy Authentication Required"},
		{"forbidden target", "ok", nil, "tcp", "192.0.2.1:25", ErrProxyRefused, 403, "403 Forbidden"},
		{"garbage", "garbage", nil, "tcp", "", ErrProxyProtocol, 0, `status line "SSH-2.0-OpenSSH_9.6"`},
		{"bad header line", "badheader", nil, "tcp", "", ErrProxyProtocol, 0, "header line"},
		{"truncated", "truncated", nil, "tcp", "", io.ErrUnexpectedEOF, 0, "connection closed"},
		{"endless header", "endless", nil, "tcp", "", ErrProxyResponseTooLarge, 0, "16384"},
		{"endless line", "longline", nil, "tcp", "", ErrProxyResponseTooLarge, 0, "4096"},
		{"header injection", "ok", http.Header{"X-A": {"1\r\nX-Evil: 1"}}, "tcp", "", ErrProxyRequest, 0, "X-A"},
		{"bad header name", "ok", http.Header{"Bad Name": {"1"}}, "tcp", "", ErrProxyRequest, 0, "Bad Name"},
		{"target with space", "ok", nil, "tcp", "a b:25", ErrProxyRequest, 0, "characters"},
		{"target with CRLF", "ok", nil, "tcp", "a\r\nb:25", ErrProxyRequest, 0, "characters"},
		{"target without port", "ok", nil, "tcp", "mx.example", ErrProxyRequest, 0, "host:port"},
		{"unix", "ok", nil, "unix", "/tmp/s", ErrProxyRequest, 0, "TCP only"},
		{"proxy down", "", nil, "tcp", "", errAny, 0, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxyAddr := downAddr
			var p *httpProxy
			if tt.mode != "" {
				p = startHTTPProxy(t, tt.mode)
				proxyAddr = p.Addr
			}
			target := tt.target
			if target == "" {
				target = echoSrv.Addr
			}
			start := time.Now()
			conn, err := HTTPConnect(proxyAddr, tt.header, nil)(context.Background(), tt.network, target)
			if err == nil {
				conn.Close()
				t.Fatal("no error")
			}
			t.Log(err)
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v", el)
			}
			pe := as[*ProxyError](t, err)
			if pe.Protocol != "HTTP CONNECT" || pe.Proxy != proxyAddr || pe.Target != target {
				t.Errorf("ProxyError = %+v", pe)
			}
			if tt.kind != errAny && !errors.Is(err, tt.kind) {
				t.Errorf("error %v is not %v", err, tt.kind)
			}
			if pe.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", pe.StatusCode, tt.status)
			}
			wantErrText(t, err, "transport: HTTP CONNECT proxy "+proxyAddr+" to ", tt.text)
			if errors.Is(err, ErrProxyRequest) && p != nil && len(p.requests()) != 0 {
				t.Errorf("an invalid request reached the proxy: %q", p.requests())
			}
		})
	}
}

func TestHTTPConnectCancel(t *testing.T) {
	t.Run("cancel", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		p := startHTTPProxy(t, "silent")
		d := Dialer{Proxy: HTTPConnect(p.Addr, nil, nil)}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		conn, err := d.DialContext(ctx, Address{Host: "127.0.0.1", Port: 25})
		if err == nil {
			conn.Close()
			t.Fatal("dial succeeded")
		}
		t.Log(err)
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("cancel took %v", el)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v is not context.Canceled", err)
		}
		as[*ProxyError](t, err)
	})
	t.Run("timeout", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		p := startHTTPProxy(t, "silent")
		d := Dialer{Proxy: HTTPConnect(p.Addr, nil, nil), Timeout: 50 * time.Millisecond}
		_, err := d.DialContext(context.Background(), Address{Host: "127.0.0.1", Port: 25})
		t.Log(err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v is not context.DeadlineExceeded", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		p := startHTTPProxy(t, "ok")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := HTTPConnect(p.Addr, nil, nil)(ctx, "tcp", "127.0.0.1:25")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v is not context.Canceled", err)
		}
	})
}

// scriptConn is a net.Conn that reads a script and records what is written.
type scriptConn struct {
	net.Conn // nil: only Read, Write and SetDeadline are used
	r        io.Reader
	w        bytes.Buffer
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// TestConnectExchangeTruncated: every proper prefix of a valid response
// fails cleanly as a protocol error; the whole one succeeds and keeps what
// follows.
func TestConnectExchangeTruncated(t *testing.T) {
	const resp = "HTTP/1.1 200 Connection established\r\nVia: 1.1 proxy\r\n\r\n"
	for i := range len(resp) {
		t.Run(itoa(i+1), func(t *testing.T) {
			_, _, err := connectExchange(&scriptConn{r: strings.NewReader(resp[:i])}, []byte("CONNECT a:1 HTTP/1.1\r\n\r\n"))
			if !errors.Is(err, ErrProxyProtocol) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("prefix %q: %v", resp[:i], err)
			}
		})
	}
	t.Run("whole", func(t *testing.T) {
		c := &scriptConn{r: strings.NewReader(resp + "220 hi\r\n")}
		rest, st, err := connectExchange(c, []byte("CONNECT a:1 HTTP/1.1\r\n\r\n"))
		if err != nil || st.code != 200 || string(rest) != "220 hi\r\n" {
			t.Fatalf("rest %q, status %+v, err %v", rest, st, err)
		}
		if c.w.String() != "CONNECT a:1 HTTP/1.1\r\n\r\n" {
			t.Errorf("wrote %q", c.w.String())
		}
	})
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		line   string
		code   int
		reason string
		ok     bool
	}{
		{"HTTP/1.1 200 Connection established", 200, "Connection established", true},
		{"HTTP/1.0 200 OK", 200, "OK", true},
		{"HTTP/1.1 200", 200, "", true},
		{"HTTP/1.1 200 ", 200, "", true},
		{"HTTP/1.1 407 Proxy Authentication Required", 407, "Proxy Authentication Required", true},
		{"HTTP/1.1 502 \x1b[31mred\x00", 502, "[31mred", true},
		{"HTTP/1.1 599 " + strings.Repeat("x", 100), 599, strings.Repeat("x", 64), true},
		{"HTTP/2 200 OK", 0, "", false},
		{"HTTP/1.1 20 OK", 0, "", false},
		{"HTTP/1.1 2000 OK", 0, "", false},
		{"HTTP/1.1 099 Low", 0, "", false},
		{"HTTP/1.1 abc OK", 0, "", false},
		{"http/1.1 200 OK", 0, "", false},
		{"HTTP/1.1  200 OK", 0, "", false},
		{"", 0, "", false},
		{"SSH-2.0-OpenSSH_9.6", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			st, err := parseStatusLine(tt.line)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrProxyProtocol) {
					t.Errorf("error %v is not ErrProxyProtocol", err)
				}
				return
			}
			if st.code != tt.code || st.reason != tt.reason {
				t.Errorf("got %d %q, want %d %q", st.code, st.reason, tt.code, tt.reason)
			}
		})
	}
}

func TestPrefixConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &prefixConn{Conn: a, buf: []byte("abc")}
	go b.Write([]byte("def"))
	buf := make([]byte, 10)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "def" {
		t.Fatalf("second read %q, %v", buf[:n], err)
	}
}

func TestConnectRequest(t *testing.T) {
	tests := []struct {
		name   string
		target string
		header http.Header
		want   string // "" for an error
	}{
		{"name", "mx.example:25", nil, "CONNECT mx.example:25 HTTP/1.1\r\nHost: mx.example:25\r\n\r\n"},
		{"ipv6", "[2001:db8::1]:25", nil, "CONNECT [2001:db8::1]:25 HTTP/1.1\r\nHost: [2001:db8::1]:25\r\n\r\n"},
		{"sorted fields", "h:1", http.Header{"B": {"2"}, "A": {"1"}}, "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nA: 1\r\nB: 2\r\n\r\n"},
		{"host field dropped", "h:1", http.Header{"host": {"x"}}, "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n"},
		{"empty value", "h:1", http.Header{"X": {""}}, "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nX: \r\n\r\n"},
		{"no port", "h", nil, ""},
		{"empty host", ":25", nil, ""},
		{"empty port", "h:", nil, ""},
		{"LF in value", "h:1", http.Header{"X": {"a\nb"}}, ""},
		{"NUL in value", "h:1", http.Header{"X": {"a\x00b"}}, ""},
		{"colon in name", "h:1", http.Header{"X:Y": {"a"}}, ""},
		{"empty name", "h:1", http.Header{"": {"a"}}, ""},
		{"slash in target", "a/b:25", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connectRequest(tt.target, tt.header)
			if tt.want == "" {
				if !errors.Is(err, ErrProxyRequest) {
					t.Fatalf("got %q, %v; want ErrProxyRequest", got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// scriptedProxy is an HTTP proxy that reads one CONNECT request head and
// writes resp, then echoes whatever comes next (the "tunnel").
func scriptedProxy(t *testing.T, resp string) *testfixture.Server {
	t.Helper()
	return testfixture.Serve(t, func(_ *testfixture.Server, c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
		io.Copy(c, br)
	})
}

// RFC 9110 §15.2: "A client MUST be able to parse one or more 1xx responses
// received prior to a final response, even if the client does not expect
// one." connectExchange takes the first status line as final, so an
// interim "100 Continue" (or "102 Processing") before the proxy's 200 turns
// a working tunnel into ErrProxyRefused with StatusCode 100.
func TestHTTPConnectSkipsInterimResponses(t *testing.T) {
	testfixture.CheckGoroutines(t)
	p := scriptedProxy(t, "HTTP/1.1 100 Continue\r\n\r\n"+
		"HTTP/1.1 102 Processing\r\nX-Note: still here\r\n\r\n"+
		"HTTP/1.1 200 Connection established\r\n\r\n")
	dial := HTTPConnect(p.Addr, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dial(ctx, "tcp", "127.0.0.1:25")
	if err != nil {
		t.Fatalf("CONNECT with 1xx interim responses before 200: %v", err)
	}
	defer conn.Close()
	roundTrip(t, conn, "EHLO client.example\r\n")
}
