package session_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
)

// This file is a scripted SMTP (or LMTP) server on 127.0.0.1, for what
// smtptest cannot express: a reply to each command chosen by the test, a
// reply nobody asked for sent together with an expected one, and a
// hang-up right after a 421 or 221 that keeps listening, so that a test
// can see whether the client wrote anything afterwards.

// scCmd is one command the scripted server received, as its answer
// function sees it.
type scCmd struct {
	// Verb is MAIL, RCPT, DATA, BDAT (a chunk without LAST), END (the
	// end of a message: the "." after DATA's 354 or "BDAT n LAST"), RSET,
	// NOOP, QUIT, or the first word of any other line, upper-cased.
	Verb string
	Line string // the command line without CRLF; for END after DATA, "."
	// Msg is the transaction, counted by MAIL commands from 0 (-1 before
	// the first MAIL).
	Msg int
	// Index is, for RCPT, the recipient's place in its transaction; for
	// BDAT, the chunk's; for END in LMTP, the accepted recipient the reply
	// is for (-1 when none was accepted: one reply for the command). 0
	// otherwise.
	Index int
	Last  bool // BDAT ... LAST (Verb is END)
	Size  int  // BDAT: the chunk's octets; END: the message's octets
	// Open says a MAIL of this transaction was accepted and no RSET or
	// end of message has closed it; Accepted is how many RCPTs it has
	// accepted so far.
	Open     bool
	Accepted int
}

// scAnswer is the server's answer to one command.
type scAnswer struct {
	// Reply is sent as given, "\r\n" added at its end ("250 OK",
	// "250-a\r\n250 b"); "" sends nothing.
	Reply string
	// Surplus is a reply nobody asked for, sent in the same write right
	// after Reply.
	Surplus string
	// HangUp closes the server's side of the connection after Reply: the
	// client reads the end of the stream. The server goes on reading,
	// without answering, until the client closes its side, and records
	// what it gets (scEvent.Late).
	HangUp bool
	// Close closes the connection after Reply, as most servers do after
	// a 421 or 221: what the client writes next finds it closed.
	Close bool
}

// scEvent is a command received and what the server did with it.
type scEvent struct {
	Cmd     scCmd
	Reply   string // sent; "" when none was
	Surplus bool
	HangUp  bool
	// Late: the command arrived after the server hung up; it was never
	// answered.
	Late bool
	// Garbage: the line is no command the client could mean here
	// (message data where none was due).
	Garbage bool
}

// scServer is the scripted server. Each connection is served by the same
// answer function; the events of all connections go to one log.
type scServer struct {
	Addr   string
	ln     net.Listener
	lmtp   bool
	exts   []string
	answer func(scCmd) scAnswer
	// resetAfter: see scConfig.ResetAfter.
	resetAfter int

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	log    []scEvent
	ended  chan struct{} // closed when the first connection's handler returns
	once   sync.Once
}

// scConfig is what a scripted server announces and how it answers.
type scConfig struct {
	LMTP bool     // greet as LMTP; LHLO gets the extensions
	Exts []string // the EHLO (LHLO) lines after the first
	// Answer answers every command but EHLO, LHLO and HELO; nil means
	// scDefault.
	Answer func(scCmd) scAnswer
	// ResetAfter, when positive, resets the connection (a close with
	// unread data: the client's next write fails) once the server has read
	// that many octets of message data on it.
	ResetAfter int
}

// scStart starts a scripted server. Close it with close.
func scStart(cfg scConfig) *scServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("scripted server: " + err.Error())
	}
	if cfg.Answer == nil {
		cfg.Answer = scDefault
	}
	s := &scServer{Addr: ln.Addr().String(), ln: ln, lmtp: cfg.LMTP, exts: cfg.Exts, answer: cfg.Answer, resetAfter: cfg.ResetAfter, ended: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				nc.Close()
				return
			}
			s.conns = append(s.conns, nc)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.once.Do(func() { close(s.ended) })
				defer nc.Close()
				s.serve(nc)
			}()
		}
	}()
	return s
}

// scServe starts a scripted server that the test's cleanup closes.
func scServe(t testing.TB, cfg scConfig) *scServer {
	s := scStart(cfg)
	t.Cleanup(s.close)
	return s
}

// close stops the server and waits for its goroutines.
func (s *scServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// waitEnded reports whether the first connection's handler returned (the
// client closed its side, or the server its own) within d.
func (s *scServer) waitEnded(d time.Duration) bool {
	select {
	case <-s.ended:
		return true
	case <-time.After(d):
		return false
	}
}

// events returns the log so far.
func (s *scServer) events() []scEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]scEvent(nil), s.log...)
}

// hungUp returns the event the server hung up at, if it did.
func (s *scServer) hungUp() (scEvent, bool) {
	for _, e := range s.events() {
		if e.HangUp {
			return e, true
		}
	}
	return scEvent{}, false
}

// late returns what arrived after the server hung up.
func (s *scServer) late() []scEvent {
	var out []scEvent
	for _, e := range s.events() {
		if e.Late {
			out = append(out, e)
		}
	}
	return out
}

