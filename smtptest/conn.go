package smtptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/auth"

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
}

// flushReader writes the pending replies before the reader waits for the
// client: so replies to pipelined commands that arrived together leave
// together (RFC 2920 §3.1), and nothing waits on a reply still buffered.
type flushReader struct{ c *conn }

func (r flushReader) Read(p []byte) (int, error) {
	if err := r.c.flush(); err != nil {
		return 0, err
	}
	n, err := r.c.io.Read(p)
	if n > 0 {
		r.c.s.recordRead(r.c.id, p[:n])
	}
	return n, err
}

func newConn(s *Server, nc net.Conn, id int) *conn {
	c := &conn{s: s, id: id, raw: nc, seen: make(map[string]int), faults: newConnFaults(s.cfg.Faults)}
	c.io = &faultIO{c: nc, raw: nc, readLimit: c.faults.readLimit, writeLimit: c.faults.writeLimit}
	c.br = bufio.NewReaderSize(flushReader{c}, 16<<10)
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
		c.io.c = tls.Server(c.raw, c.s.tlsConfig)
		c.st.tls = true
	}
	err := c.greet()
	for err == nil {
		err = c.next()
	}
	if (err == errQuit || err == errClosing) && c.flush() == nil {
		c.linger()
	}
	c.s.logf(c.id, "closed: %v", err)
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

func (c *conn) reply(code response.Code, enhanced, text string) response.Reply {
	if enhanced != "" && c.s.enhanced {
		text = enhanced + " " + text
	}
	return response.New(code, text)
}

func appendReply(dst []byte, r response.Reply) []byte {
	n := r.LineCount()
	i := 0
	for line := range r.AllLines() {
		i++
		code := int(r.Code)
		if code < 100 {
			dst = append(dst, '0')
		}
		if code < 10 {
			dst = append(dst, '0')
		}
		dst = strconv.AppendInt(dst, int64(code), 10)
		if i < n {
			dst = append(dst, '-')
		} else {
			dst = append(dst, ' ')
		}
		dst = append(dst, line...)
		dst = append(dst, '\r', '\n')
	}
	return dst
}

func (c *conn) queue(r response.Reply) {
	start := len(c.out)
	c.out = appendReply(c.out, r)
	if c.s.cfg.Log != nil {
		for l := range strings.SplitSeq(strings.TrimSuffix(string(c.out[start:]), "\r\n"), "\r\n") {
			c.s.logf(c.id, "S: %s", l)
		}
	}
}

// flush writes the pending replies, with the write faults applied.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	defer func() { c.out = c.out[:0] }()
	c.s.countRoundTrip()
	if c.faults.latency > 0 && !c.s.sleep(c.faults.latency) {
		return net.ErrClosed
	}
	data := c.out
	if c.faults.split <= 0 {
		_, err := c.io.Write(data)
		return err
	}
	for len(data) > 0 {
		n := min(c.faults.split, len(data))
		if _, err := c.io.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if len(data) > 0 && !c.s.sleep(time.Millisecond) {
			return net.ErrClosed
		}
	}
	return nil
}

