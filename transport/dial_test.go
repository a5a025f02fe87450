package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

func TestDialerTCP(t *testing.T) {
	testfixture.CheckGoroutines(t)
	srv := startEcho(t)

	tests := []struct {
		name string
		addr string
	}{
		{"ip:port", srv.Addr},
		{"bracketed ipv4", "[127.0.0.1]:" + strconv.Itoa(srv.Port())},
		{"default port", "127.0.0.1"}, // with srv's port as the default
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, err := ParseAddress(tt.addr, srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			var d Dialer
			conn, err := d.DialContext(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, ok := conn.(*net.TCPConn); !ok {
				t.Errorf("conn is a %T, want *net.TCPConn", conn)
			}
			roundTrip(t, conn, "EHLO client.example\r\n")
		})
	}
}

func TestDialerIPv6(t *testing.T) {
	testfixture.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := testfixture.ServeOn(t, ln, echo)
	for _, in := range []string{"[::1]:" + strconv.Itoa(srv.Port()), "::1", "[IPv6:::1]"} {
		t.Run(in, func(t *testing.T) {
			addr, err := ParseAddress(in, srv.Port())
			if err != nil {
				t.Fatal(err)
			}
			conn, err := new(Dialer).DialContext(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			roundTrip(t, conn, "NOOP\r\n")
		})
	}
}

func TestDialerUnix(t *testing.T) {
	testfixture.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "lmtp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("no Unix sockets: %v", err)
	}
	testfixture.ServeOn(t, ln, echo)

	addr, err := ParseAddress(path, PortSMTP)
	if err != nil {
		t.Fatal(err)
	}
	if addr.Network != "unix" {
		t.Fatalf("ParseAddress(%q) = %#v", path, addr)
	}
	// LocalAddr and Proxy do not apply to a Unix socket.
	d := Dialer{LocalAddr: "127.0.0.1", Proxy: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("the proxy was used for a Unix socket")
	}}
	conn, err := d.DialContext(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "LHLO client.example\r\n")

	t.Run("missing socket", func(t *testing.T) {
		missing := Address{Network: "unix", Host: filepath.Join(t.TempDir(), "none")}
		_, err := new(Dialer).DialContext(context.Background(), missing)
		de := as[*DialError](t, err)
		if de.Addr != missing {
			t.Errorf("Addr = %#v", de.Addr)
		}
		wantErrText(t, err, "transport: dial unix "+missing.Host)
	})
}

// remoteRecorder is an echo server that records the remote address of
// each connection.
type remoteRecorder struct {
	mu      sync.Mutex
	remotes []string
}

func (r *remoteRecorder) handle(s *testfixture.Server, c net.Conn) {
	r.mu.Lock()
	r.remotes = append(r.remotes, c.RemoteAddr().String())
	r.mu.Unlock()
	echo(s, c)
}

func (r *remoteRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.remotes) == 0 {
		return ""
	}
	return r.remotes[len(r.remotes)-1]
}

