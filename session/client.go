package session

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
)

type State int

// The states of a session, and the conditions under which a call is
// refused, as a *StateError reports them.
const (
	StateGreeted       State = iota // greeting read; no EHLO/HELO yet
	StateReady                      // greeted and hello'd; no transaction
	StateMail                       // MAIL accepted: RCPT and DATA allowed
	StateData                       // a DataWriter is open
	StateNoRecipient                // in a transaction with no recipient accepted (DATA)
	StateAuthenticated              // after a successful AUTH (AUTH again)
	StateTLS                        // the connection is TLS already (STARTTLS)
	StateLMTP                       // the session speaks LMTP (HELO)
	StateStreaming                  // a SendStream is running on the Client
	StateWriterClosed               // the DataWriter was closed (Write)
)

func (s State) String() string {
	switch s {
	case StateGreeted:
		return "before EHLO/HELO"
	case StateReady:
		return "outside a mail transaction"
	case StateMail:
		return "inside a mail transaction"
	case StateData:
		return "while message data is being written"
	case StateNoRecipient:
		return "with no accepted recipient"
	case StateAuthenticated:
		return "after a successful AUTH"
	case StateTLS:
		return "on a connection that is already TLS"
	case StateLMTP:
		return "in LMTP (RFC 2033 §4.1: LHLO only)"
	case StateStreaming:
		return "while a SendStream is running on the Client"
	case StateWriterClosed:
		return "after the DataWriter was closed"
	}
	return "in an unknown state"
}

// A Client is one SMTP session over one connection. Its methods must not
// be called concurrently; a Client is cheap, so use one per goroutine.
type Client struct {
	conn       net.Conn
	r          *wire.Reader
	w          *wire.Writer
	dot        *wire.DotWriter
	bdat       *wire.BDATWriter
	crlf       *wire.CRLFWriter
	lines      wire.LineLimitWriter // before bdat, for a body checked as it goes (longlines.go)
	opts       Options
	timeouts   Timeouts
	tr         tracer
	serverName string // for TLS verification
	unix       bool
	isTLS      bool
	loopback   bool // known to stay on this machine: credentials may go in plaintext

	state     State
	esmtp     bool
	tlsPolicy bool // the TLS mode has been applied after the first hello
	ext       Extensions
	greeting  response.Reply
	hello     response.Reply
	authed    bool       // AUTH succeeded (on this TLS layer)
	cur       *txn       // the transaction the low-level calls (Mail, Rcpt, Data) build
	chunk     chunkState // the message being framed as BDAT chunks

	// The engine (engine.go): commands awaiting replies, in order.
	pending   []entry
	head      int
	got       response.Reply // the reply to the last entryCommand
	lastOp    string         // the command the last reply answered
	last      *txn           // the transaction written last, until it is done
	free      []*txn         // finished transactions, for reuse
	needRset  bool           // the server may hold a transaction open: RSET before the next
	lastKind  entryKind      // ... and its kind
	salvaging bool
	streaming bool // a SendStream is running: every other call is refused

	ctx          context.Context // the call in progress, for write deadlines
	wtimeout     time.Duration   // the timeout of each write in the current phase
	watched      ctxWatch        // see watch
	err          error           // sticky: why the connection can no longer be used
	serverClosed bool            // err is the server's 421 or 221
	line         []byte          // reused command-line buffer
	ends         []int           // reused: where each line of a pipelined group ends
	copyBuf      []byte          // reused message-body buffer; see scratch
	scan         wire.BodyScan   // reused by inspect
}

