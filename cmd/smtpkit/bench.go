package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

var benchCommand = &subcommand{
	name:     "bench",
	synopsis: "--server ADDR --messages N --size OCTETS [--rcpts K] [--connections C] [flags]",
	summary:  "load a server with N messages over C connections (smtp-source) and measure it",
	help: `
A load generator like Postfix's smtp-source: N messages through a pool of
up to C connections (package pool), each a pipelined stream: with
PIPELINING the next transactions are written while earlier replies are on
their way, with CHUNKING too the message goes as BDAT in the same write.
--pipelining off and --chunking off switch either off. Each message is
exactly --size octets (header included, or just the header when --size is
smaller; CRLF line endings, ASCII) to K recipients, with its number in the
Subject and the Message-ID.

It reports messages/s and MB/s (10^6 octets of accepted messages per
second of the whole run), the latency of each accepted message — from the
moment it is handed to the pool to the moment its result comes back, in
order, so it includes the wait behind the messages ahead of it — as p50,
p90, p99 and max, and the failed messages by reply code (or by kind:
disconnected, timeout, ...). As the pool does, a message is sent again, on
a new connection, only when the server cannot have it (it got 421, or the
connection broke before its end went out), at most 3 times in all;
"retried" counts those attempts, "reconnects" the connections opened
beyond the first C. A message whose connection broke after the whole
message had gone out, before the server's reply, is never sent again: the
server may have it. It is counted as "unknown", apart from accepted and
failed. When --duration runs out, the messages still waiting for a
connection are withdrawn: never sent, and not counted. So are all those
left once a message has failed without reaching the server's verdict
(no connection, TLS or login refused, ...) before any was accepted: the
rest would fail the same way.

With --auth-user each connection logs in before its first message, as send
does and under send's rules: the password comes from --auth-password-env or
--auth-password-file, never from a flag's value; without --tls, TLS is then
required (as with --tls require), so a server that does not offer STARTTLS
gets no password exchange and no message; a Unix socket is exempt. --ca and
--insecure work as for send. So "--server mail.example.org:587 --auth-user
USER --auth-password-env VAR" loads a submission port.

While it runs, a progress line is written to standard error when that is a
terminal. Exit status: 0 every message accepted; 3 some failed or
unknown; 1 none accepted; 2 usage error.`,
	setup: setupBench,
}

type benchFlags struct {
	server     string
	lmtp       bool
	messages   int
	size       int
	rcpts      int
	conns      int
	pipelining string
	chunking   string
	duration   time.Duration
	timeout    time.Duration
	from, to   string
	helo       string
	tls        tlsFlags
	auth       authFlags
	json       bool
	fs         *flag.FlagSet
}

func setupBench(fs *flag.FlagSet) func(context.Context, stdio, []string) int {
	f := &benchFlags{fs: fs}
	fs.StringVar(&f.server, "server", "", "`ADDR` to load (required): host (port 25), host:port, [v6]:port, or /unix/socket/path")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP")
	fs.IntVar(&f.messages, "messages", 1000, "`N` messages to send in all")
	fs.IntVar(&f.size, "size", 1024, "`OCTETS` in each message, header included")
	fs.IntVar(&f.rcpts, "rcpts", 1, "`K` recipients per message")
	fs.IntVar(&f.conns, "connections", 4, "at most `C` connections at once (the pool's MaxConnections)")
	fs.StringVar(&f.pipelining, "pipelining", "auto", "use PIPELINING (RFC 2920) when the server offers it, or never (`auto|off`)")
	fs.StringVar(&f.chunking, "chunking", "auto", "use CHUNKING/BDAT (RFC 3030) when the server offers it, or never (`auto|off`)")
	fs.DurationVar(&f.duration, "duration", 0, "stop handing out messages after `D` (a duration: 30s, 5m), even before N (default: no limit)")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "bound on each wait for the server")
	fs.StringVar(&f.from, "from", "bench@example.org", "envelope sender `ADDR`, as pasted (Bob <bob@example.org> sends bob@example.org)")
	fs.StringVar(&f.to, "to", "rcpt@example.org", "recipient `ADDR`, as pasted, one address; with --rcpts K > 1, local+1@domain ... local+K@domain")
	fs.StringVar(&f.helo, "helo", "", "`NAME` to send with EHLO/LHLO")
	f.tls.register(fs, "STARTTLS, or fail before any message is sent", "and the certificate must verify")
	f.auth.register(fs)
	fs.BoolVar(&f.json, "json", false, "write one JSON object to standard output")
	return f.run
}

