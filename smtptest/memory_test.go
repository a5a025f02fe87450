package smtptest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestReplyBackpressure: a client that sends commands and never reads the
// replies stops being read once MaxUnsentReplies octets of replies wait,
// instead of making the server queue a reply for every line it sent; and
// the write that the client blocks ends with CommandTimeout, closing the
// connection. A blank line costs the client 2 octets and the server a
// 47-octet reply.
func TestReplyBackpressure(t *testing.T) {
	for _, tt := range []struct{ name, line string }{
		{"blank lines", "\r\n"},
		{"NOOPs", "NOOP\r\n"},
		{"unknown verbs", "X\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, Config{NoRecord: true, CommandTimeout: 500 * time.Millisecond})
			// A small receive buffer, so that the server's writes block
			// after a few MB of replies rather than tens (the kernel grows
			// a loopback buffer up to net.ipv4.tcp_rmem's maximum): the
			// server has that many fewer commands to answer first, which
			// under the race detector takes seconds.
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				var err error
				rc.Control(func(fd uintptr) {
					err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
				})
				return err
			}}
			nc, err := d.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			buf := bytes.Repeat([]byte(tt.line), 64<<10/len(tt.line))
			sent := 0
			for sent < 256<<20 && err == nil {
				var n int
				n, err = nc.Write(buf)
				sent += n
			}
			t.Logf("the client sent %d octets; at most %d octets of replies waited", sent, s.peakUnsent.Load())
			if peak := s.peakUnsent.Load(); peak > MaxUnsentReplies+512 {
				t.Errorf("%d octets of replies waited unsent, want at most %d and one reply", peak, MaxUnsentReplies)
			}
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("after %d octets, the client's write ended with %v: want the server to close the connection", sent, err)
			}
		})
	}
}

// TestDataPastSizeLimitNotBuffered: the data of a message over the size
// limit is read and dropped as it arrives, not kept: the connection never
// holds much more than the limit, and stays in step with the client.
func TestDataPastSizeLimitNotBuffered(t *testing.T) {
	const limit = 1 << 20
	const bound = limit + 64<<10 // the limit, a read buffer and a read's worth
	line := []byte(strings.Repeat("x", 998) + "\r\n")
	for _, tt := range []struct {
		name    string
		stuffed bool
	}{{"plain", false}, {"dot-stuffed", true}} {
		t.Run("DATA "+tt.name, func(t *testing.T) {
			s := newServer(t, Config{MaxMessageSize: limit, NoRecord: true})
			c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
			l := line
			if tt.stuffed {
				l = append([]byte(".."), line[2:]...)
			}
			go func() {
				for range 20 * limit / len(l) {
					if _, err := c.nc.Write(l); err != nil {
						return
					}
				}
				c.nc.Write([]byte(".\r\n"))
			}()
			c.expect("552 5.3.4 Message too big")
			c.cmd("NOOP", "250")
			if held := s.peakHeld.Load(); held > bound {
				t.Errorf("the connection held %d octets of a message over a %d-octet limit, want at most %d", held, limit, bound)
			}
		})
	}
	t.Run("BDAT", func(t *testing.T) {
		s := newServer(t, Config{MaxMessageSize: limit, NoRecord: true})
		c := runScript(t, s, envelope)
		chunk := bytes.Repeat([]byte("y"), 600<<10)
		c.send("BDAT 614400\r\n" + string(chunk))
		c.expect("250 2.0.0 614400 octets received")
		c.send("BDAT 614400\r\n" + string(chunk)) // over the limit with the first
		c.expect("552 5.3.4 Message too big")
		c.cmd("RSET", "250")
		runSteps(t, c, envelope[1:])
		go func() {
			io.WriteString(c.nc, "BDAT 20971520 LAST\r\n")
			for range 20 * limit / len(chunk) {
				c.nc.Write(chunk)
			}
			c.nc.Write(chunk[:20*limit%len(chunk)])
		}()
		c.expect("552 5.3.4 Message too big")
		c.cmd("NOOP", "250")
		if held := s.peakHeld.Load(); held > 600<<10+64<<10 {
			t.Errorf("the connection held %d octets, want at most the accepted chunk", held)
		}
	})
}

// TestMessageHeldOnce: a message is held once: after BDAT Data and Raw are
// one slice, and after DATA with nothing stuffed Data is the start of Raw.
func TestMessageHeldOnce(t *testing.T) {
	s := newServer(t, Config{})
	c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
	c.send("Subject: once\r\n\r\nbody\r\n.\r\n")
	c.expect("250")
	runSteps(t, c, envelope[1:])
	c.send("BDAT 4\r\nbodyBDAT 5 LAST\r\n more")
	c.expect("250")
	c.expect("250")
	c.cmd("NOOP", "250")
	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if unsafe.SliceData(m.Data) != unsafe.SliceData(m.Raw) {
			t.Errorf("message %q (chunked %v): Data and Raw are two copies", m.Data, m.Chunked)
		}
	}
	if string(msgs[0].Raw) != "Subject: once\r\n\r\nbody\r\n.\r\n" || string(msgs[1].Raw) != "body more" {
		t.Errorf("raw %q, %q", msgs[0].Raw, msgs[1].Raw)
	}
}
