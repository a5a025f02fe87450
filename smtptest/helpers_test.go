package smtptest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// testDeadline bounds every client read and write, so that a broken
// server fails the test instead of hanging it.
const testDeadline = 10 * time.Second

// client is a scripted SMTP client on a raw connection.
type client struct {
	t  testing.TB
	nc net.Conn
	r  *wire.Reader
}

func newServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

func dialRaw(t testing.TB, s *Server) net.Conn {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(s.Addr, "/") {
		network = "unix"
	}
	nc, err := net.Dial(network, s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(testDeadline))
	t.Cleanup(func() { nc.Close() })
	return nc
}

// dial connects without reading the greeting.
func dial(t testing.TB, s *Server) *client {
	t.Helper()
	nc := dialRaw(t, s)
	return &client{t: t, nc: nc, r: wire.NewReader(nc)}
}

// start connects and checks for a 220 greeting.
func start(t testing.TB, s *Server) *client {
	t.Helper()
	c := dial(t, s)
	c.expect("220 ")
	return c
}

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, raw); err != nil {
		c.t.Fatalf("write %q: %v", raw, err)
	}
}

func (c *client) reply() response.Reply {
	c.t.Helper()
	r, err := c.r.ReadReply()
	if err != nil {
		c.t.Fatalf("reading reply: %v", err)
	}
	return r
}

// summary is a reply as "code text", its lines joined with "\n".
func summary(r response.Reply) string { return fmt.Sprintf("%d %s", int(r.Code), r.Text) }

// expect reads a reply and checks that its summary starts with want.
func (c *client) expect(want string) response.Reply {
	c.t.Helper()
	r := c.reply()
	if !strings.HasPrefix(summary(r), want) {
		c.t.Fatalf("reply %q, want %q...", summary(r), want)
	}
	return r
}

// cmd sends line with CRLF and checks the reply.
func (c *client) cmd(line, want string) response.Reply {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(want)
}

// expectClosed checks that the server closes the connection without
// sending anything more.
func (c *client) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testDeadline))
	r, err := c.r.ReadReply()
	if err == nil {
		c.t.Fatalf("got reply %q, want the connection closed", summary(r))
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("connection still open: %v", err)
	}
}

// expectEOF checks that the server ends the stream cleanly (a FIN, or a
// TLS close_notify, not a reset) without sending anything more.
func (c *client) expectEOF() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testDeadline))
	r, err := c.r.ReadReply()
	if err == nil {
		c.t.Fatalf("got reply %q, want the end of the stream", summary(r))
	}
	if !errors.Is(err, io.EOF) {
		c.t.Fatalf("reading after the last reply: %v, want io.EOF", err)
	}
}

// startTLS upgrades the client's connection after a 220.
func (c *client) startTLS(s *Server) {
	c.t.Helper()
	if n := c.r.Buffered(); n != 0 {
		c.t.Fatalf("%d octets after the STARTTLS reply", n)
	}
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "localhost"
	tc := tls.Client(c.nc, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.nc = tc
	c.r = wire.NewReader(tc)
}

// readAll reads what the server sends until it closes the connection.
func readAll(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	var b bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after %q", b.Bytes())
			}
			return b.Bytes()
		}
	}
}