// benchReport is bench's result; it is also the --json output.
type benchReport struct {
	Server      string `json:"server"`
	Messages    int    `json:"messages"` // asked for
	Size        int    `json:"size"`     // octets per message, as sent
	Rcpts       int    `json:"rcpts"`
	Connections int    `json:"connections"`
	Pipelining  bool   `json:"pipelining"` // used: offered and not turned off
	Chunking    bool   `json:"chunking"`
	// Sent counts the messages handed to the pool (once each, however
	// many times retried); Accepted + Failed + Unknown = Sent. Unknown
	// ones lost their connection after the whole message had gone out,
	// before the server's reply: the server may have them.
	Sent              int64            `json:"sent"`
	Accepted          int64            `json:"accepted"`
	Failed            int64            `json:"failed"`
	Unknown           int64            `json:"unknown"`
	Retried           int64            `json:"retried"`
	Reconnects        int64            `json:"reconnects"`
	Seconds           float64          `json:"seconds"`
	MessagesPerSecond float64          `json:"messages_per_second"`
	MBPerSecond       float64          `json:"mb_per_second"`
	Latency           latencyJSON      `json:"latency_ms"`
	Errors            map[string]int64 `json:"errors"`
	// Error is the line standard error shows, without "smtpkit bench: ";
	// null when the exit status is 0.
	Error *string `json:"error"`
}

type latencyJSON struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// maxAttempts bounds the attempts at one message (pool.Options.MaxAttempts).
const maxAttempts = 3

// bench is one run.
type bench struct {
	f        *benchFlags
	opts     session.Options
	password string
	tmpl     *template
	env      session.Envelope
	stopAt   time.Time // zero: no --duration

	claimed atomic.Int64 // messages handed out from N
	done    atomic.Int64 // messages with a final outcome

	// Written only by the goroutine that runs the stream.
	rep      benchReport
	lat      []time.Duration
	firstErr string // the first failure's message, for the error line
}

