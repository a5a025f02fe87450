package smtptest

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// step is one exchange of a script: send is written as is with CRLF added
// (raw is written as is), and the reply must start with want.
type step struct {
	send string
	raw  string
	want string
}

func runScript(t *testing.T, s *Server, steps []step) *client {
	t.Helper()
	c := start(t, s)
	for _, st := range steps {
		if st.raw != "" {
			c.send(st.raw)
		} else {
			c.send(st.send + "\r\n")
		}
		c.expect(st.want)
	}
	return c
}

var envelope = []step{
	{send: "EHLO client.example", want: "250 smtptest.localhost greets client.example"},
	{send: "MAIL FROM:<alice@example.org>", want: "250 2.1.0 OK"},
	{send: "RCPT TO:<bob@example.net>", want: "250 2.1.5 OK"},
}

func TestTransaction(t *testing.T) {
	s := newServer(t, Config{})
	c := start(t, s)
	ehlo := c.cmd("EHLO client.example", "250 smtptest.localhost greets client.example\n")
	if diff := cmp.Diff(append([]string{"smtptest.localhost greets client.example"}, DefaultExtensions()...), ehlo.Lines()); diff != "" {
		t.Errorf("EHLO reply (-want +got):\n%s", diff)
	}
	c.cmd("MAIL FROM:<alice@example.org> SIZE=20 BODY=8BITMIME", "250 2.1.0 OK")
	c.cmd("RCPT TO:<bob@example.net>", "250 2.1.5 OK")
	c.cmd("RCPT TO:<carol@example.net> NOTIFY=SUCCESS,FAILURE", "250 2.1.5 OK")
	c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: hi\r\n\r\nHello.\r\n.\r\n")
	c.expect("250 2.0.0 OK queued")
	c.cmd("QUIT", "221 2.0.0 smtptest.localhost closing connection")
	c.expectClosed()
	s.Close()

	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	want := Message{
		Conn: 1, Helo: "client.example", From: "alice@example.org",
		Mail: command.Mail{
			From:   command.Mailbox{Local: "alice", Domain: "example.org"},
			Params: command.MailParams{Size: 20, Body: command.Body8BitMIME},
		},
		Rcpts: []command.Rcpt{
			{To: command.Mailbox{Local: "bob", Domain: "example.net"}},
			{To: command.Mailbox{Local: "carol", Domain: "example.net"}, Params: command.RcptParams{Notify: command.NotifySuccess | command.NotifyFailure}},
		},
		To:   []string{"bob@example.net", "carol@example.net"},
		Data: []byte("Subject: hi\r\n\r\nHello.\r\n"),
		Raw:  []byte("Subject: hi\r\n\r\nHello.\r\n.\r\n"),
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	wantCmds := []string{
		"EHLO client.example",
		"MAIL FROM:<alice@example.org> SIZE=20 BODY=8BITMIME",
		"RCPT TO:<bob@example.net>",
		"RCPT TO:<carol@example.net> NOTIFY=SUCCESS,FAILURE",
		"DATA",
		"QUIT",
	}
	if diff := cmp.Diff(wantCmds, s.Commands()); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
	if s.Conns() != 1 {
		t.Errorf("Conns() = %d, want 1", s.Conns())
	}
}

func TestReplies(t *testing.T) {
	noEnhanced := []string{"PIPELINING", "8BITMIME"}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"MAIL before EHLO", Config{}, []step{{send: "MAIL FROM:<a@example.org>", want: "503 5.5.1 Send EHLO or HELO first"}}},
		{"RCPT before MAIL", Config{}, []step{envelope[0], {send: "RCPT TO:<b@example.org>", want: "503 5.5.1 Need MAIL before RCPT"}}},
		{"DATA before MAIL", Config{}, []step{envelope[0], {send: "DATA", want: "503 5.5.1 Need MAIL before DATA"}}},
		{"DATA without RCPT", Config{}, []step{envelope[0], envelope[1], {send: "DATA", want: "554 5.5.1 No valid recipients"}}},
		{"nested MAIL", Config{}, []step{envelope[0], envelope[1], {send: "MAIL FROM:<b@example.org>", want: "503 5.5.1 Nested MAIL command"}}},
		{"RSET ends the transaction", Config{}, []step{envelope[0], envelope[1], {send: "RSET", want: "250 2.0.0 OK"}, {send: "RCPT TO:<b@example.org>", want: "503 5.5.1"}, envelope[1]}},
		{"EHLO ends the transaction", Config{}, []step{envelope[0], envelope[1], envelope[0], envelope[1]}},
		{"HELO", Config{}, []step{{send: "HELO client.example", want: "250 smtptest.localhost greets client.example"}, envelope[1]}},
		{"Hostname", Config{Hostname: "mx.test"}, []step{{send: "HELO c.example", want: "250 mx.test greets c.example"}}},
		{"SIZE over MaxMessageSize", Config{MaxMessageSize: 100}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> SIZE=101", want: "552 5.3.4"}, {send: "MAIL FROM:<a@example.org> SIZE=100", want: "250"}}},
		{"SIZE over the extension's", Config{Extensions: []string{"SIZE 50", "ENHANCEDSTATUSCODES"}}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> SIZE=51", want: "552 5.3.4 Message size exceeds fixed maximum message size"}}},
		{"SIZE not offered", Config{Extensions: []string{"ENHANCEDSTATUSCODES"}}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> SIZE=5", want: "555 5.5.4 SIZE parameter not supported"}}},
		{"SMTPUTF8 not offered", Config{Extensions: []string{"8BITMIME", "ENHANCEDSTATUSCODES"}}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> SMTPUTF8", want: "555 5.5.4 SMTPUTF8 parameter not supported"}}},
		{"BODY not offered", Config{Extensions: []string{"ENHANCEDSTATUSCODES"}}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> BODY=8BITMIME", want: "555 5.5.4 BODY parameter not supported"}}},
		{"BINARYMIME not offered", Config{}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> BODY=BINARYMIME", want: "555 5.5.4 BODY"}}},
		{"unknown MAIL parameter", Config{}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> XFOO=1", want: "555 5.5.4 XFOO parameter not supported"}}},
		{"listed MAIL parameter", Config{Extensions: []string{"XFOO"}}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> XFOO=1", want: "250 OK"}}},
		{"NOTIFY without DSN", Config{Extensions: []string{"ENHANCEDSTATUSCODES"}}, []step{envelope[0], envelope[1], {send: "RCPT TO:<b@example.org> NOTIFY=NEVER", want: "555 5.5.4 NOTIFY"}}},
		{"UTF-8 RCPT without SMTPUTF8", Config{}, []step{envelope[0], envelope[1], {send: "RCPT TO:<jörg@example.org>", want: "553 5.6.7"}}},
		{"UTF-8 MAIL without SMTPUTF8", Config{}, []step{envelope[0], {send: "MAIL FROM:<jörg@example.org>", want: "553 5.6.7"}}},
		{"UTF-8 with SMTPUTF8", Config{}, []step{envelope[0], {send: "MAIL FROM:<jörg@example.org> SMTPUTF8", want: "250"}, {send: "RCPT TO:<jörg@example.org>", want: "250"}}},
		{"unknown verb", Config{}, []step{{send: "XFOO bar", want: "500 5.5.1 Command unrecognized"}}},
		{"malformed verb", Config{}, []step{{send: "FO@O", want: "500 5.5.2 Syntax error, command unrecognized"}}},
		{"bare LF", Config{}, []step{{raw: "NOOP\n", want: "500 5.5.2"}, {send: "NOOP", want: "250"}}},
		{"MAIL syntax", Config{}, []step{envelope[0], {send: "MAIL FROM:alice@example.org", want: "501 5.5.4 Syntax error: MAIL FROM"}}},
		{"EHLO without domain", Config{}, []step{{send: "EHLO", want: "501 5.5.4"}}},
		{"DisableEHLO", Config{DisableEHLO: true}, []step{{send: "EHLO c.example", want: "502 5.5.1 Command not implemented"}, {send: "HELO c.example", want: "250"}, envelope[1]}},
		{"LHLO in SMTP", Config{}, []step{{send: "LHLO c.example", want: "500 5.5.1"}}},
		{"EHLO in LMTP", Config{LMTP: true}, []step{{send: "EHLO c.example", want: "500 5.5.1"}, {send: "MAIL FROM:<a@example.org>", want: "503 5.5.1 Send LHLO first"}}},
		{"STARTTLS not offered", Config{}, []step{envelope[0], {send: "STARTTLS", want: "502 5.5.1"}}},
		{"AUTH not offered", Config{}, []step{envelope[0], {send: "AUTH PLAIN", want: "502 5.5.1"}}},
		{"NOOP VRFY EXPN HELP", Config{}, []step{
			{send: "NOOP", want: "250 2.0.0 OK"},
			{send: "VRFY bob", want: "252 2.1.5 Cannot VRFY user"},
			{send: "EXPN list", want: "502 5.5.1 EXPN not supported"},
			{send: "HELP", want: "214 2.0.0"},
		}},
		{"no ENHANCEDSTATUSCODES", Config{Extensions: noEnhanced}, []step{envelope[0], {send: "MAIL FROM:<a@example.org>", want: "250 OK"}, {send: "MAIL FROM:<a@example.org>", want: "503 Nested"}}},
		{"no extensions at all", Config{Extensions: []string{}}, []step{{send: "EHLO c.example", want: "250 smtptest.localhost greets c.example"}}},
		{"554 greeting", Config{Greeting: &response.Reply{Code: 554, Text: "No thanks"}}, nil},
		{"RequireTLS", Config{RequireTLS: true}, []step{envelope[0], {send: "MAIL FROM:<a@example.org>", want: "530 5.7.0 Must issue a STARTTLS command first"}}},
		{"RequireAuth", Config{RequireAuth: true}, []step{envelope[0], {send: "MAIL FROM:<a@example.org>", want: "530 5.7.0 Authentication required"}}},
		{"BDAT without CHUNKING", Config{Extensions: []string{"ENHANCEDSTATUSCODES"}}, []step{envelope[0], envelope[1], envelope[2], {raw: "BDAT 5\r\nhello", want: "502 5.5.1"}, {send: "NOOP", want: "250"}}},
		{"BDAT before MAIL", Config{}, []step{envelope[0], {raw: "BDAT 5 LAST\r\nhello", want: "503 5.5.1 Need MAIL before BDAT"}, {send: "NOOP", want: "250"}}},
		{"BDAT without RCPT", Config{}, []step{envelope[0], envelope[1], {raw: "BDAT 2\r\nhi", want: "554 5.5.1"}}},
		{"DATA after BDAT", Config{}, append(slices.Clone(envelope), step{raw: "BDAT 2\r\nhi", want: "250 2.0.0 2 octets received"}, step{send: "DATA", want: "503 5.5.1 DATA mixed with BDAT"})},
		{"BINARYMIME with DATA", Config{Extensions: []string{"CHUNKING", "BINARYMIME", "ENHANCEDSTATUSCODES"}}, []step{envelope[0], {send: "MAIL FROM:<a@example.org> BODY=BINARYMIME", want: "250"}, envelope[2], {send: "DATA", want: "503 5.5.1 BINARYMIME requires BDAT"}}},
		{"data over the limit", Config{MaxMessageSize: 10}, append(slices.Clone(envelope),
			step{send: "DATA", want: "354"},
			step{raw: "0123456789ABCDEF\r\n.\r\n", want: "552 5.3.4 Message too big"},
			step{send: "NOOP", want: "250"})},
		{"data at the limit", Config{MaxMessageSize: 10}, append(slices.Clone(envelope),
			step{send: "DATA", want: "354"},
			step{raw: "..345678\r\n.\r\n", want: "250 2.0.0 OK queued"})},
		{"BDAT over the limit", Config{MaxMessageSize: 10}, append(slices.Clone(envelope),
			step{raw: "BDAT 6\r\n123456", want: "250"},
			step{raw: "BDAT 6\r\n123456", want: "552 5.3.4"},
			// The refused chunk failed the transaction: the last chunk is
			// refused too, and the transaction stays until RSET.
			step{raw: "BDAT 1 LAST\r\n1", want: "503 5.5.0 Previous data chunk failed, issue RSET first"},
			step{send: "NOOP", want: "250"},
			step{send: "MAIL FROM:<alice@example.org>", want: "503 5.5.1 Nested MAIL command"},
			step{send: "RSET", want: "250"},
			envelope[1])},
		{"BDAT LAST over the limit", Config{MaxMessageSize: 10}, append(slices.Clone(envelope),
			step{raw: "BDAT 6\r\n123456", want: "250"},
			// The end-of-data reply: it ends the transaction.
			step{raw: "BDAT 6 LAST\r\n123456", want: "552 5.3.4 Message too big"},
			envelope[1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			if tt.cfg.Greeting != nil {
				c := dial(t, s)
				c.expect("554 No thanks")
				c.cmd("EHLO c.example", "503 5.5.1 No SMTP service here")
				c.cmd("QUIT", "221")
				c.expectClosed()
				return
			}
			runScript(t, s, tt.steps)
			s.Close()
			if n := len(s.Messages()); n != 0 && !strings.Contains(tt.name, "at the limit") {
				t.Errorf("%d messages recorded", n)
			}
		})
	}
}

func Test421GreetingCloses(t *testing.T) {
	r := response.New(421, "4.3.2 Go away")
	s := newServer(t, Config{Greeting: &r})
	c := dial(t, s)
	c.expect("421 4.3.2 Go away")
	c.expectClosed()
}

func TestDotStuffing(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		data string
	}{
		{"empty", ".\r\n", ""},
		{"stuffed", "a\r\n..b\r\n...\r\n.\r\n", "a\r\n.b\r\n..\r\n"},
		{"bare LF and CR are data", "x\n.\ny\r.\r\nz\r\n.\r\n", "x\n.\ny\r.\r\nz\r\n"},
		// The line is ".\nMAIL ...\r\n": a bare LF does not end it, and its
		// stuffed '.' goes (RFC 5321 §4.5.2).
		{"smuggling attempt", "a\r\n.\nMAIL FROM:<x@y.example>\r\n.\r\n", "a\r\n\nMAIL FROM:<x@y.example>\r\n"},
		{"8-bit and NUL", "caf\xc3\xa9\x00\r\n.\r\n", "caf\xc3\xa9\x00\r\n"},
		{"long line", strings.Repeat("y", 70000) + "\r\n.\r\n", strings.Repeat("y", 70000) + "\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{})
			c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
			c.send(tt.raw)
			c.expect("250 2.0.0 OK queued")
			c.cmd("NOOP", "250")
			msgs := s.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages", len(msgs))
			}
			if got := string(msgs[0].Raw); got != tt.raw {
				t.Errorf("Raw = %q, want %q", got, tt.raw)
			}
			if got := string(msgs[0].Data); got != tt.data {
				t.Errorf("Data = %q, want %q", got, tt.data)
			}
		})
	}
}

func TestBDAT(t *testing.T) {
	s := newServer(t, Config{})
	c := runScript(t, s, envelope)
	c.send("BDAT 5\r\nhe\r\n.BDAT 0\r\nBDAT 7 LAST\r\n world\n")
	c.expect("250 2.0.0 5 octets received")
	c.expect("250 2.0.0 0 octets received")
	c.expect("250 2.0.0 OK queued")
	// A second message on the same connection, with DATA.
	runSteps(t, c, envelope[1:])
	c.cmd("DATA", "354")
	c.send("two\r\n.\r\n")
	c.expect("250 2.0.0 OK queued")
	c.cmd("BDAT 0 LAST", "503 5.5.1")

	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	want := "he\r\n. world\n"
	if m := msgs[0]; string(m.Data) != want || string(m.Raw) != want || !m.Chunked {
		t.Errorf("message = %q, raw %q, chunked %v; want %q chunked", m.Data, m.Raw, m.Chunked, want)
	}
	if m := msgs[1]; string(m.Data) != "two\r\n" || m.Chunked {
		t.Errorf("second message = %q, chunked %v", m.Data, m.Chunked)
	}
}

func runSteps(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, st := range steps {
		c.cmd(st.send, st.want)
	}
}

func TestPipelining(t *testing.T) {
	s := newServer(t, Config{})
	c := start(t, s)
	c.send("EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 smtptest", "250 2.1.0", "250 2.1.5", "250 2.1.5", "250 2.1.5", "354"} {
		c.expect(want)
	}
	c.send("x\r\n.\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 1 LAST\r\nyNOOP\r\nQUIT\r\n")
	for _, want := range []string{"250 2.0.0 OK queued", "250 2.1.0", "250 2.1.5", "250 2.0.0 OK queued", "250 2.0.0 OK", "221"} {
		c.expect(want)
	}
	c.expectClosed()
	if msgs := s.Messages(); len(msgs) != 2 || len(msgs[0].To) != 3 || string(msgs[1].Data) != "y" {
		t.Errorf("messages: %+v", msgs)
	}
}

func TestLineTooLong(t *testing.T) {
	for _, n := range []int{DefaultMaxCommandLineLength + 1, 20000, 100000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newServer(t, Config{})
			c := start(t, s)
			c.cmd("NOOP "+strings.Repeat("x", n-5), "500 5.5.2 Line too long")
			c.cmd("NOOP", "250")
			if got := s.Commands(); !slices.Equal(got, []string{"NOOP"}) {
				t.Errorf("commands %q", got)
			}
		})
	}
	// At the limit the line is read, and parsed (and refused by the
	// parser's own RFC limit).
	s := newServer(t, Config{})
	c := start(t, s)
	c.cmd("NOOP "+strings.Repeat("x", DefaultMaxCommandLineLength-5), "501 5.5.4")

	// The bound is Config's: at 100 octets the line is a NOOP, at 101 it
	// is too long.
	s = newServer(t, Config{MaxCommandLineLength: 100})
	c = start(t, s)
	c.cmd("NOOP "+strings.Repeat("x", 95), "250")
	c.cmd("NOOP "+strings.Repeat("x", 96), "500 5.5.2 Line too long")
	c.cmd("NOOP", "250")
}

func TestOverrides(t *testing.T) {
	r550 := response.New(550, "5.1.1 No such user")
	tests := []struct {
		name      string
		overrides []Override
		steps     []step
		messages  int
	}{
		{"Nth RCPT", []Override{{Verb: "rcpt", Nth: 2, Reply: r550}}, []step{
			envelope[0], envelope[1],
			{send: "RCPT TO:<a@example.org>", want: "250"},
			{send: "RCPT TO:<b@example.org>", want: "550 5.1.1 No such user"},
			{send: "RCPT TO:<c@example.org>", want: "250"},
			{send: "DATA", want: "354"},
			{raw: "x\r\n.\r\n", want: "250"},
		}, 1},
		{"Match", []Override{{Verb: "RCPT", Match: "BOB@", Reply: r550}}, []step{
			envelope[0], envelope[1],
			{send: "RCPT TO:<bob@example.org>", want: "550"},
			{send: "RCPT TO:<alice@example.org>", want: "250"},
			{send: "RCPT TO:<bob@example.net>", want: "550"},
		}, 0},
		{"first match wins", []Override{
			{Verb: "NOOP", Nth: 2, Reply: response.New(250, "second")},
			{Verb: "NOOP", Reply: response.New(250, "any")},
		}, []step{{send: "NOOP", want: "250 any"}, {send: "NOOP", want: "250 second"}, {send: "NOOP", want: "250 any"}}, 0},
		{"Greeting", []Override{{Verb: Greeting, Reply: response.New(220, "custom banner")}}, nil, 0},
		{"EndOfData refuses", []Override{{Verb: EndOfData, Reply: response.New(451, "4.3.0 Try later")}}, []step{
			envelope[0], envelope[1], envelope[2], {send: "DATA", want: "354"},
			{raw: "x\r\n.\r\n", want: "451 4.3.0 Try later"},
			{send: "RCPT TO:<b@example.org>", want: "503"}, // the transaction is over
		}, 0},
		{"EndOfData Match on data", []Override{{Verb: EndOfData, Match: "subject: spam", Reply: response.New(554, "5.7.1 Spam")}}, []step{
			envelope[0], envelope[1], envelope[2], {send: "DATA", want: "354"},
			{raw: "Subject: SPAM\r\n.\r\n", want: "554 5.7.1 Spam"},
			envelope[1], envelope[2], {send: "DATA", want: "354"},
			{raw: "Subject: ham\r\n.\r\n", want: "250"},
		}, 1},
		{"EndOfData after BDAT LAST", []Override{{Verb: EndOfData, Reply: response.New(250, "2.0.0 custom")}}, []step{
			envelope[0], envelope[1], envelope[2],
			{raw: "BDAT 1\r\nx", want: "250 2.0.0 1 octets"},
			{raw: "BDAT 1 LAST\r\ny", want: "250 2.0.0 custom"},
		}, 1},
		{"EHLO reply replaced", []Override{{Verb: "EHLO", Reply: response.New(250, "mx", "SIZE 5")}}, []step{
			{send: "EHLO c.example", want: "250 mx\nSIZE 5"},
			envelope[1],
		}, 0},
		{"refused MAIL starts no transaction", []Override{{Verb: "MAIL", Reply: response.New(451, "4.7.1 Greylisted")}}, []step{
			envelope[0],
			{send: "MAIL FROM:<a@example.org>", want: "451 4.7.1 Greylisted"},
			{send: "RCPT TO:<b@example.org>", want: "503"},
		}, 0},
		{"DATA 354 text", []Override{{Verb: "DATA", Reply: response.New(354, "go ahead")}}, []step{
			envelope[0], envelope[1], envelope[2],
			{send: "DATA", want: "354 go ahead"},
			{raw: "x\r\n.\r\n", want: "250"},
		}, 1},
		{"unknown command accepted", []Override{{Verb: "XCLIENT", Reply: response.New(220, "ok")}}, []step{
			{send: "XCLIENT ADDR=1.2.3.4", want: "220 ok"},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{Overrides: tt.overrides})
			if tt.name == "Greeting" {
				dial(t, s).expect("220 custom banner")
				return
			}
			runScript(t, s, tt.steps)
			s.Close()
			if got := len(s.Messages()); got != tt.messages {
				t.Errorf("%d messages, want %d", got, tt.messages)
			}
		})
	}
}

func TestOverrideNthAcrossConnections(t *testing.T) {
	s := newServer(t, Config{Overrides: []Override{{Verb: "EHLO", Nth: 2, Reply: response.New(421, "4.3.2 Busy")}}})
	start(t, s).cmd("EHLO one.example", "250 smtptest")
	start(t, s).cmd("EHLO two.example", "421 4.3.2 Busy")
	start(t, s).cmd("EHLO three.example", "250 smtptest")
	if s.Conns() != 3 {
		t.Errorf("Conns() = %d", s.Conns())
	}
}

func TestHandler(t *testing.T) {
	var states []string
	s := newServer(t, Config{Handler: func(c *ConnState, line string, cmd command.Command) (response.Reply, bool) {
		states = append(states, fmt.Sprintf("%d %q %v %v", c.ID(), c.Helo(), c.InTransaction(), cmd != nil))
		switch {
		case strings.HasPrefix(line, "XCLIENT"):
			return response.New(250, "xclient ok"), true
		case cmd == nil:
			return response.New(500, "handler says no"), true
		}
		if r, ok := cmd.(command.Rcpt); ok && r.To.Local == "nobody" {
			return response.New(550, "5.1.1 nobody"), true
		}
		return response.Reply{}, false
	}})
	runScript(t, s, []step{
		envelope[0],
		{send: "XCLIENT NAME=x", want: "250 xclient ok"},
		{send: "MAIL FROM:bad", want: "500 handler says no"},
		envelope[1],
		{send: "RCPT TO:<nobody@example.org>", want: "550 5.1.1 nobody"},
		{send: "DATA", want: "554"},
	})
	s.Close()
	want := []string{
		`1 "" false true`,
		`1 "client.example" false true`,
		`1 "client.example" false false`,
		`1 "client.example" false true`,
		`1 "client.example" true true`,
		`1 "client.example" true true`,
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("handler saw (-want +got):\n%s", diff)
	}
}

func tlsExtensions(extra ...string) []string {
	return append(append([]string{"STARTTLS"}, DefaultExtensions()...), extra...)
}

func TestStartTLS(t *testing.T) {
	s := newServer(t, Config{Extensions: tlsExtensions()})
	c := start(t, s)
	ehlo := c.cmd("EHLO c.example", "250")
	if !slices.Contains(ehlo.Lines(), "STARTTLS") {
		t.Fatalf("STARTTLS not offered: %q", ehlo.Lines())
	}
	c.cmd("MAIL FROM:<a@example.org>", "250")
	c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	c.startTLS(s)
	c.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Send EHLO or HELO first")
	ehlo = c.cmd("EHLO c.example", "250")
	if slices.Contains(ehlo.Lines(), "STARTTLS") {
		t.Errorf("STARTTLS offered over TLS: %q", ehlo.Lines())
	}
	c.cmd("STARTTLS", "502 5.5.1")
	runSteps(t, c, envelope[1:])
	c.cmd("DATA", "354")
	c.send("secret\r\n.\r\n")
	c.expect("250")
	c.cmd("QUIT", "221")
	c.expectClosed()
	if m := s.Messages(); len(m) != 1 || !m[0].TLS || m[0].Helo != "c.example" {
		t.Errorf("messages: %+v", m)
	}
}

func TestCertificate(t *testing.T) {
	s := newServer(t, Config{})
	cert := s.Certificate()
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%q): %v", host, err)
		}
	}
	if now := time.Now(); !now.After(cert.NotBefore.Add(50*time.Minute)) || now.Add(23*time.Hour).After(cert.NotAfter) {
		t.Errorf("validity %v to %v", cert.NotBefore, cert.NotAfter)
	}
	cfg := s.ClientTLSConfig()
	if cfg.ServerName != "" || cfg.InsecureSkipVerify {
		t.Errorf("ClientTLSConfig: ServerName %q, InsecureSkipVerify %v", cfg.ServerName, cfg.InsecureSkipVerify)
	}
	if s.ClientTLSConfig() == cfg {
		t.Error("ClientTLSConfig returned the same config twice")
	}
	// Each server has its own certificate, and trusts only it.
	other := newServer(t, Config{ImplicitTLS: true})
	if other.Certificate().Equal(cert) {
		t.Error("two servers share a certificate")
	}
	nc := dialRaw(t, other)
	cfg.ServerName = "127.0.0.1"
	if err := tls.Client(nc, cfg).Handshake(); err == nil {
		t.Error("handshake with another server's certificate succeeded")
	}
}

