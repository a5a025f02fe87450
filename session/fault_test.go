package session_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
)

const (
	// defaultGreeting is smtptest's default greeting.
	defaultGreeting = "220 smtptest.localhost ESMTP smtptest\r\n"
	// shortTimeout is the timeout of the phase a fault is in; every other
	// phase gets longTimeout, and the context ctxLimit.
	shortTimeout = 300 * time.Millisecond
	longTimeout  = 3 * time.Second
	ctxLimit     = 5 * time.Second
)

// faultPhase is a point of the session where a fault can strike.
type faultPhase struct {
	verb string // the smtptest verb or pseudo-verb
	op   string // the Op of a DisconnectedError, the Phase of a TimeoutError
	step string // the call of runSession that fails: "Dial", "Send" or "Quit"
}

var faultPhases = []faultPhase{
	{smtptest.Greeting, "greeting", "Dial"},
	{"EHLO", "EHLO", "Send"},
	{"MAIL", "MAIL", "Send"},
	{"RCPT", "RCPT", "Send"},
	{"DATA", "DATA", "Send"},
	{smtptest.EndOfData, "end of data", "Send"},
	{"QUIT", "QUIT", "Quit"},
}

// phaseTimeouts returns Timeouts with every phase at long but the one of
// verb, which gets short.
func phaseTimeouts(verb string, short, long time.Duration) session.Timeouts {
	to := session.Timeouts{Connect: long, Greeting: long, Command: long, Mail: long, Rcpt: long, DataInit: long, DataBlock: long, DataEnd: long}
	switch verb {
	case smtptest.Greeting:
		to.Greeting = short
	case "EHLO", "QUIT", "STARTTLS":
		to.Command = short
	case "MAIL":
		to.Mail = short
	case "RCPT":
		to.Rcpt = short
	case "DATA":
		to.DataInit = short
	case smtptest.EndOfData:
		to.DataEnd = short
	case "":
	default:
		panic("phaseTimeouts: " + verb)
	}
	return to
}

// sessionResult is what became of one Dial, Send, Quit sequence.
type sessionResult struct {
	c       *session.Client // nil when Dial failed
	step    string          // the call that failed, "" when none did
	err     error           // its error
	elapsed time.Duration   // how long that call took
	sent    bool            // Send returned nil
}

// runSession dials addr, sends sessionBody to sessionTo and quits, stopping
// at the first error. The caller closes r.c.
func runSession(ctx context.Context, addr string, opts *session.Options) sessionResult {
	var r sessionResult
	start := time.Now()
	c, err := session.Dial(ctx, addr, opts)
	if err != nil {
		return sessionResult{step: "Dial", err: err, elapsed: time.Since(start)}
	}
	r.c = c
	start = time.Now()
	if _, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody)); err != nil {
		r.step, r.err, r.elapsed = "Send", err, time.Since(start)
		return r
	}
	r.sent = true
	start = time.Now()
	if _, err := c.Quit(ctx); err != nil {
		r.step, r.err, r.elapsed = "Quit", err, time.Since(start)
	}
	return r
}

// checkMessages checks that the server (closed, so that what it did is
// complete) recorded the message if and only if the client was told it
// was accepted, and then recorded it intact.
func checkMessages(t *testing.T, srv *smtptest.Server, sent bool) {
	t.Helper()
	msgs := srv.Messages()
	switch {
	case !sent && len(msgs) != 0:
		t.Errorf("server recorded %d message(s) although Send failed", len(msgs))
	case sent && len(msgs) != 1:
		t.Errorf("Send reported success but the server recorded %d message(s)", len(msgs))
	case sent && (string(msgs[0].Data) != sessionBody || msgs[0].From != sessionFrom || strings.Join(msgs[0].To, " ") != strings.Join(sessionTo, " ")):
		t.Errorf("server recorded %q -> %q: %q", msgs[0].From, msgs[0].To, msgs[0].Data)
	}
}

// garbageReplies is, per phase, what GarbageAt sends instead of the reply
// and the kind of protocol error it must give.
var garbageReplies = map[string]struct {
	data string
	kind error
}{
	smtptest.Greeting:  {"garbage\r\n", wire.ErrBadReplyCode},
	"EHLO":             {"250-smtptest.localhost\r\n251 SIZE\r\n", wire.ErrMixedCodes},
	"MAIL":             {"25\r\n", wire.ErrMalformedReply},
	"RCPT":             {"250x OK\r\n", wire.ErrMalformedReply},
	"DATA":             {"\x00\x01\x02 binary\r\n", wire.ErrBadReplyCode},
	smtptest.EndOfData: {"999 2.0.0 queued\r\n", wire.ErrBadReplyCode},
	"QUIT":             {"121 bye\r\n", wire.ErrBadReplyCode},
}

