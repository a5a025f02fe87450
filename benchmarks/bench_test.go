package benchmarks

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/smtpkit/smtpkit/benchmarks/internal/sink"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/session"
)

// BenchmarkSmallMessages sends streamMsgs messages of 1 KiB, one
// recipient each, per op, over one connection. smtpkit streams them with
// SendStream: with PIPELINING and CHUNKING nothing waits for the server
// until a few hundred replies are due. The other rows:
//
//	smtpkit-nopipelining  SendStream with DisablePipelining: every
//	                      command waits for its reply, as net/smtp's do
//	smtpkit-data          SendStream with DisableChunking: DATA, one wait
//	                      per message (for its 354)
//	smtpkit-send          SendEnvelope per message (pipelined BDAT): one
//	                      round trip per message
//	netsmtp, gosmtp       MAIL, RCPT, DATA, the message, end of data:
//	                      four round trips per message
//	raw                   the floor: the octets smtpkit's stream sends
//	                      (RSET, MAIL, RCPT, BDAT LAST and the message,
//	                      per message), encoded beforehand and written by
//	                      one goroutine while another counts the replies;
//	                      what the socket and the sink cost alone
func BenchmarkSmallMessages(b *testing.B) {
	srv, body, addrs, msgs, run := smallMessages(b)

	stream := func(opts session.Options) func(*testing.B) {
		return func(b *testing.B) {
			c := dialSmtpkit(b, srv.Addr(), opts)
			run(b, func() { sendStream(b, c, msgs, false) })
			quitSmtpkit(b, c)
		}
	}
	b.Run("impl=smtpkit", stream(session.Options{}))
	b.Run("impl=smtpkit-nopipelining", stream(session.Options{DisablePipelining: true}))
	b.Run("impl=smtpkit-data", stream(session.Options{DisableChunking: true}))
	b.Run("impl=smtpkit-send", func(b *testing.B) {
		c := dialSmtpkit(b, srv.Addr(), session.Options{})
		r := bytes.NewReader(body)
		run(b, func() {
			for i := range msgs.msgs {
				r.Reset(body)
				if _, err := c.SendEnvelope(ctx, &msgs.msgs[i].Envelope, r); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
		})
		quitSmtpkit(b, c)
	})
	b.Run("impl=raw", func(b *testing.B) {
		var wire []byte
		for i := range addrs {
			wire = fmt.Appendf(wire, "RSET\r\nMAIL FROM:<%s> SIZE=%d\r\nRCPT TO:<%s>\r\nBDAT %d LAST\r\n", sender, len(body), addrs[i], len(body))
			wire = append(wire, body...)
		}
		conn, br := dialRaw(b, srv.Addr())
		run(b, func() {
			done := make(chan error, 1)
			go func() {
				for p := wire; len(p) > 0; {
					n, err := conn.Write(p[:min(len(p), 64<<10)])
					if err != nil {
						done <- err
						return
					}
					p = p[n:]
				}
				done <- nil
			}()
			if err := expectReplies(br, 4*len(addrs)); err != nil {
				b.Fatal(err)
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
		conn.Close()
	})
	b.Run("impl=netsmtp", func(b *testing.B) {
		c := dialNetSMTP(b, srv.Addr())
		run(b, func() {
			for i := range addrs {
				if err := sendNetSMTP(c, addrs[i:i+1], body); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
		})
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=gosmtp", func(b *testing.B) {
		c := dialGoSMTP(b, "tcp", srv.Addr())
		run(b, func() {
			for i := range addrs {
				if err := sendGoSMTP(c, addrs[i:i+1], body); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
		})
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	})
}

// manyRcpts is the number of recipients of BenchmarkManyRecipients's
// message.
const manyRcpts = 50

// BenchmarkManyRecipients sends one 1 KiB message to 50 recipients per
// op. smtpkit pipelines MAIL, the 50 RCPTs and the BDAT chunk in one
// write and reads the 52 replies after (one round trip); the others wait
// for each reply (53 round trips).
func BenchmarkManyRecipients(b *testing.B) {
	srv := startSink(b, sink.Config{})
	body := benchMessage(smallSize)
	addrs, boxes := recipients(b, manyRcpts)
	env := session.Envelope{From: senderMailbox(), To: boxes}
	run := func(b *testing.B, op func() error) {
		measure(b, srv, 1, manyRcpts, smallSize, func() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		})
	}
	smtpkit := func(opts session.Options) func(*testing.B) {
		return func(b *testing.B) {
			c := dialSmtpkit(b, srv.Addr(), opts)
			r := bytes.NewReader(body)
			run(b, func() error {
				r.Reset(body)
				res, err := c.SendEnvelope(ctx, &env, r)
				if err == nil && len(res.Refused()) > 0 {
					err = fmt.Errorf("refused: %v", res.Refused())
				}
				return err
			})
			quitSmtpkit(b, c)
		}
	}
	b.Run("impl=smtpkit", smtpkit(session.Options{}))
	b.Run("impl=smtpkit-nopipelining", smtpkit(session.Options{DisablePipelining: true}))
	runPeers(b, srv.Addr(), addrs, body, run)
}

// BenchmarkLargeMessage sends one message of 8 MiB (76-column text, one
// line in a hundred starting with a dot) per op, to one recipient; MB/s
// is of the message. The rows:
//
//	smtpkit       DATA (DisableChunking): dot-stuffed by wire.DotWriter
//	smtpkit-bdat  BDAT chunks of 1 MiB (CHUNKING), pipelined
//	smtpkit-reader, smtpkit-bdat-reader
//	              the same two with the body behind a plain io.Reader, as
//	              from a file or a pipe: the client cannot look at it
//	              before sending (no SIZE, BODY=8BITMIME declared
//	              unseen), which for a *bytes.Reader it does
//	netsmtp       DATA through net/textproto's DotWriter
//	gosmtp        the same (go-smtp uses textproto too)
//	raw           the floor: MAIL, RCPT and "BDAT <size> LAST" and the
//	              same octets written straight to the socket by hand,
//	              one writev, no client library at all
func BenchmarkLargeMessage(b *testing.B) {
	srv := startSink(b, sink.Config{})
	body := largeBody()
	addrs, boxes := recipients(b, 1)
	env := session.Envelope{From: senderMailbox(), To: boxes}
	run := func(b *testing.B, op func() error) {
		measure(b, srv, 1, 1, len(body), func() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		})
	}
	smtpkit := func(opts session.Options, opaque bool) func(*testing.B) {
		return func(b *testing.B) {
			c := dialSmtpkit(b, srv.Addr(), opts)
			r := bytes.NewReader(body)
			var br io.Reader = r
			if opaque {
				br = struct{ io.Reader }{r} // hides Len, Size, ReadAt, WriteTo
			}
			run(b, func() error {
				r.Reset(body)
				_, err := c.SendEnvelope(ctx, &env, br)
				return err
			})
			quitSmtpkit(b, c)
		}
	}
	b.Run("impl=smtpkit", smtpkit(session.Options{DisableChunking: true}, false))
	b.Run("impl=smtpkit-bdat", smtpkit(session.Options{}, false))
	b.Run("impl=smtpkit-reader", smtpkit(session.Options{DisableChunking: true}, true))
	b.Run("impl=smtpkit-bdat-reader", smtpkit(session.Options{}, true))
	runPeers(b, srv.Addr(), addrs, body, run)
	b.Run("impl=raw", func(b *testing.B) {
		conn, br := dialRaw(b, srv.Addr())
		head := fmt.Appendf(nil, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nBDAT %d LAST\r\n", sender, addrs[0], len(body))
		run(b, func() error {
			bufs := net.Buffers{head, body}
			if _, err := bufs.WriteTo(conn); err != nil {
				return err
			}
			return expectReplies(br, 3)
		})
		io.WriteString(conn, "QUIT\r\n")
		expectReplies(br, 1)
		conn.Close()
	})
}

// dialRaw connects to the sink with no client library: it reads the
// greeting, says EHLO and reads the reply, for the raw rows.
func dialRaw(b *testing.B, addr string) (net.Conn, *bufio.Reader) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(conn)
	if err := expectReplies(br, 1); err != nil { // the greeting
		b.Fatal(err)
	}
	fmt.Fprintf(conn, "EHLO %s\r\n", localName)
	for { // the EHLO reply, to its last line
		line, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(line) > 3 && line[3] == ' ' {
			break
		}
	}
	return conn, br
}

// expectReplies reads n single-line 2yz replies.
func expectReplies(br *bufio.Reader, n int) error {
	for range n {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(line, []byte("2")) {
			return fmt.Errorf("reply %q", line)
		}
	}
	return nil
}

// lmtpMsgs is the number of messages per op of BenchmarkLMTP.
const (
	lmtpMsgs  = 5000
	lmtpRcpts = 5
)

// BenchmarkLMTP sends lmtpMsgs messages of 1 KiB to 5 recipients each
// per op, over a Unix socket to the sink in LMTP mode, which offers
// PIPELINING and CHUNKING as Dovecot does and answers once per recipient
// after each message. net/smtp has no LMTP client. Rows:
//
//	smtpkit               lmtp.Client, SendStream (pipelined BDAT)
//	smtpkit-nopipelining  the same with DisablePipelining: every command
//	                      waits, as go-smtp's do
//	gosmtp                go-smtp's NewClientLMTP, one transaction at a time
func BenchmarkLMTP(b *testing.B) {
	dir, err := os.MkdirTemp("", "lmtp")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv := startSink(b, sink.Config{LMTP: true, Unix: filepath.Join(dir, "lmtp.sock")})
	body := benchMessage(smallSize)
	// Each message to 5 of the recipients, in turn.
	addrs, boxes := recipients(b, lmtpMsgs*lmtpRcpts)
	from := senderMailbox()
	msgs := newMessages(lmtpMsgs, func(i int) session.Envelope {
		return session.Envelope{From: from, To: boxes[i*lmtpRcpts : (i+1)*lmtpRcpts : (i+1)*lmtpRcpts]}
	}, body)
	run := func(b *testing.B, op func()) { measure(b, srv, lmtpMsgs, lmtpRcpts, smallSize, op) }

	smtpkit := func(opts session.Options) func(*testing.B) {
		return func(b *testing.B) {
			opts.LocalName = localName
			c, err := lmtp.Dial(ctx, srv.Addr(), &opts)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello(ctx); err != nil {
				b.Fatal(err)
			}
			run(b, func() { sendStream(b, c.Client, msgs, true) })
			quitSmtpkit(b, c.Client)
		}
	}
	b.Run("impl=smtpkit", smtpkit(session.Options{}))
	b.Run("impl=smtpkit-nopipelining", smtpkit(session.Options{DisablePipelining: true}))
	b.Run("impl=gosmtp", func(b *testing.B) {
		c := dialGoSMTP(b, "unix", srv.Addr())
		run(b, func() {
			for i := range lmtpMsgs {
				if err := sendGoSMTP(c, addrs[i*lmtpRcpts:(i+1)*lmtpRcpts], body); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
		})
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	})
}

// runPeers runs the net/smtp and go-smtp sub-benchmarks of one message
// to addrs per op, over one TCP connection each, measured by run.
func runPeers(b *testing.B, addr string, addrs []string, body []byte, run func(*testing.B, func() error)) {
	b.Run("impl=netsmtp", func(b *testing.B) {
		c := dialNetSMTP(b, addr)
		run(b, func() error { return sendNetSMTP(c, addrs, body) })
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=gosmtp", func(b *testing.B) {
		c := dialGoSMTP(b, "tcp", addr)
		run(b, func() error { return sendGoSMTP(c, addrs, body) })
		if err := c.Quit(); err != nil {
			b.Fatal(err)
		}
	})
}