func (f *benchFlags) run(ctx context.Context, st stdio, args []string) int {
	const cmd = "bench"
	if len(args) > 0 {
		return usageError(st, cmd, "unexpected argument %q", args[0])
	}
	switch {
	case f.server == "":
		return usageError(st, cmd, "--server is required")
	case f.messages < 1:
		return usageError(st, cmd, "--messages must be at least 1")
	case f.size < 0:
		return usageError(st, cmd, "--size cannot be negative")
	case f.rcpts < 1:
		return usageError(st, cmd, "--rcpts must be at least 1")
	case f.conns < 1:
		return usageError(st, cmd, "--connections must be at least 1")
	case f.duration < 0 || f.timeout <= 0:
		return usageError(st, cmd, "--duration cannot be negative, and --timeout must be positive")
	}
	if err := checkLineSafe(f.fs, "server", "from", "to", "helo", "auth-user", "auth-mech"); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	mode, err := f.tls.sessionMode()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	tlsSet := false
	f.fs.Visit(func(fl *flag.Flag) { tlsSet = tlsSet || fl.Name == "tls" })
	mode = f.auth.tlsMode(mode, tlsSet, f.server)
	password, err := f.auth.password()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	noPipe, err := autoOff("pipelining", f.pipelining)
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	noChunk, err := autoOff("chunking", f.chunking)
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	tlsCfg, err := f.tls.config()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	b := &bench{f: f, password: password}
	if b.env, err = f.envelope(); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	f.tls.warnInsecure(st)
	b.tmpl = newTemplate(b.env.From.String(), b.env.To, f.size)
	t := f.timeout
	b.opts = session.Options{
		LocalName:         f.helo,
		LMTP:              f.lmtp,
		TLS:               mode,
		TLSConfig:         tlsCfg,
		DisablePipelining: noPipe,
		DisableChunking:   noChunk,
		Timeouts:          session.Timeouts{Connect: t, Greeting: t, Command: t, Mail: t, Rcpt: t, DataInit: t, DataBlock: t, DataEnd: t},
	}
	conns := min(f.conns, f.messages)
	p, err := pool.New(f.server, &pool.Options{
		Session:        b.opts,
		MaxConnections: conns,
		MaxAttempts:    maxAttempts,
		IdleTimeout:    -1, // the run ends them
		Credentials:    b.credentials(),
	})
	if err != nil {
		return usageError(st, cmd, "--server: %s", plainError(err))
	}
	b.rep = benchReport{
		Server: f.server, Messages: f.messages, Size: len(b.tmpl.buf), Rcpts: f.rcpts,
		Connections: conns, Errors: map[string]int64{},
	}
	b.lat = make([]time.Duration, 0, f.messages)

	start := time.Now()
	if f.duration > 0 {
		b.stopAt = start.Add(f.duration)
	}
	stopProgress := b.progress(st)
	b.send(ctx, p)
	elapsed := time.Since(start)
	stopProgress()
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(t, 5*time.Second))
	p.Close(qctx) // QUIT each connection; every outcome is already in
	cancel()
	s := p.Stats()
	b.rep.Retried = int64(s.Retries)
	b.rep.Reconnects = max(0, int64(s.Dials)-int64(conns))
	if ext, ok := p.Extensions(); ok {
		b.rep.Pipelining = !noPipe && ext.Has("PIPELINING")
		b.rep.Chunking = b.rep.Pipelining && !noChunk && ext.Has("CHUNKING")
	}
	b.finish(elapsed)

	r := &b.rep
	code := exitOK
	switch {
	case r.Accepted == 0:
		code = exitFailed
		r.Error = new(fmt.Sprintf("no message accepted: %s; the first: %s", b.problems(), b.firstErr))
	case r.Failed > 0 && r.Unknown > 0:
		code = exitPartial
		r.Error = new(fmt.Sprintf("%d of %d messages failed or unknown: %s; the first: %s", r.Failed+r.Unknown, r.Sent, b.problems(), b.firstErr))
	case r.Failed > 0:
		code = exitPartial
		r.Error = new(fmt.Sprintf("%d of %d messages failed: %s; the first: %s", r.Failed, r.Sent, b.problems(), b.firstErr))
	case r.Unknown > 0:
		code = exitPartial
		r.Error = new(fmt.Sprintf("%d of %d messages unknown: %s; the first: %s", r.Unknown, r.Sent, b.problems(), b.firstErr))
	}
	if f.json {
		if err := writeJSON(st.out, r); err != nil {
			return failure(st, cmd, err)
		}
	} else {
		b.print(st.out)
	}
	if r.Error != nil {
		fmt.Fprintf(st.err, "smtpkit %s: %s\n", cmd, *r.Error)
	}
	return code
}

// credentials are what the pool logs each connection in with, as send
// logs in: --auth-mech, or the strongest mechanism both sides have.
func (b *bench) credentials() *pool.Credentials {
	a := &b.f.auth
	if !a.enabled() {
		return nil
	}
	if a.mech == "" {
		return &pool.Credentials{Username: a.user, Password: b.password}
	}
	host, port := "", 0
	if addr, err := transport.ParseAddress(b.f.server, transport.PortSMTP); err == nil && addr.Network != "unix" {
		host, port = addr.Host, addr.Port
	}
	name := strings.ToUpper(a.mech)
	return &pool.Credentials{Mechanism: func() auth.Mechanism {
		m, _ := mechanism(name, a.user, b.password, host, port) // the name was checked with the flags
		return m
	}}
}

func (f *benchFlags) envelope() (session.Envelope, error) {
	var env session.Envelope
	var err error
	// As send: an address as pasted, the bare mailbox in the envelope and
	// the header, the error naming the address.
	if f.from != "" && f.from != "<>" {
		if env.From, err = command.ParseAddress(f.from); err != nil {
			return env, fmt.Errorf("--from: %s", plainError(err))
		}
	}
	to, err := command.ParseAddress(f.to)
	if err != nil {
		return env, fmt.Errorf("--to: %s", plainError(err))
	}
	if f.rcpts == 1 {
		env.To = []command.Mailbox{to}
		return env, nil
	}
	for i := 1; i <= f.rcpts; i++ {
		m := to
		m.Local = to.Local + "+" + strconv.Itoa(i)
		if _, err := (command.Rcpt{To: m}).Append(nil); err != nil {
			return env, fmt.Errorf("--to %q with --rcpts: %v", f.to, err)
		}
		env.To = append(env.To, m)
	}
	return env, nil
}

// item is one message handed to the pool.
type item struct {
	m     *session.Message
	start time.Time
}