func TestImplicitTLS(t *testing.T) {
	s := newServer(t, Config{ImplicitTLS: true, Extensions: tlsExtensions()})
	cfg := s.ClientTLSConfig()
	cfg.ServerName = "127.0.0.1"
	tc, err := tls.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(testDeadline))
	c := &client{t: t, nc: tc, r: wire.NewReader(tc)}
	c.expect("220 smtptest.localhost ESMTP smtptest")
	if ehlo := c.cmd("EHLO c.example", "250"); slices.Contains(ehlo.Lines(), "STARTTLS") {
		t.Errorf("STARTTLS offered over implicit TLS")
	}
	runSteps(t, c, envelope[1:])
	c.send("BDAT 3 LAST\r\nabc")
	c.expect("250 2.0.0 OK queued")
	c.cmd("QUIT", "221")
	c.expectClosed()
	if m := s.Messages(); len(m) != 1 || !m[0].TLS || string(m[0].Data) != "abc" {
		t.Errorf("messages: %+v", m)
	}
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "smtp.sock")
	s := newServer(t, Config{UnixSocket: path, LMTP: true})
	if s.Addr != path {
		t.Errorf("Addr = %q, want %q", s.Addr, path)
	}
	c := start(t, s)
	c.cmd("LHLO c.example", "250 smtptest.localhost greets c.example")
	s.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
}

