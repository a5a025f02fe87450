package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/smtp"
	"runtime"
	"strings"
	"sync"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/smtpkit/smtpkit/benchmarks/internal/sink"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/benchfixture"
	"github.com/smtpkit/smtpkit/session"
)

// The clients compared, as the impl= part of every benchmark's name:
//
//	smtpkit               session.Client: PIPELINING and CHUNKING when offered
//	smtpkit-nopipelining  the same with Options.DisablePipelining
//	netsmtp               the standard library's net/smtp
//	gosmtp                github.com/emersion/go-smtp's client (v0.25)
//
// and a few more rows named where they appear. Every client talks to the
// same in-process sink (internal/sink) over loopback TCP (a Unix socket for
// LMTP), so syscalls count; the sink allocates nothing per message, so
// allocs/msg is the client's, but the sink's CPU time is in every column
// (both ends share the machine's cores), which understates the ratios
// between clients.

const (
	sender     = "newsletter@lists.example.org"
	localName  = "bench.example.org"
	smallSize  = 1024 // octets of a small message, header and body
	largeSize  = 8 << 20
	streamMsgs = 20000 // messages per op of the streaming benchmarks
)

var ctx = context.Background()

// measure runs op, which sends perOp messages of size octets to rcpts
// recipients each, b.N times; reports msgs/s, allocs/msg and (through
// SetBytes) MB/s of message; and checks that the sink got every message,
// every recipient and every octet, and refused no command: a benchmark
// that loses messages measures nothing.
func measure(b *testing.B, srv *sink.Sink, perOp, rcpts, size int, op func()) {
	b.Helper()
	msgs0, rcpts0, octets0, refused0 := srv.Messages(), srv.Recipients(), srv.Octets(), srv.Refused()
	b.SetBytes(int64(perOp * size))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		op()
		n++
	}
	runtime.ReadMemStats(&after) // the timer has stopped: b.Loop returned false
	sent := int64(n) * int64(perOp)
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(sent), "allocs/msg")
	if got := srv.Messages() - msgs0; got != sent {
		b.Fatalf("sink received %d messages, %d were sent", got, sent)
	}
	if got, want := srv.Recipients()-rcpts0, sent*int64(rcpts); got != want {
		b.Fatalf("sink received %d recipients, %d were sent", got, want)
	}
	if got, want := srv.Octets()-octets0, sent*int64(size); got != want {
		b.Fatalf("sink received %d octets of message, %d were sent", got, want)
	}
	if got := srv.Refused() - refused0; got != 0 {
		b.Fatalf("sink refused %d commands", got)
	}
}

