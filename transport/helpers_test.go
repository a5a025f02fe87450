package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a loopback test server: it accepts on ln, runs handle for each
// connection, and at cleanup closes the listener and every connection it
// knows of and waits for its goroutines.
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	done  bool
}

func serve(t testing.TB, ln net.Listener, handle func(s *server, c net.Conn)) *server {
	t.Helper()
	s := &server{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.track(c) {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(s, c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// listen listens on loopback TCP.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// track registers a connection to close at cleanup; it reports false (and
// closes c) once the server is shutting down.
func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) close() {
	s.ln.Close()
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// addr is the server's "host:port".
func (s *server) addr() string { return s.ln.Addr().String() }

// port is the server's TCP port.
func (s *server) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// echo copies everything back.
func echo(_ *server, c net.Conn) { io.Copy(c, c) }

// silent reads and discards until the peer goes away: a server that
// never answers.
func silent(_ *server, c net.Conn) { io.Copy(io.Discard, c) }

// startEcho starts a loopback echo server.
func startEcho(t testing.TB) *server { return serve(t, listen(t), echo) }

// relay joins a and b until either side ends.
func relay(a, b net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(a, b); done <- struct{}{} }()
	go func() { io.Copy(b, a); done <- struct{}{} }()
	<-done
	a.Close()
	b.Close()
	<-done
}

// roundTrip writes msg on c and expects it echoed back.
func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

// checkGoroutines fails the test if, at its end (after every later
// cleanup: servers closed), more goroutines run than at the start.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		for range 200 {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after\n%s", before, now, buf)
	})
}

// testCert is a self-signed ECDSA P-256 certificate for "localhost",
// 127.0.0.1 and ::1, and a pool that trusts it.
type testCert struct {
	cert tls.Certificate
	pool *x509.CertPool
}

var (
	certOnce sync.Once
	certVal  testCert
	certErr  error
)

func newTestCert(t testing.TB) testCert {
	t.Helper()
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			certErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "smtpkit transport test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
			IsCA:                  true,
			DNSNames:              []string{"localhost"},
			IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			certErr = err
			return
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			certErr = err
			return
		}
		certVal.cert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		certVal.pool = x509.NewCertPool()
		certVal.pool.AddCert(leaf)
	})
	if certErr != nil {
		t.Fatal(certErr)
	}
	return certVal
}

// serverTLS is the test servers' TLS configuration.
func (tc testCert) serverTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{tc.cert}, MinVersion: tls.VersionTLS12}
}

// tlsEcho runs a TLS handshake as the server on c, then echoes.
func tlsEcho(cfg *tls.Config) func(*server, net.Conn) {
	return func(_ *server, c net.Conn) {
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		io.Copy(tc, tc)
	}
}

// wantErrText fails unless err's message contains every one of subs.
func wantErrText(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

// as is errors.As for tests.
func as[T error](t testing.TB, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}