// readLine reads one line of at most limit octets before its line ending,
// which it includes. A longer line is read to its end and dropped, with
// tooLong set, without being held in memory.
func (c *conn) readLine(limit int) (line []byte, tooLong bool, err error) {
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

// stall waits d, or with d <= 0 until the connection or the server closes,
// watching for the client closing the connection meanwhile.
func (c *conn) stall(d time.Duration) error {
	if err := c.flush(); err != nil {
		return err
	}
	var timer <-chan time.Time
	if d > 0 {
		c.io.c.SetReadDeadline(time.Now().Add(d))
		defer c.io.c.SetReadDeadline(time.Time{})
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	for {
		_, err := c.br.Peek(c.br.Buffered() + 1)
		switch {
		case err == nil:
			continue // the client sent more; it waits for its turn
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case err == bufio.ErrBufferFull:
			select {
			case <-timer:
				return nil
			case <-c.s.done:
				return net.ErrClosed
			}
		}
		return err
	}
}

// endless sends "<code>-" and then "x" until a write fails.
func (c *conn) endless(code response.Code) error {
	if err := c.flush(); err != nil {
		return err
	}
	if _, err := c.io.Write([]byte(strconv.Itoa(int(code)) + "-")); err != nil {
		return err
	}
	buf := bytes.Repeat([]byte{'x'}, 4096)
	for {
		select {
		case <-c.s.done:
			return net.ErrClosed
		default:
		}
		if _, err := c.io.Write(buf); err != nil {
			return err
		}
	}
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
	line, tooLong, err := c.readLine(MaxLineLength)
	if err != nil {
		return err
	}
	if tooLong {
		c.s.logf(c.id, "C: <line over %d octets>", MaxLineLength)
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

func verbOf(cmd command.Command, err error, line string) string {
	if cmd != nil {
		return strings.ToUpper(cmd.Verb())
	}
	var ce *command.Error
	if errors.As(err, &ce) && ce.Verb != "" {
		return ce.Verb
	}
	verb, _, _ := strings.Cut(line, " ")
	return strings.ToUpper(verb)
}

func (c *conn) syntaxError(err error) response.Reply {
	var ce *command.Error
	if !errors.As(err, &ce) {
		return c.reply(response.CodeParamSyntaxError, "5.5.4", "Syntax error")
	}
	msg := strings.TrimPrefix(ce.Error(), "command: ")
	switch {
	case ce.Arg == "verb":
		return c.reply(response.CodeSyntaxError, "5.5.2", "Syntax error, command unrecognized")
	case ce.Verb == "":
		return c.reply(response.CodeSyntaxError, "5.5.2", "Syntax error: "+msg)
	case errors.Is(err, command.ErrNeedsSMTPUTF8) && (ce.Verb == "MAIL" || ce.Verb == "RCPT"):
		return c.reply(response.CodeMailboxNameNotAllowed, "5.6.7", "Non-ASCII address requires SMTPUTF8")
	}
	return c.reply(response.CodeParamSyntaxError, "5.5.4", "Syntax error: "+msg)
}

func (c *conn) helloFirst() response.Reply {
	if c.s.cfg.LMTP {
		return c.reply(response.CodeBadSequence, "5.5.1", "Send LHLO first")
	}
	return c.reply(response.CodeBadSequence, "5.5.1", "Send EHLO or HELO first")
}

// dispatch works out the default reply to a command line.
func (c *conn) dispatch(cmd command.Command, perr error, line string) (action, error) {
	s, st := c.s, &c.st
	if b, ok := cmd.(command.Bdat); ok {
		return c.bdat(b)
	}
	if n, ok := badBdat(perr, line); ok {
		// A BDAT line that does not parse fails the transaction, as in
		// Dovecot. When its size parsed, its octets follow whatever the
		// reply (RFC 3030 §2): they are skipped, not read as commands.
		if n > 0 {
			if err := c.discard(n); err != nil {
				return action{}, err
			}
		}
		act := action{reply: c.syntaxError(perr), refused: c.failChunks}
		if c.refusing {
			act.reply = c.reply(response.CodeBadSequence, "5.5.1", "No SMTP service here")
		}
		return act, nil
	}
	if c.refusing {
		if _, ok := cmd.(command.Quit); !ok {
			return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "No SMTP service here")}, nil
		}
	}
	if perr != nil {
		return action{reply: c.syntaxError(perr)}, nil
	}
	notImplemented := action{reply: c.reply(response.CodeNotImplemented, "5.5.1", "Command not implemented")}
	unrecognized := action{reply: c.reply(response.CodeSyntaxError, "5.5.1", "Command unrecognized")}
	switch cmd := cmd.(type) {
	case command.Ehlo:
		if s.cfg.LMTP {
			return unrecognized, nil
		}
		if s.cfg.DisableEHLO {
			return notImplemented, nil
		}
		return c.hello(cmd.Domain, true), nil
	case command.Helo:
		if s.cfg.LMTP {
			return unrecognized, nil
		}
		return c.hello(cmd.Domain, false), nil
	case command.Lhlo:
		if !s.cfg.LMTP {
			return unrecognized, nil
		}
		return c.hello(cmd.Domain, true), nil
	case command.Mail:
		return c.mail(cmd, line), nil
	case command.Rcpt:
		return c.rcpt(cmd, line), nil
	case command.Data:
		return c.data(), nil
	case command.Rset:
		return action{reply: c.reply(response.CodeOK, "2.0.0", "OK"), then: func(response.Reply) error {
			st.resetTx()
			return nil
		}}, nil
	case command.Noop:
		return action{reply: c.reply(response.CodeOK, "2.0.0", "OK")}, nil
	case command.Vrfy:
		return action{reply: c.reply(response.CodeCannotVerify, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery")}, nil
	case command.Expn:
		return action{reply: c.reply(response.CodeNotImplemented, "5.5.1", "EXPN not supported")}, nil
	case command.Help:
		return action{reply: c.reply(response.CodeHelp, "2.0.0", "smtptest: see RFC 5321")}, nil
	case command.Quit:
		return action{reply: c.reply(response.CodeServiceClosing, "2.0.0", s.hostname+" closing connection"), then: func(response.Reply) error {
			return errQuit
		}}, nil
	case command.StartTLS:
		if !s.hasExt("STARTTLS") || st.tls {
			return notImplemented, nil
		}
		return action{reply: c.reply(response.CodeServiceReady, "2.0.0", "Ready to start TLS"), then: c.startTLS}, nil
	case command.Auth:
		return c.auth(cmd), nil
	}
	return unrecognized, nil
}

func (c *conn) hello(domain string, esmtp bool) action {
	s, st := c.s, &c.st
	then := func(response.Reply) error {
		st.resetTx()
		st.helo, st.greeted, st.esmtp = domain, true, esmtp
		return nil
	}
	first := s.hostname + " greets " + domain
	if !esmtp {
		return action{reply: response.New(response.CodeOK, first), then: then}
	}
	lines := []string{first}
	for _, e := range s.exts {
		if st.tls && strings.EqualFold(e, "STARTTLS") {
			continue
		}
		lines = append(lines, e)
	}
	return action{reply: response.New(response.CodeOK, lines...), then: then}
}

func (c *conn) paramError(kw string) action {
	return action{reply: c.reply(response.CodeParamsNotRecognized, "5.5.4", kw+" parameter not supported")}
}

func (c *conn) mail(cmd command.Mail, line string) action {
	s, st := c.s, &c.st
	switch {
	case !st.greeted:
		return action{reply: c.helloFirst()}
	case s.cfg.MaxMessagesPerConnection > 0 && c.accepted >= s.cfg.MaxMessagesPerConnection:
		return action{reply: c.reply(response.CodeServiceNotAvailable, "4.7.0", s.hostname+" Too many messages in this connection")}
	case s.cfg.RequireTLS && !st.tls:
		return action{reply: c.reply(response.CodeAuthRequired, "5.7.0", "Must issue a STARTTLS command first")}
	case s.cfg.RequireAuth && !st.authed:
		return action{reply: c.reply(response.CodeAuthRequired, "5.7.0", "Authentication required")}
	case st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Nested MAIL command")}
	}
	p := cmd.Params
	need := []struct {
		used bool
		kw   string
		ext  []string
	}{
		{p.Size > 0, "SIZE", []string{"SIZE"}},
		{p.Body == command.Body7Bit, "BODY", []string{"8BITMIME", "BINARYMIME"}},
		{p.Body == command.Body8BitMIME, "BODY", []string{"8BITMIME"}},
		{p.Body == command.BodyBinaryMIME, "BODY", []string{"BINARYMIME"}},
		{p.SMTPUTF8, "SMTPUTF8", []string{"SMTPUTF8"}},
		{p.Ret != "", "RET", []string{"DSN"}},
		{p.EnvID != "", "ENVID", []string{"DSN"}},
		{p.Auth != "", "AUTH", []string{"AUTH"}},
		{p.RequireTLS, "REQUIRETLS", []string{"REQUIRETLS"}},
		{p.MTPriority != nil, "MT-PRIORITY", []string{"MT-PRIORITY"}},
		{p.By != nil, "BY", []string{"DELIVERBY"}},
	}
	for _, n := range need {
		if n.used && !slicesAny(n.ext, s.hasExt) {
			return c.paramError(n.kw)
		}
	}
	for _, x := range p.Extra {
		if !s.hasExt(x.Keyword) {
			return c.paramError(strings.ToUpper(x.Keyword))
		}
	}
	if s.maxSize > 0 && p.Size > s.maxSize {
		return action{reply: c.reply(response.CodeExceededStorage, "5.3.4", "Message size exceeds fixed maximum message size")}
	}
	return action{reply: c.reply(response.CodeOK, "2.1.0", "OK"), then: func(response.Reply) error {
		st.resetTx()
		st.inTx, st.mail, st.from = true, cmd, cmd.From.String()
		return nil
	}}
}

func slicesAny(list []string, f func(string) bool) bool {
	for _, s := range list {
		if f(s) {
			return true
		}
	}
	return false
}

func (c *conn) rcpt(cmd command.Rcpt, line string) action {
	s, st := c.s, &c.st
	switch {
	case !st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Need MAIL before RCPT")}
	case st.chunked:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "RCPT after BDAT")}
	}
	p := cmd.Params
	if p.Notify != 0 && !s.hasExt("DSN") {
		return c.paramError("NOTIFY")
	}
	if p.ORCPT != (command.OriginalRecipient{}) && !s.hasExt("DSN") {
		return c.paramError("ORCPT")
	}
	for _, x := range p.Extra {
		if !s.hasExt(x.Keyword) {
			return c.paramError(strings.ToUpper(x.Keyword))
		}
	}
	if cmd.SMTPUTF8 && !st.mail.Params.SMTPUTF8 {
		return action{reply: c.reply(response.CodeMailboxNameNotAllowed, "5.6.7", "Non-ASCII address requires SMTPUTF8")}
	}
	return action{reply: c.reply(response.CodeOK, "2.1.5", "OK"), then: func(response.Reply) error {
		st.rcpts = append(st.rcpts, cmd)
		st.to = append(st.to, cmd.To.String())
		st.rcptLines = append(st.rcptLines, line)
		return nil
	}}
}

func (c *conn) data() action {
	st := &c.st
	switch {
	case !st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Need MAIL before DATA")}
	case st.chunked:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "DATA mixed with BDAT")}
	case st.mail.Params.Body == command.BodyBinaryMIME:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "BINARYMIME requires BDAT")}
	case len(st.rcpts) == 0:
		return action{reply: c.reply(response.CodeTransactionFailed, "5.5.1", "No valid recipients")}
	}
	return action{reply: response.New(response.CodeStartMailInput, "End data with <CR><LF>.<CR><LF>"), then: func(response.Reply) error {
		if err := c.flush(); err != nil {
			return err
		}
		raw, tooBig, err := c.readDotData()
		if err != nil {
			return err
		}
		var data []byte
		var decodeErr error
		if !tooBig {
			d := wire.NewDotReader(bytes.NewReader(raw))
			d.SetMaxLineLength(len(raw) + 3)
			data, decodeErr = io.ReadAll(d)
			if data == nil {
				data = []byte{}
			}
			tooBig = c.s.maxSize > 0 && int64(len(data)) > c.s.maxSize
		}
		c.s.logf(c.id, "C: <%d octets of data>", len(raw))
		return c.endOfData(c.finishMessage(raw, data, tooBig, decodeErr, false))
	}}
}

