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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
)

const (
	ftLocal = "client.example.org"
	ftFrom  = "alice@example.org"
	// ftBody has CRLF line endings and lines that need dot-stuffing, so
	// that what the server decodes is ftBody itself.
	ftBody = "From: alice@example.org\r\nTo: bob@example.org, carol@example.org\r\nSubject: faults\r\n\r\nHello.\r\n.dot line\r\n..two dots\r\n.\r\nthe end\r\n"
	// ftGreeting is smtptest's default greeting.
	ftGreeting = "220 smtptest.localhost ESMTP smtptest\r\n"
	// ftShort is the timeout of the phase a fault is in; every other phase
	// gets ftLong, and the context ftCtxLimit.
	ftShort    = 300 * time.Millisecond
	ftLong     = 3 * time.Second
	ftCtxLimit = 5 * time.Second
)

var ftTo = []string{"bob@example.org", "carol@example.org"}

// ftPhase is a point of the session where a fault can strike.
type ftPhase struct {
	verb string // the smtptest verb or pseudo-verb
	op   string // the Op of a DisconnectedError, the Phase of a TimeoutError
	step string // the call of ftSession that fails: "Dial", "Send" or "Quit"
}

var ftPhases = []ftPhase{
	{smtptest.Greeting, "greeting", "Dial"},
	{"EHLO", "EHLO", "Send"},
	{"MAIL", "MAIL", "Send"},
	{"RCPT", "RCPT", "Send"},
	{"DATA", "DATA", "Send"},
	{smtptest.EndOfData, "end of data", "Send"},
	{"QUIT", "QUIT", "Quit"},
}

// ftTimeouts returns Timeouts with every phase at long but the one of
// verb, which gets short.
func ftTimeouts(verb string, short, long time.Duration) session.Timeouts {
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
		panic("ftTimeouts: " + verb)
	}
	return to
}

// ftResult is what became of one Dial, Send, Quit sequence.
type ftResult struct {
	c       *session.Client // nil when Dial failed
	step    string          // the call that failed, "" when none did
	err     error           // its error
	elapsed time.Duration   // how long that call took
	sent    bool            // Send returned nil
}

// ftSession dials addr, sends ftBody to ftTo and quits, stopping at the
// first error. The caller closes r.c.
func ftSession(ctx context.Context, addr string, opts *session.Options) ftResult {
	var r ftResult
	start := time.Now()
	c, err := session.Dial(ctx, addr, opts)
	if err != nil {
		return ftResult{step: "Dial", err: err, elapsed: time.Since(start)}
	}
	r.c = c
	start = time.Now()
	if _, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody)); err != nil {
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

// ftCheckMessages checks that the server (closed, so that what it did is
// complete) recorded the message if and only if the client was told it
// was accepted, and then recorded it intact.
func ftCheckMessages(t *testing.T, srv *smtptest.Server, sent bool) {
	t.Helper()
	msgs := srv.Messages()
	switch {
	case !sent && len(msgs) != 0:
		t.Errorf("server recorded %d message(s) although Send failed", len(msgs))
	case sent && len(msgs) != 1:
		t.Errorf("Send reported success but the server recorded %d message(s)", len(msgs))
	case sent && (string(msgs[0].Data) != ftBody || msgs[0].From != ftFrom || strings.Join(msgs[0].To, " ") != strings.Join(ftTo, " ")):
		t.Errorf("server recorded %q -> %q: %q", msgs[0].From, msgs[0].To, msgs[0].Data)
	}
}

// ftCheckUnusable checks that a Client broken by a fault stays broken:
// a later call fails at once (with an error check accepts, when check is
// not nil), Close succeeds, and calls after Close return ErrClosed.
func ftCheckUnusable(t *testing.T, c *session.Client, check func(*testing.T, error)) {
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
	if _, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody)); err == nil {
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

func ftWantDisconnected(op string) func(*testing.T, error) {
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

func ftWantTimeout(op string, after time.Duration) func(*testing.T, error) {
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

func ftWantIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("err = %v (%T), want one matching %v", err, err, target)
		}
	}
}

