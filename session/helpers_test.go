package session_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/wire"
)

// The helpers shared by the tests of package session, by what they help
// with: servers and clients, messages, sessions that fail, a connection
// to a fixed script, and the scripted server.
//
// A test that must leave no goroutine behind calls
// testfixture.CheckGoroutines first.

// ---- Servers and clients ----

const testBody = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n.dot line\r\n"

// sequentialExtensions are smtptest's defaults without PIPELINING and
// CHUNKING: the tests written for the one-command-at-a-time path (DATA,
// a reply awaited per command) run on it. pipeline_test.go covers the
// pipelined and BDAT paths.
func sequentialExtensions() []string {
	var out []string
	for _, e := range smtptest.DefaultExtensions() {
		if e != "PIPELINING" && e != "CHUNKING" {
			out = append(out, e)
		}
	}
	return out
}

// newServer starts a test server, on sequentialExtensions unless cfg
// lists its own.
func newServer(t *testing.T, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	if cfg.Extensions == nil {
		cfg.Extensions = sequentialExtensions()
	}
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
	t.Helper()
	c, err := session.Dial(testCtx(t), srv.Addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// verbs returns the verbs of the command lines the server received.
func verbs(srv *smtptest.Server) []string {
	var out []string
	for _, l := range srv.Commands() {
		v, _, _ := strings.Cut(l, " ")
		out = append(out, strings.ToUpper(v))
	}
	return out
}

func hasCommand(srv *smtptest.Server, prefix string) bool {
	for _, l := range srv.Commands() {
		if strings.HasPrefix(strings.ToUpper(l), strings.ToUpper(prefix)) {
			return true
		}
	}
	return false
}

var tlsExtensions = []string{"PIPELINING", "SIZE 10485760", "8BITMIME", "STARTTLS", "ENHANCEDSTATUSCODES"}

// localName is the name the client gives in EHLO where a test counts or
// compares octets: fixed, so that every run sends the same.
const localName = "client.example.org"

// pipelinedDataExtensions offers PIPELINING without CHUNKING: the
// pipelined DATA path.
func pipelinedDataExtensions() []string {
	return []string{"PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES"}
}

// sendPath is one of the three ways a message can go.
type sendPath struct {
	name string
	exts func() []string
	bdat bool
	pipe bool
}

var sendPaths = []sendPath{
	{"sequential", sequentialExtensions, false, false},
	{"pipelined DATA", pipelinedDataExtensions, false, true},
	{"pipelined BDAT", smtptest.DefaultExtensions, true, true},
}

// newServerOffering starts a server announcing exts (nil: newServer's
// sequential default).
func newServerOffering(t *testing.T, exts []string, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	cfg.Extensions = exts
	return newServer(t, cfg)
}

// dialHello connects with a fixed local name (so the octets are known) and
// greets the server, so that what a test measures afterwards is its own.
func dialHello(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
	t.Helper()
	var o session.Options
	if opts != nil {
		o = *opts
	}
	if o.LocalName == "" {
		o.LocalName = localName
	}
	c := dial(t, srv, &o)
	if err := c.Hello(testCtx(t)); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	return c
}

// serverReads returns the server's reads, as strings, in order.
func serverReads(srv *smtptest.Server) []string {
	var out []string
	for _, r := range srv.Reads() {
		out = append(out, string(r.Data))
	}
	return out
}

// verbsFrom returns the verbs of the command lines from the n-th on.
func verbsFrom(srv *smtptest.Server, from int) []string {
	v := verbs(srv)
	if from > len(v) {
		return nil
	}
	return v[from:]
}

// roundTrips returns the round trips f costs on srv.
func roundTrips(srv *smtptest.Server, f func()) int {
	before := srv.RoundTrips()
	f()
	return srv.RoundTrips() - before
}

func binaryExtensions() []string { return append(smtptest.DefaultExtensions(), "BINARYMIME") }

// ---- Messages ----

// normalise is what the DATA encoder promises the server receives for
// body: wire.Normalise, the reference the encoders are property-tested
// against.
func normalise(body []byte) []byte { return wire.Normalise(body) }

// markedBody has lines that start with a dot, a bare LF, a lone "." line
// and a marker that must never show in a trace.
const markedBody = "Subject: pipelined\r\n\r\n.leading dot\nbare LF\r\n.\r\n..two\r\nSECRET-BODY-MARKER\r\nlast"

// testMessage is one message to send: addresses as users write them.
type testMessage struct {
	from string
	to   []string
	body string
	// params, when set, are the envelope's MAIL parameters.
	params command.MailParams
}

func mailbox(s string) command.Mailbox {
	if s == "" {
		return command.Mailbox{}
	}
	m, err := command.ParseMailbox(s)
	if err != nil {
		panic(fmt.Sprintf("mailbox(%q): %v", s, err))
	}
	return m
}

func (m testMessage) envelope() session.Envelope {
	env := session.Envelope{From: mailbox(m.from), MailParams: m.params}
	for _, to := range m.to {
		env.To = append(env.To, mailbox(to))
	}
	return env
}

func (m testMessage) message() *session.Message {
	return &session.Message{Envelope: m.envelope(), Body: strings.NewReader(m.body)}
}

// data is what the server must record for the message.
func (m testMessage) data() string { return string(normalise([]byte(m.body))) }

// checkRecorded checks that the server recorded m intact with exactly the
// recipients accepted.
func checkRecorded(t testing.TB, what string, got smtptest.Message, m testMessage, accepted []string) {
	t.Helper()
	if got.From != m.from || strings.Join(got.To, ",") != strings.Join(accepted, ",") {
		t.Errorf("%s: server recorded %q -> %q, want %q -> %q", what, got.From, got.To, m.from, accepted)
	}
	if string(got.Data) != m.data() {
		t.Errorf("%s: server recorded data %q, want %q", what, got.Data, m.data())
	}
}

// manyMessages returns n messages, each to two recipients of its own, with
// bodies that need dot-stuffing and line-ending normalisation.
func manyMessages(n int) []testMessage {
	out := make([]testMessage, n)
	for i := range out {
		out[i] = testMessage{
			from: fmt.Sprintf("sender%d@example.org", i),
			to:   []string{fmt.Sprintf("r%da@example.net", i), fmt.Sprintf("r%db@example.net", i)},
			body: fmt.Sprintf("Subject: message %d\r\n\r\n.line %d starts with a dot\nbare LF\r\n..\r\nend %d\r\n", i, i, i),
		}
	}
	return out
}

// streamResult is one result of SendStream.
type streamResult struct {
	res *session.Result
	err error
}

// runStream runs SendStream over msgs, calling each (when not nil) after
// every result with the results so far; each returning false breaks the
// loop. It returns the results and how many messages were taken.
func runStream(ctx context.Context, c *session.Client, msgs []testMessage, each func([]streamResult) bool) (ys []streamResult, pulled int) {
	seq := func(yield func(*session.Message) bool) {
		for _, m := range msgs {
			pulled++
			if !yield(m.message()) {
				return
			}
		}
	}
	for res, err := range c.SendStream(ctx, iter.Seq[*session.Message](seq)) {
		ys = append(ys, streamResult{res, err})
		if each != nil && !each(ys) {
			break
		}
	}
	return ys, pulled
}

// ---- Sessions that fail ----

// The message of the fault tests' sessions (runSession) and of
// checkUnusable.
const (
	sessionFrom = "alice@example.org"
	// sessionBody has CRLF line endings and lines that need dot-stuffing,
	// so that what the server decodes is sessionBody itself.
	sessionBody = "From: alice@example.org\r\nTo: bob@example.org, carol@example.org\r\nSubject: faults\r\n\r\nHello.\r\n.dot line\r\n..two dots\r\n.\r\nthe end\r\n"
)

var sessionTo = []string{"bob@example.org", "carol@example.org"}

// checkUnusable checks that a Client broken by a fault stays broken:
// a later call fails at once (with an error check accepts, when check is
// not nil), Close succeeds, and calls after Close return ErrClosed.
func checkUnusable(t *testing.T, c *session.Client, check func(*testing.T, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	reply, err := c.Noop(ctx)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Noop on a broken client took %v", d)
	}
	if err == nil {
		t.Errorf("Noop on a broken client succeeded: %v", reply)
	} else if check != nil {
		check(t, err)
	}
	if _, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody)); err == nil {
		t.Error("Send on a broken client succeeded")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after the fault: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Noop(ctx); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Noop after Close: %v, want ErrClosed", err)
	}
}

