// Package sink is an in-process SMTP server for load tests: it accepts
// every message and throws it away, counting what it got. It speaks
// enough SMTP for any client (net/smtp, smtpkit, others) to send through
// it, and does as little as it can per message so that the client, not the
// server, is what a benchmark measures: no allocation per command or per
// message, replies batched into one write per pipelined group.
//
// In LMTP mode (Config.LMTP, RFC 2033) it answers LHLO instead of EHLO
// and, after each message, once per accepted recipient; with Config.Unix
// it listens on a Unix socket instead of loopback TCP.
//
// It is not an SMTP server to expose: it accepts any address, never
// checks a message, and listens on loopback (or a Unix socket) only.
package sink

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// Config says what the sink offers. The zero value offers PIPELINING,
// 8BITMIME and CHUNKING.
type Config struct {
	// NoPipelining leaves PIPELINING (RFC 2920) out of the EHLO reply.
	NoPipelining bool
	// NoChunking leaves CHUNKING (RFC 3030) out of the EHLO reply; BDAT
	// is then refused (its octets are still read and dropped, so the
	// session stays in step).
	NoChunking bool
	// Hostname is the name in the greeting and EHLO reply; default
	// "sink.invalid".
	Hostname string
	// MaxCommandLineLength bounds a command line, CRLF included; a longer one
	// is refused with 500 and skipped. Default 4096 (RFC 5321 §4.5.3.1.4
	// gives 512, plus room for extension parameters). Lines of message
	// data are not refused whatever their length: the sink reads them in
	// pieces of at most its buffer's size and keeps none of them.
	MaxCommandLineLength int
	// LMTP makes the sink an LMTP server (RFC 2033): LHLO in place of
	// EHLO (EHLO and HELO are refused), and after the end of data or BDAT
	// LAST one reply per accepted recipient instead of one for the
	// message.
	LMTP bool
	// Unix, when set, is the path of a Unix socket to listen on instead
	// of 127.0.0.1. The socket file must not exist; Close removes it.
	Unix string
}