func ftWantProtocol(kind error) func(*testing.T, error) {
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

// ftGarbage is, per phase, what GarbageAt sends instead of the reply and
// the kind of protocol error it must give.
var ftGarbage = map[string]struct {
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
	ftNoLeaks(t)
	type fcase struct {
		name     string
		faults   []smtptest.Fault
		timeouts session.Timeouts
		// ctx makes the session's context; nil means ftCtxLimit.
		ctx   func() (context.Context, context.CancelFunc)
		check func(*testing.T, error) // nil: the session must succeed
		// min and max bound the whole session's duration; stepMin the
		// failing call's.
		min, max, stepMin time.Duration
	}
	type frun struct {
		ph    ftPhase
		tc    fcase
		srv   *smtptest.Server
		r     ftResult
		total time.Duration
	}
	var runs []*frun
	for _, ph := range ftPhases {
		g := ftGarbage[ph.verb]
		cases := []fcase{
			{
				name:     "CloseAt",
				faults:   []smtptest.Fault{smtptest.CloseAt(ph.verb)},
				timeouts: ftTimeouts("", 0, ftLong),
				check:    ftWantDisconnected(ph.op),
				max:      time.Second,
			},
			{
				name:     "StallAt forever: phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 0)},
				timeouts: ftTimeouts(ph.verb, ftShort, ftLong),
				check:    ftWantTimeout(ph.op, ftShort),
				min:      ftShort,
				max:      ftShort + time.Second,
				stepMin:  ftShort,
			},
			{
				name:     "StallAt longer than the phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, ftLong)},
				timeouts: ftTimeouts(ph.verb, ftShort, ftLong),
				check:    ftWantTimeout(ph.op, ftShort),
				min:      ftShort,
				max:      ftShort + time.Second,
				stepMin:  ftShort,
			},
			{
				name:     "StallAt shorter than the phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 100*time.Millisecond)},
				timeouts: ftTimeouts(ph.verb, ftShort+700*time.Millisecond, ftLong),
				min:      100 * time.Millisecond,
				max:      time.Second,
			},
			{
				name:     "StallAt, context cancelled",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 0)},
				timeouts: ftTimeouts("", 0, ftLong),
				// All the sessions run at once (on two cores under -race
				// in CI): the cancel waits long enough for each to reach
				// its stalled phase first.
				ctx: func() (context.Context, context.CancelFunc) {
					ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
					stop := time.AfterFunc(400*time.Millisecond, cancel)
					return ctx, func() { stop.Stop(); cancel() }
				},
				check: ftWantIs(context.Canceled),
				min:   400 * time.Millisecond,
				max:   1400 * time.Millisecond,
			},
			{
				name:     "StallAt, context deadline before the phase timeout",
				faults:   []smtptest.Fault{smtptest.StallAt(ph.verb, 0)},
				timeouts: ftTimeouts("", 0, ftLong),
				ctx: func() (context.Context, context.CancelFunc) {
					return context.WithTimeout(context.Background(), ftShort)
				},
				check: ftWantIs(context.DeadlineExceeded),
				min:   ftShort - 10*time.Millisecond, // the context's clock started first
				max:   ftShort + time.Second,
			},
			{
				name:     "GarbageAt",
				faults:   []smtptest.Fault{smtptest.GarbageAt(ph.verb, []byte(g.data))},
				timeouts: ftTimeouts("", 0, ftLong),
				check:    ftWantProtocol(g.kind),
				max:      time.Second,
			},
			{
				// The first line of a multiline reply and then nothing:
				// the client waits for the rest, within the phase timeout.
				name:     "GarbageAt, reply never finished",
				faults:   []smtptest.Fault{smtptest.GarbageAt(ph.verb, []byte("250-the rest never comes\r\n"))},
				timeouts: ftTimeouts(ph.verb, ftShort, ftLong),
				check:    ftWantTimeout(ph.op, ftShort),
				min:      ftShort,
				max:      ftShort + time.Second,
				stepMin:  ftShort,
			},
			{
				name:     "EndlessReplyAt",
				faults:   []smtptest.Fault{smtptest.EndlessReplyAt(ph.verb)},
				timeouts: ftTimeouts("", 0, ftLong),
				check: func(t *testing.T, err error) {
					t.Helper()
					ftWantProtocol(wire.ErrLineTooLong)(t, err)
					var pe *wire.ProtocolError
					if errors.As(err, &pe) && pe.Limit != wire.DefaultMaxLineLength {
						t.Errorf("limit %d, want %d", pe.Limit, wire.DefaultMaxLineLength)
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
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			if rn.tc.ctx != nil {
				cancel()
				ctx, cancel = rn.tc.ctx()
			}
			defer cancel()
			start := time.Now()
			rn.r = ftSession(ctx, rn.srv.Addr, &session.Options{LocalName: ftLocal, Timeouts: rn.tc.timeouts})
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
						later = ftWantIs(session.ErrClosed) // Quit closes the client whatever happened
					}
					ftCheckUnusable(t, r.c, later)
				}
			}
			rn.srv.Close()
			ftCheckMessages(t, rn.srv, r.sent)
		})
	}
}

