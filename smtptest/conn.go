package smtptest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// The upper-case forms of the pseudo-verbs, as the counters key them.
var (
	greetingKey  = strings.ToUpper(Greeting)
	endOfDataKey = strings.ToUpper(EndOfData)
)

// ConnState is what a Config.Handler can know about its connection. Its
// methods read the state as it is before the command being handled.
type ConnState struct {
	id       int
	remote   net.Addr
	helo     string
	greeted  bool
	esmtp    bool
	tls      bool
	authed   bool
	authUser string

	// The mail transaction.
	inTx       bool
	mail       command.Mail
	from       string
	rcpts      []command.Rcpt
	to         []string
	rcptLines  []string
	chunked    bool   // a BDAT was accepted or failed the transaction
	chunks     []byte // the accepted chunks' octets
	bdatFailed bool   // a BDAT was refused: the transaction takes no more
}

// ID returns the connection's number on its server, from 1.
func (c *ConnState) ID() int { return c.id }

// RemoteAddr returns the client's address.
func (c *ConnState) RemoteAddr() net.Addr { return c.remote }

// Helo returns the argument of the last accepted HELO, EHLO or LHLO, or ""
// before one (and after STARTTLS).
func (c *ConnState) Helo() string { return c.helo }

// ESMTP reports whether the client greeted with EHLO (or LHLO) rather than
// HELO.
func (c *ConnState) ESMTP() bool { return c.esmtp }

// TLS reports whether the connection is encrypted.
func (c *ConnState) TLS() bool { return c.tls }

// Authenticated reports whether AUTH succeeded on the connection.
func (c *ConnState) Authenticated() bool { return c.authed }

// AuthUser returns the user AUTH accepted, or "".
func (c *ConnState) AuthUser() string { return c.authUser }

// InTransaction reports whether a MAIL command was accepted and its
// transaction is not over.
func (c *ConnState) InTransaction() bool { return c.inTx }

// Mail returns the current transaction's MAIL command.
func (c *ConnState) Mail() command.Mail { return c.mail }

// From returns the current transaction's reverse-path, as Message.From.
func (c *ConnState) From() string { return c.from }

// To returns the current transaction's accepted recipients, as Message.To.
func (c *ConnState) To() []string { return append([]string(nil), c.to...) }

func (c *ConnState) resetTx() {
	c.inTx = false
	c.mail = command.Mail{}
	c.from = ""
	c.rcpts = nil
	c.to = nil
	c.rcptLines = nil
	c.chunked = false
	c.chunks = nil
	c.bdatFailed = false
}

// errQuit and errClosing end a connection after its pending replies are
// sent: after a 221 to QUIT, and after a 421.
var (
	errQuit    = errors.New("smtptest: quit")
	errClosing = errors.New("smtptest: closing after a 421 reply")
)

// conn is one connection being served.
type conn struct {
	s        *Server
	id       int
	raw      net.Conn
	io       *faultIO
	br       *bufio.Reader
	out      []byte // replies not yet written
	faults   connFaults
	seen     map[string]int // per-connection verb counts
	st       ConnState
	refusing bool // the greeting refused service
	accepted int  // messages recorded

	werr error // the write that failed: nothing more can be sent

	// The read deadline: readTimeout from the first read after the
	// server's replies are out (deadline is zero until then), as set by
	// readWithin; applied is the one set on the connection.
	readTimeout time.Duration
	deadline    time.Time
	applied     time.Time
	nread       int64   // octets read from the connection (after TLS)
	tee         *[]byte // while DATA is read, what is read is appended here too

	peakUnsent, peakHeld int64 // this connection's share of the server's peaks
	dot                  *wire.DotReader
	scratch              []byte // what DATA's decoded octets are read into
}

// readBufferSize is the size of a connection's read buffer.
const readBufferSize = 16 << 10

func newConn(s *Server, nc net.Conn, id int) *conn {
	c := &conn{s: s, id: id, raw: nc, seen: make(map[string]int), faults: newConnFaults(s.cfg.Faults)}
	c.io = &faultIO{c: nc, raw: nc, readLimit: c.faults.readLimit, writeLimit: c.faults.writeLimit}
	c.br = bufio.NewReaderSize(flushReader{c}, readBufferSize)
	c.st.id = id
	c.st.remote = nc.RemoteAddr()
	return c
}

func (c *conn) serve() {
	c.s.logf(c.id, "connected from %v", c.st.remote)
	if c.faults.readLimit == 0 || c.faults.writeLimit == 0 {
		c.s.logf(c.id, "closed by a fault")
		return
	}
	if c.s.cfg.ImplicitTLS {
		tc := tls.Server(c.raw, c.s.tlsConfig)
		c.io.c = tc
		c.st.tls = true
		if err := c.handshake(tc); err != nil {
			c.s.logf(c.id, "closed: TLS handshake: %v", err)
			return
		}
	}
	err := c.greet()
	for err == nil {
		err = c.next()
	}
	switch {
	case (err == errQuit || err == errClosing) && c.flush() == nil:
		c.linger()
	case errors.Is(err, os.ErrDeadlineExceeded) && c.werr == nil:
		// The client took too long to send a command or its data (a
		// write that timed out has set werr: that client is not reading).
		c.s.logf(c.id, "timeout")
		c.timeoutReply()
	}
	c.s.logf(c.id, "closed: %v", err)
}