func TestDialerLocalAddr(t *testing.T) {
	testfixture.CheckGoroutines(t)
	var rec remoteRecorder
	srv := testfixture.Serve(t, rec.handle)
	addr := Address{Host: "127.0.0.1", Port: srv.Port()}

	// 127.0.0.2 is loopback on Linux, not everywhere.
	alt := "127.0.0.2"
	if ln, err := net.Listen("tcp", alt+":0"); err != nil {
		alt = ""
	} else {
		ln.Close()
	}
	freePort := func(ip string) string {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}

	tests := []struct {
		name     string
		local    string
		wantIP   string
		wantPort string // "" for any
		needAlt  bool
	}{
		{"ip", "127.0.0.1", "127.0.0.1", "", false},
		{"other loopback ip", "127.0.0.2", "127.0.0.2", "", true},
		{"ip and port 0", "127.0.0.2:0", "127.0.0.2", "", true},
		{"ip and port", "127.0.0.2:" + "PORT", "127.0.0.2", "PORT", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needAlt && alt == "" {
				t.Skip("127.0.0.2 is not a local address here")
			}
			local, wantPort := tt.local, tt.wantPort
			if wantPort == "PORT" {
				wantPort = freePort(tt.wantIP)
				local = strings.Replace(local, "PORT", wantPort, 1)
			}
			d := Dialer{LocalAddr: local}
			conn, err := d.DialContext(context.Background(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			roundTrip(t, conn, "NOOP\r\n") // the server has recorded us by now
			host, port, _ := net.SplitHostPort(rec.last())
			if host != tt.wantIP || (wantPort != "" && port != wantPort) {
				t.Errorf("server saw %s, want %s port %q", rec.last(), tt.wantIP, wantPort)
			}
		})
	}

	t.Run("invalid", func(t *testing.T) {
		for _, local := range []string{"localhost", "127.0.0.1:x", "[::1", "1.2.3"} {
			_, err := (&Dialer{LocalAddr: local}).DialContext(context.Background(), addr)
			ae := as[*AddressError](t, err)
			if ae.Input != local {
				t.Errorf("Input = %q, want %q", ae.Input, local)
			}
			as[*DialError](t, err)
		}
	})
	t.Run("ignored with Dial", func(t *testing.T) {
		d := Dialer{LocalAddr: "not an address", Dial: defaultDial}
		conn, err := d.DialContext(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	})
}

func TestParseLocalAddr(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"192.0.2.7", "192.0.2.7:0", true},
		{"192.0.2.7:2525", "192.0.2.7:2525", true},
		{"2001:db8::7", "[2001:db8::7]:0", true},
		{"[2001:db8::7]", "[2001:db8::7]:0", true},
		{"[2001:db8::7]:2525", "[2001:db8::7]:2525", true},
		{"host.example", "", false},
		{"192.0.2.7:x", "", false},
		{"[2001:db8::7", "", false},
		{"[192.0.2.7]", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseLocalAddr(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseLocalAddr(%q) = %v, %v", tt.in, got, err)
			}
			if tt.ok && got.String() != tt.want {
				t.Errorf("parseLocalAddr(%q) = %v, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestDialerDialFunc(t *testing.T) {
	testfixture.CheckGoroutines(t)
	var gotNetwork, gotAddress string
	done := make(chan struct{})
	d := Dialer{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		gotNetwork, gotAddress = network, address
		client, srv := net.Pipe()
		go func() {
			defer close(done)
			defer srv.Close()
			io.Copy(srv, srv)
		}()
		return client, nil
	}}
	conn, err := d.DialContext(context.Background(), Address{Host: "2001:db8::25", Port: 587})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, conn, "EHLO pipe\r\n")
	conn.Close()
	<-done
	if gotNetwork != "tcp" || gotAddress != "[2001:db8::25]:587" {
		t.Errorf("Dial got %q %q", gotNetwork, gotAddress)
	}

	t.Run("nil conn, nil error", func(t *testing.T) {
		d := Dialer{Dial: func(context.Context, string, string) (net.Conn, error) { return nil, nil }}
		_, err := d.DialContext(context.Background(), Address{Host: "h", Port: 25})
		as[*DialError](t, err)
	})
	t.Run("error is wrapped", func(t *testing.T) {
		boom := errors.New("boom")
		d := Dialer{Dial: func(context.Context, string, string) (net.Conn, error) { return nil, boom }}
		_, err := d.DialContext(context.Background(), Address{Host: "h", Port: 25})
		if !errors.Is(err, boom) {
			t.Fatalf("%v does not wrap the Dial error", err)
		}
		wantErrText(t, err, "transport: dial tcp h:25: boom")
	})
}

func TestDialerErrors(t *testing.T) {
	testfixture.CheckGoroutines(t)
	ln := listen(t)
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	tests := []struct {
		name string
		addr Address
		want string
	}{
		{"refused", Address{Host: "127.0.0.1", Port: closedPort}, "connection refused"},
		{"bad network", Address{Network: "udp", Host: "127.0.0.1", Port: 25}, "unknown network"},
		{"no port", Address{Host: "127.0.0.1"}, "port"},
		{"no host", Address{Port: 25}, "no host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := new(Dialer).DialContext(context.Background(), tt.addr)
			t.Log(err)
			de := as[*DialError](t, err)
			if de.Addr != tt.addr {
				t.Errorf("Addr = %#v, want %#v", de.Addr, tt.addr)
			}
			wantErrText(t, err, "transport: dial ", tt.want)
		})
	}
}

func TestDialerCancel(t *testing.T) {
	t.Run("custom Dial sees the cancellation", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		d := Dialer{Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := d.DialContext(ctx, Address{Host: "h", Port: 25})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v is not context.Canceled", err)
		}
	})
	t.Run("Timeout reaches Dial", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		var deadline time.Time
		d := Dialer{Timeout: 30 * time.Millisecond, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			deadline, _ = ctx.Deadline()
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		start := time.Now()
		_, err := d.DialContext(context.Background(), Address{Host: "h", Port: 25})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v is not context.DeadlineExceeded", err)
		}
		if deadline.Sub(start) > time.Second {
			t.Errorf("deadline %v after start", deadline.Sub(start))
		}
	})
	t.Run("default timeout", func(t *testing.T) {
		var deadline time.Time
		d := Dialer{Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			deadline, _ = ctx.Deadline()
			return nil, errors.New("no")
		}}
		start := time.Now()
		d.DialContext(context.Background(), Address{Host: "h", Port: 25})
		if got := deadline.Sub(start); got < DefaultTimeout-time.Second || got > DefaultTimeout+time.Second {
			t.Errorf("deadline %v after start, want %v", got, DefaultTimeout)
		}
	})
	t.Run("implicit TLS handshake", func(t *testing.T) {
		testfixture.CheckGoroutines(t)
		srv := testfixture.Serve(t, silent)
		d := Dialer{ImplicitTLS: true}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := d.DialContext(ctx, Address{Host: "127.0.0.1", Port: srv.Port()})
		t.Log(err)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v is not context.Canceled", err)
		}
		as[*TLSError](t, err)
	})
}

