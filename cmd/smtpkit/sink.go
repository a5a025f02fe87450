package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"mime"
	"net"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

var sinkCommand = &subcommand{
	name:     "sink",
	synopsis: "[--listen ADDR] [--lmtp] [--maildir DIR] [--tls-cert FILE --tls-key FILE] [--refuse PATTERN] [--max-messages-per-conn N] [--max-connections N] [--idle-timeout D]",
	summary:  "run a server that accepts every message (smtp-sink), printing one line per message",
	help: `
Runs package smtptest's server as a standalone process until SIGINT or
SIGTERM. It accepts every message, except for recipients matching a --refuse
pattern (550 5.1.1), and prints one line per message on standard output,
after storing it (with --maildir) and before the client gets its reply:

  message 1 conn=1 from=<alice@example.org> to=<bob@example.org> size=312 tls=yes body=BDAT subject="hello" file=DIR/new/...

It announces PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, ENHANCEDSTATUSCODES,
CHUNKING, and STARTTLS when --tls-cert and --tls-key are given. With
--maildir, each message is stored as a file in DIR/new (DIR/tmp, new and cur
are created), with Return-Path and Delivered-To fields before it and LF line
endings. "listening on ADDR" goes to standard error once it is ready
(--listen 127.0.0.1:0 picks a free port).

With --max-messages-per-conn N, a connection that has delivered N messages
gets "421 4.7.0 <hostname> Too many messages in this connection" for its
next MAIL and is closed, as by Exim's smtp_accept_max_per_connection: for
testing how a sender reconnects.

It is meant to face clients it does not control (load generators, fuzzers,
the open network), and bounds what each can take:

  --max-connections N  connections served at once (default 100): one more
                       gets "421 4.7.0 <hostname> Too many connections" and
                       is closed
  --idle-timeout D     how long a connection may take to send a command
                       line, or to take the replies it is sent (and, up to
                       a minute, a TLS handshake), before it gets "421 4.4.2
                       <hostname> Timeout, closing connection" and is closed
                       (default 5m, RFC 5321's)
  --data-timeout D     how long a message's data may take (default 10m)
  --max-recipients N   recipients per message: the next RCPT gets "452 4.5.3
                       Too many recipients" (default 1000, as Postfix)

A client that sends commands without reading the replies stops being read
once 16 KiB of replies wait, and --idle-timeout then closes it. Message data
is read as it arrives; past --max-size it is dropped, not kept. Nothing is
kept once a message is printed: a connection holds at most the message it
is receiving (a few times --max-size at worst: as received, decoded when the
client stuffed dots, and as stored with --maildir), so memory stays bounded
by about --max-connections times that, however many messages and clients
come. When the process runs out of file descriptors, it waits before it
accepts again, from 5 ms doubling up to a second, and keeps serving the
connections it has; keep "ulimit -n" above --max-connections.

SIGINT or SIGTERM stops it: the listener and the open connections are
closed at once. A message still on its way is dropped; one already printed
is stored, though its client may not have read the reply yet (and may send
it again). Exit status: 0 after SIGINT or SIGTERM; 1 when it cannot listen,
or some message could not be stored; 2 usage error.`,
	setup: setupSink,
}

type sinkFlags struct {
	listen    string
	lmtp      bool
	maildir   string
	cert, key string
	refuse    listFlag
	hostname  string
	maxSize   int64
	maxMsgs   int
	maxConns  int
	maxRcpts  int
	idle      time.Duration
	dataTime  time.Duration
}