// TestFaultCloseAfter cuts the connection at a few byte counts around the
// greeting and EHLO; TestKillAfterEveryOffset does every byte count.
func TestFaultCloseAfter(t *testing.T) {
	ftNoLeaks(t)
	ehlo := int64(len("EHLO " + ftLocal + "\r\n"))
	tests := []struct {
		fault smtptest.Fault
		step  string
		op    string
	}{
		{smtptest.CloseAfterRead(0), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(0), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(10), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(int64(len(ftGreeting)) - 1), "Dial", "greeting"},
		{smtptest.CloseAfterWrite(int64(len(ftGreeting))), "Send", "EHLO"},
		{smtptest.CloseAfterWrite(int64(len(ftGreeting)) + 20), "Send", "EHLO"},
		{smtptest.CloseAfterRead(3), "Send", "EHLO"},
		{smtptest.CloseAfterRead(ehlo), "Send", "EHLO"},
		{smtptest.CloseAfterRead(ehlo + 5), "Send", "MAIL"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fault), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{tt.fault}})
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal, Timeouts: ftTimeouts("", 0, ftLong)})
			if r.step != tt.step {
				t.Fatalf("step %q failed (err %v), want %q", r.step, r.err, tt.step)
			}
			if r.elapsed > time.Second {
				t.Errorf("%s took %v", r.step, r.elapsed)
			}
			ftWantDisconnected(tt.op)(t, r.err)
			if r.c != nil {
				ftCheckUnusable(t, r.c, ftWantDisconnected(tt.op))
			}
			srv.Close()
			ftCheckMessages(t, srv, r.sent)
		})
	}
}

// TestFaultSplitWrites has the server send its replies one octet at a
// time (and a few at a time): the client must assemble them, the multiline
// EHLO reply included.
func TestFaultSplitWrites(t *testing.T) {
	ftNoLeaks(t)
	for _, n := range []int{1, 2, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.SplitWrites(n)}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: ftLocal})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if g := c.Greeting(); g.Code != 220 || g.Text != "smtptest.localhost ESMTP smtptest" {
				t.Errorf("greeting %+v", g)
			}
			res, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody))
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
			ftCheckMessages(t, srv, true)
		})
	}
	t.Run("1 with STARTTLS", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, smtptest.Config{Extensions: tlsExtensions, Faults: []smtptest.Fault{smtptest.SplitWrites(1)}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal, TLS: session.TLSRequired, TLSConfig: srv.ClientTLSConfig()})
		if r.err != nil {
			t.Fatalf("%s: %v", r.step, r.err)
		}
		srv.Close()
		ftCheckMessages(t, srv, true)
		if m := srv.Messages(); len(m) == 1 && !m[0].TLS {
			t.Error("message not sent over TLS")
		}
	})
}

// TestFaultLatency: each round trip pays the latency once, and a latency
// above a phase's timeout is that phase's timeout.
func TestFaultLatency(t *testing.T) {
	ftNoLeaks(t)
	t.Run("whole session", func(t *testing.T) {
		t.Parallel()
		const lat = 40 * time.Millisecond
		srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(lat)}})
		ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
		defer cancel()
		start := time.Now()
		r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal})
		d := time.Since(start)
		if r.err != nil {
			t.Fatalf("%s: %v", r.step, r.err)
		}
		// greeting, EHLO, MAIL, RCPT, RCPT, DATA, end of data, QUIT
		if min := 8 * lat; d < min {
			t.Errorf("session took %v, want at least %v", d, min)
		}
		srv.Close()
		ftCheckMessages(t, srv, true)
	})
	for _, ph := range ftPhases[:3] {
		t.Run("above the timeout at "+ph.op, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(ftShort)}})
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal, Timeouts: ftTimeouts(ph.verb, ftShort/2, ftLong)})
			if r.step != ph.step {
				t.Fatalf("step %q failed (err %v), want %q", r.step, r.err, ph.step)
			}
			ftWantTimeout(ph.op, ftShort/2)(t, r.err)
			if r.c != nil {
				ftCheckUnusable(t, r.c, ftWantTimeout(ph.op, ftShort/2))
			}
		})
	}
}

