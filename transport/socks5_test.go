package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"golang.org/x/net/proxy"
)

// socksServer is a minimal RFC 1928 SOCKS5 server for tests: CONNECT
// only, to loopback targets only.
type socksServer struct {
	*testfixture.Server
	mode       string // "ok", "refuse", "garbage", "silent", "silent-after-greeting"
	user, pass string // RFC 1929 credentials to require, if user is set

	mu      sync.Mutex
	targets []string // what clients asked for, "atyp host:port"
}

func startSOCKS(t *testing.T, mode string) *socksServer {
	t.Helper()
	s := &socksServer{mode: mode}
	s.Server = testfixture.Serve(t, s.handle)
	return s
}

func (s *socksServer) requested() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.targets...)
}

func (s *socksServer) handle(srv *testfixture.Server, c net.Conn) {
	if s.mode == "silent" {
		silent(srv, c)
		return
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	if s.mode == "garbage" {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		return
	}
	if s.mode == "silent-after-greeting" {
		c.Write([]byte{5, 0})
		c.SetDeadline(time.Time{})
		silent(srv, c)
		return
	}
	if s.user != "" {
		if !contains(methods, 2) {
			c.Write([]byte{5, 0xff})
			return
		}
		c.Write([]byte{5, 2})
		// RFC 1929: VER ULEN UNAME PLEN PASSWD.
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 1 {
			return
		}
		user, err1 := readLenString(c)
		pass, err2 := readLenString(c)
		if err1 != nil || err2 != nil {
			return
		}
		if user != s.user || pass != s.pass {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	} else {
		if !contains(methods, 0) {
			c.Write([]byte{5, 0xff})
			return
		}
		c.Write([]byte{5, 0})
	}

	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[0] != 5 || req[1] != 1 {
		return
	}
	var host, kind string
	switch req[3] {
	case 1:
		ip := make(net.IP, 4)
		if _, err := io.ReadFull(c, ip); err != nil {
			return
		}
		host, kind = ip.String(), "ipv4"
	case 4:
		ip := make(net.IP, 16)
		if _, err := io.ReadFull(c, ip); err != nil {
			return
		}
		host, kind = ip.String(), "ipv6"
	case 3:
		name, err := readLenString(c)
		if err != nil {
			return
		}
		host, kind = name, "fqdn"
	default:
		return
	}
	var p [2]byte
	if _, err := io.ReadFull(c, p[:]); err != nil {
		return
	}
	port := int(binary.BigEndian.Uint16(p[:]))
	target := net.JoinHostPort(host, strconv.Itoa(port))
	s.mu.Lock()
	s.targets = append(s.targets, kind+" "+target)
	s.mu.Unlock()

	reply := func(code byte) { c.Write([]byte{5, code, 0, 1, 127, 0, 0, 1, 0, 0}) }
	if s.mode == "refuse" {
		reply(5) // connection refused
		return
	}
	// Loopback only: a name is taken to mean 127.0.0.1.
	if kind == "fqdn" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		reply(2) // not allowed by ruleset
		return
	}
	up, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		reply(5)
		return
	}
	if !srv.Track(up) {
		return
	}
	reply(0)
	c.SetDeadline(time.Time{})
	relay(c, up)
}

func readLenString(r io.Reader) (string, error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	b := make([]byte, n[0])
	_, err := io.ReadFull(r, b)
	return string(b), err
}

