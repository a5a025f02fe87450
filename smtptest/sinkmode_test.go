package smtptest

import (
	"fmt"
	"net"
	"sync"
	"testing"
)

// A server for long runs: on the caller's listener, with OnMessage seeing
// each message and nothing kept in memory.
func TestListenerOnMessageNoRecord(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Message
	s := NewServer(Config{Listener: ln, NoRecord: true, OnMessage: func(m Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}})
	defer s.Close()
	if s.Addr != ln.Addr().String() {
		t.Errorf("Addr %q, want the listener's %q", s.Addr, ln.Addr())
	}
	c := runScript(t, s, append([]step{{send: "EHLO c.example", want: "250"}}, envelope[1:]...))
	c.send("BDAT 2 LAST\r\nhi")
	c.expect("250")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || string(got[0].Data) != "hi" {
		t.Errorf("OnMessage saw %+v", got)
	}
	if len(s.Messages()) != 0 || len(s.Commands()) != 0 || len(s.Reads()) != 0 {
		t.Errorf("NoRecord kept %d messages, %d commands, %d reads", len(s.Messages()), len(s.Commands()), len(s.Reads()))
	}
}

// A caller's certificate is the one STARTTLS presents.
func TestCustomCertificate(t *testing.T) {
	cert, err := newCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cert.Leaf = nil // NewServer parses it when absent
	s := newServer(t, Config{Certificate: &cert})
	if s.Certificate() == nil || string(s.Certificate().Raw) != string(cert.Certificate[0]) {
		t.Error("Certificate() is not the caller's")
	}
}

// Invented verbs share one counter past a limit: a client cannot grow the
// server's memory by sending endless new ones.
func TestInventedVerbsBounded(t *testing.T) {
	s := newServer(t, Config{NoRecord: true})
	c := runScript(t, s, []step{{send: "EHLO c.example", want: "250"}})
	for i := range 3 * maxCountedVerbs {
		c.cmd(fmt.Sprintf("X%06d", i), "500")
	}
	s.mu.Lock()
	n := len(s.verbCount)
	s.mu.Unlock()
	if n > 4*maxCountedVerbs+1 {
		t.Errorf("server counts %d distinct verbs", n)
	}
}
