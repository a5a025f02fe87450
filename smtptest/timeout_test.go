package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// closedWithin checks that the server closes nc within d, sending nothing
// or a 421 4.4.2 first, and returns what it sent.
func closedWithin(t *testing.T, nc io.Reader, setDeadline func(time.Time) error, d time.Duration) string {
	t.Helper()
	setDeadline(time.Now().Add(d))
	b, err := io.ReadAll(nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v (got %q)", d, b)
	}
	return string(b)
}

// TestIdleTimeout: a client that sends nothing, or a command line so
// slowly that it never ends, is sent 421 4.4.2 and closed once
// CommandTimeout has passed; one that keeps sending commands is not.
func TestIdleTimeout(t *testing.T) {
	const timeout = 450 * time.Millisecond
	s := newServer(t, Config{CommandTimeout: timeout})

	t.Run("idle", func(t *testing.T) {
		c := start(t, s)
		c.cmd("EHLO c.example", "250")
		begin := time.Now()
		c.expect("421 4.4.2 smtptest.localhost Timeout, closing connection")
		c.expectEOF()
		if d := time.Since(begin); d < timeout || d > timeout+5*time.Second {
			t.Errorf("closed after %v, want about %v", d, timeout)
		}
	})
	t.Run("slow drip", func(t *testing.T) {
		c := start(t, s)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 300 { // one octet every 20 ms: never a whole line in time
				if _, err := c.nc.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		got := closedWithin(t, c.nc, c.nc.SetReadDeadline, timeout+5*time.Second)
		if !strings.HasPrefix(got, "421 4.4.2 ") {
			t.Errorf("got %q, want a 421 4.4.2", got)
		}
		c.nc.Close()
		<-done
	})
	t.Run("busy", func(t *testing.T) {
		s := newServer(t, Config{CommandTimeout: time.Second})
		c := start(t, s)
		for range 8 { // 2 s in all, each command well within the timeout
			time.Sleep(250 * time.Millisecond)
			c.cmd("NOOP", "250")
		}
	})
	t.Run("data", func(t *testing.T) {
		s := newServer(t, Config{DataTimeout: timeout})
		c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
		c.send("Subject: never ends\r\n")
		c.expect("421 4.4.2 smtptest.localhost Timeout")
		c.expectEOF()
		c = runScript(t, s, envelope)
		c.send("BDAT 10 LAST\r\nabc")
		c.expect("421 4.4.2 smtptest.localhost Timeout")
	})
	t.Run("stall is not the client's", func(t *testing.T) {
		s := newServer(t, Config{CommandTimeout: timeout, Faults: []Fault{StallAt("NOOP", 3*timeout)}})
		c := start(t, s)
		c.cmd("NOOP", "250")
		c.cmd("NOOP", "250")
	})
}

// TestTLSHandshakeTimeout: a client that does not finish the handshake,
// after STARTTLS or on an implicit-TLS connection, is closed once
// TLSHandshakeTimeout has passed.
func TestTLSHandshakeTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	t.Run("implicit", func(t *testing.T) {
		s := newServer(t, Config{ImplicitTLS: true, TLSHandshakeTimeout: timeout})
		nc := dialRaw(t, s)
		closedWithin(t, nc, nc.SetReadDeadline, timeout+5*time.Second)
	})
	t.Run("STARTTLS", func(t *testing.T) {
		s := newServer(t, Config{Extensions: tlsExtensions(), TLSHandshakeTimeout: timeout})
		c := start(t, s)
		c.cmd("EHLO c.example", "250")
		c.cmd("STARTTLS", "220")
		c.nc.Write([]byte{0x16, 0x03, 0x01}) // the start of a ClientHello, and no more
		closedWithin(t, c.nc, c.nc.SetReadDeadline, timeout+5*time.Second)
	})
	t.Run("in time", func(t *testing.T) {
		s := newServer(t, Config{Extensions: tlsExtensions(), TLSHandshakeTimeout: timeout, CommandTimeout: timeout})
		c := start(t, s)
		c.cmd("EHLO c.example", "250")
		c.cmd("STARTTLS", "220")
		c.startTLS(s)
		time.Sleep(timeout / 2)
		c.cmd("EHLO c.example", "250")
		if _, ok := c.nc.(*tls.Conn); !ok {
			t.Fatal("not TLS")
		}
	})
}