func TestLMTP(t *testing.T) {
	s := newServer(t, Config{LMTP: true, Overrides: []Override{
		{Verb: EndOfData, Match: "<b@", Reply: response.New(452, "4.2.2 Mailbox full")},
	}})
	c := dial(t, s)
	c.expect("220 smtptest.localhost LMTP smtptest")
	c.cmd("LHLO c.example", "250 smtptest.localhost greets c.example\n")
	c.cmd("MAIL FROM:<a@example.org>", "250")
	for _, rcpt := range []string{"a", "b", "c"} {
		c.cmd("RCPT TO:<"+rcpt+"@example.org>", "250 2.1.5 OK")
	}
	c.cmd("DATA", "354")
	c.send("x\r\n.\r\n")
	c.expect("250 2.1.5 <a@example.org> OK")
	c.expect("452 4.2.2 Mailbox full")
	c.expect("250 2.1.5 <c@example.org> OK")
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nBDAT 1 LAST\r\ny")
	for _, want := range []string{"250", "250", "250", "452", "250 2.1.5 <c@example.org> OK"} {
		c.expect(want)
	}
	c.cmd("NOOP", "250")
	msgs := s.Messages()
	if len(msgs) != 2 || !slices.Equal(msgs[0].To, []string{"a@example.org", "c@example.org"}) || len(msgs[0].Rcpts) != 2 ||
		!slices.Equal(msgs[1].To, []string{"c@example.org"}) || string(msgs[1].Data) != "y" {
		t.Errorf("messages: %+v", msgs)
	}
}