// next claims the next message number while N and --duration allow.
func (b *bench) next() (int64, bool) {
	if !b.stopAt.IsZero() && !time.Now().Before(b.stopAt) {
		return 0, false
	}
	n := b.claimed.Add(1)
	if n > int64(b.f.messages) {
		b.claimed.Add(-1)
		return 0, false
	}
	return n, true
}

// send streams the messages through p and counts their outcomes. Up to
// 64 messages per connection are in flight (see pool.Pool.SendStream).
// It withdraws the messages no connection has taken yet when --duration
// runs out, and when no message has been accepted and one has failed
// without reaching the server's verdict on every attempt (it could not
// connect, log in, ...): the rest would fail the same way. Withdrawn
// messages were never sent and are not counted.
func (b *bench) send(ctx context.Context, p *pool.Pool) {
	sctx, withdraw := context.WithCancel(ctx)
	defer withdraw()
	if !b.stopAt.IsZero() {
		t := time.AfterFunc(time.Until(b.stopAt), withdraw)
		defer t.Stop()
	}
	var fifo []item // handed to the pool, outcome not yet yielded
	msgs := func(yield func(*session.Message) bool) {
		for {
			n, ok := b.next()
			if !ok {
				return
			}
			m := &session.Message{Envelope: b.env, Body: bytes.NewReader(b.tmpl.message(n))}
			fifo = append(fifo, item{m: m, start: time.Now()})
			if !yield(m) {
				return
			}
		}
	}
	count := func(it item, err error) {
		// A message withdrawn before any attempt gets the stream's
		// context's error as it is; one the caller interrupted counts.
		if err == context.Canceled && sctx.Err() != nil && ctx.Err() == nil {
			return
		}
		b.count(it, err)
	}
	for _, err := range p.SendStream(sctx, msgs) {
		it := fifo[0]
		fifo[0] = item{}
		fifo = fifo[1:]
		count(it, err)
		if b.rep.Accepted == 0 && pool.OutcomeOf(err) == pool.NotSent && sctx.Err() == nil {
			withdraw()
			break
		}
	}
	// After a break, SendStream recorded in each message it had taken
	// the outcome it did not yield.
	for _, it := range fifo {
		if it.m.Done {
			count(it, it.m.Err)
		}
	}
}

// count records a message's outcome.
func (b *bench) count(it item, err error) {
	b.rep.Sent++
	switch pool.OutcomeOf(err) {
	case pool.Delivered:
		b.rep.Accepted++
		b.lat = append(b.lat, time.Since(it.start))
	case pool.Unknown:
		b.rep.Unknown++
	default:
		b.rep.Failed++
		b.rep.Errors[errKind(err)]++
	}
	if err != nil && b.firstErr == "" {
		b.firstErr = errText(err)
	}
	b.done.Add(1)
}

// problems sums up the failures and the unknown outcomes.
func (b *bench) problems() string {
	var parts []string
	if len(b.rep.Errors) > 0 {
		parts = append(parts, errorSummary(b.rep.Errors))
	}
	if b.rep.Unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d unknown (the server may have them)", b.rep.Unknown))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// errKind is the key of a failure in the report: the reply code when
// there was a reply, else what happened.
func errKind(err error) string {
	var re *response.Error
	var te *session.TimeoutError
	var ns *session.NotSupportedError
	var tl *session.MessageTooLargeError
	switch {
	case errors.As(err, &re):
		return strconv.Itoa(int(re.Code()))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "interrupted"
	case errors.As(err, &te):
		return "timeout"
	case errors.Is(err, session.ErrServerDisconnected):
		return "disconnected"
	case errors.As(err, &tl):
		return "too-large"
	case errors.As(err, &ns):
		return "not-supported"
	}
	var ce *session.ConnectError
	if errors.As(err, &ce) {
		return "connect"
	}
	return "error"
}

func (b *bench) finish(elapsed time.Duration) {
	r := &b.rep
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.MessagesPerSecond = float64(r.Accepted) / r.Seconds
		r.MBPerSecond = float64(r.Accepted) * float64(r.Size) / 1e6 / r.Seconds
	}
	slices.Sort(b.lat)
	r.Latency = latencyJSON{
		P50: ms(percentile(b.lat, 50)),
		P90: ms(percentile(b.lat, 90)),
		P99: ms(percentile(b.lat, 99)),
	}
	if len(b.lat) > 0 {
		r.Latency.Max = ms(b.lat[len(b.lat)-1])
	}
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(d))))
	return d[max(rank, 1)-1]
}