// readDotData reads the message after a 354 through the end-of-data line
// and returns the bytes as received. Past the size limit it stops keeping
// them, reads on to the end, and reports tooBig.
func (c *conn) readDotData() (raw []byte, tooBig bool, err error) {
	keep := int64(-1) // no bound
	if c.s.maxSize > 0 && c.s.maxSize <= (math.MaxInt64-16)/2 {
		// Dot-stuffing adds at most a third: past this the decoded
		// message is over the limit for sure. A larger limit would
		// overflow; no message that big can arrive anyway.
		keep = 2*c.s.maxSize + 16
	}
	raw = []byte{}
	atStart, afterCR := true, false
	for {
		b, err := c.br.ReadSlice('\n')
		if atStart && err == nil && len(b) == 3 && b[0] == '.' && b[1] == '\r' {
			if !tooBig {
				raw = append(raw, b...)
			}
			return raw, tooBig, nil
		}
		if len(b) > 0 {
			if !tooBig && (keep < 0 || int64(len(raw)+len(b)) <= keep) {
				raw = append(raw, b...)
			} else {
				tooBig, raw = true, nil
			}
			if last := b[len(b)-1]; last == '\n' {
				atStart = len(b) >= 2 && b[len(b)-2] == '\r' || len(b) == 1 && afterCR
				afterCR = false
			} else {
				atStart, afterCR = false, last == '\r'
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
	}
}

// finishMessage returns the end-of-data action, which records the message.
// The caller ends the transaction (st.resetTx) before the reply is sent.
func (c *conn) finishMessage(raw, data []byte, tooBig bool, decodeErr error, chunked bool) action {
	st := &c.st
	msg := Message{
		Conn:     c.id,
		Helo:     st.helo,
		TLS:      st.tls,
		AuthUser: st.authUser,
		From:     st.from,
		Mail:     st.mail,
		Rcpts:    append([]command.Rcpt(nil), st.rcpts...),
		To:       append([]string(nil), st.to...),
		Data:     data,
		Raw:      raw,
		Chunked:  chunked,
	}
	rcptLines := st.rcptLines
	act := action{endOfData: true, data: data}
	switch {
	case tooBig:
		act.reply = c.reply(response.CodeExceededStorage, "5.3.4", "Message too big")
	case decodeErr != nil:
		act.reply = c.reply(response.CodeLocalError, "4.3.0", "Cannot decode the data: "+decodeErr.Error())
	default:
		act.reply = c.reply(response.CodeOK, "2.0.0", "OK queued")
		act.then = func(response.Reply) error {
			c.addMessage(msg)
			return nil
		}
	}
	if c.s.cfg.LMTP {
		act.perRcpt = c.lmtpReplies(msg, rcptLines, act.reply)
		act.replies = len(rcptLines)
	}
	return act
}

// lmtpReplies returns a function that sends one reply per recipient (RFC
// 2033 §4.2) instead of the single one, and records the message for those
// whose reply is 2yz.
func (c *conn) lmtpReplies(msg Message, rcptLines []string, def response.Reply) func() error {
	return func() error {
		var rcpts []command.Rcpt
		var to []string
		var closing error
		for i, line := range rcptLines {
			keys := []string{endOfDataKey}
			counts := c.count(keys)
			r := def
			if r.Positive() {
				r = c.reply(response.CodeOK, "2.1.5", "<"+msg.To[i]+"> OK")
			}
			var sent response.Reply
			act := action{reply: r, then: func(final response.Reply) error { sent = final; return nil }}
			if o, ok := c.override(keys, counts, line, nil); ok {
				act.reply = o
			}
			err := c.respond(keys, counts, line, act, &act.reply)
			if err == errClosing {
				// A 421 ends the connection: the recipients after it get
				// no reply, those before it that got 2yz have the message.
				closing = err
				break
			}
			if err != nil {
				return err
			}
			if sent.Positive() && def.Positive() {
				rcpts = append(rcpts, msg.Rcpts[i])
				to = append(to, msg.To[i])
			}
		}
		if len(rcpts) > 0 {
			msg.Rcpts, msg.To = rcpts, to
			c.addMessage(msg)
		}
		return closing
	}
}

// addMessage records a message accepted on the connection.
func (c *conn) addMessage(m Message) {
	c.accepted++
	c.s.addMessage(m)
}

// endOfData answers the end of the data of DATA, which ends the
// transaction.
func (c *conn) endOfData(act action) error {
	c.st.resetTx()
	if act.perRcpt != nil {
		// LMTP: the per-recipient replies stand in for the single one.
		return act.perRcpt()
	}
	keys := []string{endOfDataKey}
	return c.respond(keys, c.count(keys), "", act, nil)
}

// bdat reads a BDAT chunk and works out the reply to it. A chunk is read
// whatever the reply (RFC 3030 §2: the octets follow the command line),
// but only an accepted one is part of the message. A chunk refused in a
// mail transaction, by the server (no recipients, the size limit, a
// syntax error) or by the Handler or an Override (4yz or 5yz), fails the
// transaction, as RFC 3030 §2 has the client consider it: every later
// BDAT in it is read and answered "503 5.5.0 Previous data chunk failed,
// issue RSET first", once even in LMTP, the transaction staying open
// until RSET (or EHLO, HELO, LHLO, STARTTLS), as Dovecot does. The
// exception is a BDAT LAST over the size limit: that is the message's
// end-of-data reply, and it ends the transaction, as after DATA.
func (c *conn) bdat(cmd command.Bdat) (action, error) {
	s, st := c.s, &c.st
	var refuse response.Reply
	switch {
	case c.refusing:
		refuse = c.reply(response.CodeBadSequence, "5.5.1", "No SMTP service here")
	case !s.hasExt("CHUNKING"):
		refuse = c.reply(response.CodeNotImplemented, "5.5.1", "Command not implemented")
	case !st.inTx:
		refuse = c.reply(response.CodeBadSequence, "5.5.1", "Need MAIL before BDAT")
	case st.bdatFailed:
		refuse = c.reply(response.CodeBadSequence, "5.5.0", "Previous data chunk failed, issue RSET first")
	case len(st.rcpts) == 0:
		refuse = c.reply(response.CodeTransactionFailed, "5.5.1", "No valid recipients")
	}
	tooBig := refuse.Code == 0 && s.maxSize > 0 && cmd.Size > max(0, s.maxSize-int64(len(st.chunks)))
	if refuse.Code != 0 || tooBig {
		if err := c.discard(cmd.Size); err != nil {
			return action{}, err
		}
		if tooBig && cmd.Last {
			return c.finishMessage(nil, nil, true, nil, true), nil
		}
		if tooBig {
			refuse = c.reply(response.CodeExceededStorage, "5.3.4", "Message too big")
		}
		return action{reply: refuse, refused: c.failChunks}, nil
	}
	var chunk bytes.Buffer
	if _, err := io.CopyN(&chunk, c.br, cmd.Size); err != nil {
		return action{}, err
	}
	c.s.logf(c.id, "C: <%d octets>", cmd.Size)
	if cmd.Last {
		data := append(st.chunks, chunk.Bytes()...)
		return c.finishMessage(bytes.Clone(data), data, false, nil, true), nil
	}
	return action{
		reply: c.reply(response.CodeOK, "2.0.0", strconv.FormatInt(cmd.Size, 10)+" octets received"),
		then: func(response.Reply) error {
			st.chunks = append(st.chunks, chunk.Bytes()...)
			st.chunked = true
			return nil
		},
		refused: c.failChunks,
	}, nil
}

// failChunks marks the transaction, if there is one, as failed by a
// refused BDAT.
func (c *conn) failChunks() {
	if c.st.inTx {
		c.st.chunked, c.st.bdatFailed = true, true
	}
}

// discard reads and drops the n octets of a chunk that is not kept.
func (c *conn) discard(n int64) error {
	if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
		return err
	}
	c.s.logf(c.id, "C: <%d octets discarded>", n)
	return nil
}

// badBdat reports whether perr is the parse error of a BDAT line, with
// the chunk size when it parsed (the end marker did not), else 0.
func badBdat(perr error, line string) (size int64, ok bool) {
	var ce *command.Error
	if !errors.As(perr, &ce) || ce.Verb != "BDAT" {
		return 0, false
	}
	if f := strings.Fields(line); ce.Arg == "end-marker" && len(f) >= 2 {
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil && n > 0 {
			size = n
		}
	}
	return size, true
}

func (c *conn) startTLS(response.Reply) error {
	c.out = append(c.out, c.faults.afterTLS...)
	if err := c.flush(); err != nil {
		return err
	}
	if n := c.br.Buffered(); n > 0 {
		// Plaintext sent after STARTTLS: dropped, never executed
		// (RFC 3207 §5).
		c.s.logf(c.id, "C: <%d octets after STARTTLS dropped>", n)
		c.br.Discard(n)
	}
	tc := tls.Server(c.raw, c.s.tlsConfig)
	c.io.c = tc
	if err := tc.Handshake(); err != nil {
		return err
	}
	c.s.logf(c.id, "TLS started")
	c.st.resetTx()
	c.st.helo, c.st.greeted, c.st.esmtp = "", false, false
	c.st.authed, c.st.authUser = false, ""
	c.st.tls = true
	return nil
}

func (c *conn) auth(cmd command.Auth) action {
	s, st := c.s, &c.st
	mechs, offered := s.extArg("AUTH")
	switch {
	case !offered:
		return action{reply: c.reply(response.CodeNotImplemented, "5.5.1", "Command not implemented")}
	case s.cfg.RequireTLS && !st.tls:
		return action{reply: c.reply(response.CodeAuthRequired, "5.7.0", "Must issue a STARTTLS command first")}
	case !st.greeted:
		return action{reply: c.helloFirst()}
	case st.authed:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Already authenticated")}
	case st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "AUTH not permitted during a mail transaction")}
	}
	var sasl auth.Server
	for _, m := range strings.Fields(mechs) {
		if strings.EqualFold(m, cmd.Mechanism) {
			sasl = c.newSASL(m)
		}
	}
	if sasl == nil {
		return action{reply: c.reply(response.CodeParamNotImplemented, "5.5.4", "Unrecognized authentication type")}
	}
	chal, done, err := sasl.Next(cmd.InitialResponse)
	if done {
		return c.authResult(sasl, chal, err)
	}
	return action{
		reply: response.New(response.CodeAuthContinue, base64.StdEncoding.EncodeToString(chal)),
		then:  func(response.Reply) error { return c.saslExchange(sasl) },
		force: func() { st.authed = true },
	}
}