// Sink is a running server. Its methods are safe for concurrent use.
type Sink struct {
	ln  net.Listener
	cfg Config

	greeting []byte
	ehlo     []byte
	helo     []byte

	messages   atomic.Int64
	octets     atomic.Int64
	recipients atomic.Int64
	refused    atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1, on a port of the system's choosing (or on
// the Unix socket cfg.Unix), and serves each connection in its own
// goroutine until Close.
func Start(cfg Config) (*Sink, error) {
	if cfg.Hostname == "" {
		cfg.Hostname = "sink.invalid"
	}
	if cfg.MaxCommandLineLength <= 0 {
		cfg.MaxCommandLineLength = 4096
	}
	network, addr := "tcp", "127.0.0.1:0"
	if cfg.Unix != "" {
		network, addr = "unix", cfg.Unix
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{ln: ln, cfg: cfg, conns: make(map[net.Conn]struct{})}
	proto := "ESMTP"
	if cfg.LMTP {
		proto = "LMTP"
	}
	s.greeting = []byte("220 " + cfg.Hostname + " " + proto + " sink\r\n")
	s.helo = []byte("250 " + cfg.Hostname + "\r\n")
	ehlo := "250-" + cfg.Hostname + "\r\n"
	if !cfg.NoPipelining {
		ehlo += "250-PIPELINING\r\n"
	}
	if !cfg.NoChunking {
		ehlo += "250-CHUNKING\r\n"
	}
	ehlo += "250 8BITMIME\r\n"
	s.ehlo = []byte(ehlo)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the sink listens on: "127.0.0.1:port", or the
// Unix socket's path.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Messages is the number of messages accepted so far: each end of data
// (".") or BDAT LAST that got 250. It is counted before the reply is
// written, so once a client has read a message's reply the count includes
// it.
func (s *Sink) Messages() int64 { return s.messages.Load() }

// Octets is the total size of the messages accepted so far, as the
// client meant them: DATA dot-unstuffed, without the final ".";
// BDAT chunks as they came.
func (s *Sink) Octets() int64 { return s.octets.Load() }

// Recipients is the number of recipients of the messages accepted so
// far (each message counts its accepted RCPTs).
func (s *Sink) Recipients() int64 { return s.recipients.Load() }

// Refused is the number of commands answered with a 5xx reply (unknown,
// out of sequence, malformed, too long). A well-behaved client leaves it
// at 0.
func (s *Sink) Refused() int64 { return s.refused.Load() }

// Close stops listening, closes every connection still open and waits
// until every goroutine of the sink has returned.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed (or broken beyond use)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Replies. Fixed, so that answering allocates nothing.
var (
	replyOK          = []byte("250 OK\r\n")
	replyStartData   = []byte("354 End data with <CR><LF>.<CR><LF>\r\n")
	replyQuit        = []byte("221 Bye\r\n")
	replyTooLong     = []byte("500 Line too long\r\n")
	replyUnknown     = []byte("500 Command not recognized\r\n")
	replySyntax      = []byte("501 Syntax error\r\n")
	replyNotImpl     = []byte("502 Command not implemented\r\n")
	replyBadSequence = []byte("503 Bad sequence of commands\r\n")
)

// session is one connection's state.
type session struct {
	s  *Sink
	br *bufio.Reader
	bw *bufio.Writer

	mail   bool  // MAIL accepted
	rcpts  int   // RCPTs accepted
	bdat   bool  // BDAT chunks have come in this transaction
	octets int64 // of the message in progress
}

const (
	readBufSize  = 64 << 10
	writeBufSize = 16 << 10
)

func (s *Sink) serve(c net.Conn) {
	ss := &session{
		s:  s,
		br: bufio.NewReaderSize(c, readBufSize),
		bw: bufio.NewWriterSize(c, writeBufSize),
	}
	ss.bw.Write(s.greeting)
	if ss.bw.Flush() != nil {
		return
	}
	for {
		line, err := ss.readCommand()
		switch {
		case err == errTooLong:
			line = nil // refused below
		case err != nil:
			return
		}
		quit, err := ss.handle(line)
		if err != nil {
			return
		}
		// RFC 2920 §3.2: a group of pipelined commands gets its replies
		// in one write. The group ends where the client's input does.
		if quit || ss.br.Buffered() == 0 {
			if ss.bw.Flush() != nil || quit {
				return
			}
		}
	}
}

// errTooLong marks a command line over the limit; it has been skipped.
var errTooLong = errors.New("sink: line too long")

// readCommand returns the next command line without its line ending, or
// errTooLong once an over-long line has been read past.
func (ss *session) readCommand() ([]byte, error) {
	line, err := ss.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = ss.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return nil, errTooLong
	}
	if err != nil {
		return nil, err
	}
	if len(line) > ss.s.cfg.MaxCommandLineLength {
		return nil, errTooLong
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// handle answers one command line (nil: it was too long) and says
// whether the session ends. Replies are buffered, not flushed.
func (ss *session) handle(line []byte) (quit bool, err error) {
	if line == nil {
		ss.refuse(replyTooLong)
		return false, nil
	}
	verb, arg := line, []byte(nil)
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		verb, arg = line[:i], line[i+1:]
	}
	lmtp := ss.s.cfg.LMTP
	switch verbCode(verb) {
	case vEHLO:
		if lmtp {
			ss.refuse(replyUnknown)
			break
		}
		ss.reset()
		ss.bw.Write(ss.s.ehlo)
	case vLHLO:
		if !lmtp {
			ss.refuse(replyUnknown)
			break
		}
		ss.reset()
		ss.bw.Write(ss.s.ehlo)
	case vHELO:
		if lmtp {
			ss.refuse(replyUnknown)
			break
		}
		ss.reset()
		ss.bw.Write(ss.s.helo)
	case vMAIL:
		switch {
		case ss.mail:
			ss.refuse(replyBadSequence)
		case !hasPrefixFold(arg, "FROM:"):
			ss.refuse(replySyntax)
		default:
			ss.mail = true
			ss.bw.Write(replyOK)
		}
	case vRCPT:
		switch {
		case !ss.mail || ss.bdat:
			ss.refuse(replyBadSequence)
		case !hasPrefixFold(arg, "TO:"):
			ss.refuse(replySyntax)
		default:
			ss.rcpts++
			ss.bw.Write(replyOK)
		}
	case vDATA:
		if ss.rcpts == 0 || ss.bdat {
			ss.refuse(replyBadSequence)
			return false, nil
		}
		ss.bw.Write(replyStartData)
		// The client waits for 354 unless it has already sent more.
		if ss.br.Buffered() == 0 {
			if err := ss.bw.Flush(); err != nil {
				return false, err
			}
		}
		if err := ss.readData(); err != nil {
			return false, err
		}
		ss.accept()
	case vBDAT:
		return false, ss.handleBDAT(arg)
	case vRSET:
		ss.reset()
		ss.bw.Write(replyOK)
	case vNOOP:
		ss.bw.Write(replyOK)
	case vQUIT:
		ss.bw.Write(replyQuit)
		return true, nil
	case vVRFY, vEXPN, vHELP, vSTARTTLS, vAUTH:
		ss.refuse(replyNotImpl)
	default:
		ss.refuse(replyUnknown)
	}
	return false, nil
}

// handleBDAT reads and drops one chunk: "BDAT size [LAST]".
func (ss *session) handleBDAT(arg []byte) error {
	sizeArg, last := arg, false
	if i := bytes.IndexByte(arg, ' '); i >= 0 {
		sizeArg = arg[:i]
		if !equalFold(arg[i+1:], "LAST") {
			ss.refuse(replySyntax)
			return nil // the size cannot be trusted: the octets are read as commands
		}
		last = true
	}
	size, ok := parseSize(sizeArg)
	if !ok {
		ss.refuse(replySyntax)
		return nil
	}
	if _, err := ss.br.Discard(int(size)); err != nil {
		return err
	}
	switch {
	case ss.s.cfg.NoChunking:
		ss.refuse(replyNotImpl)
		return nil
	case ss.rcpts == 0:
		// RFC 3030 §2: the octets are read whatever the reply.
		ss.refuse(replyBadSequence)
		return nil
	}
	ss.bdat = true
	ss.octets += size
	if last {
		ss.accept()
		return nil
	}
	ss.bw.Write(replyOK)
	return nil
}

// readData reads message data up to the line ".", counting the octets
// as the client meant them (a leading dot of a stuffed line removed).
// It looks at whole buffers at a time, for dots only (a vectorised
// search), and at a dot only for the octet before it: so a large message
// costs the sink little more than the copy out of the socket, and
// benchmarks measure the client rather than the sink.
func (ss *session) readData() error {
	br := ss.br
	lineStart := true // the next octet starts a line
	for {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return err
			}
		}
		p, _ := br.Peek(br.Buffered())
		if lineStart && p[0] == '.' {
			if len(p) < 3 {
				// Too little to tell "." CRLF from a stuffed line.
				var err error
				if p, err = br.Peek(3); err != nil {
					return err
				}
			}
			if p[1] == '\r' && p[2] == '\n' {
				br.Discard(3)
				return nil
			}
			br.Discard(1) // the stuffed dot: not the client's
			lineStart = false
			continue
		}
		// The first dot after a line feed in p, if any: the octets
		// before it are message data.
		n := len(p)
		for off := 0; off < len(p); {
			i := bytes.IndexByte(p[off:], '.')
			if i < 0 {
				break
			}
			i += off
			if i > 0 && p[i-1] == '\n' {
				n = i
				break
			}
			off = i + 1
		}
		ss.octets += int64(n)
		lineStart = p[n-1] == '\n'
		br.Discard(n)
	}
}

// accept counts the message in progress, replies 250 (in LMTP once per
// recipient) and ends the transaction.
func (ss *session) accept() {
	ss.s.messages.Add(1)
	ss.s.octets.Add(ss.octets)
	ss.s.recipients.Add(int64(ss.rcpts))
	if ss.s.cfg.LMTP {
		for range ss.rcpts {
			ss.bw.Write(replyOK)
		}
	} else {
		ss.bw.Write(replyOK)
	}
	ss.reset()
}

func (ss *session) reset() {
	ss.mail, ss.rcpts, ss.bdat, ss.octets = false, 0, false, 0
}

func (ss *session) refuse(reply []byte) {
	ss.s.refused.Add(1)
	ss.bw.Write(reply)
}

// parseSize parses a BDAT chunk size: decimal digits, at most 1 GiB.
func parseSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64) // no allocation: the conversion does not escape
	if err != nil || n < 0 || n > 1<<30 || b[0] == '+' || b[0] == '-' {
		return 0, false
	}
	return n, true
}

type verb int

const (
	vUnknown verb = iota
	vEHLO
	vLHLO
	vHELO
	vMAIL
	vRCPT
	vDATA
	vBDAT
	vRSET
	vNOOP
	vQUIT
	vVRFY
	vEXPN
	vHELP
	vAUTH
	vSTARTTLS
)

var verbs = [...]struct {
	name string
	v    verb
}{
	{"MAIL", vMAIL}, {"RCPT", vRCPT}, {"BDAT", vBDAT}, {"DATA", vDATA},
	{"RSET", vRSET}, {"NOOP", vNOOP}, {"QUIT", vQUIT}, {"EHLO", vEHLO},
	{"LHLO", vLHLO}, {"HELO", vHELO}, {"VRFY", vVRFY}, {"EXPN", vEXPN}, {"HELP", vHELP},
	{"AUTH", vAUTH}, {"STARTTLS", vSTARTTLS},
}

func verbCode(b []byte) verb {
	for _, v := range verbs {
		if equalFold(b, v.name) {
			return v.v
		}
	}
	return vUnknown
}

// equalFold compares b with the upper-case ASCII word s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b[i]&^0x20 != s[i] && b[i] != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}