// TestFaults runs every verb fault of smtptest at every phase of a
// session: each must end in its typed error, within the phase's timeout,
// leave the client unusable, and never leave the server with a message
// the client was not told had been accepted.
func TestFaults(t *testing.T) {
	testfixture.CheckGoroutines(t)
	type fcase struct {
		name     string
		faults   []smtptest.Fault
		timeouts session.Timeouts
		// ctx makes the session's context; nil means ctxLimit.
		ctx   func() (context.Context, context.CancelFunc)
		check func(*testing.T, error) // nil: the session must succeed
		// min and max bound the whole session's duration; stepMin the
		// failing call's.
		min, max, stepMin time.Duration
	}
	type frun struct {
		ph    faultPhase
		tc    fcase
		srv   *smtptest.Server
		r     sessionResult
		total time.Duration
	}
	var runs []*frun
	for _, ph := range faultPhases {
		g := garbageReplies[ph.verb]
		cases := []fcase{
			{
				name:     "CloseAt",
				faults:   []smtptest.Fault{smtptest.CloseAt(ph.verb)},
				timeouts: phaseTimeouts("", 0, longTimeout),
				check:    wantDisconnected(ph.op),
				max:      time.Second,
			},
			{
				name:     "StallAt forever: phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 0)},
				timeouts: phaseTimeouts(ph.verb, shortTimeout, longTimeout),
				check:    wantTimeout(ph.op, shortTimeout),
				min:      shortTimeout,
				max:      shortTimeout + time.Second,
				stepMin:  shortTimeout,
			},
			{
				name:     "StallAt longer than the phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, longTimeout)},
				timeouts: phaseTimeouts(ph.verb, shortTimeout, longTimeout),
				check:    wantTimeout(ph.op, shortTimeout),
				min:      shortTimeout,
				max:      shortTimeout + time.Second,
				stepMin:  shortTimeout,
			},
			{
				name:     "StallAt shorter than the phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 100*time.Millisecond)},
				timeouts: phaseTimeouts(ph.verb, shortTimeout+700*time.Millisecond, longTimeout),
				min:      100 * time.Millisecond,
				max:      time.Second,
			},
			{
				name:     "StallAt, context cancelled",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 0)},
				timeouts: phaseTimeouts("", 0, longTimeout),
				// All the sessions run at once (on two cores under -race
				// in CI): the cancel waits long enough for each to reach
				// its stalled phase first.
				ctx: func() (context.Context, context.CancelFunc) {
					ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
					stop := time.AfterFunc(400*time.Millisecond, cancel)
					return ctx, func() { stop.Stop(); cancel() }
				},
				check: wantIs(context.Canceled),
				min:   400 * time.Millisecond,
				max:   1400 * time.Millisecond,
			},
			{
				name:     "StallAt, context deadline before the phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 0)},
				timeouts: phaseTimeouts("", 0, longTimeout),
				ctx: func() (context.Context, context.CancelFunc) {
					return context.WithTimeout(context.Background(), shortTimeout)
				},
				check: wantIs(context.DeadlineExceeded),
				min:   shortTimeout - 10*time.Millisecond, // the context's clock started first
				max:   shortTimeout + time.Second,
			},
			{
				name:     "GarbageAt",
				faults:   []smtptest.Fault{smtptest.GarbageAt(ph.verb, []byte(g.data))},
				timeouts: phaseTimeouts("", 0, longTimeout),
				check:    wantProtocol(g.kind),
				max:      time.Second,
			},
			{
				// The first line of a multiline reply and then nothing:
				// the client waits for the rest, within the phase timeout.
				name:     "GarbageAt, reply never finished",
				faults:   []smtptest.Fault{smtptest.GarbageAt(ph.verb, []byte("250-the rest never comes\r\n"))},
				timeouts: phaseTimeouts(ph.verb, shortTimeout, longTimeout),
				check:    wantTimeout(ph.op, shortTimeout),
				min:      shortTimeout,
				max:      shortTimeout + time.Second,
				stepMin:  shortTimeout,
			},
			{
				name:     "EndlessReplyAt",
				faults:   []smtptest.Fault{smtptest.EndlessReplyAt(ph.verb)},
				timeouts: phaseTimeouts("", 0, longTimeout),
				check: func(t *testing.T, err error) {
					t.Helper()
					wantProtocol(wire.ErrLineTooLong)(t, err)
					var pe *wire.ProtocolError
					if errors.As(err, &pe) && pe.Limit != wire.DefaultMaxReplyLineLength {
						t.Errorf("limit %d, want %d", pe.Limit, wire.DefaultMaxReplyLineLength)
					}
				},
				max: time.Second,
			},
		}
		for _, tc := range cases {
			runs = append(runs, &frun{ph: ph, tc: tc})
		}
	}
	// The sessions mostly wait (for a timeout, a stall, a cancel): run
	// them all at once, then check each in its own subtest.
	var wg sync.WaitGroup
	for _, rn := range runs {
		rn.srv = newServer(t, smtptest.Config{Faults: rn.tc.faults})
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			if rn.tc.ctx != nil {
				cancel()
				ctx, cancel = rn.tc.ctx()
			}
			defer cancel()
			start := time.Now()
			rn.r = runSession(ctx, rn.srv.Addr, &session.Options{LocalName: localName, Timeouts: rn.tc.timeouts})
			rn.total = time.Since(start)
		})
	}
	wg.Wait()
	for _, rn := range runs {
		ph, tc, r := rn.ph, rn.tc, rn.r
		t.Run(fmt.Sprintf("%s/%s", ph.op, tc.name), func(t *testing.T) {
			if rn.total < tc.min || rn.total > tc.max {
				t.Errorf("session took %v, want %v to %v (step %q: %v)", rn.total, tc.min, tc.max, r.step, r.err)
			}
			if r.elapsed < tc.stepMin {
				t.Errorf("%s failed after %v, before the phase timeout of %v: %v", r.step, r.elapsed, tc.stepMin, r.err)
			}
			if tc.check == nil {
				if r.err != nil {
					if r.c != nil {
						r.c.Close()
					}
					t.Fatalf("%s: %v", r.step, r.err)
				}
			} else {
				if r.step != ph.step {
					if r.c != nil {
						r.c.Close()
					}
					t.Fatalf("step %q failed (err %v), want %q to fail", r.step, r.err, ph.step)
				}
				tc.check(t, r.err)
				if r.step == "Dial" {
					var ce *session.ConnectError
					if !errors.As(r.err, &ce) {
						t.Errorf("Dial err = %T, want *ConnectError", r.err)
					}
				}
				switch {
				case r.c != nil && errors.Is(r.err, context.Canceled) && !strings.HasPrefix(ph.verb, "<") && !hasCommand(rn.srv, ph.verb):
					// On a slow machine the cancel can come before the
					// command was written: the session is then intact,
					// which is right (nothing is on the wire to lose
					// track of), so there is nothing broken to check.
					r.c.Close()
				case r.c != nil:
					later := tc.check
					if r.step == "Quit" {
						later = wantIs(session.ErrClosed) // Quit closes the client whatever happened
					}
					checkUnusable(t, r.c, later)
				}
			}
			rn.srv.Close()
			checkMessages(t, rn.srv, r.sent)
		})
	}
}

// TestFaultCloseAfter cuts the connection at a few byte counts around the
// greeting and EHLO; TestKillAfterEveryOffset does every byte count.
func TestFaultCloseAfter(t *testing.T) {
	testfixture.CheckGoroutines(t)
	ehlo := int64(len("EHLO " + localName + "\r\n"))
	tests := []struct {
		fault smtptest.Fault
		step  string
		op    string
	}{
		{smtptest.CloseAfterRead(0), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(0), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(10), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(int64(len(defaultGreeting)) - 1), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(int64(len(defaultGreeting))), "Send", "EHLO"},
		{smtptest.CloseAfterWrite(int64(len(defaultGreeting)) + 20), "Send", "EHLO"},
		{smtptest.CloseAfterRead(3), "Send", "EHLO"},
		{smtptest.CloseAfterRead(ehlo), "Send", "EHLO"},
		{smtptest.CloseAfterRead(ehlo + 5), "Send", "MAIL"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fault), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{tt.fault}})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, longTimeout)})
			if r.step != tt.step {
				t.Fatalf("step %q failed (err %v), want %q", r.step, r.err, tt.step)
			}
			if r.elapsed > time.Second {
				t.Errorf("%s took %v", r.step, r.elapsed)
			}
			wantDisconnected(tt.op)(t, r.err)
			if r.c != nil {
				checkUnusable(t, r.c, wantDisconnected(tt.op))
			}
			srv.Close()
			checkMessages(t, srv, r.sent)
		})
	}
}

// TestFaultSplitWrites has the server send its replies one octet at a
// time (and a few at a time): the client must assemble them, the multiline
// EHLO reply included.
func TestFaultSplitWrites(t *testing.T) {
	testfixture.CheckGoroutines(t)
	for _, n := range []int{1, 2, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.SplitWrites(n)}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: localName})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if g := c.Greeting(); g.Code != 220 || g.Text != "smtptest.localhost ESMTP smtptest" {
				t.Errorf("greeting %+v", g)
			}
			res, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.Data.Code != 250 || len(res.Refused()) != 0 {
				t.Errorf("result %+v", res)
			}
			ext := c.Extensions()
			if got, want := strings.Join(ext.Keywords(), " "), "SIZE 8BITMIME SMTPUTF8 DSN ENHANCEDSTATUSCODES"; got != want {
				t.Errorf("EHLO keywords %q, want %q", got, want)
			}
			if max, ok := ext.MaxSize(); !ok || max != 10485760 {
				t.Errorf("SIZE %d %v", max, ok)
			}
			if r, err := c.Quit(ctx); err != nil || r.Code != 221 {
				t.Errorf("Quit = %v, %v", r, err)
			}
			srv.Close()
			checkMessages(t, srv, true)
		})
	}
	t.Run("1 with STARTTLS", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, smtptest.Config{Extensions: tlsExtensions, Faults: []smtptest.Fault{smtptest.SplitWrites(1)}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName, TLS: session.TLSRequired, TLSConfig: srv.ClientTLSConfig()})
		if r.err != nil {
			t.Fatalf("%s: %v", r.step, r.err)
		}
		srv.Close()
		checkMessages(t, srv, true)
		if m := srv.Messages(); len(m) == 1 && !m[0].TLS {
			t.Error("message not sent over TLS")
		}
	})
}

// TestFaultLatency: each round trip pays the latency once, and a latency
// above a phase's timeout is that phase's timeout.
func TestFaultLatency(t *testing.T) {
	testfixture.CheckGoroutines(t)
	t.Run("whole session", func(t *testing.T) {
		t.Parallel()
		const lat = 40 * time.Millisecond
		srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(lat)}})
		ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
		defer cancel()
		start := time.Now()
		r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName})
		d := time.Since(start)
		if r.err != nil {
			t.Fatalf("%s: %v", r.step, r.err)
		}
		// greeting, EHLO, MAIL, RCPT, RCPT, DATA, end of data, QUIT
		if min := 8 * lat; d < min {
			t.Errorf("session took %v, want at least %v", d, min)
		}
		srv.Close()
		checkMessages(t, srv, true)
	})
	for _, ph := range faultPhases[:3] {
		t.Run("above the timeout at "+ph.op, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(shortTimeout)}})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts(ph.verb, shortTimeout/2, longTimeout)})
			if r.step != ph.step {
				t.Fatalf("step %q failed (err %v), want %q", r.step, r.err, ph.step)
			}
			wantTimeout(ph.op, shortTimeout/2)(t, r.err)
			if r.c != nil {
				checkUnusable(t, r.c, wantTimeout(ph.op, shortTimeout/2))
			}
		})
	}
}

