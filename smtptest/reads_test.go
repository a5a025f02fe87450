package smtptest

import (
	"strings"
	"testing"
)

// Commands written together arrive in one read, and their replies leave
// in one write: one round trip.
func TestReadsAndRoundTrips(t *testing.T) {
	s := newServer(t, Config{})
	c := runScript(t, s, []step{{send: "EHLO c.example", want: "250"}})
	before := s.RoundTrips()
	c.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n")
	for _, want := range []string{"250", "250", "250"} {
		c.expect(want)
	}
	if got := s.RoundTrips() - before; got != 1 {
		t.Errorf("three pipelined commands cost %d round trips, want 1", got)
	}
	c.cmd("RSET", "250")
	if got := s.RoundTrips() - before; got != 2 {
		t.Errorf("after one more command: %d round trips, want 2", got)
	}
	var found bool
	for _, r := range s.Reads() {
		if r.Conn == 1 && string(r.Data) == "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\n" {
			found = true
		}
		if strings.Contains(string(r.Data), "RSET") && strings.Contains(string(r.Data), "MAIL") {
			t.Errorf("separate writes merged into one read: %q", r.Data)
		}
	}
	if !found {
		t.Errorf("pipelined group not recorded as one read: %+v", s.Reads())
	}
}
