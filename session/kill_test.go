package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// ftTranscript is what one clean Dial, Send, Quit puts on the wire.
type ftTranscript struct {
	client, server       int64 // octets sent by each side, in all
	clientEOD, serverEOD int64 // the same, up to the end of data and its reply
	msg                  smtptest.Message
}

// ftKillOpts are the options of every session of the kill test: a fixed
// local name, so that every run sends the same octets, and timeouts that
// are short but far above what a session takes, as a backstop (a session
// that runs into one fails the test as a hang). With tls, STARTTLS is
// required, trusting srv's certificate.
func ftKillOpts(srv *smtptest.Server, tls bool) *session.Options {
	o := &session.Options{LocalName: ftLocal, Timeouts: ftTimeouts("", 0, 2*time.Second)}
	if tls {
		o.TLS, o.TLSConfig = session.TLSRequired, srv.ClientTLSConfig()
	}
	return o
}

// ftKillConfig is the server of the kill test, with fault.
func ftKillConfig(tls bool, fault smtptest.Fault) smtptest.Config {
	cfg := smtptest.Config{Extensions: sequentialExtensions()}
	if tls {
		cfg.Extensions = tlsExtensions
	}
	if fault != nil {
		cfg.Faults = []smtptest.Fault{fault}
	}
	return cfg
}

// ftMeasure runs one clean session over a counting connection.
func ftMeasure(t *testing.T) ftTranscript {
	t.Helper()
	srv := newServer(t, ftKillConfig(false, nil))
	ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
	defer cancel()
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := &ftCountConn{Conn: nc}
	c, err := session.NewClient(ctx, cc, ftKillOpts(srv, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody)); err != nil {
		t.Fatal(err)
	}
	var tr ftTranscript
	tr.clientEOD, tr.serverEOD = cc.written(), cc.read()
	if r, err := c.Quit(ctx); err != nil || r.Code != 221 {
		t.Fatalf("Quit = %v, %v", r, err)
	}
	tr.client, tr.server = cc.written(), cc.read()
	srv.Close()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("clean run: %d messages", len(msgs))
	}
	tr.msg = msgs[0]
	// The counts agree with what the server saw: every command line with
	// its CRLF, and the message data.
	var cmds int64
	for _, l := range srv.Commands() {
		cmds += int64(len(l)) + 2
	}
	if cmds+int64(len(tr.msg.Raw)) != tr.client {
		t.Fatalf("client sent %d octets, the server saw %d of commands and %d of data", tr.client, cmds, len(tr.msg.Raw))
	}
	return tr
}

// TestKillAfterEveryOffset kills the server's side of a whole session
// (greeting, EHLO, MAIL, two RCPT, DATA, the message, QUIT) after every
// octet it reads, and after every octet it writes. Whatever the offset,
// the client must return an error (a disconnection, nothing else) rather
// than hang, and must never report success for a message the server did
// not accept; the server must never accept a truncated message.
func TestKillAfterEveryOffset(t *testing.T) {
	ftNoLeaks(t)
	tr := ftMeasure(t)
	if trace := ftMeasureTrace(t, false); trace.client != tr.client || trace.server != tr.server ||
		trace.clientEOD != tr.clientEOD || trace.serverEOD != tr.serverEOD {
		t.Fatalf("transcript measured on the wire %+v, from the trace %+v", tr, trace)
	}
	ftKillAll(t, false, tr)
}

// TestKillAfterEveryOffsetSTARTTLS is TestKillAfterEveryOffset with
// STARTTLS required: the offsets are of the SMTP octets, in plaintext
// before the upgrade and inside TLS after it.
func TestKillAfterEveryOffsetSTARTTLS(t *testing.T) {
	ftNoLeaks(t)
	ftKillAll(t, true, ftMeasureTrace(t, true))
}

func ftKillAll(t *testing.T, tls bool, tr ftTranscript) {
	t.Logf("transcript: client->server %d octets (%d through the end of data), server->client %d octets (%d through the end-of-data reply)",
		tr.client, tr.clientEOD, tr.server, tr.serverEOD)
	start := time.Now()
	for _, side := range []struct {
		name  string
		fault func(int64) smtptest.Fault
		total int64
	}{
		{"CloseAfterRead", smtptest.CloseAfterRead, tr.client},
		{"CloseAfterWrite", smtptest.CloseAfterWrite, tr.server},
	} {
		t.Run(side.name, func(t *testing.T) {
			var sent, recorded, quit atomic.Int64
			// The sessions are short and mostly wait on the loopback:
			// run several at once, more than the -parallel default.
			const workers = 8
			next := make(chan int64)
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for n := range next {
						o := ftKill(t, tls, side.name, side.fault(n), n, tr)
						if o.sent {
							sent.Add(1)
						}
						if o.recorded {
							recorded.Add(1)
						}
						if o.quit {
							quit.Add(1)
						}
					}
				})
			}
			for n := int64(0); n <= side.total; n++ {
				next <- n
			}
			close(next)
			wg.Wait()
			t.Logf("%d offsets: Send succeeded %d times, the server recorded the message %d times, Quit succeeded %d times",
				side.total+1, sent.Load(), recorded.Load(), quit.Load())
		})
	}
	t.Logf("took %v", time.Since(start))
}

