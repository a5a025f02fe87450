package smtptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// The defaults of Config.MaxCommandLineLength and Config.MaxAuthLineLength,
// in octets without the line ending.
const (
	DefaultMaxCommandLineLength = 4096
	DefaultMaxAuthLineLength    = 12288
)

// Pseudo-verbs for the replies that answer no command line, for
// [Override.Verb] and the verb of a [Fault].
const (
	// Greeting is the server's first reply, sent on connection.
	Greeting = "<greeting>"
	// EndOfData is the reply after the message data: after the final
	// ".\r\n" of DATA, or after the chunk of BDAT ... LAST (not the 503
	// to a BDAT LAST after a refused chunk: that refuses the command). In
	// LMTP mode it is each of the per-recipient replies (see Config.LMTP).
	EndOfData = "<end-of-data>"
)

// DefaultExtensions returns the EHLO lines a Server announces when
// Config.Extensions is nil: PIPELINING, SIZE 10485760, 8BITMIME,
// SMTPUTF8, DSN, ENHANCEDSTATUSCODES and CHUNKING. It returns a new slice
// each time (to extend, append to it), so no test can change another's
// defaults.
func DefaultExtensions() []string {
	return []string{"PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING"}
}

// Config says what a Server announces, allows and breaks. The zero Config
// is a plain ESMTP server with DefaultExtensions on 127.0.0.1.
type Config struct {
	// Hostname is the server's name in the greeting and the EHLO reply;
	// "smtptest.localhost" when empty.
	Hostname string
	// Greeting replaces the whole greeting, for example with a 554 or a
	// 421 (see the package documentation for what follows a refusing
	// greeting).
	// The default is 220 "<Hostname> ESMTP smtptest".
	Greeting *response.Reply
	// Extensions are the lines of the EHLO (or LHLO) reply after the
	// first, sent as given. nil means DefaultExtensions; an empty non-nil
	// slice announces none. What is listed is also what the server
	// allows: MAIL and RCPT parameters need their extension, BDAT needs
	// CHUNKING, AUTH needs an "AUTH <mechanisms>" line and STARTTLS a
	// "STARTTLS" line (announced only before TLS is on), and replies
	// carry enhanced status codes only with ENHANCEDSTATUSCODES.
	Extensions []string
	// DisableEHLO answers EHLO with 502 5.5.1, for tests of a client's
	// fallback to HELO.
	DisableEHLO bool
	// LMTP makes the server speak LMTP (RFC 2033): LHLO instead of
	// HELO/EHLO, and one reply per accepted recipient after the data
	// (§4.2), so that a client can count them. Overrides and faults for
	// EndOfData apply to each of those replies. A "BDAT n LAST" line is
	// still a command line: when the Handler or an Override for BDAT
	// answers it, its reply is sent once per accepted recipient in place
	// of theirs, and a 2yz records the message for every accepted
	// recipient (as after a 2yz end of data in SMTP). The 552 to a
	// message over the size limit, after DATA or BDAT LAST, also comes
	// once per accepted recipient. With recipients accepted, only two
	// replies to BDAT LAST come once: a 421, which closes the
	// connection, and the 503 after a refused chunk failed the
	// transaction (as Dovecot answers it; see the package
	// documentation). A CloseAt, GarbageAt or EndlessReplyAt fault for
	// BDAT replaces all the replies; a StallAt delays them.
	LMTP bool
	// MaxMessageSize, when positive, is the largest message accepted, in
	// octets of decoded data: a larger SIZE= on MAIL gets 552 5.3.4, and
	// so does larger data, once it has all been read. 0 takes the limit from
	// a "SIZE n" extension line; with none (or "SIZE 0") there is no limit.
	MaxMessageSize int64
	// MaxMessagesPerConnection, when positive, is how many messages a
	// connection may deliver: once that many have been accepted on it
	// (recorded, in LMTP mode for at least one recipient), its next MAIL
	// gets "421 4.7.0 <Hostname> Too many messages in this connection"
	// and the connection closes, as Exim's smtp_accept_max_per_connection
	// has it. 0 means no limit.
	MaxMessagesPerConnection int
	// MaxRecipients, when positive, is how many recipients a transaction
	// may have: the RCPT past it gets "452 4.5.3 Too many recipients"
	// (RFC 5321 §4.5.3.1.10) and the transaction goes on with those
	// accepted. 0 means no limit, and a client can then grow the
	// transaction's memory with every RCPT it sends.
	MaxRecipients int
	// MaxCommandLineLength bounds a command line, in octets without its
	// line ending: a longer one is answered "500 5.5.2 Line too long" and
	// skipped without being buffered whole. 0 means
	// DefaultMaxCommandLineLength, 4096, eight times RFC 5321's 512, so
	// that a test sees the client's own limit first.
	MaxCommandLineLength int
	// MaxAuthLineLength bounds an answer to a 334 challenge (RFC 4954
	// §4); a longer one is answered "500 5.5.6". 0 means
	// DefaultMaxAuthLineLength, 12288, RFC 4954's limit.
	MaxAuthLineLength int
	// MaxConnections, when positive, is how many connections the server
	// serves at once: one more gets "421 4.7.0 <Hostname> Too many
	// connections" and is closed at once, unread (with ImplicitTLS the
	// 421 goes after a handshake, within TLSHandshakeTimeout, but only for
	// up to MaxConnections such connections at a time; others are closed
	// without it). 0 means no limit, as a test opens what it needs; a
	// server that faces clients it does not control (smtpkit sink) should
	// set one.
	MaxConnections int
	// CommandTimeout bounds how long the server waits for a command line,
	// or for the answer to a 334 challenge: from when it starts waiting,
	// its replies sent, to the line's end, however slowly the line
	// trickles in. It also bounds each write of replies, so that a client
	// that does not read them cannot hold the connection. When it runs
	// out, the server sends "421 4.4.2 <Hostname> Timeout, closing
	// connection" (if it can within a second) and closes the connection.
	// 0 means 5 minutes, the server timeout of RFC 5321 §4.5.3.2.7;
	// negative means no limit.
	CommandTimeout time.Duration
	// DataTimeout bounds the reading of a message's data: from the 354
	// reply to the end-of-data line after DATA, and the octets of each
	// BDAT chunk. It runs out as CommandTimeout does. 0 means 10 minutes,
	// the time RFC 5321 §4.5.3.2.6 gives a client to wait for the reply
	// after the data; negative means no limit.
	DataTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake: after the 220 to
	// STARTTLS, and on connection with ImplicitTLS. A handshake that does
	// not finish in time closes the connection. 0 means one minute;
	// negative means no limit.
	TLSHandshakeTimeout time.Duration
	// Users are the user names and passwords that AUTH accepts, with the
	// mechanisms an "AUTH ..." extension line lists among those package
	// auth verifies (auth.ServerMechanisms: SCRAM-SHA-256(-PLUS),
	// SCRAM-SHA-1(-PLUS), CRAM-MD5, PLAIN, LOGIN; -PLUS only over TLS,
	// bound with tls-exporter or tls-unique). Success is 235 2.7.0 (after
	// SCRAM's server-final challenge and the client's empty answer), a
	// wrong password 535 5.7.8, a malformed exchange 501 5.5.2, a
	// cancelled one 501 5.0.0. Other mechanisms get 504 unless a Handler
	// answers them.
	Users map[string]string
	// RequireTLS refuses MAIL and AUTH before TLS is on (530 5.7.0).
	RequireTLS bool
	// RequireAuth refuses MAIL before a successful AUTH (530 5.7.0).
	RequireAuth bool
	// Listener, when set, is where the server accepts connections, in
	// place of a new 127.0.0.1 port or UnixSocket: for a standalone sink
	// on an address of the caller's choosing. Close closes it.
	Listener net.Listener
	// Certificate, when set, is the certificate for STARTTLS and implicit
	// TLS in place of the generated one (ClientTLSConfig then trusts it
	// only if it is self-signed).
	Certificate *tls.Certificate
	// OnMessage, when set, is called with each message recorded, on the
	// connection's goroutine, before the client gets its reply.
	OnMessage func(Message)
	// NoRecord keeps no messages, commands or reads in memory, for a
	// server that runs for long (Messages, Commands and Reads stay
	// empty; OnMessage still sees every message). A message then lives
	// only as long as OnMessage keeps it; see the package documentation
	// for what a connection holds meanwhile.
	NoRecord bool

	// Overrides replace the replies to commands; the first that matches
	// wins.
	Overrides []Override
	// Faults break every connection on purpose; see [Fault].
	Faults []Fault
	// Handler, when set, sees every command line before the Overrides
	// do, with the command parsed (cmd is nil when the line did not
	// parse), and c as it was before the command: for "BDAT n LAST", still
	// in the transaction that the command ends. Returning true sends its
	// reply instead of the default one, with the state changing as for an
	// Override (in LMTP mode, once per accepted recipient in place of
	// their replies to "BDAT n LAST"; see LMTP). It runs on the
	// connection's goroutine, for every connection at once, and c is valid
	// only during the call.
	Handler func(c *ConnState, line string, cmd command.Command) (response.Reply, bool)
	// UnixSocket, when set, is a path to listen on instead of TCP; the
	// socket file is removed on Close.
	UnixSocket string
	// ImplicitTLS makes every connection TLS from its first byte (as on
	// port 465), with the server's generated certificate.
	ImplicitTLS bool
	// Log, when set, receives a trace of every connection: what the
	// client sent and what the server answered, one line each. Writes to
	// it are serialised.
	Log io.Writer

	// DataEndings lists byte sequences that end a message's data after
	// DATA besides <CRLF>.<CRLF> (RFC 5321 §4.1.1.4), each at most
	// MaxDataEnding octets, to emulate a server open to SMTP smuggling:
	// with "\n.\n" and "\n.\r\n", one that reads a bare LF as a line
	// end, as Postfix does with smtpd_forbid_bare_newline = no. The data
	// ends where the first of them (or <CRLF>.<CRLF>) starts, the longest
	// one there; what follows is read as commands. Data is then the
	// dot-unstuffed octets before the ending plus its leading CR and LF
	// octets, Raw what was received through it; MaxMessageSize counts
	// the octets received before the ending. NewServer panics on an
	// ending longer than MaxDataEnding. nil: only <CRLF>.<CRLF>.
	DataEndings []string
	// BareNewline says what the server does with a bare CR or LF in the
	// data after DATA (the ending it took included): keep it as data (the
	// default), refuse the message, or answer 521 and close; see
	// [BareNewline].
	BareNewline BareNewline
}

