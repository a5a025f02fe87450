//go:build unix

package pool

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestConnCheck: an idle connection passes; one the peer wrote to, or
// closed, does not; nothing is consumed.
func TestConnCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		peer <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-peer
	check := newIdleCheck(c)
	c.SetReadDeadline(time.Now().Add(-time.Second)) // a past deadline does not matter
	if err := check.run(); err != nil {
		t.Fatalf("idle connection: %v", err)
	}
	s.Write([]byte("421 bye\r\n"))
	time.Sleep(20 * time.Millisecond)
	if err := check.run(); !errors.Is(err, errUnexpectedData) {
		t.Errorf("after the peer wrote: %v", err)
	}
	s.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 16)
	if n, _ := io.ReadFull(c, buf[:9]); string(buf[:n]) != "421 bye\r\n" {
		t.Errorf("the check consumed data: read %q", buf[:n])
	}
	time.Sleep(20 * time.Millisecond)
	if err := check.run(); !errors.Is(err, io.EOF) {
		t.Errorf("after the peer closed: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { check.run() }); n != 0 {
		t.Errorf("a check allocates %v times", n)
	}
	// Not a socket: passes.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if err := newIdleCheck(p1).run(); err != nil {
		t.Errorf("pipe: %v", err)
	}
}