func wantDisconnected(op string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var de *session.DisconnectedError
		if !errors.As(err, &de) || !errors.Is(err, session.ErrServerDisconnected) {
			t.Errorf("err = %v (%T), want a *DisconnectedError matching ErrServerDisconnected", err, err)
			return
		}
		if de.Op != op {
			t.Errorf("DisconnectedError.Op = %q, want %q (%v)", de.Op, op, err)
		}
	}
}

func wantTimeout(op string, after time.Duration) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var te *session.TimeoutError
		if !errors.As(err, &te) {
			t.Errorf("err = %v (%T), want a *TimeoutError", err, err)
			return
		}
		if te.Phase != op || te.After != after {
			t.Errorf("TimeoutError{Phase: %q, After: %v}, want %q, %v", te.Phase, te.After, op, after)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%v does not match os.ErrDeadlineExceeded", err)
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, session.ErrServerDisconnected) {
			t.Errorf("a phase timeout reported as the context's or a disconnection: %v", err)
		}
	}
}

func wantIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("err = %v (%T), want one matching %v", err, err, target)
		}
	}
}

func wantProtocol(kind error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var pe *wire.ProtocolError
		if !errors.As(err, &pe) || !errors.Is(err, kind) {
			t.Errorf("err = %v (%T), want a *wire.ProtocolError of kind %v", err, err, kind)
		}
		if errors.Is(err, session.ErrServerDisconnected) {
			t.Errorf("a protocol error reported as a disconnection: %v", err)
		}
	}
}

