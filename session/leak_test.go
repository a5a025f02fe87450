package session_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// ftSettle is how long a goroutine count may take to come back down: a
// connection's goroutine ends a moment after its peer closes.
const ftSettle = 2 * time.Second

// ftNoLeaks checks, once t and its subtests are over and every cleanup
// registered after this call has run (servers closed, clients closed),
// that no goroutine started during t is left. Call it first in a
// top-level test that is not parallel: while it runs no other top-level
// test does, so the count is the test's own.
func ftNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() { ftWaitGoroutines(t, before, "after the test") })
}

// ftWaitGoroutines waits up to ftSettle for the number of goroutines to be
// at most limit, and fails t with every goroutine's stack if it stays
// above.
func ftWaitGoroutines(t testing.TB, limit int, when string) {
	t.Helper()
	deadline := time.Now().Add(ftSettle)
	for {
		n := runtime.NumGoroutine()
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutine(s) left %s (%d, want at most %d):\n%s", n-limit, when, n, limit, ftStacks())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ftStacks returns the stacks of all goroutines.
func ftStacks() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestFaultServerConnEndsWithClient checks the other half of "no goroutine
// is left behind": once the client has given up on a faulty server and
// closed its side, the server's goroutine for that connection ends by
// itself, before the server is closed. Only the accept loop remains.
func TestFaultServerConnEndsWithClient(t *testing.T) {
	ftNoLeaks(t)
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
			r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal, Timeouts: tt.to})
			if r.err == nil || r.c == nil {
				t.Fatalf("session: step %q, err %v; want Send to fail", r.step, r.err)
			}
			if err := r.c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			// The server's accept loop is the only goroutine it may keep.
			ftWaitGoroutines(t, base+1, "once the client closed, with the server still open")
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
		r := ftSession(ctx, srv.Addr, &session.Options{LocalName: ftLocal})
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
	ftWaitGoroutines(t, before, "after every fault's client and server were closed")
}