// Override replaces the server's reply to a command. The reply replaces
// the default one and the state changes as the default reply would have
// changed it, unless the two replies are of different classes (the first
// digit): then the state stays as it was. So a 550 for RCPT leaves the
// recipient out, a 451 after the data records no message, a 354 with other
// text for DATA still reads the message, and a 235 for AUTH (whose default
// reply is a 334 challenge) skips the exchange and counts as a success. A
// 421 closes the connection once it is sent (see the package
// documentation); so does a Handler's.
type Override struct {
	// Verb is the command's verb, matched without regard to case ("MAIL",
	// "RCPT", "DATA", "XCLIENT", ...), or one of the pseudo-verbs Greeting
	// and EndOfData.
	Verb string
	// Match, when not empty, must occur in the command line (without
	// regard to case). For EndOfData it is looked for in the message data,
	// or in LMTP mode in the recipient's RCPT line; for Greeting only ""
	// matches.
	Match string
	// Nth, when positive, limits the override to the n-th command with
	// this Verb that the server received, counted from 1 across all its
	// connections; 0 means every time.
	Nth int
	// Reply is sent instead of the default reply, as given. Its Code must
	// be a valid reply code.
	Reply response.Reply
}

// Message is a message the server accepted: its end of data got a 2yz
// reply.
type Message struct {
	// Conn is the number of the connection that sent it, from 1.
	Conn int
	// Helo is the argument of the HELO, EHLO or LHLO before it.
	Helo string
	// TLS says whether the transaction ran over TLS.
	TLS bool
	// AuthUser is the user that AUTH accepted on the connection, if any.
	AuthUser string
	// From is the MAIL FROM address as an addr-spec (Mail.From.String():
	// no angle brackets, no source route, the local part quoted only when
	// it must be); "" for the null path "<>".
	From string
	// Mail is the MAIL command as parsed.
	Mail command.Mail
	// Rcpts are the accepted RCPT commands, in order (in LMTP mode, those
	// whose per-recipient reply after the data was 2yz, or all of them
	// when the Handler or an Override answered "BDAT n LAST" with 2yz;
	// see Config.LMTP).
	Rcpts []command.Rcpt
	// To are the addresses of Rcpts, each as Rcpt.To.String().
	To []string
	// Data is the message as decoded: dot-unstuffed after DATA, the chunks
	// joined after BDAT. Line endings are as the client sent them.
	Data []byte
	// Raw is the exact bytes that carried the data: after DATA,
	// everything after the 354 reply through the final ".\r\n" inclusive;
	// after BDAT, the chunks' octets (equal to Data).
	//
	// Data and Raw share memory where they can, so that a message is held
	// once: after BDAT they are the same slice, and after DATA Data is the
	// start of Raw unless the client stuffed dots (only then are there two
	// copies). Treat both as read-only.
	Raw []byte
	// Chunked says the message came with BDAT.
	Chunked bool
}