// checkDisconnected checks err is a disconnection.
func checkDisconnected(t testing.TB, what string, err error) {
	t.Helper()
	var de *session.DisconnectedError
	if !errors.As(err, &de) || !errors.Is(err, session.ErrServerDisconnected) {
		t.Errorf("%s: err = %v (%T), want a *DisconnectedError", what, err, err)
	}
}

// ---- A connection to a fixed script ----

// scriptConn is a net.Conn whose peer is a fixed byte string: reads
// come from script, writes are kept. Deadlines are accepted and ignored:
// every read ends at the end of the script.
type scriptConn struct {
	r       *bytes.Reader
	written bytes.Buffer
	closed  bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *scriptConn) Write(p []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.written.Write(p)
}

func (c *scriptConn) Close() error { c.closed = true; return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1025}
}
func (c *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// ---- The scripted server ----

// The scripted server is an SMTP (or LMTP) server on 127.0.0.1, for what
// smtptest cannot express: a reply to each command chosen by the test, a
// reply nobody asked for sent together with an expected one, and a
// hang-up right after a 421 or 221 that keeps listening, so that a test
// can see whether the client wrote anything afterwards.

// scriptedCmd is one command the scripted server received, as its answer
// function sees it.
type scriptedCmd struct {
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

// scriptedAnswer is the server's answer to one command.
type scriptedAnswer struct {
	// Reply is sent as given, "\r\n" added at its end ("250 OK",
	// "250-a\r\n250 b"); "" sends nothing.
	Reply string
	// Surplus is a reply nobody asked for, sent in the same write right
	// after Reply.
	Surplus string
	// HangUp closes the server's side of the connection after Reply: the
	// client reads the end of the stream. The server goes on reading,
	// without answering, until the client closes its side, and records
	// what it gets (scriptedEvent.Late).
	HangUp bool
	// Close closes the connection after Reply, as most servers do after
	// a 421 or 221: what the client writes next finds it closed.
	Close bool
}

// scriptedEvent is a command received and what the server did with it.
type scriptedEvent struct {
	Cmd     scriptedCmd
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

// scriptedServer is the scripted server. Each connection is served by the
// same answer function; the events of all connections go to one log.
type scriptedServer struct {
	Addr   string
	srv    *testfixture.Server
	lmtp   bool
	exts   []string
	answer func(scriptedCmd) scriptedAnswer
	// resetAfter: see scriptedConfig.ResetAfter.
	resetAfter int

	mu    sync.Mutex
	log   []scriptedEvent
	ended chan struct{} // closed when the first connection's handler returns
	once  sync.Once
}

// scriptedConfig is what a scripted server announces and how it answers.
type scriptedConfig struct {
	LMTP bool     // greet as LMTP; LHLO gets the extensions
	Exts []string // the EHLO (LHLO) lines after the first
	// Answer answers every command but EHLO, LHLO and HELO; nil means
	// acceptEverything.
	Answer func(scriptedCmd) scriptedAnswer
	// ResetAfter, when positive, resets the connection (a close with
	// unread data: the client's next write fails) once the server has read
	// that many octets of message data on it.
	ResetAfter int
}

// startScripted starts a scripted server. Close it with close.
func startScripted(cfg scriptedConfig) *scriptedServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("scripted server: " + err.Error())
	}
	if cfg.Answer == nil {
		cfg.Answer = acceptEverything
	}
	s := &scriptedServer{Addr: ln.Addr().String(), lmtp: cfg.LMTP, exts: cfg.Exts, answer: cfg.Answer, resetAfter: cfg.ResetAfter, ended: make(chan struct{})}
	s.srv = testfixture.Start(ln, func(_ *testfixture.Server, nc net.Conn) {
		defer s.once.Do(func() { close(s.ended) })
		defer nc.Close() // before ended, as waitEnded's callers expect
		s.serve(nc)
	})
	return s
}

// serveScripted starts a scripted server that the test's cleanup closes.
func serveScripted(t testing.TB, cfg scriptedConfig) *scriptedServer {
	s := startScripted(cfg)
	t.Cleanup(s.close)
	return s
}

// close stops the server and waits for its goroutines.
func (s *scriptedServer) close() { s.srv.Close() }

// waitEnded reports whether the first connection's handler returned (the
// client closed its side, or the server its own) within d.
func (s *scriptedServer) waitEnded(d time.Duration) bool {
	select {
	case <-s.ended:
		return true
	case <-time.After(d):
		return false
	}
}

// events returns the log so far.
func (s *scriptedServer) events() []scriptedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]scriptedEvent(nil), s.log...)
}

