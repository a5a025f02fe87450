package dnstest

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func ask(t *testing.T, network, addr, name string, qt dnsmessage.Type) dnsmessage.Message {
	t.Helper()
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: qt, Class: dnsmessage.ClassINET}}}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	var n int
	if network == "tcp" {
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			t.Fatal(err)
		}
		n = int(binary.BigEndian.Uint16(buf[:2]))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			t.Fatal(err)
		}
	} else {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if n, err = c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if m.Header.ID != 7 || !m.Header.Response {
		t.Fatalf("reply header %+v", m.Header)
	}
	return m
}

func TestServer(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddMX("Example.TEST", 10, "mx.example.test")
	s.AddCNAME("alias.example.test", "mx.example.test")
	s.AddAddr("mx.example.test", "127.0.0.1")
	s.AddAddr("mx.example.test", "::1")
	s.SetInsecure("mx.example.test")
	s.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, []byte{1, 2, 3})

	m := ask(t, "udp", s.Addr, "example.test.", dnsmessage.TypeMX)
	if len(m.Answers) != 1 || !m.Header.AuthenticData || m.Header.RCode != dnsmessage.RCodeSuccess {
		t.Errorf("MX: %+v", m)
	}
	m = ask(t, "tcp", s.Addr, "alias.example.test.", dnsmessage.TypeA)
	if len(m.Answers) != 2 || m.Header.AuthenticData {
		t.Errorf("CNAME to an insecure name: %d answers, AD %v; want CNAME and A, no AD", len(m.Answers), m.Header.AuthenticData)
	}
	m = ask(t, "udp", s.Addr, "_25._tcp.mx.example.test.", TypeTLSA)
	if len(m.Answers) != 1 || m.Answers[0].Header.Type != TypeTLSA {
		t.Errorf("TLSA: %+v", m.Answers)
	}
	m = ask(t, "udp", s.Addr, "missing.test.", dnsmessage.TypeA)
	if m.Header.RCode != dnsmessage.RCodeNameError {
		t.Errorf("missing name: %v", m.Header.RCode)
	}
	s.SetRCode("example.test", dnsmessage.TypeTXT, dnsmessage.RCodeServerFailure)
	m = ask(t, "udp", s.Addr, "example.test.", dnsmessage.TypeTXT)
	if m.Header.RCode != dnsmessage.RCodeServerFailure || m.Header.AuthenticData {
		t.Errorf("SERVFAIL: %+v", m.Header)
	}

	// Larger than 512 octets over UDP without EDNS0: truncated.
	for range 10 {
		s.AddTXT("big.test", strings.Repeat("x", 100))
	}
	if m = ask(t, "udp", s.Addr, "big.test.", dnsmessage.TypeTXT); !m.Header.Truncated || len(m.Answers) != 0 {
		t.Errorf("big over UDP: TC %v, %d answers", m.Header.Truncated, len(m.Answers))
	}
	if m = ask(t, "tcp", s.Addr, "big.test.", dnsmessage.TypeTXT); m.Header.Truncated || len(m.Answers) != 10 {
		t.Errorf("big over TCP: TC %v, %d answers", m.Header.Truncated, len(m.Answers))
	}
	if got := len(s.Queries()); got != 7 {
		t.Errorf("%d queries recorded, want 7", got)
	}
}