// TestFault421 checks that a 421 reply, whatever it answers, ends the
// session: the call gets the reply as its typed error, later calls get
// ErrServerDisconnected, nothing more is written and no message is
// recorded.
func TestFault421(t *testing.T) {
	ftNoLeaks(t)
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
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: ftLocal, Timeouts: ftTimeouts("", 0, ftLong)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody))
			var re *response.Error
			if !errors.As(err, &re) || re.Code() != 421 || !re.Temporary() {
				t.Fatalf("Send err = %#v, want one carrying the 421", err)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
			ftCheckUnusable(t, c, ftWantIs(session.ErrServerDisconnected))
			srv.Close()
			ftCheckMessages(t, srv, false)
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

// ftBodyReader returns its chunks one per Read, then err.
type ftBodyReader struct {
	chunks []string
	err    error
}

func (r *ftBodyReader) Read(p []byte) (int, error) {
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
	ftNoLeaks(t)
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
		{"with the last chunk", []string{ftBody}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: ftLocal})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Send(ctx, ftFrom, ftTo, &ftBodyReader{chunks: append([]string(nil), tt.chunks...), err: errBody})
			if !errors.Is(err, errBody) {
				t.Fatalf("Send err = %v, want the body's error", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Send took %v", d)
			}
			ftCheckUnusable(t, c, ftWantIs(errBody))
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
	ftNoLeaks(t)
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
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal, TLS: tt.mode, TLSConfig: srv.ClientTLSConfig(), Timeouts: ftTimeouts("", 0, ftLong)})
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
			ftCheckUnusable(t, r.c, nil)
			srv.Close()
			ftCheckMessages(t, srv, false)
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
	ftNoLeaks(t)
	for _, limit := range []int{0, 1000, 100000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.EndlessReplyAt("EHLO")}})
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			nc, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			cc := &ftCountConn{Conn: nc}
			c, err := session.NewClient(ctx, cc, &session.Options{LocalName: ftLocal, Limits: session.Limits{ReplyLineLength: limit, ReplyBytes: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			want := limit
			if want == 0 {
				want = wire.DefaultMaxLineLength
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			start := time.Now()
			err = c.Hello(ctx)
			d := time.Since(start)
			runtime.ReadMemStats(&ms1)
			ftWantProtocol(wire.ErrLineTooLong)(t, err)
			var pe *wire.ProtocolError
			if errors.As(err, &pe) && pe.Limit != int64(want) {
				t.Errorf("limit %d, want %d", pe.Limit, want)
			}
			if d > time.Second {
				t.Errorf("Hello took %v", d)
			}
			// What was read: the greeting, then the reply up to the limit
			// and at most a buffer's worth past it.
			if got, max := cc.read(), int64(len(ftGreeting)+want+2*4096); got > max {
				t.Errorf("client read %d octets of an endless line limited to %d (want at most %d)", got, want, max)
			}
			alloc := ms1.TotalAlloc - ms0.TotalAlloc
			t.Logf("read %d octets, allocated %d bytes in %v", cc.read(), alloc, d)
			if max := uint64(3*want + 1<<20); alloc > max {
				t.Errorf("allocated %d bytes while refusing a %d-octet line (want at most %d)", alloc, want, max)
			}
			ftCheckUnusable(t, c, ftWantProtocol(wire.ErrLineTooLong))
		})
	}
}

// ftCountConn counts the octets read and written through it, and can run
// a hook after each write.
type ftCountConn struct {
	net.Conn
	mu         sync.Mutex
	nread, nwr int64
	afterWrite func(p []byte)
}

func (c *ftCountConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.nread += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *ftCountConn) Write(p []byte) (int, error) {
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

func (c *ftCountConn) read() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nread
}