// hungUp returns the event the server hung up at, if it did.
func (s *scriptedServer) hungUp() (scriptedEvent, bool) {
	for _, e := range s.events() {
		if e.HangUp {
			return e, true
		}
	}
	return scriptedEvent{}, false
}

// late returns what arrived after the server hung up.
func (s *scriptedServer) late() []scriptedEvent {
	var out []scriptedEvent
	for _, e := range s.events() {
		if e.Late {
			out = append(out, e)
		}
	}
	return out
}

func (s *scriptedServer) record(e scriptedEvent) {
	s.mu.Lock()
	s.log = append(s.log, e)
	s.mu.Unlock()
}

// acceptEverything is a server that accepts everything.
func acceptEverything(cmd scriptedCmd) scriptedAnswer {
	switch cmd.Verb {
	case "MAIL":
		return scriptedAnswer{Reply: "250 2.1.0 sender ok"}
	case "RCPT":
		return scriptedAnswer{Reply: "250 2.1.5 recipient ok"}
	case "DATA":
		return scriptedAnswer{Reply: "354 go ahead"}
	case "BDAT":
		return scriptedAnswer{Reply: "250 2.0.0 " + strconv.Itoa(cmd.Size) + " octets received"}
	case "END":
		return scriptedAnswer{Reply: "250 2.0.0 queued"}
	case "RSET":
		return scriptedAnswer{Reply: "250 2.0.0 rset ok"}
	case "NOOP":
		return scriptedAnswer{Reply: "250 2.0.0 noop ok"}
	case "QUIT":
		return scriptedAnswer{Reply: "221 2.0.0 bye", HangUp: true}
	}
	return scriptedAnswer{Reply: "500 5.5.1 command unrecognized"}
}