func (s *scServer) record(e scEvent) {
	s.mu.Lock()
	s.log = append(s.log, e)
	s.mu.Unlock()
}

// scDefault is a server that accepts everything.
func scDefault(cmd scCmd) scAnswer {
	switch cmd.Verb {
	case "MAIL":
		return scAnswer{Reply: "250 2.1.0 sender ok"}
	case "RCPT":
		return scAnswer{Reply: "250 2.1.5 recipient ok"}
	case "DATA":
		return scAnswer{Reply: "354 go ahead"}
	case "BDAT":
		return scAnswer{Reply: "250 2.0.0 " + strconv.Itoa(cmd.Size) + " octets received"}
	case "END":
		return scAnswer{Reply: "250 2.0.0 queued"}
	case "RSET":
		return scAnswer{Reply: "250 2.0.0 rset ok"}
	case "NOOP":
		return scAnswer{Reply: "250 2.0.0 noop ok"}
	case "QUIT":
		return scAnswer{Reply: "221 2.0.0 bye", HangUp: true}
	}
	return scAnswer{Reply: "500 5.5.1 command unrecognized"}
}

// scConnState is one connection being served.
type scConnState struct {
	s       *scServer
	nc      net.Conn
	br      *bufio.Reader
	hungUp  bool
	msg     int
	open    bool
	rcpts   int
	chunks  int
	octets  int
	granted int // recipients accepted in the open transaction
	data    int // octets of message data read on the connection
}

func (s *scServer) serve(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // never outlive a test
	c := &scConnState{s: s, nc: nc, br: bufio.NewReader(nc), msg: -1}
	greeting := "220 scripted ESMTP"
	if s.lmtp {
		greeting = "220 scripted LMTP"
	}
	if _, err := io.WriteString(nc, greeting+"\r\n"); err != nil {
		return
	}
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if err := c.command(line); err != nil {
			return
		}
	}
}

// command handles one line.
func (c *scConnState) command(line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	cmd := scCmd{Verb: verb, Line: line, Msg: c.msg, Open: c.open, Accepted: c.granted}
	switch verb {
	case "EHLO", "LHLO", "HELO":
		if c.hungUp {
			break
		}
		reply := "250 scripted"
		if verb != "HELO" {
			lines := append([]string{"scripted"}, c.s.exts...)
			var b strings.Builder
			for i, l := range lines {
				b.WriteString("250")
				if i < len(lines)-1 {
					b.WriteString("-")
				} else {
					b.WriteString(" ")
				}
				b.WriteString(l)
				if i < len(lines)-1 {
					b.WriteString("\r\n")
				}
			}
			reply = b.String()
		}
		return c.send(scEvent{Cmd: cmd}, scAnswer{Reply: reply})
	case "MAIL":
		c.msg++
		c.open, c.rcpts, c.chunks, c.octets, c.granted = false, 0, 0, 0, 0
		cmd.Msg, cmd.Open, cmd.Accepted = c.msg, false, 0
		a, err := c.answer(cmd)
		if err == nil && scPositive(a.Reply) {
			c.open = true
		}
		return err
	case "RCPT":
		cmd.Index = c.rcpts
		c.rcpts++
		a, err := c.answer(cmd)
		if err == nil && c.open && scPositive(a.Reply) {
			c.granted++
		}
		return err
	case "DATA":
		a, err := c.answer(cmd)
		if err != nil || c.hungUp || !strings.HasPrefix(a.Reply, "354") {
			return err
		}
		n, err := c.readDotData()
		if err != nil {
			return err
		}
		return c.end(scCmd{Verb: "END", Line: ".", Size: n})
	case "BDAT":
		size, last, ok := scParseBDAT(rest)
		if !ok {
			return c.garbage(cmd)
		}
		if err := c.readData(cmd, size); err != nil {
			return err
		}
		c.octets += size
		if last {
			return c.end(scCmd{Verb: "END", Line: line, Last: true, Size: c.octets})
		}
		cmd.Index, cmd.Size = c.chunks, size
		c.chunks++
		_, err := c.answer(cmd)
		return err
	case "RSET":
		c.open, c.granted = false, 0
		_, err := c.answer(cmd)
		return err
	case "NOOP", "QUIT":
		_, err := c.answer(cmd)
		return err
	}
	return c.garbage(cmd)
}

// garbage records a line that is no command: before the hang-up it is
// answered 500, as a server would.
func (c *scConnState) garbage(cmd scCmd) error {
	return c.send(scEvent{Cmd: cmd, Garbage: true}, scAnswer{Reply: "500 5.5.1 command unrecognized"})
}

// end answers the end of a message: once in SMTP, and in LMTP once per
// accepted recipient (once for the command when none was accepted).
func (c *scConnState) end(cmd scCmd) error {
	cmd.Msg, cmd.Open, cmd.Accepted = c.msg, c.open, c.granted
	n := c.granted
	c.open, c.granted = false, 0
	if c.hungUp {
		c.s.record(scEvent{Cmd: cmd, Late: true})
		return nil
	}
	if !c.s.lmtp || n == 0 {
		if c.s.lmtp {
			cmd.Index = -1
		}
		_, err := c.answer(cmd)
		return err
	}
	for k := range n {
		cmd.Index = k
		if _, err := c.answer(cmd); err != nil || c.hungUp {
			return err
		}
	}
	return nil
}

