package transport

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

// listen listens on loopback TCP.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// echo copies everything back.
func echo(_ *testfixture.Server, c net.Conn) { io.Copy(c, c) }

// silent reads and discards until the peer goes away: a server that
// never answers.
func silent(_ *testfixture.Server, c net.Conn) { io.Copy(io.Discard, c) }

// startEcho starts a loopback echo server.
func startEcho(t testing.TB) *testfixture.Server { return testfixture.Serve(t, echo) }

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

// tlsEcho runs a TLS handshake as the server on c, then echoes.
func tlsEcho(cfg *tls.Config) func(*testfixture.Server, net.Conn) {
	return func(_ *testfixture.Server, c net.Conn) {
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		io.Copy(tc, tc)
	}
}

// controlChars returns the control characters in s.
func controlChars(s string) []rune {
	var out []rune
	for _, r := range s {
		if unicode.IsControl(r) {
			out = append(out, r)
		}
	}
	return out
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