// Server is a running SMTP server. Create one with NewServer and stop it
// with Close.
type Server struct {
	// Addr is where the server listens: "127.0.0.1:port", or the Unix
	// socket's path.
	Addr string

	cfg       Config
	hostname  string
	exts      []string
	enhanced  bool
	maxSize   int64
	ln        net.Listener
	cert      tls.Certificate
	leaf      *x509.Certificate
	tlsConfig *tls.Config
	done      chan struct{}
	wg        sync.WaitGroup
	logMu     sync.Mutex

	// The timeouts, defaults applied; 0 means none.
	commandTimeout   time.Duration
	dataTimeout      time.Duration
	handshakeTimeout time.Duration

	// For tests of the bounds: the most octets of replies that waited
	// unsent on one connection, and the most octets of message data one
	// connection held (as received and as decoded, together).
	peakUnsent atomic.Int64
	peakHeld   atomic.Int64

	refusing chan struct{} // a token per ImplicitTLS connection being refused

	mu        sync.Mutex
	closed    bool
	conns     map[net.Conn]struct{} // to close on Close: served, and being refused
	active    int                   // connections being served
	nconns    int
	refused   int
	commands  []string
	messages  []Message
	verbCount map[string]int
	msgSignal chan struct{} // closed and replaced when a message is recorded
	reads     []Read
	readBytes int
	flushes   int
}