// Dial connects to addr, reads the server's greeting and returns a Client
// ready for [Client.Hello] (which [Client.Send] calls when needed). addr
// is written as users write it: "host", "host:port", "[v6]:port", or a
// Unix socket path starting with "/" (see transport.ParseAddress); the
// default port is 25, or 465 with [TLSImplicit]. A nil opts means the
// defaults. Errors are *ConnectError, or an *OptionsError for Options
// that set one thing twice (see Options.Dialer), before any I/O.
func Dial(ctx context.Context, addr string, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	port := transport.PortSMTP
	switch {
	case o.LMTP:
		port = 0 // LMTP has no well-known port (RFC 2033 §5)
	case o.TLS == TLSImplicit:
		port = transport.PortSubmissions
	}
	a, err := transport.ParseAddress(addr, port)
	if err != nil {
		if _, perr := transport.ParseAddress(addr, transport.PortSMTP); o.LMTP && perr == nil {
			// Well formed, but without the port LMTP cannot do without.
			err = &transport.AddressError{Input: addr, Reason: `LMTP needs a port ("host:port") or a Unix socket path ("/path/to/socket"): it has no default port (RFC 2033 §5)`}
		}
		return nil, &ConnectError{Addr: addr, Err: err}
	}
	var d transport.Dialer
	if o.Dialer != nil {
		if err := checkDialer(o.Dialer); err != nil {
			return nil, err
		}
		d = *o.Dialer
	}
	d.Timeout = o.Timeouts.withDefaults().Connect
	d.ImplicitTLS = o.TLS == TLSImplicit
	if d.ImplicitTLS {
		host := a.Host
		if a.Network == "unix" {
			host = "" // a socket path is no server name: TLSConfig must give one
		}
		d.TLSConfig = transport.ClientTLSConfig(o.TLSConfig, host)
	}
	conn, err := d.DialContext(ctx, a)
	if err != nil {
		adviseTLS(err, false)
		return nil, &ConnectError{Addr: a.String(), Err: err}
	}
	c := newClient(conn, &o, a.String())
	c.unix = a.Network == "unix"
	if !c.unix {
		c.serverName = a.Host
	}
	// Through a proxy the bytes cross a network whatever the addresses
	// say; otherwise both the address asked for and the one reached must
	// be loopback (a custom Dial may tunnel).
	c.loopback = c.unix || d.Proxy == nil && isLoopback(conn.RemoteAddr()) && isLoopbackHost(a.Host)
	if err := c.readGreeting(ctx, a.String()); err != nil {
		return nil, err
	}
	return c, nil
}

// checkDialer refuses a Dialer that sets what Options sets: each setting
// has one place.
func checkDialer(d *transport.Dialer) error {
	switch {
	case d.ImplicitTLS:
		return &OptionsError{Field: "Dialer.ImplicitTLS", Use: "Options.TLS = TLSImplicit"}
	case d.TLSConfig != nil:
		return &OptionsError{Field: "Dialer.TLSConfig", Use: "Options.TLSConfig"}
	case d.Timeout != 0:
		return &OptionsError{Field: "Dialer.Timeout", Use: "Options.Timeouts.Connect"}
	}
	return nil
}

// NewClient starts a session over a connection the caller made (a
// *tls.Conn counts as TLS already), reading the server's greeting. The
// name to verify a certificate against on STARTTLS is
// opts.TLSConfig.ServerName, or else the remote address's IP. Errors are
// *ConnectError; on error conn is closed.
//
// Only a *net.UnixConn counts as a local peer, to which credentials may
// go unencrypted: a remote address of 127.0.0.1 says nothing about where
// the bytes go (a SOCKS5 or HTTP CONNECT tunnel through a local proxy has
// one). For any other connection that stays on the machine, set
// Options.AllowInsecureAuth.
func NewClient(ctx context.Context, conn net.Conn, opts *Options) (*Client, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	server := "connection"
	if ra := conn.RemoteAddr(); ra != nil {
		server = ra.String()
	}
	c := newClient(conn, &o, server)
	// Not from RemoteAddr, which a proxied or wrapped connection sets to
	// whatever it likes; a *net.UnixConn is a socket on this machine.
	// For the same reason only a *net.UnixConn skips opportunistic
	// STARTTLS as a Unix socket.
	_, c.loopback = conn.(*net.UnixConn)
	c.unix = c.loopback
	if ra := conn.RemoteAddr(); ra != nil {
		if ap, err := netip.ParseAddrPort(ra.String()); err == nil {
			c.serverName = ap.Addr().Unmap().String()
		}
	}
	if err := c.readGreeting(ctx, server); err != nil {
		return nil, err
	}
	return c, nil
}