// newSASL returns the server side of mech, checking Config.Users, or nil
// when auth has none.
func (c *conn) newSASL(mech string) auth.Server {
	users := c.s.cfg.Users
	cfg := auth.ServerConfig{
		Password: func(u string) (string, bool) {
			p, ok := users[u]
			return p, ok
		},
		Hostname: c.s.hostname,
	}
	// The binding goes to the SCRAM server only when this server offers
	// channel binding (a -PLUS mechanism): with it, a client's "y" flag
	// reads as a downgrade attack.
	mechs, _ := c.s.extArg("AUTH")
	offersPlus := strings.Contains(strings.ToUpper(mechs), "-PLUS")
	if tc, ok := c.io.c.(*tls.Conn); ok && offersPlus {
		cs := tc.ConnectionState()
		if cb, err := auth.ChannelBindingFor(&cs); err == nil {
			cfg.ChannelBinding = cb
		}
	}
	srv, err := auth.NewServer(mech, cfg)
	if err != nil {
		return nil
	}
	return srv
}

// authResult answers the end of an exchange: 235 or 535, after a last
// challenge when the mechanism has one for success (SCRAM's server
// signature, which the client answers with an empty line).
func (c *conn) authResult(sasl auth.Server, final []byte, err error) action {
	st := &c.st
	switch {
	case err != nil && errors.Is(err, auth.ErrInvalidCredentials):
		return action{reply: c.reply(response.CodeAuthInvalid, "5.7.8", "Authentication credentials invalid")}
	case err != nil:
		return action{reply: c.reply(response.CodeParamSyntaxError, "5.5.2", "Malformed authentication exchange")}
	case final != nil:
		return action{
			reply: response.New(response.CodeAuthContinue, base64.StdEncoding.EncodeToString(final)),
			then: func(response.Reply) error {
				line, tooLong, err := c.readLine(MaxAuthLineLength)
				if err != nil {
					return err
				}
				c.recordAuthLine(line)
				resp, perr := parseAuthAnswer(line)
				switch {
				case tooLong || perr != nil || len(resp) != 0:
					c.queue(c.reply(response.CodeParamSyntaxError, "5.5.2", "Expected an empty answer to the server's final message"))
					return nil
				}
				act := c.authResult(sasl, nil, nil)
				c.queue(act.reply)
				return act.then(act.reply)
			},
		}
	}
	return action{reply: c.reply(response.CodeAuthSucceeded, "2.7.0", "Authentication successful"), then: func(response.Reply) error {
		st.authed, st.authUser = true, sasl.Identity()
		return nil
	}}
}

