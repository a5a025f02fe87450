package testfixture

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The default certificate verifies for each default name through its own
// pool, and a TLS client that trusts it talks to a Server presenting it.
func TestSelfSignedHandshake(t *testing.T) {
	CheckGoroutines(t)
	cert := SelfSigned(t)
	for _, name := range DefaultNames {
		if _, err := cert.TLS.Leaf.Verify(x509.VerifyOptions{Roots: cert.Pool, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	srv := Serve(t, func(_ *Server, c net.Conn) {
		tc := tls.Server(c, cert.ServerConfig())
		io.Copy(tc, tc)
	})
	c, err := tls.Dial("tcp", srv.Addr, cert.ClientConfig("localhost"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "ping\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "ping\n" {
		t.Errorf("echo %q, %v", line, err)
	}
}

// Names go as they are: control characters too, and IP addresses apart.
func TestNewCertificateNames(t *testing.T) {
	subject := pkix.Name{CommonName: "cn\x1b]0;x\x07", Organization: []string{"org"}}
	cert, err := NewCertificate(subject, "evil\x1b[2J.example", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.TLS.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"evil\x1b[2J.example"}) || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("names %q, %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if leaf.Subject.CommonName != subject.CommonName || leaf.Issuer.CommonName != subject.CommonName {
		t.Errorf("subject %q, issuer %q", leaf.Subject, leaf.Issuer)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: cert.Pool, DNSName: "localhost"}); err == nil {
		t.Error("a certificate without localhost verified for it")
	}
}

// An issued certificate verifies through its CA's pool for its names,
// with the CA's certificate in its chain; an expired one does not.
func TestIssue(t *testing.T) {
	ca := SelfSigned(t)
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test", "192.0.2.25")
	if len(cert.Certificate) != 2 || string(cert.Certificate[1]) != string(ca.TLS.Leaf.Raw) {
		t.Errorf("chain of %d, want the leaf and the CA's", len(cert.Certificate))
	}
	for _, name := range []string{"mx.example.test", "192.0.2.25"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: SelfSigned(t).Pool}); err == nil {
		t.Error("verified through another CA's pool")
	}
	expired := ca.Issue(t, time.Now().Add(-time.Hour), "mx.example.test")
	var ie x509.CertificateInvalidError
	if _, err := expired.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool}); !errors.As(err, &ie) || ie.Reason != x509.Expired {
		t.Errorf("expired: %v", err)
	}
}

func TestWritePEM(t *testing.T) {
	cert := SelfSigned(t)
	certFile, keyFile := cert.WritePEM(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(pair.Certificate[0]) != string(cert.TLS.Certificate[0]) {
		t.Error("the PEM file holds another certificate")
	}
}

// Close closes the connections a handler is blocked on, and those it
// tracked, and waits for the handler; a second Close is harmless.
func TestServerClose(t *testing.T) {
	CheckGoroutines(t)
	target := Serve(t, func(_ *Server, c net.Conn) { io.Copy(io.Discard, c) })
	var mu sync.Mutex
	var ended []string
	srv := Serve(t, func(s *Server, c net.Conn) {
		up, err := net.Dial("tcp", target.Addr)
		if err != nil || !s.Track(up) {
			return
		}
		c.Write([]byte("ready\n"))
		io.Copy(io.Discard, up) // blocks until Close closes up
		mu.Lock()
		ended = append(ended, "handler")
		mu.Unlock()
	})
	if srv.Port() == 0 {
		t.Error("Port() = 0 on TCP")
	}
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "ready\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	srv.Close()
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(ended, []string{"handler"}) {
		t.Errorf("after Close: %q, want the handler ended", ended)
	}
	if _, err := net.Dial("tcp", srv.Addr); err == nil {
		t.Error("dial after Close succeeded")
	}
}

func TestRefusedAddr(t *testing.T) {
	_, err := net.Dial("tcp", RefusedAddr(t))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial: %v, want connection refused", err)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { io.WriteString(&b, "line\n") })
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("line\n", 8) {
		t.Errorf("got %q", got)
	}
}

// fakeT records what the helpers report.
type fakeT struct {
	errors   []string
	cleanups []func()
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Errorf(format string, _ ...any) { f.errors = append(f.errors, format) }
func (f *fakeT) Fatalf(format string, _ ...any) { f.errors = append(f.errors, format) }
func (f *fakeT) Cleanup(fn func())              { f.cleanups = append(f.cleanups, fn) }

// A goroutine started after CheckGoroutines and still running at the
// cleanup is reported; none is not.
func TestCheckGoroutines(t *testing.T) {
	// Goroutines of the tests before this one (servers closing) may still
	// be ending: one ending between the count and the check would hide
	// the goroutine left here. Start from a count that holds still.
	for prev := -1; ; time.Sleep(20 * time.Millisecond) {
		n := runtime.NumGoroutine()
		if n == prev {
			break
		}
		prev = n
	}
	var ft fakeT
	CheckGoroutines(&ft)
	stop := make(chan struct{})
	go func() { <-stop }()
	ft.cleanups[0]()
	close(stop)
	if len(ft.errors) != 1 {
		t.Fatalf("with a goroutine left: %d errors, want 1", len(ft.errors))
	}
	ft = fakeT{}
	CheckGoroutines(&ft)
	ft.cleanups[0]()
	if len(ft.errors) != 0 {
		t.Errorf("with none left: %d errors", len(ft.errors))
	}
}