// answer asks the script for the reply to cmd and sends it; after the
// hang-up it only records cmd.
func (c *scConnState) answer(cmd scCmd) (scAnswer, error) {
	if c.hungUp {
		c.s.record(scEvent{Cmd: cmd, Late: true})
		return scAnswer{}, nil
	}
	a := c.s.answer(cmd)
	return a, c.send(scEvent{Cmd: cmd}, a)
}

// send writes a's reply and surplus in one write and records e.
func (c *scConnState) send(e scEvent, a scAnswer) error {
	if c.hungUp {
		e.Late = true
		c.s.record(e)
		return nil
	}
	e.Reply, e.Surplus, e.HangUp = a.Reply, a.Surplus != "", a.HangUp || a.Close
	c.s.record(e)
	var out []byte
	if a.Reply != "" {
		out = append(out, a.Reply+"\r\n"...)
	}
	if a.Surplus != "" {
		out = append(out, a.Surplus+"\r\n"...)
	}
	if len(out) > 0 {
		if _, err := c.nc.Write(out); err != nil {
			return err
		}
	}
	if a.Close {
		c.hungUp = true
		return errScClosed
	}
	if a.HangUp {
		c.hungUp = true
		if tc, ok := c.nc.(*net.TCPConn); ok {
			return tc.CloseWrite()
		}
		return errors.New("scripted server: cannot half-close")
	}
	return nil
}

// errScClosed ends a connection that an answer closed.
var errScClosed = errors.New("scripted server: closed by the script")

// readDotData reads message data through the "." line and returns its
// length as received.
func (c *scConnState) readDotData() (int, error) {
	n := 0
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return n, err
		}
		if line == ".\r\n" {
			return n, nil
		}
		n += len(line)
		if err := c.counted(scCmd{Verb: "DATA"}, len(line)); err != nil {
			return n, err
		}
	}
}

// readData reads a BDAT chunk of size octets.
func (c *scConnState) readData(cmd scCmd, size int) error {
	if c.s.resetAfter > 0 && !c.hungUp && c.data+size > c.s.resetAfter {
		io.CopyN(io.Discard, c.br, int64(c.s.resetAfter-c.data))
		return c.counted(cmd, size)
	}
	if _, err := io.CopyN(io.Discard, c.br, int64(size)); err != nil {
		return err
	}
	return c.counted(cmd, size)
}

// counted adds n octets of message data and resets the connection when
// that passes resetAfter.
func (c *scConnState) counted(cmd scCmd, n int) error {
	c.data += n
	if c.s.resetAfter <= 0 || c.hungUp || c.data <= c.s.resetAfter {
		return nil
	}
	c.hungUp = true
	c.s.record(scEvent{Cmd: cmd, HangUp: true})
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.nc.Close()
	return errScClosed
}

// scParseBDAT parses the arguments of BDAT: "<size>" or "<size> LAST".
func scParseBDAT(args string) (size int, last bool, ok bool) {
	f := strings.Fields(args)
	if len(f) == 0 || len(f) > 2 {
		return 0, false, false
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 0 {
		return 0, false, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	return n, last, true
}

// scPositive reports whether a reply is 2yz.
func scPositive(reply string) bool { return len(reply) >= 3 && reply[0] == '2' }

// scCode is a reply's code, 0 for none.
func scCode(reply string) int {
	if len(reply) < 3 {
		return 0
	}
	n, err := strconv.Atoi(reply[:3])
	if err != nil {
		return 0
	}
	return n
}

// scWatch is the client's side of the connection, watched: it counts what
// the client writes, and every write that comes after a read has returned
// the end of the stream (or an error), that is after the client could see
// the server had gone.
type scWatch struct {
	net.Conn
	mu         sync.Mutex
	readEnded  bool
	lateWrites int
	written    int64
	writes     int
}

func (w *scWatch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err != nil {
		w.mu.Lock()
		w.readEnded = true
		w.mu.Unlock()
	}
	return n, err
}

func (w *scWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	if w.readEnded {
		w.lateWrites++
	}
	w.writes++
	w.mu.Unlock()
	n, err := w.Conn.Write(p)
	w.mu.Lock()
	w.written += int64(n)
	w.mu.Unlock()
	return n, err
}

// stats returns how many writes the client made, how many octets they
// carried, and how many writes came after the end of the stream was read.
func (w *scWatch) stats() (writes int, written int64, late int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.written, w.lateWrites
}

// scDial connects a Client to addr over a watched connection.
func scDial(ctx context.Context, addr string, opts *session.Options) (*session.Client, *scWatch, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	w := &scWatch{Conn: nc}
	c, err := session.NewClient(ctx, w, opts)
	if err != nil {
		return nil, nil, err
	}
	return c, w, nil
}
