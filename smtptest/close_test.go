package smtptest

import (
	"crypto/tls"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

var bye = response.New(response.CodeServiceNotAvailable, "4.3.2 Shutting down")

// TestReply421Closes: whatever a 421 answers and wherever it comes from, the
// server sends it, closes the connection (RFC 5321 §3.8) and reads nothing
// after it: the commands pipelined behind it get no reply and are not
// recorded.
func TestReply421Closes(t *testing.T) {
	rcpt421 := func(_ *ConnState, _ string, cmd command.Command) (response.Reply, bool) {
		_, ok := cmd.(command.Rcpt)
		return bye, ok
	}
	tests := []struct {
		name string
		cfg  Config
		// send goes after EHLO in one write; want are the replies to it,
		// the last of them the 421.
		send     string
		want     []string
		lastCmd  string // the last command recorded
		messages int
	}{
		{"Override MAIL", Config{Overrides: []Override{{Verb: "MAIL", Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nNOOP\r\n",
			[]string{"421 4.3.2"}, "MAIL FROM:<a@example.org>", 0},
		{"Override RCPT", Config{Overrides: []Override{{Verb: "RCPT", Match: "<c@", Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "421 4.3.2"}, "RCPT TO:<c@example.org>", 0},
		{"Override DATA", Config{Overrides: []Override{{Verb: "DATA", Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\nNOOP\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "421 4.3.2"}, "DATA", 0},
		{"Override EndOfData after DATA", Config{Overrides: []Override{{Verb: EndOfData, Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nx\r\n.\r\nMAIL FROM:<a@example.org>\r\nNOOP\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "354", "421 4.3.2"}, "DATA", 0},
		{"Override EndOfData after BDAT LAST", Config{Overrides: []Override{{Verb: EndOfData, Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 1\r\nxBDAT 1 LAST\r\nyNOOP\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "250 2.0.0 1 octets", "421 4.3.2"}, "BDAT 1 LAST", 0},
		{"Override BDAT", Config{Overrides: []Override{{Verb: "BDAT", Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 1\r\nxBDAT 1 LAST\r\nyNOOP\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "421 4.3.2"}, "BDAT 1", 0},
		{"Handler", Config{Handler: rcpt421},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nQUIT\r\n",
			[]string{"250 2.1.0", "421 4.3.2"}, "RCPT TO:<b@example.org>", 0},
		{"Override QUIT", Config{Overrides: []Override{{Verb: "QUIT", Reply: bye}}},
			"QUIT\r\nNOOP\r\n", []string{"421 4.3.2"}, "QUIT", 0},
		{"after a message", Config{Overrides: []Override{{Verb: "MAIL", Nth: 2, Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 1 LAST\r\nxMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "250 2.0.0 OK queued", "421 4.3.2"}, "MAIL FROM:<a@example.org>", 1},
		{"LMTP: one recipient's reply", Config{LMTP: true, Overrides: []Override{{Verb: EndOfData, Match: "<c@", Reply: bye}}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nBDAT 1 LAST\r\nxNOOP\r\n",
			[]string{"250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.1.5", "250 2.1.5 <b@example.org>", "421 4.3.2"}, "BDAT 1 LAST", 1},
		{"LMTP: Handler for BDAT LAST", Config{LMTP: true, Handler: func(_ *ConnState, line string, _ command.Command) (response.Reply, bool) {
			return bye, strings.HasPrefix(line, "BDAT")
		}},
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nBDAT 1 LAST\r\nxNOOP\r\n",
			// One 421, not one per recipient: the server closes after it.
			[]string{"250 2.1.0", "250 2.1.5", "250 2.1.5", "421 4.3.2"}, "BDAT 1 LAST", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			c := start(t, s)
			hello := "EHLO client.example"
			if tt.cfg.LMTP {
				hello = "LHLO client.example"
			}
			c.cmd(hello, "250 ")
			c.send(tt.send)
			for _, want := range tt.want {
				c.expect(want)
			}
			c.expectEOF()
			s.Close()
			if cmds := s.Commands(); len(cmds) == 0 || cmds[len(cmds)-1] != tt.lastCmd {
				t.Errorf("commands %q, want the last to be %q", cmds, tt.lastCmd)
			}
			msgs := s.Messages()
			if len(msgs) != tt.messages {
				t.Errorf("%d messages, want %d", len(msgs), tt.messages)
			}
			if tt.cfg.LMTP && len(msgs) == 1 && !slices.Equal(msgs[0].To, []string{"b@example.org"}) {
				t.Errorf("message to %q, want only the recipient answered 250 before the 421", msgs[0].To)
			}
		})
	}
}

func TestGreeting421OverrideCloses(t *testing.T) {
	s := newServer(t, Config{Overrides: []Override{{Verb: Greeting, Reply: bye}}})
	c := dial(t, s)
	c.send("EHLO client.example\r\n")
	c.expect("421 4.3.2 Shutting down")
	c.expectEOF()
	s.Close()
	if cmds := s.Commands(); len(cmds) != 0 {
		t.Errorf("commands %q after a 421 greeting", cmds)
	}
}

// TestReply421ClosesTLS: over TLS the server ends with a close_notify,
// which the client reads as a clean end of the stream.
func TestReply421ClosesTLS(t *testing.T) {
	s := newServer(t, Config{ImplicitTLS: true, Overrides: []Override{{Verb: "MAIL", Reply: bye}}})
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "localhost"
	tc := tls.Client(dialRaw(t, s), cfg)
	c := &client{t: t, nc: tc, r: wire.NewReader(tc)}
	c.expect("220 ")
	c.cmd("EHLO client.example", "250 ")
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n")
	c.expect("421 4.3.2")
	c.expectEOF()
}

// TestReply421ReachesAPipeliningClient: a client may have sent much more
// after the command that gets 421. The server must not reset the
// connection over that unread input (which could destroy the 421 before
// the client reads it): it closes its side and drains the rest.
func TestReply421ReachesAPipeliningClient(t *testing.T) {
	s := newServer(t, Config{Overrides: []Override{{Verb: "MAIL", Reply: bye}}})
	c := start(t, s)
	c.cmd("EHLO client.example", "250 ")
	junk := "MAIL FROM:<a@example.org>\r\n" + strings.Repeat("NOOP\r\n", 1<<20/6*4)
	written := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c.nc, junk)
		written <- err
	}()
	c.expect("421 4.3.2")
	c.expectEOF()
	if err := <-written; err != nil {
		t.Errorf("writing after the 421: %v (the server reset the connection)", err)
	}
	c.nc.Close()
	s.Close()
	if n := len(s.Commands()); n != 2 {
		t.Errorf("%d commands recorded, want EHLO and MAIL", n)
	}
}