// TestFault421 checks that a 421 reply, whatever it answers, ends the
// session: the call gets the reply as its typed error, later calls get
// ErrServerDisconnected, nothing more is written and no message is
// recorded.
func TestFault421(t *testing.T) {
	testfixture.CheckGoroutines(t)
	bye := response.New(421, "4.3.2 shutting down")
	tests := []struct {
		verb     string
		check    func(*testing.T, error)
		lastVerb string // the last command the server may see
	}{
		{"EHLO", func(t *testing.T, err error) {
			var he *session.HelloError
			if !errors.As(err, &he) || he.Reply.Code != 421 {
				t.Errorf("err = %#v, want a *HelloError with 421", err)
			}
		}, "EHLO"},
		{"MAIL", func(t *testing.T, err error) {
			var se *session.SenderRefusedError
			if !errors.As(err, &se) || se.Reply.Code != 421 {
				t.Errorf("err = %#v, want a *SenderRefusedError with 421", err)
			}
		}, "MAIL"},
		{"RCPT", nil, "RCPT"},
		{"DATA", func(t *testing.T, err error) {
			var de *session.DataError
			if !errors.As(err, &de) || de.Reply.Code != 421 || de.Command != "DATA" {
				t.Errorf("err = %#v, want a *DataError with 421 for DATA", err)
			}
		}, "DATA"},
		{smtptest.EndOfData, func(t *testing.T, err error) {
			var de *session.DataError
			if !errors.As(err, &de) || de.Reply.Code != 421 || de.Command != "end of data" {
				t.Errorf("err = %#v, want a *DataError with 421 for the end of data", err)
			}
		}, "DATA"},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: tt.verb, Reply: bye}}})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, longTimeout)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody))
			var re *response.Error
			if !errors.As(err, &re) || re.Code() != 421 || !re.Temporary() {
				t.Fatalf("Send err = %#v, want one carrying the 421", err)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			checkUnusable(t, c, wantIs(session.ErrServerDisconnected))
			srv.Close()
			checkMessages(t, srv, false)
			v := verbs(srv)
			if len(v) == 0 || v[len(v)-1] != tt.lastVerb {
				t.Errorf("commands after the 421: %q", srv.Commands())
			}
			if tt.verb == "RCPT" && strings.Count(strings.Join(v, " "), "RCPT") != 1 {
				t.Errorf("RCPT sent after a 421: %q", srv.Commands())
			}
		})
	}
}

// chunkReader returns its chunks one per Read, then err.
type chunkReader struct {
	chunks []string
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, r.err
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 && r.err != io.EOF {
		return n, r.err // data and the error together
	}
	return n, nil
}

// TestFaultBodyReaderError: a body that fails to read must not reach the
// server as a message, whatever had been written already. The client
// aborts without the end of data.
func TestFaultBodyReaderError(t *testing.T) {
	testfixture.CheckGoroutines(t)
	errBody := errors.New("disk on fire")
	big := strings.Repeat("a line of the message that goes on for a while\r\n", 2000) // ~96 KiB: several flushes
	tests := []struct {
		name   string
		chunks []string
	}{
		{"at once", nil},
		{"after a header", []string{"Subject: x\r\n\r\n"}},
		{"after whole lines", []string{"Subject: x\r\n\r\nline\r\n"}},
		{"after a dot line", []string{"Subject: x\r\n\r\nline\r\n.\r\n"}},
		{"after data that was flushed", []string{"Subject: x\r\n\r\n", big}},
		{"with the last chunk", []string{sessionBody}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: localName})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Send(ctx, sessionFrom, sessionTo, &chunkReader{chunks: append([]string(nil), tt.chunks...), err: errBody})
			if !errors.Is(err, errBody) {
				t.Fatalf("Send err = %v, want the body's error", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Send took %v", d)
			}
			checkUnusable(t, c, wantIs(errBody))
			srv.Close()
			if m := srv.Messages(); len(m) != 0 {
				t.Errorf("server recorded a message from a body that failed: %q", m[0].Data)
			}
			if !hasCommand(srv, "DATA") {
				t.Errorf("DATA not sent: %q", srv.Commands())
			}
		})
	}
}

// TestFaultStartTLSInjection: whatever the server slips in after its
// STARTTLS reply, the client must refuse it, send nothing in plaintext,
// and not fall back.
func TestFaultStartTLSInjection(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tests := []struct {
		name   string
		inject string
		split  bool
		mode   session.TLSMode
	}{
		{"EHLO reply, opportunistic", "250-smtptest.localhost\r\n250 AUTH PLAIN\r\n", false, session.TLSOpportunistic},
		{"EHLO reply, required", "250-smtptest.localhost\r\n250 AUTH PLAIN\r\n", false, session.TLSRequired},
		{"one octet", "x", false, session.TLSOpportunistic},
		{"a TLS record header", "\x16\x03\x01\x00\x05", false, session.TLSOpportunistic},
		{"a reply to MAIL", "250 2.1.0 OK\r\n", false, session.TLSRequired},
		// Split writes: the injected octets may arrive after the client
		// read the 220 and started the handshake. Then they are fed to
		// TLS, which must fail; they are never read as SMTP.
		{"split, opportunistic", "250-smtptest.localhost\r\n250 AUTH PLAIN\r\n", true, session.TLSOpportunistic},
		{"split, required", "250 2.1.0 OK\r\n", true, session.TLSRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			faults := []smtptest.Fault{smtptest.AfterStartTLS([]byte(tt.inject))}
			if tt.split {
				faults = append(faults, smtptest.SplitWrites(1))
			}
			srv := newServer(t, smtptest.Config{Extensions: tlsExtensions, Faults: faults})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName, TLS: tt.mode, TLSConfig: srv.ClientTLSConfig(), Timeouts: phaseTimeouts("", 0, longTimeout)})
			if r.step != "Send" {
				t.Fatalf("step %q failed (err %v), want Send to fail", r.step, r.err)
			}
			var te *transport.TLSError
			switch {
			case errors.Is(r.err, session.ErrDataAfterStartTLS):
			case tt.split && errors.As(r.err, &te):
			default:
				t.Errorf("err = %v (%T), want ErrDataAfterStartTLS", r.err, r.err)
			}
			if !tt.split && !errors.Is(r.err, session.ErrDataAfterStartTLS) {
				t.Errorf("injection in the same write as the 220 not recognised: %v", r.err)
			}
			if r.elapsed > 2*time.Second {
				t.Errorf("Send took %v", r.elapsed)
			}
			if _, ok := r.c.TLS(); ok {
				t.Error("client reports TLS after a refused upgrade")
			}
			checkUnusable(t, r.c, nil)
			srv.Close()
			checkMessages(t, srv, false)
			if got := strings.Join(verbs(srv), " "); got != "EHLO STARTTLS" {
				t.Errorf("commands after the injection: %q", srv.Commands())
			}
		})
	}
}