func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

func (b *bench) print(w io.Writer) {
	r := &b.rep
	how := "no PIPELINING"
	switch {
	case r.Chunking:
		how = "PIPELINING, CHUNKING (BDAT)"
	case r.Pipelining:
		how = "PIPELINING, DATA"
	}
	fmt.Fprintf(w, "server:      %s, %d connection(s), %s\n", r.Server, r.Connections, how)
	fmt.Fprintf(w, "messages:    %d sent, %d accepted, %d failed, %d unknown (%d retried, %d reconnects); %d octets each, to %d recipient(s)\n",
		r.Sent, r.Accepted, r.Failed, r.Unknown, r.Retried, r.Reconnects, r.Size, r.Rcpts)
	fmt.Fprintf(w, "time:        %.3fs\n", r.Seconds)
	fmt.Fprintf(w, "throughput:  %.1f messages/s, %.2f MB/s\n", r.MessagesPerSecond, r.MBPerSecond)
	fmt.Fprintf(w, "latency:     p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	fmt.Fprintf(w, "errors:      %s\n", errorSummary(r.Errors))
	if r.Unknown > 0 {
		fmt.Fprintf(w, "unknown:     %d (the connection was lost after the message, before its reply: the server may have it)\n", r.Unknown)
	}
}

func errorSummary(errs map[string]int64) string {
	if len(errs) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, errs[k]))
	}
	return strings.Join(parts, ", ")
}

// progress writes a progress line to standard error every quarter second
// while the run lasts, when standard error is a terminal.
func (b *bench) progress(st stdio) (stop func()) {
	f, ok := st.err.(*os.File)
	if !ok || !isTerminal(f) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(f, "\r\033[K")
				return
			case <-t.C:
				n := b.done.Load()
				rate := float64(n) / time.Since(start).Seconds()
				fmt.Fprintf(f, "\r\033[K%d/%d messages, %.0f/s", n, b.f.messages, rate)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// template is the bench message: exactly size octets (header included,
// CRLF line endings, ASCII), with the message's number in the Subject and
// the Message-ID.
type template struct {
	buf []byte
	num []int // offsets of the 10-digit number fields
}

const numWidth = 10

func newTemplate(from string, to []command.Mailbox, size int) *template {
	var rnd [8]byte
	rand.Read(rnd[:])
	var rcpts []string
	for _, m := range to {
		rcpts = append(rcpts, "<"+m.String()+">")
	}
	if from == "" || from == "<>" {
		from = "bench@example.org"
	}
	placeholder := strings.Repeat("0", numWidth)
	var h bytes.Buffer
	fmt.Fprintf(&h, "From: <%s>\r\nTo: %s\r\n", from, strings.Join(rcpts, ", "))
	fmt.Fprintf(&h, "Subject: smtpkit bench %s\r\n", placeholder)
	subjAt := h.Len() - 2 - numWidth
	fmt.Fprintf(&h, "Message-ID: <%s.%s@smtpkit.bench>\r\n", placeholder, hex.EncodeToString(rnd[:]))
	idAt := strings.Index(h.String()[subjAt+numWidth:], "<"+placeholder) + subjAt + numWidth + 1
	fmt.Fprintf(&h, "Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", time.Now().Format(time.RFC1123Z))
	buf := h.Bytes()
	const line = "smtpkit bench padding: the quick brown fox jumps over the lazy dog 0123456789"
	for rest := size - len(buf); rest >= 2; {
		n := min(rest, len(line)+2)
		if rest-n == 1 {
			n-- // never leave a single octet, which cannot end a line
		}
		buf = append(buf, line[:n-2]...)
		buf = append(buf, '\r', '\n')
		rest -= n
	}
	return &template{buf: buf, num: []int{subjAt, idAt}}
}

// message returns a copy of the template numbered n.
func (t *template) message(n int64) []byte {
	m := bytes.Clone(t.buf)
	var digits [numWidth]byte
	s := strconv.FormatInt(n, 10)
	for i := range digits {
		digits[i] = '0'
	}
	copy(digits[numWidth-len(s):], s)
	for _, at := range t.num {
		copy(m[at:at+numWidth], digits[:])
	}
	return m
}