// parseAuthAnswer is command.ParseAuthResponse without its leniency: "="
// is the empty string only in AUTH's initial response, and Dovecot, for
// one, refuses it as an answer to a challenge, so this server does too.
func parseAuthAnswer(line []byte) ([]byte, error) {
	if string(trimEOL(line)) == "=" {
		return nil, errors.New("smtptest: \"=\" is not base64 in a continued response")
	}
	return command.ParseAuthResponse(line)
}

func (c *conn) recordAuthLine(line []byte) {
	text := string(trimEOL(line))
	c.s.record(text)
	c.s.logf(c.id, "C: %s", text)
}

// saslExchange reads the client's answers to 334 challenges and replies
// until the mechanism is done (RFC 4954 §4).
func (c *conn) saslExchange(sasl auth.Server) error {
	for {
		line, tooLong, err := c.readLine(MaxAuthLineLength)
		if err != nil {
			return err
		}
		if tooLong {
			c.queue(c.reply(response.CodeSyntaxError, "5.5.6", "Authentication exchange line is too long"))
			return nil
		}
		c.recordAuthLine(line)
		resp, err := parseAuthAnswer(line)
		if errors.Is(err, command.ErrAuthCanceled) {
			c.queue(c.reply(response.CodeParamSyntaxError, "5.0.0", "Authentication canceled"))
			return nil
		}
		if err != nil {
			c.queue(c.reply(response.CodeParamSyntaxError, "5.5.2", "Cannot decode response"))
			return nil
		}
		chal, done, err := sasl.Next(resp)
		if !done {
			c.queue(response.New(response.CodeAuthContinue, base64.StdEncoding.EncodeToString(chal)))
			continue
		}
		act := c.authResult(sasl, chal, err)
		c.queue(act.reply)
		if act.then != nil {
			return act.then(act.reply)
		}
		return nil
	}
}