// TestFaultEndlessReplyBounded: an endless reply line is refused once it
// passes the line limit, without the client reading (or keeping) much more
// than the limit, whatever the server sends.
func TestFaultEndlessReplyBounded(t *testing.T) {
	testfixture.CheckGoroutines(t)
	for _, limit := range []int{0, 1000, 100000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.EndlessReplyAt("EHLO")}})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			nc, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			cc := &countingConn{Conn: nc}
			c, err := session.NewClient(ctx, cc, &session.Options{LocalName: localName, Limits: session.Limits{ReplyLineLength: limit, ReplyBytes: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			want := limit
			if want == 0 {
				want = wire.DefaultMaxReplyLineLength
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			err = c.Hello(ctx)
			d := time.Since(start)
			runtime.ReadMemStats(&ms1)
			wantProtocol(wire.ErrLineTooLong)(t, err)
			var pe *wire.ProtocolError
			if errors.As(err, &pe) && pe.Limit != int64(want) {
				t.Errorf("limit %d, want %d", pe.Limit, want)
			}
			if d > time.Second {
				t.Errorf("Hello took %v", d)
			}
			// What was read: the greeting, then the reply up to the limit
			// and at most a buffer's worth past it.
			if got, max := cc.read(), int64(len(defaultGreeting)+want+2*4096); got > max {
				t.Errorf("client read %d octets of an endless line limited to %d (want at most %d)", got, want, max)
			}
			alloc := ms1.TotalAlloc - ms0.TotalAlloc
			t.Logf("read %d octets, allocated %d bytes in %v", cc.read(), alloc, d)
			if max := uint64(3*want + 1<<20); alloc > max {
				t.Errorf("allocated %d bytes while refusing a %d-octet line (want at most %d)", alloc, want, max)
			}
			checkUnusable(t, c, wantProtocol(wire.ErrLineTooLong))
		})
	}
}

// countingConn counts the octets read and written through it, and can run
// a hook after each write.
type countingConn struct {
	net.Conn
	mu         sync.Mutex
	nread, nwr int64
	afterWrite func(p []byte)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.nread += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.nwr += int64(n)
	hook := c.afterWrite
	c.mu.Unlock()
	if hook != nil && err == nil {
		hook(p[:n])
	}
	return n, err
}

func (c *countingConn) read() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nread
}

func (c *countingConn) written() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nwr
}

// TestFaultCancelAfterWrite cancels the context just after a command went
// out, before its reply is read. The call must fail with the context's
// error, and, since the reply is still on its way, the client must be
// closed like after any other cancellation: were it left open, the next
// command would read the previous one's reply as its own.
func TestFaultCancelAfterWrite(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tests := []struct {
		name    string
		trigger func(p []byte) bool
		call    func(ctx context.Context, c *session.Client) error
	}{
		{"VRFY", func(p []byte) bool { return bytes.HasPrefix(p, []byte("VRFY ")) },
			func(ctx context.Context, c *session.Client) error { _, err := c.Vrfy(ctx, "bob"); return err }},
		{"RCPT", func(p []byte) bool { return bytes.HasPrefix(p, []byte("RCPT ")) },
			func(ctx context.Context, c *session.Client) error {
				_, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody))
				return err
			}},
		{"end of data", func(p []byte) bool { return bytes.HasSuffix(p, []byte("\r\n.\r\n")) },
			func(ctx context.Context, c *session.Client) error {
				_, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody))
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{})
			bg, stop := context.WithTimeout(context.Background(), ctxLimit)
			defer stop()
			nc, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			cc := &countingConn{Conn: nc}
			c, err := session.NewClient(bg, cc, &session.Options{LocalName: localName})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello(bg); err != nil {
				t.Fatal(err)
			}
			cc.mu.Lock()
			cc.afterWrite = func(p []byte) {
				if tt.trigger(p) {
					cancel()
				}
			}
			cc.mu.Unlock()
			if err := tt.call(ctx, c); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			cc.mu.Lock()
			cc.afterWrite = nil
			cc.mu.Unlock()
			reply, err := c.Noop(bg)
			if err == nil {
				t.Errorf("Noop after a cancelled %s succeeded with %q: the client stayed open and read the %s reply as NOOP's", tt.name, reply, tt.name)
			} else if !errors.Is(err, context.Canceled) {
				t.Errorf("Noop after a cancelled %s: %v, want the cancellation", tt.name, err)
			}
		})
	}
}

// handlerServer serves every connection with handle, on its own
// goroutine (a testfixture.Server: the cleanup closes the listener and the
// connections and waits for the goroutines), and returns its address.
func handlerServer(t *testing.T, handle func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	return testfixture.Serve(t, func(_ *testfixture.Server, nc net.Conn) { handle(nc, bufio.NewReader(nc)) }).Addr
}

// answerUntil answers the greeting, EHLO (with exts), MAIL, RCPT and DATA;
// at the command stopAt it calls stop instead, which owns the connection
// from then on.
func answerUntil(exts, stopAt string, stop func(nc net.Conn, br *bufio.Reader)) func(net.Conn, *bufio.Reader) {
	return func(nc net.Conn, br *bufio.Reader) {
		io.WriteString(nc, "220 script ESMTP\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			verb = strings.ToUpper(verb)
			if verb == stopAt {
				stop(nc, br)
				return
			}
			switch verb {
			case "EHLO":
				io.WriteString(nc, "250-script\r\n"+exts)
			case "MAIL", "RCPT", "RSET", "NOOP":
				io.WriteString(nc, "250 OK\r\n")
			case "DATA":
				io.WriteString(nc, "354 go\r\n")
			case "QUIT":
				io.WriteString(nc, "221 bye\r\n")
				return
			default:
				io.WriteString(nc, "502 no\r\n")
			}
		}
	}
}

// TestFaultStartTLSHandshakeStall: the server says 220 to STARTTLS and
// then never answers the ClientHello. The handshake is in the Command
// phase (see Timeouts), so it must give up after Timeouts.Command, not
// only when the context runs out.
func TestFaultStartTLSHandshakeStall(t *testing.T) {
	testfixture.CheckGoroutines(t)
	addr := handlerServer(t, answerUntil("250 STARTTLS\r\n", "STARTTLS", func(nc net.Conn, br *bufio.Reader) {
		io.WriteString(nc, "220 go ahead\r\n")
		io.Copy(io.Discard, br) // swallow the ClientHello, answer nothing
	}))
	// A context deadline well above the timeout (but below longTimeout, to
	// keep the test short when the timeout does not apply).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := runSession(ctx, addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts("STARTTLS", shortTimeout, longTimeout)})
	if r.step != "Send" {
		t.Fatalf("step %q failed (err %v), want Send", r.step, r.err)
	}
	if r.elapsed > shortTimeout+time.Second {
		t.Errorf("stalled STARTTLS handshake gave up after %v, want about Timeouts.Command = %v (err %v)", r.elapsed, shortTimeout, r.err)
	}
	var te *session.TimeoutError
	switch {
	case !errors.As(r.err, &te):
		t.Errorf("err = %v (%T), want a *TimeoutError after Timeouts.Command = %v", r.err, r.err, shortTimeout)
	case te.After != shortTimeout:
		t.Errorf("TimeoutError.After = %v, want %v", te.After, shortTimeout)
	case !errors.Is(r.err, os.ErrDeadlineExceeded):
		// TimeoutError's documentation promises it.
		t.Errorf("%v (a %T wrapping %T) does not match os.ErrDeadlineExceeded", r.err, r.err, te.Err)
	}
	checkUnusable(t, r.c, nil)
}

