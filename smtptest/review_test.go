package smtptest

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

// rvSendData runs a whole DATA transaction on a fresh connection and
// returns the end-of-data reply.
func rvSendData(t *testing.T, s *Server, body string) response.Reply {
	t.Helper()
	c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
	c.send(body)
	return c.reply()
}

// A size limit near math.MaxInt64 (the natural "no practical limit") must
// not refuse small messages. readDotData computes 2*maxSize+16, which wraps
// to 14 for math.MaxInt64, so every message of more than 14 octets gets
// "552 Message too big".
func TestReviewHugeSizeLimitDoesNotOverflow(t *testing.T) {
	for _, cfg := range []Config{
		{MaxMessageSize: math.MaxInt64},
		{MaxMessageSize: math.MaxInt64 - 3},
		{Extensions: []string{"SIZE 9223372036854775807", "ENHANCEDSTATUSCODES"}},
	} {
		s := newServer(t, cfg)
		body := "Subject: hi\r\n\r\n" + strings.Repeat("a line of text\r\n", 4) + ".\r\n"
		if r := rvSendData(t, s, body); !r.Positive() {
			t.Errorf("MaxMessageSize %d, extensions %q: end of data got %q, want 250",
				cfg.MaxMessageSize, cfg.Extensions, summary(r))
		}
		if n := len(s.Messages()); n != 1 {
			t.Errorf("MaxMessageSize %d, extensions %q: %d messages recorded, want 1",
				cfg.MaxMessageSize, cfg.Extensions, n)
		}
	}
}

// rvHandlerView is what a Handler saw of its ConnState for one line.
type rvHandlerView struct {
	line string
	inTx bool
	from string
	to   []string
}

// rvRecordingHandler returns a Handler that records every line with the
// transaction state it saw, and a function returning the records.
func rvRecordingHandler() (func(*ConnState, string, command.Command) (response.Reply, bool), func() []rvHandlerView) {
	var mu sync.Mutex
	var seen []rvHandlerView
	h := func(c *ConnState, line string, _ command.Command) (response.Reply, bool) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, rvHandlerView{line, c.InTransaction(), c.From(), c.To()})
		return response.Reply{}, false
	}
	get := func() []rvHandlerView {
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
func TestReviewHandlerSeesTransactionAtBDATLast(t *testing.T) {
	h, seen := rvRecordingHandler()
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
func TestReviewLMTPHandlerSeesBDATLast(t *testing.T) {
	h, seen := rvRecordingHandler()
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
