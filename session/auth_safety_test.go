package session_test

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// The safety checks on AUTH: which connections credentials may cross
// unencrypted, and what a hostile server cannot make the client send.

// TestNewClientThroughProxyIsNotLoopback: a connection made through a
// SOCKS5 or HTTP CONNECT proxy on this machine (a local Tor, ssh -D, a
// corporate proxy) reports the proxy's 127.0.0.1 as its remote address,
// but reaches a remote server. Handed to NewClient, it must not count as
// loopback: Login refuses to send the password in plaintext, with nothing
// written. A *net.UnixConn counts, and so does the caller's
// AllowInsecureAuth.
func TestNewClientThroughProxyIsNotLoopback(t *testing.T) {
	tests := []struct {
		name    string
		unix    bool
		conn    func(t *testing.T, srv *smtptest.Server) net.Conn
		allow   bool // Options.AllowInsecureAuth
		allowed bool
	}{
		{name: "SOCKS5 proxy on loopback", conn: func(t *testing.T, srv *smtptest.Server) net.Conn {
			return dialProxied(t, transport.SOCKS5(socks5Proxy(t, srv.Addr), nil, nil))
		}},
		{name: "HTTP CONNECT proxy on loopback", conn: func(t *testing.T, srv *smtptest.Server) net.Conn {
			return dialProxied(t, transport.HTTPConnect(connectProxy(t, srv.Addr), nil, nil))
		}},
		{name: "SOCKS5 proxy, AllowInsecureAuth", allow: true, allowed: true, conn: func(t *testing.T, srv *smtptest.Server) net.Conn {
			return dialProxied(t, transport.SOCKS5(socks5Proxy(t, srv.Addr), nil, nil))
		}},
		{name: "TCP to 127.0.0.1, AllowInsecureAuth", allow: true, allowed: true, conn: func(t *testing.T, srv *smtptest.Server) net.Conn {
			nc, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			return nc
		}},
		{name: "Unix socket", unix: true, allowed: true, conn: func(t *testing.T, srv *smtptest.Server) net.Conn {
			nc, err := net.Dial("unix", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := nc.(*net.UnixConn); !ok {
				t.Fatalf("net.Dial(unix) gave a %T", nc)
			}
			return nc
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smtptest.Config{}
			if tt.unix {
				cfg.UnixSocket = t.TempDir() + "/s"
			}
			srv := authServer(t, "PLAIN", false, cfg)
			nc := tt.conn(t, srv)
			c, err := session.NewClient(testCtx(t), nc, &session.Options{LocalName: clientName, AllowInsecureAuth: tt.allow})
			if err != nil {
				t.Fatalf("NewClient: %v", err)
			}
			t.Cleanup(func() { c.Close() })
			err = c.Login(testCtx(t), authUser, authPassword)
			if tt.allowed {
				if err != nil {
					t.Fatalf("Login: %v", err)
				}
				sendAuthenticated(t, c, srv, false)
				return
			}
			if !errors.Is(err, session.ErrInsecureAuth) {
				t.Fatalf("Login through a proxy with remote address %v: err = %v, want ErrInsecureAuth", nc.RemoteAddr(), err)
			}
			wantAuthError(t, err, "PLAIN", 0)
			wantNothingSentAndUsable(t, c, srv)
		})
	}
}

// TestPasswordMechanismsRefusedWithoutTLS: over an unencrypted connection
// to a peer not known to be local, every password mechanism is refused
// before AUTH is written, not only those that send the password: CRAM-MD5
// and SCRAM let whoever sees the exchange (a server that stripped
// STARTTLS) test password guesses offline. AllowInsecureAuth lets them
// run.
func TestPasswordMechanismsRefusedWithoutTLS(t *testing.T) {
	mechs := []struct {
		name string
		m    func() auth.Mechanism
	}{
		{"PLAIN", func() auth.Mechanism { return auth.Plain("", authUser, authPassword) }},
		{"LOGIN", func() auth.Mechanism { return auth.Login(authUser, authPassword) }},
		{"CRAM-MD5", func() auth.Mechanism { return auth.CRAMMD5(authUser, authPassword) }},
		{"SCRAM-SHA-1", func() auth.Mechanism { return auth.SCRAMSHA1(authUser, authPassword) }},
		{"SCRAM-SHA-256", func() auth.Mechanism { return auth.SCRAMSHA256(authUser, authPassword) }},
	}
	conns := []struct {
		name    string
		connect func(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client
	}{
		{"NewClient over TCP to 127.0.0.1", func(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
			return newClientOver(t, srv, opts, func(nc net.Conn) net.Conn { return nc })
		}},
		{"NewClient, remote 192.0.2.1", func(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
			return newClientOver(t, srv, opts, func(nc net.Conn) net.Conn { return &middleConn{Conn: nc, remote: farAddr} })
		}},
		{"Dial through a SOCKS5 proxy", func(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
			opts.Dialer = &transport.Dialer{Proxy: transport.SOCKS5(socks5Proxy(t, srv.Addr), nil, nil)}
			c, err := session.Dial(testCtx(t), "mx.example.org:25", opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}},
	}
	for _, mt := range mechs {
		for _, ct := range conns {
			for _, how := range []string{"Login", "Auth"} {
				t.Run(mt.name+"/"+ct.name+"/"+how, func(t *testing.T) {
					srv := authServer(t, mt.name, false, smtptest.Config{})
					c := ct.connect(t, srv, &session.Options{LocalName: clientName})
					var err error
					if how == "Login" {
						err = c.Login(testCtx(t), authUser, authPassword)
					} else {
						err = c.Auth(testCtx(t), mt.m())
					}
					wantInsecureAuth(t, err, mt.name)
					wantNothingSentAndUsable(t, c, srv)
				})
			}
		}
		for _, how := range []string{"Login", "Auth"} {
			t.Run(mt.name+"/AllowInsecureAuth/"+how, func(t *testing.T) {
				srv := authServer(t, mt.name, false, smtptest.Config{})
				c := farClient(t, srv, &session.Options{LocalName: clientName, AllowInsecureAuth: true})
				var err error
				if how == "Login" {
					err = c.Login(testCtx(t), authUser, authPassword)
				} else {
					err = c.Auth(testCtx(t), mt.m())
				}
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if lines := authLines(srv); len(lines) != 1 || strings.Fields(lines[0])[1] != mt.name {
					t.Errorf("AUTH lines %q, want %s", lines, mt.name)
				}
				sendAuthenticated(t, c, srv, false)
			})
		}
	}
}

// TestLoginSCRAMStrippedAndLowIterations replays the attack that cracked
// a password: a man in the middle removes STARTTLS from the EHLO reply
// and answers SCRAM with an iteration count of 1, so that the client's
// proof costs one HMAC per guess. By default nothing is sent at all; with
// AllowInsecureAuth the client cancels the exchange on seeing i=1 and
// never sends its proof.
func TestLoginSCRAMStrippedAndLowIterations(t *testing.T) {
	t.Run("STARTTLS stripped", func(t *testing.T) {
		srv := authServer(t, "SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5", true, smtptest.Config{})
		c := newClientOver(t, srv, &session.Options{LocalName: clientName}, func(nc net.Conn) net.Conn {
			return &middleConn{Conn: nc, rewrite: func(line string) string {
				return strings.Replace(line, "STARTTLS", "XSTRIPPED", 1)
			}}
		})
		err := c.Login(testCtx(t), authUser, authPassword)
		wantInsecureAuth(t, err, "SCRAM-SHA-256")
		if hasCommand(srv, "AUTH") || hasCommand(srv, "STARTTLS") {
			t.Errorf("commands %q", srv.Commands())
		}
	})
	for _, iter := range []int{1, 4095} {
		t.Run("i="+strconv.Itoa(iter)+", AllowInsecureAuth", func(t *testing.T) {
			srv := authServer(t, "SCRAM-SHA-256", false, smtptest.Config{})
			c := newClientOver(t, srv, &session.Options{LocalName: clientName, AllowInsecureAuth: true}, func(nc net.Conn) net.Conn {
				return &middleConn{Conn: nc, rewrite: setSCRAMIterations(iter)}
			})
			err := c.Login(testCtx(t), authUser, authPassword)
			wantAuthError(t, err, "SCRAM-SHA-256", 501)
			var ie *auth.SCRAMIterationError
			if !errors.As(err, &ie) || ie.Iterations != iter || ie.Min != auth.DefaultSCRAMMinIterations {
				t.Fatalf("err = %v, want *auth.SCRAMIterationError for %d", err, iter)
			}
			cmds := srv.Commands()
			if n := len(cmds); n < 2 || !strings.HasPrefix(cmds[n-2], "AUTH SCRAM-SHA-256 ") || cmds[n-1] != "*" {
				t.Errorf("commands %q, want AUTH then only *", cmds)
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop after the cancelled exchange: %v", err)
			}
		})
	}
}

// setSCRAMIterations rewrites the iteration count of a SCRAM server-first
// message passing from server to client.
func setSCRAMIterations(iter int) func(string) string {
	return func(line string) string {
		text, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "334 ")
		if !ok {
			return line
		}
		b, err := base64.StdEncoding.DecodeString(text)
		if err != nil || !strings.HasPrefix(string(b), "r=") {
			return line
		}
		attrs := strings.Split(string(b), ",")
		for i, a := range attrs {
			if strings.HasPrefix(a, "i=") {
				attrs[i] = "i=" + strconv.Itoa(iter)
			}
		}
		return "334 " + base64.StdEncoding.EncodeToString([]byte(strings.Join(attrs, ","))) + "\r\n"
	}
}

// dialProxied connects to "mx.example.org:25" through proxy and checks the
// connection looks local: its remote address is the proxy's loopback one.
func dialProxied(t *testing.T, proxy transport.DialFunc) net.Conn {
	t.Helper()
	nc, err := proxy(testCtx(t), "tcp", "mx.example.org:25")
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil || !ap.Addr().IsLoopback() {
		t.Fatalf("the proxied connection's remote address is %v, want loopback", nc.RemoteAddr())
	}
	return nc
}

// spliceProxy listens on 127.0.0.1 and runs handshake on each connection; a
// connection it returns is spliced to target, the "remote" server.
func spliceProxy(t *testing.T, target string, handshake func(c net.Conn, br *bufio.Reader) bool) string {
	t.Helper()
	return testfixture.Serve(t, func(s *testfixture.Server, c net.Conn) {
		br := bufio.NewReader(c)
		if !handshake(c, br) {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil || !s.Track(up) {
			return
		}
		defer up.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(up, br); done <- struct{}{} }()
		go func() { io.Copy(c, up); done <- struct{}{} }()
		<-done
		c.Close()
		up.Close()
		<-done
	}).Addr
}

// socks5Proxy is a SOCKS5 proxy (RFC 1928, no authentication, CONNECT
// only) on loopback that takes every connection to target.
func socks5Proxy(t *testing.T, target string) string {
	return spliceProxy(t, target, func(c net.Conn, br *bufio.Reader) bool {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil || hdr[0] != 5 {
			return false
		}
		if _, err := br.Discard(int(hdr[1])); err != nil {
			return false
		}
		c.Write([]byte{5, 0}) // no authentication
		var req [4]byte
		if _, err := io.ReadFull(br, req[:]); err != nil || req[1] != 1 {
			return false
		}
		n := 0
		switch req[3] {
		case 1:
			n = 4
		case 4:
			n = 16
		case 3:
			l, err := br.ReadByte()
			if err != nil {
				return false
			}
			n = int(l)
		}
		if _, err := br.Discard(n); err != nil {
			return false
		}
		var port [2]byte
		if _, err := io.ReadFull(br, port[:]); err != nil || binary.BigEndian.Uint16(port[:]) != 25 {
			return false
		}
		_, err := c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
		return err == nil
	})
}

// connectProxy is an HTTP CONNECT proxy on loopback that takes every
// connection to target.
func connectProxy(t *testing.T, target string) string {
	return spliceProxy(t, target, func(c net.Conn, br *bufio.Reader) bool {
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect {
			return false
		}
		_, err = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		return err == nil
	})
}