// TestFaultDataBlockStall: the server answers 354 and then stops reading.
// The client's writes block once the socket buffers are full; each write
// is bounded by Timeouts.DataBlock.
func TestFaultDataBlockStall(t *testing.T) {
	testfixture.CheckGoroutines(t)
	addr := handlerServer(t, answerUntil("250 8BITMIME\r\n", "DATA", func(nc net.Conn, br *bufio.Reader) {
		io.WriteString(nc, "354 go\r\n")
		var b [1]byte
		nc.SetReadDeadline(time.Now().Add(ctxLimit)) // reads nothing until the client is gone
		for {
			if _, err := nc.Read(b[:0]); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
	defer cancel()
	c, err := session.Dial(ctx, addr, &session.Options{LocalName: localName, Timeouts: session.Timeouts{DataBlock: shortTimeout}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Send(ctx, sessionFrom, sessionTo, endlessBody{})
	d := time.Since(start)
	wantTimeout("message data", shortTimeout)(t, err)
	if d > 3*time.Second {
		t.Errorf("Send took %v", d)
	}
	checkUnusable(t, c, wantTimeout("message data", shortTimeout))
}

// endlessBody is an endless message body.
type endlessBody struct{}

func (endlessBody) Read(p []byte) (int, error) {
	const line = "an endless message, line after line after line, never ending\r\n"
	n := 0
	for n+len(line) <= len(p) {
		n += copy(p[n:], line)
	}
	if n == 0 {
		n = copy(p, "x")
	}
	return n, nil
}

// TestFaultUnexpectedReplyClass: a server that answers RCPT with a reply
// that is neither a success nor a refusal (a 3yz, which only DATA and AUTH
// may get) has not accepted the recipient. The client must not report it
// as accepted, nor tell the caller its message reached it.
func TestFaultUnexpectedReplyClass(t *testing.T) {
	testfixture.CheckGoroutines(t)
	odd := response.New(354, "go ahead")
	t.Run("Send, one recipient answered 354", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Match: "carol@", Reply: odd}}})
		c := dial(t, srv, &session.Options{LocalName: localName})
		res, err := c.Send(testCtx(t), sessionFrom, sessionTo, strings.NewReader(sessionBody))
		srv.Close()
		var to []string
		if m := srv.Messages(); len(m) == 1 {
			to = m[0].To
		}
		if err == nil {
			for _, r := range res.Recipients {
				if r.Accepted && !slices.Contains(to, r.Address) {
					t.Errorf("Send reports <%s> accepted (reply %q), but the server delivered only to %q", r.Address, r.Reply, to)
				}
			}
		}
	})
	t.Run("Send, every recipient answered 354", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: odd}}})
		c := dial(t, srv, &session.Options{LocalName: localName})
		_, err := c.Send(testCtx(t), sessionFrom, sessionTo, strings.NewReader(sessionBody))
		if err == nil {
			t.Fatal("Send succeeded with no recipient accepted")
		}
		var re *session.RecipientsRefusedError
		if errors.As(err, &re) {
			for _, r := range re.Recipients {
				if r.Accepted {
					t.Errorf("RecipientsRefusedError lists <%s> as accepted (reply %q)", r.Address, r.Reply)
				}
			}
		}
		srv.Close()
		checkMessages(t, srv, false)
	})
	t.Run("Rcpt answered 354", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: odd}}})
		c := dial(t, srv, &session.Options{LocalName: localName})
		ctx := testCtx(t)
		if _, err := c.Mail(ctx, command.Mail{From: command.Mailbox{Local: "alice", Domain: "example.org"}}); err != nil {
			t.Fatal(err)
		}
		reply, err := c.Rcpt(ctx, command.Rcpt{To: command.Mailbox{Local: "bob", Domain: "example.org"}})
		if err == nil {
			_, derr := c.Data(ctx)
			t.Errorf("Rcpt answered %q returned no error (a later Data says: %v)", reply, derr)
		}
	})
	t.Run("MAIL answered 354", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "MAIL", Reply: odd}}})
		c := dial(t, srv, &session.Options{LocalName: localName})
		_, err := c.Send(testCtx(t), sessionFrom, sessionTo, strings.NewReader(sessionBody))
		if err == nil {
			t.Fatal("Send succeeded with MAIL answered 354")
		}
		if hasCommand(srv, "RCPT") {
			t.Errorf("RCPT sent after MAIL was not accepted: %q", srv.Commands())
		}
	})
}

// ---- Failures on the pipelined paths and in SendStream ----

func TestPipelineServerCloses(t *testing.T) {
	testfixture.CheckGoroutines(t)
	ehlo := int64(len("EHLO " + localName + "\r\n"))
	data := string(normalise([]byte(markedBody)))
	mail := int64(len("MAIL FROM:<alice@example.org> SIZE=" + strconv.Itoa(len(data)) + "\r\n"))
	rcpt1 := int64(len("RCPT TO:<bob@example.org>\r\n"))
	rcpt2 := int64(len("RCPT TO:<carol@example.org>\r\n"))
	afterRcpts := ehlo + mail + rcpt1 + rcpt2
	type fcase struct {
		name  string
		fault smtptest.Fault
	}
	common := []fcase{
		{"CloseAt(MAIL)", smtptest.CloseAt("MAIL")},
		{"CloseAt(RCPT)", smtptest.CloseAt("RCPT")},
		{"CloseAt(end of data)", smtptest.CloseAt(smtptest.EndOfData)},
		{"CloseAfterRead(mid MAIL)", smtptest.CloseAfterRead(ehlo + 10)},
		{"CloseAfterRead(end of MAIL)", smtptest.CloseAfterRead(ehlo + mail)},
		{"CloseAfterRead(mid 2nd RCPT)", smtptest.CloseAfterRead(ehlo + mail + rcpt1 + 5)},
		{"CloseAfterRead(end of 2nd RCPT)", smtptest.CloseAfterRead(afterRcpts)},
		{"CloseAfterRead(a little later)", smtptest.CloseAfterRead(afterRcpts + 8)},
		{"CloseAfterRead(later)", smtptest.CloseAfterRead(afterRcpts + 40)},
	}
	for _, p := range sendPaths[1:] {
		cases := slices.Clone(common)
		if p.bdat {
			cases = append(cases, fcase{"CloseAt(BDAT)", smtptest.CloseAt("BDAT")})
		} else {
			cases = append(cases, fcase{"CloseAt(DATA)", smtptest.CloseAt("DATA")})
		}
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				srv := newServerOffering(t, p.exts(), smtptest.Config{Faults: []smtptest.Fault{tc.fault}})
				ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
				defer cancel()
				c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, longTimeout)})
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				start := time.Now()
				res, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody))
				if err == nil {
					t.Fatalf("Send succeeded: %+v", res)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("Send took %v", d)
				}
				checkDisconnected(t, "Send", err)
				if _, err := c.Noop(ctx); err == nil {
					t.Error("Noop on the broken client succeeded")
				}
				srv.Close()
				if m := srv.Messages(); len(m) != 0 {
					t.Errorf("server recorded %d messages: %+v", len(m), m)
				}
			})
		}
	}
}

// failingReader gives n octets of text, then fails.
type failingReader struct{ n int }

var errRead = errors.New("pt2: disk on fire")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errRead
	}
	m := min(len(p), r.n)
	for i := range p[:m] {
		p[i] = 'a' + byte(i%26)
		if i%70 == 69 {
			p[i] = '\n'
		}
	}
	r.n -= m
	return m, nil
}

// TestPipelineBodyReadError: a body that fails to read part way (after
// more than one flush of data) closes the connection before the end of
// the message, on every path: the server never records it.
func TestPipelineBodyReadError(t *testing.T) {
	testfixture.CheckGoroutines(t)
	for _, p := range sendPaths {
		t.Run(p.name+"/Send", func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, &session.Options{ChunkSize: 1000})
			_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, &failingReader{n: 100 << 10})
			if !errors.Is(err, errRead) {
				t.Errorf("err = %v, want the reader's error", err)
			}
			if _, err := c.Noop(testCtx(t)); err == nil {
				t.Error("Noop after the aborted message succeeded")
			}
			srv.Close()
			if m := srv.Messages(); len(m) != 0 {
				t.Errorf("server recorded %d messages (%d octets)", len(m), len(m[0].Data))
			}
		})
		t.Run(p.name+"/SendStream", func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, &session.Options{ChunkSize: 1000})
			ok := testMessage{from: "a@example.org", to: []string{"b@example.org"}, body: "fine\r\n"}
			pulled := 0
			var ys []streamResult
			seq := func(yield func(*session.Message) bool) {
				for i := range 3 {
					pulled++
					m := ok.message()
					if i == 1 {
						m.Body = &failingReader{n: 100 << 10}
					}
					if !yield(m) {
						return
					}
				}
			}
			for res, err := range c.SendStream(testCtx(t), seq) {
				ys = append(ys, streamResult{res, err})
			}
			if len(ys) != pulled {
				t.Errorf("%d taken, %d results", pulled, len(ys))
			}
			if pulled == 3 && !p.pipe {
				t.Errorf("the stream went on after the connection was closed")
			}
			srv.Close()
			rec := srv.Messages()
			for i, y := range ys {
				if i == 1 && !errors.Is(y.err, errRead) {
					t.Errorf("message 1: err = %v, want the reader's error", y.err)
				}
				if y.err == nil && i >= len(rec) {
					t.Errorf("message %d reported sent, not recorded", i)
				}
			}
			if len(rec) > 1 {
				t.Errorf("server recorded %d messages", len(rec))
			}
			for _, m := range rec {
				checkRecorded(t, "recorded", m, ok, ok.to)
			}
		})
	}
}