// MaxRecordedReads bounds the octets [Server.Reads] keeps, over all
// connections; reads beyond it are not recorded.
const MaxRecordedReads = 1 << 20

// Read is what one read from a client's connection returned: octets that
// arrived together (after TLS decryption). Tests use it to see how a
// client grouped its writes, for example that pipelined commands came in
// one piece.
type Read struct {
	Conn int // the connection's number, from 1
	Data []byte
}

// Reads returns the server's reads from its clients in order, the first
// MaxRecordedReads octets of them. A read is at most 16 KiB.
func (s *Server) Reads() []Read {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Read(nil), s.reads...)
}

// RoundTrips returns how many times the server has written replies, over
// all connections. Replies to commands that arrived together leave in one
// write (up to MaxUnsentReplies octets of them), so a client that waits
// for every reply costs one round trip per command and a pipelining client
// one per group: tests count round trips with it instead of timing them.
// The greeting counts as one.
func (s *Server) RoundTrips() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushes
}

func (s *Server) recordRead(conn int, p []byte) {
	if s.cfg.NoRecord {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readBytes+len(p) > MaxRecordedReads {
		return
	}
	s.readBytes += len(p)
	s.reads = append(s.reads, Read{Conn: conn, Data: append([]byte(nil), p...)})
}

func (s *Server) countRoundTrip() {
	s.mu.Lock()
	s.flushes++
	s.mu.Unlock()
}

// NewServer starts a server with cfg and returns it, already listening.
// It panics if it cannot listen or make its certificate, as
// httptest.NewServer does.
func NewServer(cfg Config) *Server {
	s := &Server{
		cfg:       cfg,
		hostname:  cfg.Hostname,
		done:      make(chan struct{}),
		conns:     make(map[net.Conn]struct{}),
		verbCount: make(map[string]int),
		msgSignal: make(chan struct{}),
	}
	if s.hostname == "" {
		s.hostname = "smtptest.localhost"
	}
	if cfg.Extensions == nil {
		s.exts = DefaultExtensions()
	} else {
		s.exts = append([]string{}, cfg.Extensions...)
	}
	s.commandTimeout = timeout(cfg.CommandTimeout, 5*time.Minute)
	s.dataTimeout = timeout(cfg.DataTimeout, 10*time.Minute)
	s.handshakeTimeout = timeout(cfg.TLSHandshakeTimeout, time.Minute)
	s.refusing = make(chan struct{}, max(cfg.MaxConnections, 1))
	if s.cfg.MaxCommandLineLength <= 0 {
		s.cfg.MaxCommandLineLength = DefaultMaxCommandLineLength
	}
	if s.cfg.MaxAuthLineLength <= 0 {
		s.cfg.MaxAuthLineLength = DefaultMaxAuthLineLength
	}
	s.cfg.Overrides = append([]Override(nil), cfg.Overrides...)
	s.cfg.Faults = append([]Fault(nil), cfg.Faults...)
	checkDataEndings(cfg.DataEndings)
	s.cfg.DataEndings = append([]string(nil), cfg.DataEndings...)
	s.enhanced = s.hasExt("ENHANCEDSTATUSCODES")
	s.maxSize = cfg.MaxMessageSize
	if s.maxSize <= 0 {
		s.maxSize = 0
		if arg, ok := s.extArg("SIZE"); ok {
			if n, err := strconv.ParseInt(arg, 10, 64); err == nil && n > 0 {
				s.maxSize = n
			}
		}
	}

	var cert tls.Certificate
	var err error
	if cfg.Certificate != nil {
		cert = *cfg.Certificate
		if cert.Leaf == nil && len(cert.Certificate) > 0 {
			if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
				panic("smtptest: Config.Certificate: " + err.Error())
			}
		}
	} else if cert, err = newCertificate(); err != nil {
		panic("smtptest: cannot make a certificate: " + err.Error())
	}
	s.cert, s.leaf = cert, cert.Leaf
	s.tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}}

	switch {
	case cfg.Listener != nil:
		s.ln = cfg.Listener
	case cfg.UnixSocket != "":
		s.ln, err = net.Listen("unix", cfg.UnixSocket)
	default:
		s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		panic("smtptest: cannot listen: " + err.Error())
	}
	s.Addr = s.ln.Addr().String()
	if cfg.UnixSocket != "" && cfg.Listener == nil {
		s.Addr = cfg.UnixSocket
	}
	s.wg.Add(1)
	go s.accept()
	return s
}