// servedConn is one connection being served.
type servedConn struct {
	s       *scriptedServer
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

func (s *scriptedServer) serve(nc net.Conn) {
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // never outlive a test
	c := &servedConn{s: s, nc: nc, br: bufio.NewReader(nc), msg: -1}
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
func (c *servedConn) command(line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	cmd := scriptedCmd{Verb: verb, Line: line, Msg: c.msg, Open: c.open, Accepted: c.granted}
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
		return c.send(scriptedEvent{Cmd: cmd}, scriptedAnswer{Reply: reply})
	case "MAIL":
		c.msg++
		c.open, c.rcpts, c.chunks, c.octets, c.granted = false, 0, 0, 0, 0
		cmd.Msg, cmd.Open, cmd.Accepted = c.msg, false, 0
		a, err := c.answer(cmd)
		if err == nil && positive(a.Reply) {
			c.open = true
		}
		return err
	case "RCPT":
		cmd.Index = c.rcpts
		c.rcpts++
		a, err := c.answer(cmd)
		if err == nil && c.open && positive(a.Reply) {
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
		return c.end(scriptedCmd{Verb: "END", Line: ".", Size: n})
	case "BDAT":
		size, last, ok := parseBDAT(rest)
		if !ok {
			return c.garbage(cmd)
		}
		if err := c.readData(cmd, size); err != nil {
			return err
		}
		c.octets += size
		if last {
			return c.end(scriptedCmd{Verb: "END", Line: line, Last: true, Size: c.octets})
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
func (c *servedConn) garbage(cmd scriptedCmd) error {
	return c.send(scriptedEvent{Cmd: cmd, Garbage: true}, scriptedAnswer{Reply: "500 5.5.1 command unrecognized"})
}

// end answers the end of a message: once in SMTP, and in LMTP once per
// accepted recipient (once for the command when none was accepted).
func (c *servedConn) end(cmd scriptedCmd) error {
	cmd.Msg, cmd.Open, cmd.Accepted = c.msg, c.open, c.granted
	n := c.granted
	c.open, c.granted = false, 0
	if c.hungUp {
		c.s.record(scriptedEvent{Cmd: cmd, Late: true})
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
func (c *servedConn) answer(cmd scriptedCmd) (scriptedAnswer, error) {
	if c.hungUp {
		c.s.record(scriptedEvent{Cmd: cmd, Late: true})
		return scriptedAnswer{}, nil
	}
	a := c.s.answer(cmd)
	return a, c.send(scriptedEvent{Cmd: cmd}, a)
}

// send writes a's reply and surplus in one write and records e.
func (c *servedConn) send(e scriptedEvent, a scriptedAnswer) error {
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
		return errScriptClosed
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

// errScriptClosed ends a connection that an answer closed.
var errScriptClosed = errors.New("scripted server: closed by the script")

// readDotData reads message data through the "." line and returns its
// length as received.
func (c *servedConn) readDotData() (int, error) {
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
		if err := c.counted(scriptedCmd{Verb: "DATA"}, len(line)); err != nil {
			return n, err
		}
	}
}

// readData reads a BDAT chunk of size octets.
func (c *servedConn) readData(cmd scriptedCmd, size int) error {
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
func (c *servedConn) counted(cmd scriptedCmd, n int) error {
	c.data += n
	if c.s.resetAfter <= 0 || c.hungUp || c.data <= c.s.resetAfter {
		return nil
	}
	c.hungUp = true
	c.s.record(scriptedEvent{Cmd: cmd, HangUp: true})
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.nc.Close()
	return errScriptClosed
}

// parseBDAT parses the arguments of BDAT: "<size>" or "<size> LAST".
func parseBDAT(args string) (size int, last bool, ok bool) {
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

// positive reports whether a reply is 2yz.
func positive(reply string) bool { return len(reply) >= 3 && reply[0] == '2' }

// watchedConn is the client's side of the connection, watched: it counts
// what the client writes, and every write that comes after a read has
// returned the end of the stream (or an error), that is after the client
// could see the server had gone.
type watchedConn struct {
	net.Conn
	mu         sync.Mutex
	readEnded  bool
	lateWrites int
	written    int64
	writes     int
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err != nil {
		w.mu.Lock()
		w.readEnded = true
		w.mu.Unlock()
	}
	return n, err
}

func (w *watchedConn) Write(p []byte) (int, error) {
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
func (w *watchedConn) stats() (writes int, written int64, late int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes, w.written, w.lateWrites
}

// dialWatched connects a Client to addr over a watched connection.
func dialWatched(ctx context.Context, addr string, opts *session.Options) (*session.Client, *watchedConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	w := &watchedConn{Conn: nc}
	c, err := session.NewClient(ctx, w, opts)
	if err != nil {
		return nil, nil, err
	}
	return c, w, nil
}