func startSink(b testing.TB, cfg sink.Config) *sink.Sink {
	b.Helper()
	srv, err := sink.Start(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

// recipients returns n addresses, "user00000@example.net" and on, as
// strings and as parsed mailboxes.
func recipients(b testing.TB, n int) ([]string, []command.Mailbox) {
	addrs := make([]string, n)
	boxes := make([]command.Mailbox, n)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("user%05d@example.net", i)
		m, err := command.ParseMailbox(addrs[i])
		if err != nil {
			b.Fatal(err)
		}
		boxes[i] = m
	}
	return addrs, boxes
}

func senderMailbox() command.Mailbox {
	return command.Mailbox{Local: "newsletter", Domain: "lists.example.org"}
}

// dialSmtpkit connects a session.Client to addr and says EHLO.
func dialSmtpkit(b testing.TB, addr string, opts session.Options) *session.Client {
	b.Helper()
	opts.LocalName = localName
	opts.TLS = session.TLSOff
	c, err := session.Dial(ctx, addr, &opts)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Hello(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func quitSmtpkit(b testing.TB, c *session.Client) {
	if _, err := c.Quit(ctx); err != nil {
		b.Fatal(err)
	}
}

func dialNetSMTP(b testing.TB, addr string) *smtp.Client {
	b.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Hello(localName); err != nil {
		b.Fatal(err)
	}
	return c
}

// sendNetSMTP is one transaction the way net/smtp's SendMail runs it,
// on an open connection: every command waits for its reply.
func sendNetSMTP(c *smtp.Client, to []string, body []byte) error {
	if err := c.Mail(sender); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}

// dialGoSMTP connects go-smtp's client (its LMTP client when network is
// "unix") and says EHLO (LHLO).
func dialGoSMTP(b testing.TB, network, addr string) *gosmtp.Client {
	b.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	var c *gosmtp.Client
	if network == "unix" {
		c = gosmtp.NewClientLMTP(conn)
	} else {
		c = gosmtp.NewClient(conn)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Hello(localName); err != nil {
		b.Fatal(err)
	}
	return c
}

// sendGoSMTP is one transaction the way go-smtp's SendMail runs it, on
// an open connection; in LMTP, Close reads the reply per recipient.
func sendGoSMTP(c *gosmtp.Client, to []string, body []byte) error {
	if err := c.Mail(sender, nil); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}

// messages is a fixed stream of n messages with the same body, for
// SendStream: one reader and Message per message, each rewound as the
// stream takes it, so that nothing is built in the timed loop.
type messages struct {
	body    []byte
	readers []bytes.Reader
	msgs    []session.Message
}

// smallMessages is the setup BenchmarkSmallMessages and BenchmarkPool
// share: a sink; streamMsgs messages of smallSize octets, each to one
// recipient of addrs; and run, which measures one op of sending them all.
func smallMessages(b *testing.B) (srv *sink.Sink, body []byte, addrs []string, msgs *messages, run func(*testing.B, func())) {
	srv = startSink(b, sink.Config{})
	body = benchMessage(smallSize)
	addrs, boxes := recipients(b, streamMsgs)
	from := senderMailbox()
	msgs = newMessages(streamMsgs, func(i int) session.Envelope {
		return session.Envelope{From: from, To: boxes[i : i+1]}
	}, body)
	run = func(b *testing.B, op func()) { measure(b, srv, streamMsgs, 1, smallSize, op) }
	return srv, body, addrs, msgs, run
}

func newMessages(n int, envs func(i int) session.Envelope, body []byte) *messages {
	m := &messages{body: body, readers: make([]bytes.Reader, n), msgs: make([]session.Message, n)}
	for i := range m.msgs {
		m.msgs[i] = session.Message{Envelope: envs(i), Body: &m.readers[i]}
	}
	return m
}

func (m *messages) all(yield func(*session.Message) bool) {
	for i := range m.msgs {
		m.readers[i].Reset(m.body)
		if !yield(&m.msgs[i]) {
			return
		}
	}
}

// sendStream sends every message of m with SendStream and checks that
// each was accepted for all its recipients (in LMTP, delivered to each).
func sendStream(b *testing.B, c *session.Client, m *messages, lmtp bool) {
	n := 0
	for res, err := range c.SendStream(ctx, m.all) {
		if err != nil {
			b.Fatalf("message %d: %v", n, err)
		}
		if res == nil || len(res.Recipients) != len(m.msgs[n].Envelope.To) {
			b.Fatalf("message %d: result %+v", n, res)
		}
		for _, r := range res.Recipients {
			if !r.Accepted || lmtp && !r.Data.Positive() {
				b.Fatalf("message %d: recipient %+v", n, r)
			}
		}
		n++
	}
	if n != len(m.msgs) {
		b.Fatalf("%d results for %d messages", n, len(m.msgs))
	}
}

// benchMessage builds a plain-text message of exactly size octets: a
// header as a mailing list sends it, then paragraphs of text, every line
// ending in CRLF.
func benchMessage(size int) []byte {
	var m bytes.Buffer
	m.WriteString("Return-Path: <newsletter@lists.example.org>\r\n" +
		"Date: Sat, 28 Nov 2026 09:30:00 +0000\r\n" +
		"From: Example Newsletter <newsletter@lists.example.org>\r\n" +
		"To: subscriber@example.net\r\n" +
		"Subject: Your weekly digest: five things worth reading\r\n" +
		"Message-ID: <20261128093000.4f2a9c@lists.example.org>\r\n" +
		"List-Unsubscribe: <mailto:unsubscribe@lists.example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"\r\n" +
		"Hello,\r\n\r\n")
	text := strings.Fields("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do " +
		"eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim " +
		"veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo " +
		"consequat.")
	const sig = "\r\n-- \r\nExample Newsletter\r\n"
	line, w := 0, 0
	for {
		word := text[w%len(text)]
		// Room for a line break, the word, the last CRLF and the signature.
		if m.Len()+2+len(word)+2+len(sig) > size {
			break
		}
		w++
		if line > 0 && line+1+len(word) > 72 {
			m.WriteString("\r\n")
			line = 0
		} else if line > 0 {
			m.WriteByte(' ')
			line++
		}
		m.WriteString(word)
		line += len(word)
	}
	// Pad the last line to the exact size.
	for m.Len()+len(sig)+2 < size {
		m.WriteByte('!')
	}
	m.WriteString("\r\n" + sig)
	if m.Len() != size {
		panic(fmt.Sprintf("benchMessage: %d octets, want %d", m.Len(), size))
	}
	return m.Bytes()
}

// largeBody is the large message: as many 78-octet CRLF lines as fit in
// 8 MiB. Built on first use only, so that the tests (the heap check)
// never see it.
var largeBody = sync.OnceValue(func() []byte {
	return benchfixture.Text(largeSize/78, "\r\n")
})