// timeout returns d, def when d is 0, and 0 (no timeout) when d is
// negative.
func timeout(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Bounds of the accept loop's back-off after a failed Accept.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
)

func (s *Server) accept() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors (EMFILE, ENFILE) or another failure
			// that may pass: wait and try again, twice as long each time
			// up to a second, as net/http's Server does, rather than spin
			// or give up. Connections that end meanwhile free descriptors.
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			s.logf(0, "accept: %v; retrying in %v", err, delay)
			if !s.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if max := s.cfg.MaxConnections; max > 0 && s.active >= max {
			s.refused++
			s.mu.Unlock()
			s.refuse(nc)
			continue
		}
		s.nconns++
		s.active++
		id := s.nconns
		s.conns[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(nc, id)
	}
}

// refuseWriteTimeout bounds the write of the 421 to a connection over
// MaxConnections, and of the 421 after a timeout.
const refuseWriteTimeout = time.Second

// refuse answers a connection past MaxConnections with 421 and closes it.
// On a plain connection the reply fits in the empty socket buffer, so the
// accept loop writes it at once; with ImplicitTLS it takes a handshake,
// which runs on its own goroutine, for at most MaxConnections connections
// at a time (the others are closed without a reply).
func (s *Server) refuse(nc net.Conn) {
	line := wire.AppendReply(nil, s.tooManyConnections())
	s.logf(0, "refused a connection from %v: over MaxConnections", nc.RemoteAddr())
	if !s.cfg.ImplicitTLS {
		nc.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
		nc.Write(line)
		nc.Close()
		return
	}
	select {
	case s.refusing <- struct{}{}:
	default:
		nc.Close()
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.refusing
		nc.Close()
		return
	}
	s.conns[nc] = struct{}{} // so that Close closes it
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() { <-s.refusing }()
		defer func() {
			nc.Close()
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
		d := refuseWriteTimeout
		if s.handshakeTimeout > 0 {
			d += s.handshakeTimeout
		}
		nc.SetDeadline(time.Now().Add(d))
		tc := tls.Server(nc, s.tlsConfig)
		if _, err := tc.Write(line); err == nil {
			tc.CloseWrite()
		}
	}()
}