func (c *ftCountConn) written() int64 {
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
	ftNoLeaks(t)
	tests := []struct {
		name    string
		trigger func(p []byte) bool
		call    func(ctx context.Context, c *session.Client) error
	}{
		{"VRFY", func(p []byte) bool { return bytes.HasPrefix(p, []byte("VRFY ")) },
			func(ctx context.Context, c *session.Client) error { _, err := c.Vrfy(ctx, "bob"); return err }},
		{"RCPT", func(p []byte) bool { return bytes.HasPrefix(p, []byte("RCPT ")) },
			func(ctx context.Context, c *session.Client) error {
				_, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody))
				return err
			}},
		{"end of data", func(p []byte) bool { return bytes.HasSuffix(p, []byte("\r\n.\r\n")) },
			func(ctx context.Context, c *session.Client) error {
				_, err := c.Send(ctx, ftFrom, ftTo, strings.NewReader(ftBody))
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{})
			bg, stop := context.WithTimeout(context.Background(), ftCtxLimit)
			defer stop()
			nc, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(bg)
			defer cancel()
			cc := &ftCountConn{Conn: nc}
			c, err := session.NewClient(bg, cc, &session.Options{LocalName: ftLocal})
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

// ftScriptServer serves every connection with handle, on its own
// goroutine; the cleanup closes the listener and the connections and waits
// for the goroutines.
func ftScriptServer(t *testing.T, handle func(nc net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				handle(nc, bufio.NewReader(nc))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// ftScript answers the greeting, EHLO (with exts), MAIL, RCPT and DATA;
// at the command stopAt it calls stop instead, which owns the connection
// from then on.
func ftScript(exts, stopAt string, stop func(nc net.Conn, br *bufio.Reader)) func(net.Conn, *bufio.Reader) {
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
	ftNoLeaks(t)
	addr := ftScriptServer(t, ftScript("250 STARTTLS\r\n", "STARTTLS", func(nc net.Conn, br *bufio.Reader) {
		io.WriteString(nc, "220 go ahead\r\n")
		io.Copy(io.Discard, br) // swallow the ClientHello, answer nothing
	}))
	// A context deadline well above the timeout (but below ftLong, to keep
	// the test short when the timeout does not apply).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := ftSession(ctx, addr, &session.Options{LocalName: ftLocal, Timeouts: ftTimeouts("STARTTLS", ftShort, ftLong)})
	if r.step != "Send" {
		t.Fatalf("step %q failed (err %v), want Send", r.step, r.err)
	}
	if r.elapsed > ftShort+time.Second {
		t.Errorf("stalled STARTTLS handshake gave up after %v, want about Timeouts.Command = %v (err %v)", r.elapsed, ftShort, r.err)
	}
	var te *session.TimeoutError
	switch {
	case !errors.As(r.err, &te):
		t.Errorf("err = %v (%T), want a *TimeoutError after Timeouts.Command = %v", r.err, r.err, ftShort)
	case te.After != ftShort:
		t.Errorf("TimeoutError.After = %v, want %v", te.After, ftShort)
	case !errors.Is(r.err, os.ErrDeadlineExceeded):
		// TimeoutError's documentation promises it.
		t.Errorf("%v (a %T wrapping %T) does not match os.ErrDeadlineExceeded", r.err, r.err, te.Err)
	}
	ftCheckUnusable(t, r.c, nil)
}

// TestFaultDataBlockStall: the server answers 354 and then stops reading.
// The client's writes block once the socket buffers are full; each write
// is bounded by Timeouts.DataBlock.
func TestFaultDataBlockStall(t *testing.T) {
	ftNoLeaks(t)
	addr := ftScriptServer(t, ftScript("250 8BITMIME\r\n", "DATA", func(nc net.Conn, br *bufio.Reader) {
		io.WriteString(nc, "354 go\r\n")
		var b [1]byte
		nc.SetReadDeadline(time.Now().Add(ftCtxLimit)) // reads nothing until the client is gone
		for {
			if _, err := nc.Read(b[:0]); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
	defer cancel()
	c, err := session.Dial(ctx, addr, &session.Options{LocalName: ftLocal, Timeouts: session.Timeouts{DataBlock: ftShort}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Send(ctx, ftFrom, ftTo, ftEndless{})
	d := time.Since(start)
	ftWantTimeout("message data", ftShort)(t, err)
	if d > 3*time.Second {
		t.Errorf("Send took %v", d)
	}
	ftCheckUnusable(t, c, ftWantTimeout("message data", ftShort))
}

// ftEndless is an endless message body.
type ftEndless struct{}

func (ftEndless) Read(p []byte) (int, error) {
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
	ftNoLeaks(t)
	odd := response.New(354, "go ahead")
	t.Run("Send, one recipient answered 354", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Match: "carol@", Reply: odd}}})
		c := dial(t, srv, &session.Options{LocalName: ftLocal})
		res, err := c.Send(testCtx(t), ftFrom, ftTo, strings.NewReader(ftBody))
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
		c := dial(t, srv, &session.Options{LocalName: ftLocal})
		_, err := c.Send(testCtx(t), ftFrom, ftTo, strings.NewReader(ftBody))
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
		ftCheckMessages(t, srv, false)
	})
	t.Run("Rcpt answered 354", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: odd}}})
		c := dial(t, srv, &session.Options{LocalName: ftLocal})
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
		c := dial(t, srv, &session.Options{LocalName: ftLocal})
		_, err := c.Send(testCtx(t), ftFrom, ftTo, strings.NewReader(ftBody))
		if err == nil {
			t.Fatal("Send succeeded with MAIL answered 354")
		}
		if hasCommand(srv, "RCPT") {
			t.Errorf("RCPT sent after MAIL was not accepted: %q", srv.Commands())
		}
	})
}