func TestSendStreamConnectionFailure(t *testing.T) {
	testfixture.CheckGoroutines(t)
	msgs := manyMessages(50)
	for _, p := range sendPaths[1:] {
		tr := measurePipeline(t, pipelineKill{exts: p.exts(), stream: true, msgs: msgs})
		for _, frac := range []int64{5, 25, 50, 75, 95} {
			n := tr.client * frac / 100
			t.Run(fmt.Sprintf("%s/CloseAfterRead(%d%%)", p.name, frac), func(t *testing.T) {
				srv := newServerOffering(t, p.exts(), smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAfterRead(n)}})
				ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
				defer cancel()
				c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, 2*time.Second)})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ys, pulled := runStream(ctx, c, msgs, nil)
				if len(ys) != pulled {
					t.Errorf("%d messages taken, %d results", pulled, len(ys))
				}
				srv.Close()
				rec := srv.Messages()
				failed := false
				for i, y := range ys {
					if y.err != nil {
						failed = true
						checkDisconnected(t, fmt.Sprintf("message %d", i), y.err)
						continue
					}
					if failed {
						t.Errorf("message %d succeeded after a connection failure", i)
					}
					if i >= len(rec) {
						t.Errorf("message %d reported sent, not recorded", i)
					}
				}
				if !failed {
					t.Errorf("the stream did not fail")
				}
				for i, m := range rec {
					checkRecorded(t, fmt.Sprintf("recorded %d", i), m, msgs[i], msgs[i].to)
					if n < tr.eod[i] {
						t.Errorf("message %d recorded with %d of %d octets read", i, n, tr.eod[i])
					}
				}
				t.Logf("%d taken, %d recorded", pulled, len(rec))
			})
		}
	}
}

func TestSendStreamCancel(t *testing.T) {
	testfixture.CheckGoroutines(t)
	for _, p := range sendPaths[1:] {
		t.Run(p.name+"/in the loop", func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			msgs := manyMessages(20)
			ys, pulled := runStream(ctx, c, msgs, func(ys []streamResult) bool {
				if len(ys) == 3 {
					cancel()
				}
				return true
			})
			checkCancelled(t, srv, msgs, ys, pulled, 3)
			if _, err := c.Noop(testCtx(t)); err == nil {
				t.Errorf("Noop after the cancel succeeded")
			}
		})
		t.Run(p.name+"/while waiting", func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(100 * time.Millisecond)}})
			c := dialHello(t, srv, nil)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			msgs := manyMessages(50)
			// With BDAT the whole stream is one round trip: cancel
			// before its replies come; with DATA, a few messages in.
			after := 250 * time.Millisecond
			if p.bdat {
				after = 50 * time.Millisecond
			}
			stop := time.AfterFunc(after, cancel)
			defer stop.Stop()
			var cancelledAt time.Time
			done := make(chan struct{})
			go func() {
				<-ctx.Done()
				cancelledAt = time.Now()
				close(done)
			}()
			ys, pulled := runStream(ctx, c, msgs, nil)
			end := time.Now()
			<-done
			if d := end.Sub(cancelledAt); d > time.Second {
				t.Errorf("the stream went on %v after the cancel", d)
			}
			checkCancelled(t, srv, msgs, ys, pulled, -1)
		})
	}
}

// checkCancelled checks a stream whose context was cancelled after ok
// results (-1: unknown): every result after the successes is the
// cancellation, none is a success the server did not record.
func checkCancelled(t *testing.T, srv *smtptest.Server, msgs []testMessage, ys []streamResult, pulled, ok int) {
	t.Helper()
	if len(ys) != pulled {
		t.Errorf("%d messages taken, %d results", pulled, len(ys))
	}
	srv.Close()
	rec := srv.Messages()
	failed := false
	succeeded := 0
	for i, y := range ys {
		if y.err != nil {
			failed = true
			if !errors.Is(y.err, context.Canceled) {
				t.Errorf("message %d: err = %v, want context.Canceled", i, y.err)
			}
			continue
		}
		succeeded++
		if failed {
			t.Errorf("message %d succeeded after the cancel", i)
		}
		if i >= len(rec) {
			t.Errorf("message %d reported sent, not recorded", i)
		}
	}
	if !failed {
		t.Errorf("no result reported the cancel (%d results)", len(ys))
	}
	if ok >= 0 && succeeded != ok {
		t.Errorf("%d messages succeeded, want %d", succeeded, ok)
	}
	for i, m := range rec {
		checkRecorded(t, fmt.Sprintf("recorded %d", i), m, msgs[i], msgs[i].to)
	}
	t.Logf("%d taken, %d results, %d succeeded, %d recorded", pulled, len(ys), succeeded, len(rec))
}

// ---- The connection cut after every octet: one Send ----

// transcript is what one clean Dial, Send, Quit puts on the wire.
type transcript struct {
	client, server       int64 // octets sent by each side, in all
	clientEOD, serverEOD int64 // the same, up to the end of data and its reply
	msg                  smtptest.Message
}

// killOptions are the options of every session of the kill test: a fixed
// local name, so that every run sends the same octets, and timeouts that
// are short but far above what a session takes, as a backstop (a session
// that runs into one fails the test as a hang). With tls, STARTTLS is
// required, trusting srv's certificate.
func killOptions(srv *smtptest.Server, tls bool) *session.Options {
	o := &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, 2*time.Second)}
	if tls {
		o.TLS, o.TLSConfig = session.TLSRequired, srv.ClientTLSConfig()
	}
	return o
}

// killConfig is the server of the kill test, with fault.
func killConfig(tls bool, fault smtptest.Fault) smtptest.Config {
	cfg := smtptest.Config{Extensions: sequentialExtensions()}
	if tls {
		cfg.Extensions = tlsExtensions
	}
	if fault != nil {
		cfg.Faults = []smtptest.Fault{fault}
	}
	return cfg
}

// measureWire runs one clean session over a counting connection.
func measureWire(t *testing.T) transcript {
	t.Helper()
	srv := newServer(t, killConfig(false, nil))
	ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
	defer cancel()
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := &countingConn{Conn: nc}
	c, err := session.NewClient(ctx, cc, killOptions(srv, false))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody)); err != nil {
		t.Fatal(err)
	}
	var tr transcript
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
	testfixture.CheckGoroutines(t)
	tr := measureWire(t)
	if trace := measureTrace(t, false); trace.client != tr.client || trace.server != tr.server ||
		trace.clientEOD != tr.clientEOD || trace.serverEOD != tr.serverEOD {
		t.Fatalf("transcript measured on the wire %+v, from the trace %+v", tr, trace)
	}
	killEveryOffset(t, false, tr)
}

// TestKillAfterEveryOffsetSTARTTLS is TestKillAfterEveryOffset with
// STARTTLS required: the offsets are of the SMTP octets, in plaintext
// before the upgrade and inside TLS after it.
func TestKillAfterEveryOffsetSTARTTLS(t *testing.T) {
	testfixture.CheckGoroutines(t)
	killEveryOffset(t, true, measureTrace(t, true))
}