func TestDialerImplicitTLS(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tc := testfixture.SelfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := testfixture.ServeOn(t, ln, func(_ *testfixture.Server, c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if c.(*tls.Conn).Handshake() != nil {
			return
		}
		c.SetDeadline(time.Time{})
		io.Copy(c, c)
	})
	port := srv.Port()

	tests := []struct {
		name   string
		d      Dialer
		host   string
		verify bool // want a verification failure
	}{
		{"RootCAs, ip", Dialer{ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: tc.Pool}}, "127.0.0.1", false},
		{"RootCAs, name", Dialer{ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: tc.Pool}}, "localhost", false},
		{"system roots", Dialer{ImplicitTLS: true}, "127.0.0.1", true},
		{"name mismatch", Dialer{ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: tc.Pool, ServerName: "mail.example"}}, "127.0.0.1", true},
		{"through a proxy", Dialer{ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: tc.Pool},
			Proxy: HTTPConnect(startHTTPProxy(t, "ok").Addr, nil, nil)}, "localhost", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := Address{Host: tt.host, Port: port}
			conn, err := tt.d.DialContext(context.Background(), addr)
			if !tt.verify {
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				tconn, ok := conn.(*tls.Conn)
				if !ok {
					t.Fatalf("conn is a %T", conn)
				}
				if st := tconn.ConnectionState(); len(st.VerifiedChains) == 0 || st.Version < tls.VersionTLS12 {
					t.Errorf("state: %d chains, version %x", len(st.VerifiedChains), st.Version)
				}
				roundTrip(t, conn, "EHLO client.example\r\n")
				return
			}
			if err == nil {
				conn.Close()
				t.Fatal("no error")
			}
			t.Log(err)
			as[*DialError](t, err)
			if te := as[*TLSError](t, err); !te.VerificationFailed() {
				t.Error("VerificationFailed() = false")
			}
			wantErrText(t, err, "transport: dial tcp "+addr.String()+": TLS handshake with ", "TLSConfig.RootCAs", "transport.LoadCertPool", "turn TLS off")
		})
	}
	if tests[0].d.TLSConfig.ServerName != "" || tests[0].d.TLSConfig.MinVersion != 0 {
		t.Error("the Dialer's TLSConfig was modified")
	}
}

func TestDialerImplicitTLSUnix(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tc := testfixture.SelfSigned(t)
	path := filepath.Join(t.TempDir(), "tls.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("no Unix sockets: %v", err)
	}
	testfixture.ServeOn(t, ln, tlsEcho(tc.ServerConfig()))
	addr := Address{Network: "unix", Host: path}

	t.Run("ServerName given", func(t *testing.T) {
		d := Dialer{ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: tc.Pool, ServerName: "localhost"}}
		conn, err := d.DialContext(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		roundTrip(t, conn, "LHLO x\r\n")
	})
	t.Run("no ServerName", func(t *testing.T) {
		d := Dialer{ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: tc.Pool}}
		_, err := d.DialContext(context.Background(), addr)
		if !errors.Is(err, ErrNoServerName) {
			t.Fatalf("%v is not ErrNoServerName", err)
		}
	})
}
