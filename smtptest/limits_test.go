package smtptest

import (
	"crypto/tls"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// TestMaxMessagesPerConnection: once a connection has delivered the
// limit, its next MAIL gets 421 and the connection closes; the commands
// pipelined behind that MAIL get no reply. Messages refused at the end of
// data do not count; a new connection starts from zero.
func TestMaxMessagesPerConnection(t *testing.T) {
	s := newServer(t, Config{MaxMessagesPerConnection: 2, Overrides: []Override{
		{Verb: EndOfData, Match: "refuse me", Reply: response.New(554, "5.7.1 No")},
	}})
	c := start(t, s)
	c.cmd("EHLO client.example", "250 ")
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 3 LAST\r\none" +
		"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 9 LAST\r\nrefuse me" +
		"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250", "250", "250 2.0.0 OK queued", "250", "250", "554 5.7.1", "250", "250", "354"} {
		c.expect(want)
	}
	c.send("two\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nthree\r\n.\r\nQUIT\r\n")
	c.expect("250 2.0.0 OK queued")
	c.expect("421 4.7.0 smtptest.localhost Too many messages in this connection")
	c.expectEOF()
	cmds := s.Commands()
	if cmds[len(cmds)-1] != "MAIL FROM:<a@example.org>" || strings.Contains(strings.Join(cmds, " "), "QUIT") {
		t.Errorf("commands %q: want nothing read after the refused MAIL", cmds)
	}

	// The limit is per connection.
	c2 := start(t, s)
	c2.cmd("EHLO client.example", "250 ")
	c2.cmd("MAIL FROM:<a@example.org>", "250")
	s.Close()
	msgs := s.Messages()
	if len(msgs) != 2 || string(msgs[0].Data) != "one" || string(msgs[1].Data) != "two\r\n" {
		t.Errorf("messages %+v", msgs)
	}
}

// TestMaxMessagesPerConnectionLMTP: in LMTP a message counts once when at
// least one recipient took it.
func TestMaxMessagesPerConnectionLMTP(t *testing.T) {
	s := newServer(t, Config{LMTP: true, MaxMessagesPerConnection: 1, Overrides: []Override{
		{Verb: EndOfData, Match: "<b@", Reply: response.New(452, "4.2.2 Full")},
	}})
	c := start(t, s)
	c.cmd("LHLO client.example", "250 ")
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 1 LAST\r\nx" +
		"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nBDAT 1 LAST\r\ny" +
		"MAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.org>\r\n")
	for _, want := range []string{"250", "250", "452 4.2.2", "250", "250", "250", "452 4.2.2", "250 2.1.5 <c@example.org> OK"} {
		c.expect(want)
	}
	c.expect("421 4.7.0 smtptest.localhost Too many messages in this connection")
	c.expectEOF()
	if msgs := s.Messages(); len(msgs) != 1 || string(msgs[0].Data) != "y" {
		t.Errorf("messages %+v", msgs)
	}
}

// TestMaxConnections: past the limit a connection gets 421 and is closed;
// once a connection ends, its place is free again. With ImplicitTLS the
// 421 comes over TLS.
func TestMaxConnections(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		s := newServer(t, Config{MaxConnections: 2})
		c1 := start(t, s)
		c2 := start(t, s)
		c3 := dial(t, s)
		c3.expect("421 4.7.0 smtptest.localhost Too many connections")
		c3.expectEOF()
		c2.cmd("NOOP", "250") // the two served are unaffected
		c1.cmd("QUIT", "221")
		c1.nc.Close()
		// The server frees the place once the connection's goroutine has
		// ended: try until a connection is served.
		deadline := time.Now().Add(testDeadline)
		for {
			c := dial(t, s)
			if r := c.reply(); r.Code == response.CodeServiceReady {
				break
			}
			c.nc.Close()
			if time.Now().After(deadline) {
				t.Fatal("no place freed after QUIT")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if s.Conns() != 3 || s.RefusedConns() < 1 {
			t.Errorf("Conns %d, RefusedConns %d; want 3 served, at least 1 refused", s.Conns(), s.RefusedConns())
		}
	})
	t.Run("implicit TLS", func(t *testing.T) {
		s := newServer(t, Config{MaxConnections: 1, ImplicitTLS: true})
		cfg := s.ClientTLSConfig()
		cfg.ServerName = "127.0.0.1"
		dialTLS := func() *client {
			tc := tls.Client(dialRaw(t, s), cfg)
			return &client{t: t, nc: tc, r: wire.NewReader(tc)}
		}
		dialTLS().expect("220 ")
		c := dialTLS()
		c.expect("421 4.7.0 smtptest.localhost Too many connections")
		c.expectEOF()
	})
}

// TestMaxRecipients: the RCPT past the limit gets 452 4.5.3 and the
// transaction goes on with the recipients accepted.
func TestMaxRecipients(t *testing.T) {
	s := newServer(t, Config{MaxRecipients: 2})
	c := runScript(t, s, envelope)
	c.cmd("RCPT TO:<c@example.org>", "250 2.1.5")
	c.cmd("RCPT TO:<d@example.org>", "452 4.5.3 Too many recipients")
	c.send("BDAT 1 LAST\r\nx")
	c.expect("250 2.0.0 OK queued")
	if m := s.Messages(); len(m) != 1 || strings.Join(m[0].To, " ") != "bob@example.net c@example.org" {
		t.Errorf("messages %+v", m)
	}
}

// A size limit near math.MaxInt64 (the natural "no practical limit") must
// not refuse small messages. readDotData computes 2*maxSize+16, which wraps
// to 14 for math.MaxInt64, so every message of more than 14 octets gets
// "552 Message too big".
func TestHugeSizeLimitDoesNotOverflow(t *testing.T) {
	for _, cfg := range []Config{
		{MaxMessageSize: math.MaxInt64},
		{MaxMessageSize: math.MaxInt64 - 3},
		{Extensions: []string{"SIZE 9223372036854775807", "ENHANCEDSTATUSCODES"}},
	} {
		s := newServer(t, cfg)
		body := "Subject: hi\r\n\r\n" + strings.Repeat("a line of text\r\n", 4) + ".\r\n"
		if r := sendData(t, s, body).reply(); !r.Positive() {
			t.Errorf("MaxMessageSize %d, extensions %q: end of data got %q, want 250",
				cfg.MaxMessageSize, cfg.Extensions, summary(r))
		}
		if n := len(s.Messages()); n != 1 {
			t.Errorf("MaxMessageSize %d, extensions %q: %d messages recorded, want 1",
				cfg.MaxMessageSize, cfg.Extensions, n)
		}
	}
}