func TestAuth(t *testing.T) {
	users := map[string]string{"alice": "s3cret"}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name  string
		steps []step
		user  string
	}{
		{"PLAIN initial response", []step{{send: "AUTH PLAIN " + b64("\x00alice\x00s3cret"), want: "235 2.7.0 Authentication successful"}}, "alice"},
		{"PLAIN with authzid", []step{{send: "AUTH plain " + b64("alice\x00alice\x00s3cret"), want: "235"}}, "alice"},
		{"PLAIN wrong password", []step{{send: "AUTH PLAIN " + b64("\x00alice\x00nope"), want: "535 5.7.8 Authentication credentials invalid"}}, ""},
		{"PLAIN unknown user", []step{{send: "AUTH PLAIN " + b64("\x00bob\x00s3cret"), want: "535 5.7.8"}}, ""},
		{"PLAIN challenge", []step{{send: "AUTH PLAIN", want: "334 "}, {send: b64("\x00alice\x00s3cret"), want: "235"}}, "alice"},
		{"PLAIN empty initial response", []step{{send: "AUTH PLAIN =", want: "501 5.5.2"}}, ""},
		{"LOGIN", []step{{send: "AUTH LOGIN", want: "334 VXNlcm5hbWU6"}, {send: b64("alice"), want: "334 UGFzc3dvcmQ6"}, {send: b64("s3cret"), want: "235"}}, "alice"},
		{"LOGIN initial response", []step{{send: "AUTH LOGIN " + b64("alice"), want: "334 UGFzc3dvcmQ6"}, {send: b64("wrong"), want: "535"}}, ""},
		{"cancel", []step{{send: "AUTH LOGIN", want: "334"}, {send: "*", want: "501 5.0.0 Authentication canceled"}}, ""},
		{"not base64", []step{{send: "AUTH LOGIN", want: "334"}, {send: "!!!", want: "501 5.5.2"}}, ""},
		{"= as an answer", []step{{send: "AUTH PLAIN", want: "334"}, {send: "=", want: "501 5.5.2"}}, ""},
		{"answer too long", []step{{send: "AUTH LOGIN", want: "334"}, {send: strings.Repeat("A", DefaultMaxAuthLineLength+4), want: "500 5.5.6"}}, ""},
		{"long answer", []step{{send: "AUTH PLAIN", want: "334"}, {send: b64("\x00alice\x00" + strings.Repeat("p", 9000)), want: "535"}}, ""},
		{"mechanism not offered", []step{{send: "AUTH XOAUTH2 " + b64("x"), want: "504 5.5.4"}}, ""},
		{"twice", []step{{send: "AUTH PLAIN " + b64("\x00alice\x00s3cret"), want: "235"}, {send: "AUTH PLAIN " + b64("\x00alice\x00s3cret"), want: "503 5.5.1 Already authenticated"}}, "alice"},
		{"during a transaction", []step{envelope[1], {send: "AUTH PLAIN " + b64("\x00alice\x00s3cret"), want: "503 5.5.1"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{Users: users, Extensions: append(DefaultExtensions(), "AUTH PLAIN LOGIN CRAM-MD5")})
			c := runScript(t, s, append([]step{envelope[0]}, tt.steps...))
			if tt.user != "" {
				runSteps(t, c, envelope[1:])
				c.send("BDAT 1 LAST\r\nx")
				c.expect("250")
				if m := s.Messages(); len(m) != 1 || m[0].AuthUser != tt.user {
					t.Errorf("messages: %+v", m)
				}
			} else {
				c.cmd("NOOP", "250") // in step after the exchange
			}
			// The credential lines are recorded as received.
			cmds := s.Commands()
			for _, st := range tt.steps {
				if !slices.Contains(cmds, st.send) && len(st.send) <= DefaultMaxAuthLineLength {
					t.Errorf("Commands() lacks %q", st.send)
				}
			}
		})
	}
}