// ftMeasureTrace measures the transcript from the server's record of the
// commands and the message, and the client's trace of the replies: the
// SMTP octets, whatever carries them.
func ftMeasureTrace(t *testing.T, tls bool) ftTranscript {
	t.Helper()
	srv := newServer(t, ftKillConfig(tls, nil))
	ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
	defer cancel()
	var trace bytes.Buffer
	opts := ftKillOpts(srv, tls)
	opts.Trace = &trace
	c, err := session.Dial(ctx, srv.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody)); err != nil {
		t.Fatal(err)
	}
	replies := func() int64 {
		var n int64
		for l := range strings.SplitSeq(trace.String(), "\n") {
			if s, ok := strings.CutPrefix(l, "S: "); ok {
				n += int64(len(s)) + 2
			}
		}
		return n
	}
	var tr ftTranscript
	tr.serverEOD = replies()
	if r, err := c.Quit(ctx); err != nil || r.Code != 221 {
		t.Fatalf("Quit = %v, %v", r, err)
	}
	tr.server = replies()
	srv.Close()
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].TLS != tls {
		t.Fatalf("clean run: messages %+v", msgs)
	}
	tr.msg = msgs[0]
	for _, l := range srv.Commands() {
		tr.client += int64(len(l)) + 2
	}
	tr.client += int64(len(tr.msg.Raw))
	tr.clientEOD = tr.client - int64(len("QUIT\r\n"))
	return tr
}

type ftKillOutcome struct{ sent, recorded, quit bool }

// ftKill runs one session against a server with fault, checks it, and
// reports what happened. It may run on any goroutine: it uses only
// t.Errorf.
func ftKill(t *testing.T, tls bool, side string, fault smtptest.Fault, n int64, tr ftTranscript) ftKillOutcome {
	var o ftKillOutcome
	fail := func(format string, args ...any) {
		t.Errorf("%s(%d): %s", side, n, fmt.Sprintf(format, args...))
	}
	srv := smtptest.NewServer(ftKillConfig(tls, fault))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
	defer cancel()
	start := time.Now()
	var errs []error
	c, err := session.Dial(ctx, srv.Addr, ftKillOpts(srv, tls))
	if err != nil {
		errs = append(errs, err)
		var ce *session.ConnectError
		if !errors.As(err, &ce) {
			fail("Dial err %T, want *ConnectError", err)
		}
	} else {
		_, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody))
		o.sent = err == nil
		if err != nil {
			errs = append(errs, err)
		}
		r, err := c.Quit(ctx)
		o.quit = err == nil
		if err != nil {
			errs = append(errs, err)
		} else if r.Code != 221 {
			fail("Quit reply %v", r)
		}
		if err := c.Close(); err != nil {
			fail("Close: %v", err)
		}
		if _, err := c.Noop(ctx); !errors.Is(err, session.ErrClosed) {
			fail("Noop after Close: %v", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		fail("session took %v", d)
	}
	for _, err := range errs {
		var de *session.DisconnectedError
		var te *transport.TLSError
		switch {
		case errors.As(err, &de) && errors.Is(err, session.ErrServerDisconnected):
		case tls && errors.As(err, &te):
			// Cut between the 220 to STARTTLS and the end of the
			// handshake: the handshake fails.
		default:
			fail("err = %v (%T), want a disconnection", err, err)
		}
	}
	srv.Close() // what the server did is complete
	msgs := srv.Messages()
	o.recorded = len(msgs) > 0
	if len(msgs) > 1 {
		fail("server recorded %d messages", len(msgs))
	}
	if o.sent && !o.recorded {
		fail("Send reported success for a message the server did not accept")
	}
	if o.recorded {
		m := msgs[0]
		if !bytes.Equal(m.Raw, tr.msg.Raw) || !bytes.Equal(m.Data, tr.msg.Data) || m.From != tr.msg.From || strings.Join(m.To, ",") != strings.Join(tr.msg.To, ",") {
			fail("server recorded a damaged message: %q -> %q, raw %q", m.From, m.To, m.Raw)
		}
	}
	// What the offset allows. The server acts on what it read before the
	// cut and its replies reach the client only up to the cut.
	switch side {
	case "CloseAfterRead":
		if o.recorded && n < tr.clientEOD {
			fail("server recorded a message of which it read only %d of %d octets", n, tr.clientEOD)
		}
		if o.sent && n <= tr.clientEOD {
			fail("Send succeeded although the server was cut off at or before the end of data")
		}
		if o.quit {
			fail("Quit succeeded although the server never read all of QUIT")
		}
	case "CloseAfterWrite":
		if o.sent && n < tr.serverEOD {
			fail("Send succeeded although the end-of-data reply was cut")
		}
		if o.quit != (n == tr.server) {
			fail("Quit succeeded: %v, with the 221 reply cut: %v", o.quit, n < tr.server)
		}
		if n == tr.server && !(o.sent && o.recorded) {
			fail("the uncut session did not deliver the message")
		}
		if n >= tr.serverEOD && !o.recorded {
			fail("the end-of-data reply went out but no message was recorded")
		}
	}
	return o
}