// newClient makes the Client for conn, to server (the address dialled,
// or the connection's remote address).
func newClient(conn net.Conn, o *Options, server string) *Client {
	c := &Client{
		conn:     conn,
		opts:     *o,
		timeouts: o.Timeouts.withDefaults(),
		tr:       tracer{w: o.Trace, log: connLogger(o.Logger, conn, server)},
		line:     make([]byte, 0, 128),
	}
	// Every write to the socket goes through connWriter, which gives it
	// its own deadline; the encoders write into c.w.
	c.w = wire.NewWriter(connWriter{c})
	c.dot = wire.NewDotWriter(c.w)
	c.bdat = wire.NewBDATWriter(c.w, o.ChunkSize)
	c.bdat.OnChunk(c.onChunk)
	c.crlf = wire.NewCRLFWriter(c.bdat)
	c.r = c.newReader(conn)
	// Implicit TLS (Dial) or a caller's *tls.Conn (NewClient).
	_, c.isTLS = conn.(*tls.Conn)
	if o.TLSConfig != nil && o.TLSConfig.ServerName != "" {
		c.serverName = o.TLSConfig.ServerName
	}
	return c
}

func (c *Client) newReader(r io.Reader) *wire.Reader {
	rd := wire.NewReader(r)
	if n := c.opts.Limits.ReplyLineLength; n > 0 {
		rd.SetMaxReplyLineLength(n)
	}
	if n := c.opts.Limits.ReplyLines; n > 0 {
		rd.SetMaxReplyLines(n)
	}
	if n := c.opts.Limits.ReplyBytes; n > 0 {
		rd.SetMaxReplyBytes(n)
	}
	return rd
}

func (c *Client) readGreeting(ctx context.Context, addr string) error {
	c.armRead(ctx, c.timeouts.Greeting)
	reply, err := c.r.ReadReply()
	if err != nil {
		err = c.ioError(ctx, "greeting", c.timeouts.Greeting, err)
		c.failWith(err, false)
		return &ConnectError{Addr: addr, Err: err}
	}
	c.tr.reply(reply)
	c.greeting = reply
	if reply.Code != response.CodeServiceReady {
		// RFC 5321 §3.1: after a 554 greeting the client should QUIT;
		// its reply is not worth waiting for.
		c.w.WriteLineString("QUIT")
		c.flush(ctx)
		c.failWith(ErrClosed, false)
		return &ConnectError{Addr: addr, Reply: reply}
	}
	return nil
}

// Greeting returns the server's greeting.
func (c *Client) Greeting() response.Reply { return c.greeting }

// Extensions returns the EHLO extension table (empty before EHLO, after
// HELO, and right after STARTTLS until the next EHLO).
func (c *Client) Extensions() Extensions { return c.ext }

// ESMTP reports whether the server answered EHLO (smtplib's does_esmtp).
func (c *Client) ESMTP() bool { return c.esmtp }