func killEveryOffset(t *testing.T, tls bool, tr transcript) {
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
						o := killAt(t, tls, side.name, side.fault(n), n, tr)
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

// measureTrace measures the transcript from the server's record of the
// commands and the message, and the client's trace of the replies: the
// SMTP octets, whatever carries them.
func measureTrace(t *testing.T, tls bool) transcript {
	t.Helper()
	srv := newServer(t, killConfig(tls, nil))
	ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
	defer cancel()
	var trace bytes.Buffer
	opts := killOptions(srv, tls)
	opts.Trace = &trace
	c, err := session.Dial(ctx, srv.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody)); err != nil {
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
	var tr transcript
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

type killOutcome struct{ sent, recorded, quit bool }

// killAt runs one session against a server with fault, checks it, and
// reports what happened. It may run on any goroutine: it uses only
// t.Errorf.
func killAt(t *testing.T, tls bool, side string, fault smtptest.Fault, n int64, tr transcript) killOutcome {
	var o killOutcome
	fail := func(format string, args ...any) {
		t.Errorf("%s(%d): %s", side, n, fmt.Sprintf(format, args...))
	}
	srv := smtptest.NewServer(killConfig(tls, fault))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
	defer cancel()
	start := time.Now()
	var errs []error
	c, err := session.Dial(ctx, srv.Addr, killOptions(srv, tls))
	if err != nil {
		errs = append(errs, err)
		var ce *session.ConnectError
		if !errors.As(err, &ce) {
			fail("Dial err %T, want *ConnectError", err)
		}
	} else {
		_, err := c.Send(ctx, sessionFrom, sessionTo, strings.NewReader(sessionBody))
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

// ---- The connection cut after every octet: the pipelined DATA and BDAT
// paths, one Send and a three-message stream ----

// killMessages are the messages of the kill tests: dots, bare line ends,
// the null sender.
var killMessages = []testMessage{
	{from: "alice@example.org", to: []string{"bob@example.org", "carol@example.org"}, body: sessionBody},
	{from: "alice@example.org", to: []string{"dave@example.org"}, body: "Subject: two\n\n.\n..\nend"},
	{from: "", to: []string{"erin@example.org", "frank@example.org"}, body: "x\n"},
}

// pipelineTranscript is what a clean run puts on the wire.
type pipelineTranscript struct {
	client int64   // octets the client sent
	server int64   // octets the server sent
	eod    []int64 // per message, the client's octets through its end of data
}

// pipelineKill is one kind of run of the kill tests.
type pipelineKill struct {
	exts   []string
	stream bool          // SendStream over msgs, else Send of msgs[0]
	msgs   []testMessage // what is sent
}

func (s pipelineKill) opts(trace io.Writer) *session.Options {
	return &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, 2*time.Second), Trace: trace}
}

// count is the number of messages sent.
func (s pipelineKill) count() int {
	if s.stream {
		return len(s.msgs)
	}
	return 1
}

// run sends on c and returns the results and how many messages were
// taken.
func (s pipelineKill) run(ctx context.Context, c *session.Client) ([]streamResult, int) {
	if s.stream {
		return runStream(ctx, c, s.msgs, nil)
	}
	m := s.msgs[0]
	env := m.envelope()
	res, err := c.SendEnvelope(ctx, &env, strings.NewReader(m.body))
	return []streamResult{{res, err}}, 1
}

// measurePipeline runs setup cleanly and returns its transcript.
func measurePipeline(t *testing.T, setup pipelineKill) pipelineTranscript {
	t.Helper()
	srv := newServerOffering(t, setup.exts, smtptest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
	defer cancel()
	var trace bytes.Buffer
	c, err := session.Dial(ctx, srv.Addr, setup.opts(&trace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ys, _ := setup.run(ctx, c)
	for i, y := range ys {
		if y.err != nil {
			t.Fatalf("clean run: message %d: %v", i, y.err)
		}
	}
	if r, err := c.Quit(ctx); err != nil || r.Code != 221 {
		t.Fatalf("Quit = %v, %v", r, err)
	}
	srv.Close()
	var tr pipelineTranscript
	var stream []byte
	for _, r := range srv.Reads() {
		stream = append(stream, r.Data...)
	}
	tr.client = int64(len(stream))
	for l := range strings.SplitSeq(trace.String(), "\n") {
		if s, ok := strings.CutPrefix(l, "S: "); ok {
			tr.server += int64(len(s)) + 2
		}
	}
	// The end of each message's data, from the octets themselves.
	for pos := 0; pos < len(stream); {
		i := bytes.IndexByte(stream[pos:], '\n')
		if i < 0 {
			t.Fatalf("client stream ends in a partial line: %q", stream[pos:])
		}
		line := string(stream[pos : pos+i+1])
		pos += i + 1
		switch {
		case strings.HasPrefix(line, "BDAT "):
			f := strings.Fields(line)
			n, _ := strconv.Atoi(f[1])
			pos += n
			if len(f) == 3 {
				tr.eod = append(tr.eod, int64(pos))
			}
		case line == "DATA\r\n":
			j := bytes.Index(stream[pos-2:], []byte("\r\n.\r\n"))
			if j < 0 {
				t.Fatalf("no end of data after DATA")
			}
			pos += j - 2 + 5
			tr.eod = append(tr.eod, int64(pos))
		}
	}
	want := 1
	if setup.stream {
		want = len(setup.msgs)
	}
	if len(tr.eod) != want || len(srv.Messages()) != want {
		t.Fatalf("clean run: %d ends of data, %d messages recorded, want %d", len(tr.eod), len(srv.Messages()), want)
	}
	if !strings.HasSuffix(string(stream), "QUIT\r\n") {
		t.Fatalf("clean run: stream ends %q", stream[max(0, len(stream)-20):])
	}
	return tr
}

// killPipelineEveryOffset runs setup against a server cut after every octet
// read, and after every octet written.
func killPipelineEveryOffset(t *testing.T, setup pipelineKill) {
	tr := measurePipeline(t, setup)
	t.Logf("transcript: client %d octets (ends of data at %v), server %d octets", tr.client, tr.eod, tr.server)
	for _, side := range []struct {
		name  string
		fault func(int64) smtptest.Fault
		total int64
	}{
		{"CloseAfterRead", smtptest.CloseAfterRead, tr.client},
		{"CloseAfterWrite", smtptest.CloseAfterWrite, tr.server},
	} {
		t.Run(side.name, func(t *testing.T) {
			const workers = 8
			next := make(chan int64)
			var wg sync.WaitGroup
			var mu sync.Mutex
			delivered := 0
			for range workers {
				wg.Go(func() {
					for n := range next {
						d := killPipelineAt(t, setup, side.name, side.fault(n), n, tr)
						mu.Lock()
						delivered += d
						mu.Unlock()
					}
				})
			}
			for n := int64(0); n <= side.total; n++ {
				next <- n
			}
			close(next)
			wg.Wait()
			t.Logf("%d offsets: %d messages reported sent in all", side.total+1, delivered)
		})
	}
}

// killPipelineAt runs one session of a kill test and checks it; it returns
// how many messages were reported sent. It uses only t.Errorf.
func killPipelineAt(t *testing.T, setup pipelineKill, side string, fault smtptest.Fault, n int64, tr pipelineTranscript) int {
	fail := func(format string, args ...any) {
		t.Errorf("%s(%d): %s", side, n, fmt.Sprintf(format, args...))
	}
	cfg := smtptest.Config{Extensions: setup.exts, Faults: []smtptest.Fault{fault}}
	srv := smtptest.NewServer(cfg)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
	defer cancel()
	start := time.Now()
	var errs []error
	var ys []streamResult
	pulled, quit := 0, false
	c, err := session.Dial(ctx, srv.Addr, setup.opts(nil))
	if err != nil {
		errs = append(errs, err)
	} else {
		ys, pulled = setup.run(ctx, c)
		for _, y := range ys {
			if y.err != nil {
				errs = append(errs, y.err)
			}
		}
		r, err := c.Quit(ctx)
		quit = err == nil
		if err != nil {
			errs = append(errs, err)
		} else if r.Code != 221 {
			fail("Quit reply %v", r)
		}
		c.Close()
	}
	if d := time.Since(start); d > 3*time.Second {
		fail("session took %v", d)
	}
	for _, err := range errs {
		var de *session.DisconnectedError
		if !errors.As(err, &de) || !errors.Is(err, session.ErrServerDisconnected) {
			fail("err = %v (%T), want a disconnection", err, err)
		}
	}
	srv.Close()
	recorded := srv.Messages()
	// Every message taken has its result; a stream that cannot even
	// greet the server yields that error alone.
	if len(ys) != pulled && !(setup.stream && pulled == 0 && len(ys) == 1 && ys[0].err != nil) {
		fail("%d messages taken, %d results", pulled, len(ys))
	}
	if len(recorded) > setup.count() {
		fail("server recorded %d messages", len(recorded))
		return 0
	}
	// The server works in order: what it recorded is the first messages,
	// each intact.
	for i, m := range recorded {
		want := setup.msgs[i]
		if m.From != want.from || strings.Join(m.To, ",") != strings.Join(want.to, ",") || string(m.Data) != want.data() {
			fail("server recorded a damaged message %d: %q -> %q: %q", i, m.From, m.To, m.Data)
		}
		if side == "CloseAfterRead" && n < tr.eod[i] {
			fail("server recorded message %d of which it read only %d of %d octets", i, n, tr.eod[i])
		}
	}
	sent := 0
	for i, y := range ys {
		if y.err != nil {
			continue
		}
		sent++
		if i >= sent {
			fail("message %d reported sent after an earlier one failed (a broken connection cannot recover)", i)
		}
		if i >= len(recorded) {
			fail("message %d reported sent but the server did not record it", i)
		}
		if y.res == nil || y.res.Data.Code.Class() != response.ClassPositiveCompletion {
			fail("message %d: result %+v", i, y.res)
		}
		if side == "CloseAfterRead" && n <= tr.eod[i] {
			fail("message %d reported sent although the server was cut off at or before its end of data (%d)", i, tr.eod[i])
		}
	}
	switch side {
	case "CloseAfterRead":
		if quit {
			fail("Quit succeeded although the server never read all of QUIT")
		}
	case "CloseAfterWrite":
		if quit != (n == tr.server) {
			fail("Quit succeeded: %v, with the 221 reply cut: %v", quit, n < tr.server)
		}
		if n == tr.server && (sent != len(ys) || len(recorded) != len(ys)) {
			fail("the uncut session: %d of %d sent, %d recorded", sent, len(ys), len(recorded))
		}
	}
	return sent
}

func TestPipelineKillEveryOffsetBDAT(t *testing.T) {
	testfixture.CheckGoroutines(t)
	killPipelineEveryOffset(t, pipelineKill{exts: smtptest.DefaultExtensions(), msgs: killMessages})
}

func TestPipelineKillEveryOffsetDATA(t *testing.T) {
	testfixture.CheckGoroutines(t)
	killPipelineEveryOffset(t, pipelineKill{exts: pipelinedDataExtensions(), msgs: killMessages})
}

func TestSendStreamKillEveryOffsetBDAT(t *testing.T) {
	testfixture.CheckGoroutines(t)
	killPipelineEveryOffset(t, pipelineKill{exts: smtptest.DefaultExtensions(), stream: true, msgs: killMessages})
}

func TestSendStreamKillEveryOffsetDATA(t *testing.T) {
	testfixture.CheckGoroutines(t)
	killPipelineEveryOffset(t, pipelineKill{exts: pipelinedDataExtensions(), stream: true, msgs: killMessages})
}

// ---- No goroutine left behind ----

// TestFaultServerConnEndsWithClient checks the other half of "no goroutine
// is left behind": once the client has given up on a faulty server and
// closed its side, the server's goroutine for that connection ends by
// itself, before the server is closed. Only the accept loop remains.
func TestFaultServerConnEndsWithClient(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tests := []struct {
		name   string
		faults []smtptest.Fault
		to     session.Timeouts
	}{
		{"StallAt(MAIL, forever)", []smtptest.Fault{smtptest.StallAt("MAIL", 0)}, session.Timeouts{Mail: 200 * time.Millisecond}},
		{"StallAt(RCPT, an hour)", []smtptest.Fault{smtptest.StallAt("RCPT", time.Hour)}, session.Timeouts{Rcpt: 200 * time.Millisecond}},
		{"StallAt(end of data, forever)", []smtptest.Fault{smtptest.StallAt(smtptest.EndOfData, 0)}, session.Timeouts{DataEnd: 200 * time.Millisecond}},
		{"EndlessReplyAt(EHLO)", []smtptest.Fault{smtptest.EndlessReplyAt("EHLO")}, session.Timeouts{}},
		{"EndlessReplyAt(DATA)", []smtptest.Fault{smtptest.EndlessReplyAt("DATA")}, session.Timeouts{}},
		{"GarbageAt(RCPT)", []smtptest.Fault{smtptest.GarbageAt("RCPT", []byte("garbage\r\n"))}, session.Timeouts{}},
		{"GarbageAt(MAIL), incomplete reply", []smtptest.Fault{smtptest.GarbageAt("MAIL", []byte("250-more to come\r\n"))}, session.Timeouts{Mail: 200 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := runtime.NumGoroutine()
			srv := newServer(t, smtptest.Config{Faults: tt.faults})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: tt.to})
			if r.err == nil || r.c == nil {
				t.Fatalf("session: step %q, err %v; want Send to fail", r.step, r.err)
			}
			if err := r.c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// The server's accept loop is the only goroutine it may keep.
			testfixture.WaitGoroutines(t, base+1, "once the client closed, with the server still open")
			if got := srv.Conns(); got != 1 {
				t.Errorf("server saw %d connections", got)
			}
		})
	}
}

// TestFaultTablesLeaveNoGoroutines runs a sample of every fault kind with
// the servers closed at once, and checks the count goes back to where it
// was: neither the Client (deadline watchers, context.AfterFunc) nor the
// server keeps anything running.
func TestFaultTablesLeaveNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	faults := [][]smtptest.Fault{
		{smtptest.CloseAt("RCPT")},
		{smtptest.CloseAfterRead(40)},
		{smtptest.CloseAfterWrite(60)},
		{smtptest.StallAt("DATA", 0)},
		{smtptest.GarbageAt(smtptest.EndOfData, []byte("\x00\r\n"))},
		{smtptest.EndlessReplyAt("MAIL")},
		{smtptest.SplitWrites(1)},
		{smtptest.Latency(time.Millisecond)},
	}
	for _, f := range faults {
		srv := smtptest.NewServer(smtptest.Config{Faults: f})
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(150*time.Millisecond, cancel) // ends the stall
		r := runSession(ctx, srv.Addr, &session.Options{LocalName: localName})
		stop.Stop()
		cancel()
		if r.c != nil {
			if err := r.c.Close(); err != nil {
				t.Errorf("%v: Close: %v", f, err)
			}
		}
		var te *session.TimeoutError
		if errors.As(r.err, &te) {
			t.Errorf("%v: %v", f, r.err) // only the cancel may end a stall here
		}
		srv.Close()
	}
	testfixture.WaitGoroutines(t, before, "after every fault's client and server were closed")
}

func TestPipelineFailuresLeaveNoGoroutines(t *testing.T) {
	testfixture.CheckGoroutines(t)
	for _, f := range [][]smtptest.Fault{
		{smtptest.StallAt("RCPT", 0)},
		{smtptest.StallAt("BDAT", 0)},
		{smtptest.GarbageAt("RCPT", []byte("250x\r\n"))},
		{smtptest.EndlessReplyAt("BDAT")},
		{smtptest.CloseAfterWrite(230)},
	} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{Faults: f})
			ctx, cancel := context.WithTimeout(context.Background(), ctxLimit)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: localName, Timeouts: phaseTimeouts("", 0, 300*time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ys, pulled := runStream(ctx, c, manyMessages(5), nil)
			if len(ys) != pulled {
				t.Errorf("%d taken, %d results", pulled, len(ys))
			}
			for i, y := range ys {
				if y.err == nil {
					t.Errorf("message %d succeeded", i)
				}
			}
		})
	}
}