// readWithin makes the server's next reads fail once d has passed from
// the first of them that waits for the client (after the replies queued
// before it are written); d = 0 means no limit. Each phase sets its own:
// a command line, an AUTH answer, the message data.
func (c *conn) readWithin(d time.Duration) {
	c.readTimeout, c.deadline = d, time.Time{}
}

// armDeadline sets the read deadline on the connection before a read
// that waits for the client.
func (c *conn) armDeadline() {
	if c.deadline.IsZero() && c.readTimeout > 0 {
		c.deadline = time.Now().Add(c.readTimeout)
	}
	if c.deadline != c.applied {
		c.io.c.SetReadDeadline(c.deadline)
		c.applied = c.deadline
	}
}

// timeoutReply sends the 421 after a read timed out, if it can go out
// within refuseWriteTimeout: the client may not be reading either.
func (c *conn) timeoutReply() {
	c.queue(c.reply(response.CodeServiceNotAvailable, "4.4.2", c.s.hostname+" Timeout, closing connection"))
	c.io.c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	c.writeOut(c.out)
	c.out = c.out[:0]
}

// lingerTimeout bounds how long a connection that the server ends (after
// a 221 or a 421) waits for the client to close its side.
const lingerTimeout = time.Second

// linger closes the connection's sending side (after a TLS close_notify)
// and discards what the client still sends, unread, until the client
// closes its side, for at most lingerTimeout. Closing a socket with unread
// input would reset the connection, and a reset can destroy the last
// replies before the client reads them: a client that pipelined commands
// after QUIT or the command that got 421 must still see that reply, and
// then the end of the stream.
func (c *conn) linger() {
	if tc, ok := c.io.c.(*tls.Conn); ok {
		if tc.CloseWrite() != nil { // sends close_notify
			return
		}
	}
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.raw.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, c.raw)
}

// count adds one to the server's and the connection's counts of each key.
func (c *conn) count(keys []string) []int {
	for i, k := range keys {
		if _, ok := c.seen[k]; !ok && len(c.seen) >= maxCountedVerbs {
			// A client inventing verbs must not grow the maps without
			// bound: past the limit, new ones share one counter.
			k = otherVerbsKey
			keys[i] = k
		}
		c.seen[k]++
	}
	return c.s.count(keys)
}

// maxCountedVerbs bounds the distinct verbs a connection (and the server)
// counts one by one; real clients use a dozen.
const maxCountedVerbs = 64

// otherVerbsKey counts the verbs past maxCountedVerbs.
const otherVerbsKey = "<other verbs>"

// readLine reads one line of at most limit octets before its line ending,
// which it includes. A longer line is read to its end and dropped, with
// tooLong set, without being held in memory.
func (c *conn) readLine(limit int) (line []byte, tooLong bool, err error) {
	c.readWithin(c.s.commandTimeout)
	b, err := c.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		for err == bufio.ErrBufferFull {
			_, err = c.br.ReadSlice('\n')
		}
		if err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(trimEOL(b)) > limit {
		return nil, true, nil
	}
	return append([]byte(nil), b...), false, nil
}

func trimEOL[T string | []byte](b T) T {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	}
	return b[:n]
}

// action is a default reply and what follows it.
type action struct {
	reply response.Reply
	// then runs once the reply is queued, when the reply sent is of the
	// same class as the default one: it changes the state, reads the
	// message, starts TLS...
	then func(final response.Reply) error
	// force, when set, runs instead of then when the reply sent is a 2yz
	// of another class (an AUTH answered at once instead of with 334).
	force func()
	// refused runs once the reply is queued when the reply sent is 4yz
	// or 5yz, whatever the default one: a refused BDAT fails the
	// transaction.
	refused func()
	// endOfData makes the reply also the end-of-data reply (BDAT LAST),
	// with Match looked for in data. The transaction ends once the
	// Handler has seen the command, whatever the reply.
	endOfData bool
	data      []byte
	// perRcpt, in LMTP mode, sends the per-recipient replies that stand
	// in for the end-of-data reply, unless the Handler, an Override or a
	// fault answers the command instead.
	perRcpt func() error
	// replies, in LMTP mode, is how many times a reply of the Handler or
	// an Override to BDAT LAST is sent: once per accepted recipient.
	replies int
}