// TLS reports whether the connection is encrypted, and its state when it is.
func (c *Client) TLS() (tls.ConnectionState, bool) {
	if tc, ok := c.conn.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// Conn returns the underlying connection (a *tls.Conn after STARTTLS).
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection without QUIT. It is safe to call more than
// once; later calls on the Client return ErrClosed.
func (c *Client) Close() error {
	if c.conn == nil || c.err == ErrClosed {
		return nil
	}
	wasBroken := c.err != nil
	c.err = ErrClosed
	c.unwatch()
	err := c.conn.Close()
	if wasBroken || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// usable returns why the Client cannot be used now, if it cannot: it was
// never connected (the zero Client) or is closed, or a SendStream is
// running on it (its replies would go to the wrong commands).
func (c *Client) usable() error {
	switch {
	case c.conn == nil:
		return ErrClosed
	case c.err != nil:
		return c.err
	case c.streaming:
		return &StateError{Op: "call", State: StateStreaming}
	}
	return nil
}

// abort closes the connection for good, keeping err as the reason every
// later call reports.
func (c *Client) abort(err error) error { return c.failWith(err, false) }

// ctxWatch is the cancellation watch on the context of the latest
// exchange.
type ctxWatch struct {
	done  <-chan struct{} // the context's Done channel: what identifies it
	stop  func() bool
	fired chan struct{} // closed once the watch has set its deadline
}

// watch makes cancelling ctx set a past deadline on the connection, so a
// blocked read or write returns at once. One watch is kept per context
// (per Done channel): a message costs several exchanges, and a watch per
// exchange cost five allocations each.
func (c *Client) watch(ctx context.Context) {
	done := ctx.Done()
	if done == c.watched.done && done != nil {
		return
	}
	c.unwatch()
	if done == nil {
		return
	}
	conn, fired := c.conn, make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	c.watched = ctxWatch{done: done, stop: stop, fired: fired}
}

// unwatch removes the watch. If it already fired, it waits for it to
// finish, so that it cannot set a past deadline on a later exchange
// under another context.
func (c *Client) unwatch() {
	w := c.watched
	c.watched = ctxWatch{}
	if w.stop != nil && !w.stop() {
		<-w.fired
	}
}

// ioError turns a read or write failure during op into the error the
// caller sees. The caller closes the connection (fail): after a timeout,
// a cancellation, a broken connection or a malformed reply nobody knows
// where the server is in the exchange.
func (c *Client) ioError(ctx context.Context, op string, d time.Duration, err error) error {
	var out error
	var pe *wire.ProtocolError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		out = &TimeoutError{Phase: op, Err: ctxCause(ctx)}
	case ctx.Err() != nil:
		out = fmt.Errorf("session: %s: %w", op, context.Cause(ctx))
	case errors.Is(err, os.ErrDeadlineExceeded):
		if cd, ok := ctx.Deadline(); ok && !time.Now().Before(cd) {
			// The context's deadline, before its timer fired: it fires
			// at once, and then the context has its cause.
			out = &TimeoutError{Phase: op, Err: context.DeadlineExceeded}
			select {
			case <-ctx.Done():
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					out = &TimeoutError{Phase: op, Err: ctxCause(ctx)}
				}
			case <-time.After(100 * time.Millisecond):
			}
		} else {
			out = &TimeoutError{Phase: op, After: d, Err: err}
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		out = &DisconnectedError{Op: op, Err: err}
	case errors.As(err, &pe):
		out = fmt.Errorf("session: %s: %w", op, err)
	default:
		out = &DisconnectedError{Op: op, Err: err}
	}
	return out
}

// ctxCause is the error of a done context, with the cause given to
// context.WithDeadlineCause and the like when there is one.
func ctxCause(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || errors.Is(cause, err) {
		return err
	}
	return fmt.Errorf("%w: %w", err, cause)
}

// roundTrip sends cmd and reads its reply. A command that does not build
// (bad argument) is refused before anything is written. The reply is
// returned whatever its code; err is set only when no reply was read.
func (c *Client) roundTrip(ctx context.Context, op string, cmd command.Command) (response.Reply, error) {
	if err := c.usable(); err != nil {
		return response.Reply{}, err
	}
	line, err := cmd.Append(c.line[:0])
	if err != nil {
		return response.Reply{}, err
	}
	c.line = line
	c.tr.sent(cmd, line)
	kind := entryCommand
	switch cmd.(type) {
	case command.Quit:
		kind = entryQuit
	case command.StartTLS:
		kind = entryStartTLS
	}
	return c.exchange(ctx, kind, op, line)
}

// verb is the name of cmd for the Command field of a *response.Error
// and for errors: its verb in upper case, without arguments (see
// response.Error.Command).
func verb(cmd command.Command) string { return strings.ToUpper(cmd.Verb()) }

// refused is reply as an error (a *response.Error naming the command by
// its verb), nil when the reply is positive, and an
// *UnexpectedReplyError, closing the connection, when it is 3yz (only
// DATA and AUTH expect those).
func (c *Client) refused(cmd command.Command, reply response.Reply) error {
	switch {
	case reply.Positive():
		return nil
	case reply.Intermediate():
		return c.unexpected(verb(cmd), reply)
	}
	return reply.Err(verb(cmd))
}

// unexpected closes the connection after a reply the command cannot have.
func (c *Client) unexpected(op string, reply response.Reply) error {
	return c.abort(&UnexpectedReplyError{Command: op, Reply: reply})
}

// localName is the EHLO/HELO argument: Options.LocalName, else the host
// name when it is an FQDN, else the local address as a literal.
func (c *Client) localName() string {
	if c.opts.LocalName != "" {
		return c.opts.LocalName
	}
	if h, err := os.Hostname(); err == nil && strings.Contains(strings.Trim(h, "."), ".") {
		h = strings.TrimSuffix(h, ".")
		if _, err := (command.Ehlo{Domain: h}).Append(nil); err == nil {
			return h
		}
	}
	if la := c.conn.LocalAddr(); la != nil {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil {
			ip := ap.Addr().Unmap().WithZone("")
			if ip.Is4() {
				return "[" + ip.String() + "]"
			}
			return "[IPv6:" + ip.String() + "]"
		}
	}
	return "localhost"
}