func setupSink(fs *flag.FlagSet) func(context.Context, stdio, []string) int {
	f := &sinkFlags{}
	fs.StringVar(&f.listen, "listen", "127.0.0.1:2525", "`ADDR` to listen on: host:port, [v6]:port, :port (every address), or /unix/socket/path")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP (RFC 2033): LHLO, and one reply per recipient after the message")
	fs.StringVar(&f.maildir, "maildir", "", "store each message in maildir `DIR` (created when missing)")
	fs.StringVar(&f.cert, "tls-cert", "", "PEM certificate (chain) `FILE` for STARTTLS; needs --tls-key")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key `FILE` for --tls-cert")
	fs.Var(&f.refuse, "refuse", "refuse recipients matching `PATTERN` with 550 5.1.1: a glob on the address (* ? [...],\nas path.Match, without regard to case), e.g. '*@example.net' or 'nobody@*'; repeatable")
	fs.StringVar(&f.hostname, "hostname", defaultHostname(), "`NAME` in the greeting and the EHLO reply")
	fs.Int64Var(&f.maxSize, "max-size", 10<<20, "largest message accepted, in `OCTETS`, announced with SIZE")
	fs.IntVar(&f.maxMsgs, "max-messages-per-conn", 0, "close a connection with 421 at the MAIL after `N` messages (0: no limit)")
	fs.IntVar(&f.maxConns, "max-connections", 100, "serve at most `N` connections at once; more get 421 and are closed")
	fs.IntVar(&f.maxRcpts, "max-recipients", 1000, "accept at most `N` recipients per message; more get 452")
	fs.DurationVar(&f.idle, "idle-timeout", 5*time.Minute, "close a connection that takes longer than `D` to send a command or read a reply")
	fs.DurationVar(&f.dataTime, "data-timeout", 10*time.Minute, "close a connection whose message data takes longer than `D`")
	return f.run
}

func defaultHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	if _, err := (command.Ehlo{Domain: h}).Append(nil); err != nil {
		return "localhost"
	}
	return h
}

// sink prints (and stores) the messages its server accepts.
type sink struct {
	st      stdio
	maildir *maildir

	mu     sync.Mutex // one line at a time, numbered in order
	nmsg   int
	failed int // messages accepted but not stored
}

func (f *sinkFlags) run(ctx context.Context, st stdio, args []string) int {
	const cmd = "sink"
	if len(args) > 0 {
		return usageError(st, cmd, "unexpected argument %q", args[0])
	}
	if (f.cert == "") != (f.key == "") {
		return usageError(st, cmd, "--tls-cert and --tls-key go together")
	}
	for _, p := range f.refuse {
		if _, err := path.Match(p, ""); err != nil {
			return usageError(st, cmd, "--refuse %q: %v", p, err)
		}
	}
	if f.maxSize <= 0 {
		return usageError(st, cmd, "--max-size must be positive")
	}
	if f.maxMsgs < 0 {
		return usageError(st, cmd, "--max-messages-per-conn must not be negative")
	}
	for _, v := range []struct {
		name string
		ok   bool
	}{
		{"--max-connections", f.maxConns > 0},
		{"--max-recipients", f.maxRcpts > 0},
		{"--idle-timeout", f.idle > 0},
		{"--data-timeout", f.dataTime > 0},
	} {
		if !v.ok {
			return usageError(st, cmd, "%s must be positive", v.name)
		}
	}
	if _, err := (command.Ehlo{Domain: f.hostname}).Append(nil); err != nil {
		return usageError(st, cmd, "--hostname %q: %v", f.hostname, err)
	}
	cfg := smtptest.Config{
		Hostname: f.hostname,
		Extensions: []string{"PIPELINING", "SIZE " + strconv.FormatInt(f.maxSize, 10), "8BITMIME", "SMTPUTF8",
			"DSN", "ENHANCEDSTATUSCODES", "CHUNKING"},
		LMTP:                     f.lmtp,
		MaxMessageSize:           f.maxSize,
		MaxMessagesPerConnection: f.maxMsgs,
		MaxConnections:           f.maxConns,
		MaxRecipients:            f.maxRcpts,
		CommandTimeout:           f.idle,
		DataTimeout:              f.dataTime,
		TLSHandshakeTimeout:      min(f.idle, time.Minute),
		NoRecord:                 true,
		Handler:                  refuser(f.refuse),
	}
	mode := "SMTP"
	if f.lmtp {
		mode = "LMTP"
	}
	if f.cert != "" {
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return usageError(st, cmd, "--tls-cert/--tls-key: %v", err)
		}
		cfg.Certificate = &pair
		cfg.Extensions = append(cfg.Extensions, "STARTTLS")
		mode += ", STARTTLS"
	}
	s := &sink{st: st}
	if f.maildir != "" {
		md, err := newMaildir(f.maildir)
		if err != nil {
			return failure(st, cmd, err)
		}
		s.maildir = md
		mode += ", maildir " + f.maildir
	}
	cfg.OnMessage = s.deliver
	network := "tcp"
	if strings.HasPrefix(f.listen, "/") {
		network = "unix"
	}
	ln, err := net.Listen(network, f.listen)
	if err != nil {
		return failure(st, cmd, err)
	}
	cfg.Listener = ln
	srv := smtptest.NewServer(cfg)
	fmt.Fprintf(st.err, "smtpkit sink: listening on %s (%s)\n", srv.Addr, mode)

	<-ctx.Done()
	// Close returns once every connection's goroutine has ended: each
	// message whose OnMessage began is printed by then.
	srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(st.err, "smtpkit sink: stopped after %d connection(s) and %d message(s)\n", srv.Conns(), s.nmsg)
	if n := srv.RefusedConns(); n > 0 {
		fmt.Fprintf(st.err, "smtpkit sink: %d connection(s) refused over --max-connections\n", n)
	}
	if s.failed > 0 {
		fmt.Fprintf(st.err, "smtpkit sink: %d message(s) accepted but not stored\n", s.failed)
		return exitFailed
	}
	return exitOK
}