func contains(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

func TestSOCKS5(t *testing.T) {
	testfixture.CheckGoroutines(t)
	echoSrv := startEcho(t)
	ok := startSOCKS(t, "ok")
	authed := startSOCKS(t, "ok")
	authed.user, authed.pass = "anna", "s3cret"

	tests := []struct {
		name      string
		proxy     *socksServer
		auth      *proxy.Auth
		host      string
		wantKind  string
		wantError error // nil for success; else a kind, or errAny
	}{
		{"ipv4 target", ok, nil, "127.0.0.1", "ipv4", nil},
		{"name target goes to the proxy unresolved", ok, nil, "localhost", "fqdn", nil},
		{"auth", authed, &proxy.Auth{User: "anna", Password: "s3cret"}, "127.0.0.1", "ipv4", nil},
		{"auth wrong password", authed, &proxy.Auth{User: "anna", Password: "wrong"}, "127.0.0.1", "", errAny},
		{"auth required but not given", authed, nil, "127.0.0.1", "", errAny},
		{"refused", startSOCKS(t, "refuse"), nil, "127.0.0.1", "ipv4", errAny},
		{"garbage", startSOCKS(t, "garbage"), nil, "127.0.0.1", "", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.proxy.requested())
			d := Dialer{Proxy: SOCKS5(tt.proxy.Addr, tt.auth, nil), Timeout: 10 * time.Second}
			addr := Address{Network: "tcp", Host: tt.host, Port: echoSrv.Port()}
			conn, err := d.DialContext(context.Background(), addr)
			if tt.wantError == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				roundTrip(t, conn, "EHLO client.example\r\n")
			} else {
				if err == nil {
					conn.Close()
					t.Fatal("dial succeeded, want an error")
				}
				t.Log(err)
				de := as[*DialError](t, err)
				if de.Addr != addr {
					t.Errorf("DialError.Addr = %#v, want %#v", de.Addr, addr)
				}
				pe := as[*ProxyError](t, err)
				if pe.Protocol != "SOCKS5" || pe.Proxy != tt.proxy.Addr || pe.Target != addr.String() {
					t.Errorf("ProxyError = %+v", pe)
				}
				wantErrText(t, err, "transport: dial tcp "+addr.String()+": SOCKS5 proxy "+tt.proxy.Addr)
			}
			if got := tt.proxy.requested()[before:]; tt.wantKind != "" {
				want := tt.wantKind + " " + net.JoinHostPort(tt.host, strconv.Itoa(echoSrv.Port()))
				if len(got) != 1 || got[0] != want {
					t.Errorf("proxy saw %q, want %q", got, want)
				}
			}
		})
	}
}

// errAny marks a test case that wants some error.
var errAny = errors.New("any error")

func TestSOCKS5Direct(t *testing.T) {
	testfixture.CheckGoroutines(t)
	echoSrv := startEcho(t)
	p := startSOCKS(t, "ok")
	var forwarded []string
	forward := func(ctx context.Context, network, address string) (net.Conn, error) {
		forwarded = append(forwarded, network+" "+address)
		return defaultDial(ctx, network, address)
	}
	dial := SOCKS5(p.Addr, nil, forward)

	t.Run("forward reaches the proxy", func(t *testing.T) {
		conn, err := dial(context.Background(), "tcp", echoSrv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		roundTrip(t, conn, "NOOP\r\n")
		if len(forwarded) != 1 || forwarded[0] != "tcp "+p.Addr {
			t.Errorf("forward calls = %q", forwarded)
		}
	})
	t.Run("unix refused", func(t *testing.T) {
		_, err := dial(context.Background(), "unix", "/tmp/x")
		as[*ProxyError](t, err)
	})
	t.Run("proxy down", func(t *testing.T) {
		ln := listen(t)
		addr := ln.Addr().String()
		ln.Close()
		_, err := SOCKS5(addr, nil, nil)(context.Background(), "tcp", echoSrv.Addr)
		pe := as[*ProxyError](t, err)
		as[*net.OpError](t, pe.Err)
	})
}

func TestSOCKS5Cancel(t *testing.T) {
	for _, mode := range []string{"silent", "silent-after-greeting"} {
		t.Run(mode, func(t *testing.T) {
			testfixture.CheckGoroutines(t)
			p := startSOCKS(t, mode)
			d := Dialer{Proxy: SOCKS5(p.Addr, nil, nil)}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			conn, err := d.DialContext(ctx, Address{Host: "127.0.0.1", Port: 25})
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("cancel took %v", el)
			}
			t.Log(err)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v is not context.Canceled", err)
			}
			as[*ProxyError](t, err)
		})
	}
	t.Run("timeout", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		p := startSOCKS(t, "silent")
		d := Dialer{Proxy: SOCKS5(p.Addr, nil, nil), Timeout: 50 * time.Millisecond}
		_, err := d.DialContext(context.Background(), Address{Host: "127.0.0.1", Port: 25})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v is not context.DeadlineExceeded", err)
		}
	})
}
