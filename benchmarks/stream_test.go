package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"net"
	"net/smtp"
	"runtime"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/benchmarks/internal/sink"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/session"
)

// streamMessages is how many messages one op sends, over one connection.
const streamMessages = 20000

// messageSize is the size of each message, header and body, CRLF lines.
const messageSize = 1024

// BenchmarkStream sends streamMessages messages of 1 KiB, one recipient
// each, per op, over one connection to the same in-process sink, with
// net/smtp and with smtpkit's ways of sending (the sink offers PIPELINING,
// CHUNKING and 8BITMIME to all of them; net/smtp uses none but 8BITMIME).
// `benchstat -col /impl` compares them. msgs/s and allocs/msg are per
// message; the sink allocates nothing per message, so allocs/msg is the
// client's, but its CPU time is in every column (both ends share the
// machine's cores), which understates the ratios between clients.
//
// After each run the sink must have received exactly the messages sent,
// octet for octet, and refused no command: a benchmark that loses
// messages measures nothing.
func BenchmarkStream(b *testing.B) {
	srv, err := sink.Start(sink.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	body := benchMessage(messageSize)
	envs := make([]session.Envelope, streamMessages)
	rcpts := make([]string, streamMessages)
	from := command.Mailbox{Local: "newsletter", Domain: "lists.example.org"}
	for i := range envs {
		rcpts[i] = fmt.Sprintf("user%05d@example.net", i)
		to, err := command.ParseMailbox(rcpts[i])
		if err != nil {
			b.Fatal(err)
		}
		envs[i] = session.Envelope{From: from, To: []command.Mailbox{to}}
	}
	ctx := context.Background()

	// One reader and Message per message, each rewound as the stream
	// takes it: nothing is built in the timed loop.
	readers := make([]bytes.Reader, streamMessages)
	msgs := make([]session.Message, streamMessages)
	for i := range msgs {
		msgs[i] = session.Message{Envelope: envs[i], Body: &readers[i]}
	}
	all := func(yield func(*session.Message) bool) {
		for i := range msgs {
			readers[i].Reset(body)
			if !yield(&msgs[i]) {
				return
			}
		}
	}

	smtpkitDial := func(b *testing.B, opts session.Options) *session.Client {
		opts.LocalName = "bench.example.org"
		opts.TLS = session.TLSOff
		c, err := session.Dial(ctx, srv.Addr(), &opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Hello(ctx); err != nil {
			b.Fatal(err)
		}
		return c
	}
	stream := func(opts session.Options, cancellable bool) func(*testing.B) {
		return func(b *testing.B) {
			ctx := ctx
			if cancellable {
				// What most callers pass: a context that can be
				// cancelled costs the client a watch on it.
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
			}
			c := smtpkitDial(b, opts)
			defer c.Close()
			measure(b, srv, len(body), func() {
				n := 0
				for res, err := range c.SendStream(ctx, iter.Seq[*session.Message](all)) {
					if err != nil {
						b.Fatalf("message %d: %v", n, err)
					}
					if res == nil || len(res.Recipients) != 1 || !res.Recipients[0].Accepted {
						b.Fatalf("message %d: result %+v", n, res)
					}
					n++
				}
				if n != streamMessages {
					b.Fatalf("%d results for %d messages", n, streamMessages)
				}
			})
			if _, err := c.Quit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	sendEach := func(opts session.Options) func(*testing.B) {
		return func(b *testing.B) {
			c := smtpkitDial(b, opts)
			defer c.Close()
			r := bytes.NewReader(body)
			measure(b, srv, len(body), func() {
				for i := range envs {
					r.Reset(body)
					if _, err := c.SendEnvelope(ctx, &envs[i], r); err != nil {
						b.Fatalf("message %d: %v", i, err)
					}
				}
			})
			if _, err := c.Quit(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}

	b.Run("impl=net-smtp", func(b *testing.B) {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		c, err := smtp.NewClient(conn, "127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("bench.example.org"); err != nil {
			b.Fatal(err)
		}
		const sender = "newsletter@lists.example.org"
		measure(b, srv, len(body), func() {
			for i := range rcpts {
				if err := c.Mail(sender); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
				if err := c.Rcpt(rcpts[i]); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
				w, err := c.Data()
				if err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
				if _, err := w.Write(body); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
				if err := w.Close(); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
		})
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=smtpkit-stream", stream(session.Options{}, false))
	b.Run("impl=smtpkit-stream-ctx", stream(session.Options{}, true))
	b.Run("impl=smtpkit-stream-data", stream(session.Options{DisableChunking: true}, false))
	b.Run("impl=smtpkit-nopipe", sendEach(session.Options{DisablePipelining: true}))
	b.Run("impl=smtpkit-send", sendEach(session.Options{}))
}

// measure runs op (which sends streamMessages messages of size octets)
// b.N times, reports msgs/s and allocs/msg, and checks that the sink got
// every message, whole.
func measure(b *testing.B, srv *sink.Sink, size int, op func()) {
	msgs0, octets0, refused0 := srv.Messages(), srv.Octets(), srv.Refused()
	b.SetBytes(int64(streamMessages * size))
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
	sent := int64(n) * streamMessages
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(sent), "allocs/msg")
	if got := srv.Messages() - msgs0; got != sent {
		b.Fatalf("sink received %d messages, %d were sent", got, sent)
	}
	if got, want := srv.Octets()-octets0, sent*int64(size); got != want {
		b.Fatalf("sink received %d octets of message, %d were sent", got, want)
	}
	if got := srv.Refused() - refused0; got != 0 {
		b.Fatalf("sink refused %d commands", got)
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