// respond sends the reply to a command or pseudo-command. keys are its
// verbs, already counted (counts are the server-wide counts), and line is
// what Override.Match looks in; handled is a Handler's reply.
func (c *conn) respond(keys []string, counts []int, line string, act action, handled *response.Reply) error {
	final, overridden := act.reply, false
	if handled != nil {
		final, overridden = *handled, true
	} else if r, ok := c.override(keys, counts, line, act.data); ok {
		final, overridden = r, true
	}
	if f := c.faults.verbFault(keys, c.seen); f != nil {
		switch f.kind {
		case closeAt:
			c.s.logf(c.id, "closing: %v", f)
			c.flush()
			c.io.kill()
			return errFaultClosed
		case stallAt:
			c.s.logf(c.id, "stalling: %v", f)
			if err := c.stall(f.d); err != nil {
				return err
			}
		case garbageAt:
			c.s.logf(c.id, "S: %q (%v)", f.data, f)
			c.out = append(c.out, f.data...)
			return nil
		case endlessReplyAt:
			c.s.logf(c.id, "S: %03d-xxx... (%v)", int(final.Code), f)
			return c.endless(final.Code)
		}
	}
	if act.perRcpt != nil && !overridden {
		return act.perRcpt()
	}
	c.queue(final)
	if final.Code == response.CodeServiceNotAvailable {
		// 421 closes the connection (RFC 5321 §3.8): nothing after it is
		// read or answered, and the state does not change.
		return errClosing
	}
	if overridden {
		for range act.replies - 1 {
			c.queue(final)
		}
	}
	if act.refused != nil && (final.Transient() || final.Permanent()) {
		act.refused()
	}
	switch {
	case !overridden || final.Code.Class() == act.reply.Code.Class():
		if act.then != nil {
			return act.then(final)
		}
	case act.force != nil && final.Positive():
		act.force()
	}
	return nil
}

// override returns the reply of the first Override that matches.
func (c *conn) override(keys []string, counts []int, line string, data []byte) (response.Reply, bool) {
	for _, o := range c.s.cfg.Overrides {
		for i, k := range keys {
			if !strings.EqualFold(o.Verb, k) || o.Nth > 0 && o.Nth != counts[i] {
				continue
			}
			if o.Match != "" {
				text := line
				if k == endOfDataKey && !c.s.cfg.LMTP {
					text = string(data)
				}
				if k == greetingKey || !strings.Contains(strings.ToLower(text), strings.ToLower(o.Match)) {
					continue
				}
			}
			return o.Reply, true
		}
	}
	return response.Reply{}, false
}

func (c *conn) greet() error {
	keys := []string{greetingKey}
	counts := c.count(keys)
	var def response.Reply
	switch {
	case c.s.cfg.Greeting != nil:
		def = *c.s.cfg.Greeting
	case c.s.cfg.LMTP:
		def = response.New(response.CodeServiceReady, c.s.hostname+" LMTP smtptest")
	default:
		def = response.New(response.CodeServiceReady, c.s.hostname+" ESMTP smtptest")
	}
	var sent response.Reply
	act := action{reply: def, then: func(final response.Reply) error { sent = final; return nil }}
	// The greeting's then runs whatever the class, to learn what was sent.
	if r, ok := c.override(keys, counts, "", nil); ok {
		act.reply = r
	}
	if err := c.respond(keys, counts, "", act, &act.reply); err != nil {
		return err // a 421 among them
	}
	if sent.Code != 0 && !sent.Positive() { // (0: garbage was sent)
		c.refusing = true
	}
	return nil
}

// next reads and answers one command.
func (c *conn) next() error {
	if c.werr != nil {
		return c.werr // the client is not reading: do not read on
	}
	line, tooLong, err := c.readLine(c.s.cfg.MaxCommandLineLength)
	if err != nil {
		return err
	}
	if tooLong {
		c.s.logf(c.id, "C: <line over %d octets>", c.s.cfg.MaxCommandLineLength)
		c.queue(c.reply(response.CodeSyntaxError, "5.5.2", "Line too long"))
		return nil
	}
	text := string(trimEOL(line))
	c.s.record(text)
	c.s.logf(c.id, "C: %s", text)
	cmd, perr := command.Parse(line)
	keys := []string{verbOf(cmd, perr, text)}
	counts := c.count(keys)
	act, err := c.dispatch(cmd, perr, text)
	if err != nil {
		return err
	}
	if act.endOfData && !c.s.cfg.LMTP {
		// BDAT LAST: its reply is also the end-of-data reply. (In LMTP
		// the end-of-data replies are the per-recipient ones.)
		keys = append([]string{endOfDataKey}, keys...)
		counts = append(c.count(keys[:1]), counts...)
	}
	var handled *response.Reply
	if h := c.s.cfg.Handler; h != nil {
		if r, ok := h(&c.st, text, cmd); ok {
			handled = &r
		}
	}
	if act.endOfData {
		c.st.resetTx()
	}
	return c.respond(keys, counts, text, act, handled)
}