func TestAuthCRAMMD5(t *testing.T) {
	s := newServer(t, Config{Users: map[string]string{"tim": "tanstaaftanstaaf"}, Extensions: []string{"AUTH CRAM-MD5"}})
	c := runScript(t, s, []step{envelope[0]})
	r := c.cmd("AUTH CRAM-MD5", "334 ")
	chal, err := base64.StdEncoding.DecodeString(r.Text)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(md5.New, []byte("tanstaaftanstaaf"))
	mac.Write(chal)
	c.cmd(base64.StdEncoding.EncodeToString([]byte("tim "+hex.EncodeToString(mac.Sum(nil)))), "235 Authentication successful")
}

func TestAuthOverride(t *testing.T) {
	s := newServer(t, Config{
		Extensions: []string{"AUTH PLAIN LOGIN"},
		Overrides:  []Override{{Verb: "AUTH", Nth: 1, Reply: response.New(235, "fine")}},
	})
	c := runScript(t, s, []step{envelope[0], {send: "AUTH LOGIN", want: "235 fine"}})
	c.cmd("AUTH LOGIN", "503 Already authenticated")
}

func TestWaitMessages(t *testing.T) {
	s := newServer(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	type result struct {
		msgs []Message
		err  error
	}
	got := make(chan result)
	go func() {
		msgs, err := s.WaitMessages(ctx, 1)
		got <- result{msgs, err}
	}()
	c := runScript(t, s, envelope)
	c.send("BDAT 1 LAST\r\nx")
	c.expect("250")
	if r := <-got; r.err != nil || len(r.msgs) != 1 {
		t.Fatalf("WaitMessages: %d messages, %v", len(r.msgs), r.err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if msgs, err := s.WaitMessages(ctx, 2); err != context.DeadlineExceeded || len(msgs) != 1 {
		t.Errorf("WaitMessages(2): %d messages, %v", len(msgs), err)
	}
}

func TestLog(t *testing.T) {
	var log testfixture.Buffer
	s := newServer(t, Config{Log: &log})
	c := start(t, s)
	c.cmd("EHLO c.example", "250")
	c.cmd("QUIT", "221")
	c.expectClosed()
	s.Close()
	for _, want := range []string{"smtptest[1] C: EHLO c.example", "smtptest[1] S: 250-smtptest.localhost greets c.example", "smtptest[1] S: 221 2.0.0"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestServersAreIndependent(t *testing.T) {
	a := newServer(t, Config{Overrides: []Override{{Verb: "NOOP", Nth: 1, Reply: response.New(250, "first")}}})
	b := newServer(t, Config{Overrides: []Override{{Verb: "NOOP", Nth: 1, Reply: response.New(250, "first")}}})
	start(t, a).cmd("NOOP", "250 first")
	start(t, b).cmd("NOOP", "250 first")
	if len(a.Commands()) != 1 || len(b.Commands()) != 1 {
		t.Errorf("commands: %q %q", a.Commands(), b.Commands())
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := NewServer(Config{
		Extensions: tlsExtensions(),
		Faults:     []Fault{StallAt("VRFY", 0), EndlessReplyAt("EXPN"), StallAt("HELP", time.Hour)},
	})
	start(t, s)                    // idle after the greeting
	start(t, s).send("NOOP")       // in the middle of a line
	start(t, s).send("VRFY x\r\n") // stalled forever
	start(t, s).send("HELP\r\n")   // stalled for an hour
	start(t, s).send("EXPN x\r\n") // endless reply the client does not read
	runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"})).send("half a message")
	runScript(t, s, []step{{send: "STARTTLS", want: "220"}}) // handshake never started
	dialRaw(t, s)
	time.Sleep(50 * time.Millisecond) // let the server reach those states
	s.Close()
	s.Close() // twice is fine
	testfixture.WaitGoroutines(t, before, "after Close")
}

func TestCloseWhileAccepting(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 20 {
		s := NewServer(Config{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 5 {
				nc, err := net.Dial("tcp", s.Addr)
				if err == nil {
					nc.Close()
				}
			}
		}()
		s.Close()
		<-done
	}
	testfixture.WaitGoroutines(t, before, "after Close")
}

func TestPaths(t *testing.T) {
	s := newServer(t, Config{})
	c := runScript(t, s, []step{
		envelope[0],
		{send: "MAIL FROM:<>", want: "250"},
		{send: "RCPT TO:<Postmaster>", want: "250"},
		{send: "RCPT TO:<@relay.example:bob@example.org>", want: "250"},
		{send: `RCPT TO:<"john doe"@example.org>`, want: "250"},
		{send: "RCPT TO:<x@[IPv6:2001:db8::1]>", want: "250"},
	})
	c.send("BDAT 0 LAST\r\n")
	c.expect("250 2.0.0 OK queued")
	m := s.Messages()
	if len(m) != 1 {
		t.Fatalf("%d messages", len(m))
	}
	if diff := cmp.Diff([]string{"Postmaster", "bob@example.org", `"john doe"@example.org`, "x@[IPv6:2001:db8::1]"}, m[0].To); m[0].From != "" || diff != "" {
		t.Errorf("From %q, To (-want +got):\n%s", m[0].From, diff)
	}
	if len(m[0].Data) != 0 {
		t.Errorf("Data %q", m[0].Data)
	}
}

// handlerView is what a Handler saw of its ConnState for one line.
type handlerView struct {
	line string
	inTx bool
	from string
	to   []string
}

// recordingHandler returns a Handler that records every line with the
// transaction state it saw, and a function returning the records.
func recordingHandler() (func(*ConnState, string, command.Command) (response.Reply, bool), func() []handlerView) {
	var mu sync.Mutex
	var seen []handlerView
	h := func(c *ConnState, line string, _ command.Command) (response.Reply, bool) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, handlerView{line, c.InTransaction(), c.From(), c.To()})
		return response.Reply{}, false
	}
	get := func() []handlerView {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
	return h, get
}

// ConnState's doc: "Its methods read the state as it is before the command
// being handled." For "BDAT n LAST" the Handler runs after finishMessage has
// already reset the transaction, so it sees no transaction, no sender and
// no recipients, and cannot decide on the envelope (as it can for DATA).
func TestHandlerSeesTransactionAtBDATLast(t *testing.T) {
	h, seen := recordingHandler()
	s := newServer(t, Config{Handler: h})
	c := runScript(t, s, envelope)
	c.send("BDAT 3\r\nabc")
	c.expect("250 2.0.0 3 octets received")
	c.send("BDAT 3 LAST\r\ndef")
	c.expect("250 2.0.0 OK queued")
	c.cmd("NOOP", "250")

	var found bool
	for _, v := range seen() {
		if v.line != "BDAT 3 LAST" {
			continue
		}
		found = true
		if !v.inTx || v.from != "alice@example.org" || !slices.Equal(v.to, []string{"bob@example.net"}) {
			t.Errorf("Handler at %q saw InTransaction=%v From=%q To=%q; want true, %q, [%q] (the state before the command)",
				v.line, v.inTx, v.from, v.to, "alice@example.org", "bob@example.net")
		}
	}
	if !found {
		t.Fatalf("Handler never saw the BDAT LAST line; saw %+v", seen())
	}
}

// Config.Handler's doc: it "sees every command line". In LMTP mode a
// "BDAT n LAST" line returns from next() before the Handler is called, so
// the Handler never sees it (nor can it answer it).
func TestLMTPHandlerSeesBDATLast(t *testing.T) {
	h, seen := recordingHandler()
	s := newServer(t, Config{LMTP: true, Handler: h})
	c := start(t, s)
	c.cmd("LHLO client.example", "250")
	c.cmd("MAIL FROM:<alice@example.org>", "250")
	c.cmd("RCPT TO:<bob@example.net>", "250")
	c.send("BDAT 5 LAST\r\nhello")
	c.expect("250 2.1.5 <bob@example.net> OK")
	c.cmd("NOOP", "250")

	var lines []string
	for _, v := range seen() {
		lines = append(lines, v.line)
	}
	if !slices.Contains(lines, "BDAT 5 LAST") {
		t.Errorf("Handler saw %q; want it to see \"BDAT 5 LAST\" too", lines)
	}
}
