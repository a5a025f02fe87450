package smtptest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

const greeting = "220 smtptest.localhost ESMTP smtptest\r\n"

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		faults []Fault
		run    func(t *testing.T, s *Server)
	}{
		{"CloseAfterRead(0) closes before the greeting", Config{}, []Fault{CloseAfterRead(0)}, func(t *testing.T, s *Server) {
			if got := readAll(t, dialRaw(t, s)); len(got) != 0 {
				t.Errorf("got %q", got)
			}
		}},
		{"CloseAfterRead mid-command", Config{}, []Fault{CloseAfterRead(int64(len("EHLO c.example\r\n") + 4))}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.cmd("EHLO c.example", "250")
			c.send("MAIL FROM:<a@example.org>\r\n")
			c.expectClosed()
			s.Close()
			if got := s.Commands(); !slices.Equal(got, []string{"EHLO c.example"}) {
				t.Errorf("commands %q", got)
			}
		}},
		{"CloseAfterRead after a whole command", Config{}, []Fault{CloseAfterRead(int64(len("NOOP\r\n")))}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.send("NOOP\r\nNOOP\r\n")
			c.expectClosed() // the first NOOP is read, its reply finds the connection closed
			s.Close()
			if got := s.Commands(); !slices.Equal(got, []string{"NOOP"}) {
				t.Errorf("commands %q", got)
			}
		}},
		{"CloseAfterWrite(0)", Config{}, []Fault{CloseAfterWrite(0)}, func(t *testing.T, s *Server) {
			if got := readAll(t, dialRaw(t, s)); len(got) != 0 {
				t.Errorf("got %q", got)
			}
		}},
		{"CloseAfterWrite cuts the greeting", Config{}, []Fault{CloseAfterWrite(10)}, func(t *testing.T, s *Server) {
			if got := string(readAll(t, dialRaw(t, s))); got != greeting[:10] {
				t.Errorf("got %q, want %q", got, greeting[:10])
			}
		}},
		{"CloseAfterWrite at the end of the greeting", Config{}, []Fault{CloseAfterWrite(int64(len(greeting)))}, func(t *testing.T, s *Server) {
			if got := string(readAll(t, dialRaw(t, s))); got != greeting {
				t.Errorf("got %q, want %q", got, greeting)
			}
		}},
		{"CloseAfterWrite cuts a reply", Config{}, []Fault{CloseAfterWrite(int64(len(greeting) + 5))}, func(t *testing.T, s *Server) {
			nc := dialRaw(t, s)
			io.WriteString(nc, "EHLO c.example\r\n")
			if got, want := string(readAll(t, nc)), greeting+"250-s"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		}},
		{"CloseAt a verb", Config{}, []Fault{CloseAt("mail")}, func(t *testing.T, s *Server) {
			for range 2 { // on every connection
				c := start(t, s)
				c.send("EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n")
				c.expect("250 smtptest") // replies before it are sent
				c.expectClosed()
			}
		}},
		{"CloseAt the greeting", Config{}, []Fault{CloseAt(Greeting)}, func(t *testing.T, s *Server) {
			if got := readAll(t, dialRaw(t, s)); len(got) != 0 {
				t.Errorf("got %q", got)
			}
		}},
		{"CloseAt the end of data", Config{}, []Fault{CloseAt(EndOfData)}, func(t *testing.T, s *Server) {
			c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
			c.send("x\r\n.\r\n")
			c.expectClosed()
			s.Close()
			if n := len(s.Messages()); n != 0 {
				t.Errorf("%d messages", n)
			}
		}},
		{"CloseAt BDAT LAST", Config{}, []Fault{CloseAt(EndOfData)}, func(t *testing.T, s *Server) {
			c := runScript(t, s, envelope)
			c.send("BDAT 1\r\nx")
			c.expect("250")
			c.send("BDAT 1 LAST\r\ny")
			c.expectClosed()
		}},
		{"StallAt delays the first only", Config{}, []Fault{StallAt("NOOP", 150*time.Millisecond)}, func(t *testing.T, s *Server) {
			c := start(t, s)
			t0 := time.Now()
			c.cmd("NOOP", "250")
			first := time.Since(t0)
			t0 = time.Now()
			c.cmd("NOOP", "250")
			second := time.Since(t0)
			if first < 150*time.Millisecond || second >= first {
				t.Errorf("NOOP took %v then %v", first, second)
			}
		}},
		{"StallAt forever", Config{}, []Fault{StallAt("NOOP", 0)}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.send("NOOP\r\n")
			c.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := c.r.ReadReply(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("got %v, want a timeout", err)
			}
			closeWithin(t, s, 5*time.Second)
		}},
		{"StallAt the greeting", Config{}, []Fault{StallAt(Greeting, 100*time.Millisecond)}, func(t *testing.T, s *Server) {
			t0 := time.Now()
			start(t, s)
			if d := time.Since(t0); d < 100*time.Millisecond {
				t.Errorf("greeting after %v", d)
			}
		}},
		{"StallAt notices the client leaving", Config{}, []Fault{StallAt("NOOP", time.Hour)}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.send("NOOP\r\n")
			time.Sleep(20 * time.Millisecond)
			c.nc.Close()
			waitLog(t, s, "smtptest[1] closed")
		}},
		{"StallAt the end of data", Config{}, []Fault{StallAt(EndOfData, 50*time.Millisecond)}, func(t *testing.T, s *Server) {
			c := runScript(t, s, append(slices.Clone(envelope), step{send: "DATA", want: "354"}))
			c.send("x\r\n.\r\n")
			c.expect("250 2.0.0 OK queued")
			if n := len(s.Messages()); n != 1 {
				t.Errorf("%d messages", n)
			}
		}},
		{"SplitWrites", Config{}, []Fault{SplitWrites(3)}, func(t *testing.T, s *Server) {
			nc := dialRaw(t, s)
			var got []byte
			reads := 0
			buf := make([]byte, 100)
			for len(got) < len(greeting) {
				n, err := nc.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				reads++
				got = append(got, buf[:n]...)
			}
			if string(got) != greeting || reads < 2 { // reads may join pieces, but not all
				t.Errorf("got %q in %d reads", got, reads)
			}
			// Replies still parse.
			c := start(t, s)
			c.cmd("EHLO c.example", "250 smtptest")
		}},
		{"GarbageAt", Config{}, []Fault{GarbageAt("EHLO", []byte("garbage\r\n"))}, func(t *testing.T, s *Server) {
			nc := dialRaw(t, s)
			br := bufio.NewReader(nc)
			io.WriteString(nc, "EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nEHLO c.example\r\n")
			for _, want := range []string{greeting, "garbage\r\n", "503 5.5.1 Send EHLO or HELO first\r\n", "250-smtptest.localhost greets c.example\r\n"} {
				if line, err := br.ReadString('\n'); line != want {
					t.Fatalf("got %q (%v), want %q", line, err, want)
				}
			}
		}},
		{"GarbageAt the greeting", Config{}, []Fault{GarbageAt(Greeting, []byte("\x00\xff"))}, func(t *testing.T, s *Server) {
			nc := dialRaw(t, s)
			io.WriteString(nc, "NOOP\r\n")
			buf := make([]byte, 2+len("250 2.0.0 OK\r\n"))
			if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "\x00\xff250 2.0.0 OK\r\n" {
				t.Errorf("got %q, %v", buf, err)
			}
		}},
		{"EndlessReplyAt", Config{}, []Fault{EndlessReplyAt("NOOP")}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.send("NOOP\r\n")
			buf := make([]byte, 1<<20)
			if _, err := io.ReadFull(c.nc, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(buf, []byte("250-xxxx")) || bytes.IndexByte(buf, '\n') >= 0 || bytes.Count(buf, []byte("x")) != len(buf)-4 {
				t.Errorf("got %q...", buf[:32])
			}
			c.nc.Close()
			waitLog(t, s, "smtptest[1] closed")
		}},
		{"EndlessReplyAt the greeting", Config{}, []Fault{EndlessReplyAt(Greeting)}, func(t *testing.T, s *Server) {
			c := dial(t, s)
			if _, err := c.r.ReadReply(); err == nil || !strings.Contains(err.Error(), "too long") {
				t.Errorf("ReadReply: %v, want a line too long", err)
			}
			closeWithin(t, s, 5*time.Second) // the client never closed
		}},
		{"AfterStartTLS", Config{Extensions: tlsExtensions()}, []Fault{AfterStartTLS([]byte("250 injected\r\n"))}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.cmd("EHLO c.example", "250")
			c.send("STARTTLS\r\n")
			want := "220 2.0.0 Ready to start TLS\r\n250 injected\r\n"
			buf := make([]byte, len(want))
			if _, err := io.ReadFull(c.nc, buf); err != nil || string(buf) != want {
				t.Errorf("got %q, %v; want %q", buf, err, want)
			}
		}},
		{"AfterStartTLS seen by a reply reader", Config{Extensions: tlsExtensions()}, []Fault{AfterStartTLS([]byte("250 injected\r\n"))}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.cmd("EHLO c.example", "250")
			c.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
			if n := c.r.Buffered(); n != len("250 injected\r\n") {
				t.Errorf("%d octets buffered after the STARTTLS reply", n)
			}
		}},
		{"Latency is paid per round trip", Config{}, []Fault{Latency(100 * time.Millisecond)}, func(t *testing.T, s *Server) {
			// The lower bounds always hold; the upper one is a timing,
			// tried three times before it counts as failed.
			c := start(t, s)
			var sequential, pipelined time.Duration
			for range 3 {
				t0 := time.Now()
				for range 3 {
					c.cmd("NOOP", "250")
				}
				sequential = time.Since(t0)
				t0 = time.Now()
				c.send("NOOP\r\nNOOP\r\nNOOP\r\n")
				for range 3 {
					c.expect("250")
				}
				pipelined = time.Since(t0)
				if sequential < 300*time.Millisecond || pipelined < 100*time.Millisecond {
					break
				}
				if pipelined < 200*time.Millisecond {
					return
				}
			}
			t.Errorf("3 NOOPs took %v one by one, %v pipelined", sequential, pipelined)
		}},
		{"faults combine", Config{}, []Fault{SplitWrites(1), Latency(time.Millisecond), CloseAt("QUIT")}, func(t *testing.T, s *Server) {
			c := start(t, s)
			c.cmd("EHLO c.example", "250")
			c.send("QUIT\r\n")
			c.expectClosed()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Faults = tt.faults
			cfg.Log = new(testfixture.Buffer)
			s := newServer(t, cfg)
			tt.run(t, s)
		})
	}
}

// closeWithin closes s and fails the test if that takes longer than d.
func closeWithin(t *testing.T, s *Server, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("Close did not return within %v", d)
	}
}

// waitLog waits until the server's log (a *testfixture.Buffer) contains want.
func waitLog(t *testing.T, s *Server, want string) {
	t.Helper()
	log := s.cfg.Log.(*testfixture.Buffer)
	for range 500 {
		if strings.Contains(log.String(), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log lacks %q:\n%s", want, log.String())
}