// refuser answers RCPT with 550 5.1.1 for addresses matching a --refuse
// pattern; every other command gets smtptest's reply.
func refuser(patterns []string) func(*smtptest.ConnState, string, command.Command) (response.Reply, bool) {
	if len(patterns) == 0 {
		return nil
	}
	return func(_ *smtptest.ConnState, _ string, cmd command.Command) (response.Reply, bool) {
		rcpt, ok := cmd.(command.Rcpt)
		if !ok {
			return response.Reply{}, false
		}
		addr := strings.ToLower(rcpt.To.String())
		for _, p := range patterns {
			if ok, _ := path.Match(strings.ToLower(p), addr); ok {
				return response.New(550, "5.1.1 <"+rcpt.To.String()+">: recipient refused (smtpkit sink --refuse "+p+")"), true
			}
		}
		return response.Reply{}, false
	}
}

// deliver is the server's OnMessage: it stores m with --maildir and
// prints its line, on the connection's goroutine, before the client gets
// its reply. The addresses are the client's, so they are escaped
// (logsafe.Escape: a UTF-8 address may hold a bidi override or a C1
// control); the subject is quoted with strconv.Quote, which escapes the
// same runes and the quotes.
func (s *sink) deliver(m smtptest.Message) {
	var file string
	var err error
	if s.maildir != nil {
		file, err = s.maildir.store(m)
	}
	var b strings.Builder
	tlsOn := "no"
	if m.TLS {
		tlsOn = "yes"
	}
	body := "DATA"
	if m.Chunked {
		body = "BDAT"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nmsg++
	fmt.Fprintf(&b, "message %d conn=%d from=<%s> to=<%s> size=%d tls=%s body=%s subject=%s",
		s.nmsg, m.Conn, logsafe.Escape(m.From), logsafe.Escape(strings.Join(m.To, ">,<")), len(m.Data), tlsOn, body, strconv.Quote(subjectOf(m.Data)))
	if file != "" {
		fmt.Fprintf(&b, " file=%s", file)
	}
	b.WriteByte('\n')
	fmt.Fprint(s.st.out, b.String())
	if err != nil {
		s.failed++
		fmt.Fprintf(s.st.err, "smtpkit sink: message %d: %v\n", s.nmsg, err)
	}
}

// subjectOf returns the message's Subject, decoded and cut at 80
// characters.
func subjectOf(data []byte) string {
	header, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := strings.Split(strings.ReplaceAll(string(header), "\r\n", "\n"), "\n")
	var subj string
	for i, line := range lines {
		if len(line) < 8 || !strings.EqualFold(line[:8], "subject:") {
			continue
		}
		subj = strings.TrimSpace(line[8:])
		for _, more := range lines[i+1:] {
			if !strings.HasPrefix(more, " ") && !strings.HasPrefix(more, "\t") {
				break
			}
			subj += more
		}
		break
	}
	if d, err := new(mime.WordDecoder).DecodeHeader(subj); err == nil {
		subj = d
	}
	if r := []rune(subj); len(r) > 80 {
		subj = string(r[:80]) + "..."
	}
	return subj
}