func (s *Server) tooManyConnections() response.Reply {
	text := s.hostname + " Too many connections"
	if s.enhanced {
		text = "4.7.0 " + text
	}
	return response.New(response.CodeServiceNotAvailable, text)
}

func (s *Server) serve(nc net.Conn, id int) {
	defer s.wg.Done()
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.active--
		s.mu.Unlock()
	}()
	newConn(s, nc, id).serve()
}

// Close stops the server: it closes the listener and every connection,
// and returns once every goroutine the server started has ended. What the
// server recorded stays readable. Close may be called more than once, but
// not from a Handler (it would wait for itself).
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.done)
		for nc := range s.conns {
			nc.Close()
		}
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

// Commands returns every command line the server received, without its
// line ending, in the order received across all connections. AUTH lines
// and the client's answers to 334 challenges are included as received
// (credentials and all); message data and over-long lines are not.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Messages returns every message the server accepted, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitMessages waits until the server has accepted at least n messages and
// returns them all, or returns those it has and ctx's error when ctx ends
// first.
func (s *Server) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.messages) >= n {
			m := append([]Message(nil), s.messages...)
			s.mu.Unlock()
			return m, nil
		}
		ch := s.msgSignal
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.Messages(), ctx.Err()
		}
	}
}

// Conns returns how many connections the server has served so far (not
// counting those refused over Config.MaxConnections).
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nconns
}

// RefusedConns returns how many connections the server has refused so far
// because it was serving Config.MaxConnections already.
func (s *Server) RefusedConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// ClientTLSConfig returns a new tls.Config that trusts the server's
// certificate, and only it. The certificate is valid for 127.0.0.1, ::1
// and localhost; ServerName is left empty, for the client to fill in (as
// tls.Dial does from the address).
func (s *Server) ClientTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.leaf)
	return &tls.Config{RootCAs: pool}
}

// Certificate returns the server's self-signed certificate, made for
// this Server alone: ECDSA P-256, valid from an hour ago to a day ahead.
func (s *Server) Certificate() *x509.Certificate { return s.leaf }

func (s *Server) record(line string) {
	if s.cfg.NoRecord {
		return
	}
	s.mu.Lock()
	s.commands = append(s.commands, line)
	s.mu.Unlock()
}

// count adds one to the server-wide count of each key and returns the new
// counts, in the order of keys.
func (s *Server) count(keys []string) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := make([]int, len(keys))
	for i, k := range keys {
		if _, ok := s.verbCount[k]; !ok && len(s.verbCount) >= 4*maxCountedVerbs {
			k = otherVerbsKey
		}
		s.verbCount[k]++
		n[i] = s.verbCount[k]
	}
	return n
}

func (s *Server) addMessage(m Message) {
	if s.cfg.OnMessage != nil {
		s.cfg.OnMessage(m)
	}
	s.mu.Lock()
	if !s.cfg.NoRecord {
		s.messages = append(s.messages, m)
	}
	close(s.msgSignal)
	s.msgSignal = make(chan struct{})
	s.mu.Unlock()
}

// hasExt reports whether an extension line's keyword is kw.
func (s *Server) hasExt(kw string) bool {
	_, ok := s.extArg(kw)
	return ok
}

// extArg returns the rest of the extension line whose keyword is kw.
func (s *Server) extArg(kw string) (string, bool) {
	for _, e := range s.exts {
		k, arg, _ := strings.Cut(e, " ")
		if strings.EqualFold(k, kw) {
			return strings.TrimSpace(arg), true
		}
	}
	return "", false
}

func (s *Server) logf(id int, format string, args ...any) {
	if s.cfg.Log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.cfg.Log, "smtptest[%d] %s\n", id, fmt.Sprintf(format, args...))
}

// sleep waits d, or until the server closes; it reports whether d passed.
func (s *Server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}
