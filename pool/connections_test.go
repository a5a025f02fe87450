package pool_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// waitFor polls cond until it holds, or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestIdleTimeout: a connection left idle for IdleTimeout says QUIT and
// goes; the next message opens a new one.
func TestIdleTimeout(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, cc := newPool(t, srv, pool.Options{IdleTimeout: 100 * time.Millisecond})
	if _, err := send(context.Background(), p, "a"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle connection to retire", func() bool { return p.Stats().RetiredIdle == 1 })
	if n := commandCount(srv, "QUIT"); n != 1 {
		t.Errorf("server got %d QUITs, want 1", n)
	}
	if open, _, _ := cc.counts(); open != 0 {
		t.Errorf("%d connections open after retiring", open)
	}
	if _, err := send(context.Background(), p, "b"); err != nil {
		t.Fatal(err)
	}
	// (A slow machine may let a new connection idle out before its first
	// message: then there is one more.)
	if s := p.Stats(); s.Dials < 2 || s.Retries != 0 || s.Delivered != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestRedialAfterServerClosedIdle: the server closes idle connections
// (its command timeout: "421 4.4.2 ... Timeout" and close). The next
// message finds the connection closed before using it and goes on a new
// one, without a retry, every time.
func TestRedialAfterServerClosedIdle(t *testing.T) {
	// The server logs "closed: ... i/o timeout" once its 421 is written.
	timeouts := &lineCounter{match: "i/o timeout"}
	srv := newServer(t, smtptest.Config{CommandTimeout: 30 * time.Millisecond, Log: timeouts})
	p, cc := newPool(t, srv, pool.Options{IdleTimeout: -1, MaxAttempts: 1, MaxConnections: 2})
	for i := range 3 {
		var wg sync.WaitGroup
		for j := range 4 {
			wg.Go(func() {
				if _, err := send(context.Background(), p, fmt.Sprint("m", i, j)); err != nil {
					t.Errorf("round %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		// The server times the connections out; the pool has not
		// noticed yet.
		waitFor(t, "the server to close the idle connections", func() bool { return timeouts.count() == srv.Conns() })
	}
	s := p.Stats()
	if s.Retries != 0 || s.Delivered != 12 || s.RetiredLost < 2 {
		t.Errorf("stats %+v: want every stale connection replaced without a retry", s)
	}
	if _, peak, _ := cc.counts(); peak > 2 {
		t.Errorf("%d connections at once", peak)
	}
}

// lineCounter is an io.Writer that counts the lines written to it that
// contain match.
type lineCounter struct {
	match string
	mu    sync.Mutex
	n     int
}

func (w *lineCounter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.n += strings.Count(string(p), w.match)
	w.mu.Unlock()
	return len(p), nil
}

func (w *lineCounter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// TestClose: Close waits for the messages handed over, then QUITs every
// connection; messages after it are refused with ErrClosed.
func TestClose(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, cc := newPool(t, srv, pool.Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]error{}
	for i := range 50 {
		wg.Go(func() {
			id := fmt.Sprint("m", i)
			_, err := send(context.Background(), p, id)
			mu.Lock()
			outcomes[id] = err
			mu.Unlock()
		})
	}
	time.Sleep(time.Millisecond)
	closePool(t, p)
	wg.Wait()
	got := received(srv)
	for id, err := range outcomes {
		switch {
		case err == nil && got[id] == 1:
		case errors.Is(err, pool.ErrClosed) && got[id] == 0:
		default:
			t.Errorf("%s: outcome %v, received %d times", id, err, got[id])
		}
	}
	s := p.Stats()
	if n := commandCount(srv, "QUIT"); uint64(n) != s.Dials || s.RetiredClose != s.Dials {
		t.Errorf("%d QUITs, stats %+v", n, s)
	}
	if open, _, _ := cc.counts(); open != 0 {
		t.Errorf("%d connections open after Close", open)
	}
	if _, err := send(context.Background(), p, "late"); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := p.Close(context.Background()); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseDeadline: when Close's context ends before a reply that will
// never come, the connection is closed, the message is reported as the
// session reports a lost connection (unknown: it had been written), and
// Close returns the context's error.
func TestCloseDeadline(t *testing.T) {
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.StallAt(smtptest.EndOfData, 0)}})
	p, cc := newPool(t, srv, pool.Options{})
	done := make(chan error, 1)
	go func() {
		_, err := send(context.Background(), p, "m")
		done <- err
	}()
	waitFor(t, "the message to be written", func() bool { return commandCount(srv, "BDAT") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want the deadline", err)
	}
	err := <-done
	if pool.OutcomeOf(err) != pool.Unknown {
		t.Errorf("message: %v, want unknown", err)
	}
	if open, _, _ := cc.counts(); open != 0 {
		t.Errorf("%d connections open after Close", open)
	}
}

// TestCredentials: every connection logs in before its first message,
// with a password or with a mechanism made for it.
func TestCredentials(t *testing.T) {
	cfg := smtptest.Config{
		Extensions:               append(smtptest.DefaultExtensions(), "AUTH PLAIN LOGIN CRAM-MD5"),
		Users:                    map[string]string{"alice": "s3cret"},
		RequireAuth:              true,
		MaxMessagesPerConnection: 2,
	}
	for name, cr := range map[string]*pool.Credentials{
		"password":  {Username: "alice", Password: "s3cret"},
		"mechanism": {Mechanism: func() auth.Mechanism { return auth.CRAMMD5("alice", "s3cret") }},
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, cfg)
			p, _ := newPool(t, srv, pool.Options{Credentials: cr, MaxMessagesPerConnection: 2})
			for i := range 5 {
				if _, err := send(context.Background(), p, fmt.Sprint("m", i)); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range srv.Messages() {
				if m.AuthUser != "alice" {
					t.Errorf("message on connection %d sent as %q", m.Conn, m.AuthUser)
				}
			}
			if s := p.Stats(); s.Dials != 3 {
				t.Errorf("stats %+v: want 3 connections", s)
			}
		})
	}
	if s := fmt.Sprintf("%v %#v", pool.Credentials{Username: "alice", Password: "s3cret"}, pool.Credentials{Password: "s3cret"}); strings.Contains(s, "s3cret") {
		t.Errorf("credentials printed with the password: %s", s)
	}
}

// TestRates: Rate spaces messages out, DialRate connections; a burst
// goes at once. Only lower bounds are checked: a loaded machine is slow,
// never fast.
func TestRates(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, _ := newPool(t, srv, pool.Options{Rate: 50, Burst: 2})
	start := time.Now()
	for i := range 7 {
		if _, err := send(context.Background(), p, fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	// 2 at once, then 5 at 50/s: at least 100 ms.
	if d := time.Since(start); d < 95*time.Millisecond {
		t.Errorf("7 messages at 50/s with a burst of 2 took %v", d)
	}

	p, _ = newPool(t, srv, pool.Options{DialRate: 40, MaxMessagesPerConnection: 1})
	start = time.Now()
	for i := range 4 {
		if _, err := send(context.Background(), p, fmt.Sprint("d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 70*time.Millisecond {
		t.Errorf("4 connections at 40/s took %v", d)
	}
	if s := p.Stats(); s.Dials != 4 {
		t.Errorf("stats %+v", s)
	}

	// A message waiting for its turn gives up with its context.
	p, _ = newPool(t, srv, pool.Options{Rate: 1})
	if _, err := send(context.Background(), p, "first"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := send(ctx, p, "second"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("rate-limited Send: %v, want the deadline", err)
	}
}

// TestSendMessage: the envelope comes from the header, on any
// connection, mixed with other messages.
func TestSendMessage(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, _ := newPool(t, srv, pool.Options{MaxConnections: 2})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			id := fmt.Sprint("m", i)
			var err error
			if i%2 == 0 {
				msg := "From: <sender@example.org>\r\nTo: <a@example.net>\r\nBcc: <b@example.net>\r\nMessage-ID: <" + id + "@pool.test>\r\n\r\nHi.\r\n"
				_, err = p.SendMessage(context.Background(), strings.NewReader(msg))
			} else {
				_, err = send(context.Background(), p, id)
			}
			if err != nil {
				t.Errorf("%s: %v", id, err)
			}
		})
	}
	wg.Wait()
	closePool(t, p)
	got := received(srv)
	for i := range 40 {
		if id := fmt.Sprint("m", i); got[id] != 1 {
			t.Errorf("%s received %d times", id, got[id])
		}
	}
	for _, m := range srv.Messages() {
		if strings.Contains(string(m.Data), "Bcc:") {
			t.Errorf("Bcc sent: %q", m.Data)
		}
		if strings.Contains(string(m.Data), "Hi.") && len(m.To) != 2 {
			t.Errorf("recipients %v, want To and Bcc", m.To)
		}
	}
}

// TestLMTP: the pool speaks LMTP when the session options say so; a
// message is delivered when one recipient took it.
func TestLMTP(t *testing.T) {
	srv := newServer(t, smtptest.Config{LMTP: true})
	var opts pool.Options
	opts.Session.LMTP = true
	p, _ := newPool(t, srv, opts)
	res, err := p.Send(context.Background(), "a@example.org", []string{"b@example.org", "c@example.org"}, strings.NewReader("Hi.\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Recipients {
		if !r.Data.Positive() {
			t.Errorf("%s: %v", r.Address, r.Data)
		}
	}
	if s := p.Stats(); s.Replies[2] != 5 {
		t.Errorf("stats %+v: want MAIL, two RCPTs and two replies after the data", s)
	}
}

// TestNoRecipients: a message without recipients is refused before it
// takes a connection.
func TestNoRecipients(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, _ := newPool(t, srv, pool.Options{})
	if _, err := p.SendEnvelope(context.Background(), &session.Envelope{}, strings.NewReader("x")); !errors.Is(err, session.ErrNoRecipients) {
		t.Errorf("err = %v", err)
	}
	if _, err := p.Send(context.Background(), "a@", []string{"b@example.org"}, strings.NewReader("x")); err == nil {
		t.Error("a bad sender was taken")
	}
	if s := p.Stats(); s.Dials != 0 || s.NotSent != 2 {
		t.Errorf("stats %+v", s)
	}
}
