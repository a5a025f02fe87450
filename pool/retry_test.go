package pool_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestUnknownNotRetried: the server takes the message and the reply is
// lost (the client's timeout runs out while the server holds it). The
// message is reported unknown, sent once, and recorded once.
func TestUnknownNotRetried(t *testing.T) {
	for _, chunking := range []bool{false, true} {
		t.Run(fmt.Sprint("chunking=", chunking), func(t *testing.T) {
			release := make(chan struct{})
			srv := newServer(t, smtptest.Config{OnMessage: func(smtptest.Message) { <-release }})
			opts := pool.Options{MaxAttempts: 3}
			opts.Session.DisableChunking = !chunking
			// With BDAT the server answers MAIL and RCPT only with the
			// end of data, which it holds.
			opts.Session.Timeouts = session.Timeouts{Mail: 300 * time.Millisecond, Rcpt: 300 * time.Millisecond, DataEnd: 300 * time.Millisecond}
			p, _ := newPool(t, srv, opts)

			_, err := send(context.Background(), p, "lost-reply")
			var ue *session.UnansweredError
			if !errors.As(err, &ue) || !ue.MaybeDelivered {
				t.Fatalf("err = %v, want an *UnansweredError with MaybeDelivered", err)
			}
			if got := pool.OutcomeOf(err); got != pool.Unknown {
				t.Errorf("OutcomeOf = %v, want unknown", got)
			}
			s := p.Stats()
			if s.Retries != 0 || s.Dials != 1 || s.Unknown != 1 {
				t.Errorf("stats %+v: want one attempt, reported unknown", s)
			}
			close(release) // the server records the message once OnMessage returns
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.WaitMessages(ctx, 1)
			closePool(t, p)
			if got := received(srv)["lost-reply"]; got != 1 {
				t.Errorf("server recorded the message %d times, want once", got)
			}
		})
	}
}

// TestUnknownClosedAtEndOfData: the server closes the connection where
// the reply to the end of data was due, without recording the message.
// Each message is unknown and tried once; with RetryUnknown, tried
// MaxAttempts times, and still unknown.
func TestUnknownClosedAtEndOfData(t *testing.T) {
	for _, retry := range []bool{false, true} {
		srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt(smtptest.EndOfData)}})
		p, _ := newPool(t, srv, pool.Options{MaxAttempts: 3, RetryUnknown: retry})
		for _, id := range []string{"a", "b", "c"} {
			_, err := send(context.Background(), p, id)
			if got := pool.OutcomeOf(err); got != pool.Unknown {
				t.Errorf("RetryUnknown %v: %s: outcome %v (%v), want unknown", retry, id, got, err)
			}
		}
		s := p.Stats()
		want := uint64(0)
		if retry {
			want = 3 * 2
		}
		if s.Retries != want || s.Unknown != 3 || s.Dials != 3+want {
			t.Errorf("RetryUnknown %v: stats %+v, want %d retries", retry, s, want)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server recorded %d messages", n)
		}
	}
}

// TestClosingReplyRetried: a 421 anywhere in a transaction ends the
// session without the message; it goes again on a new connection and
// is delivered once.
func TestClosingReplyRetried(t *testing.T) {
	for _, verb := range []string{"MAIL", "RCPT", "BDAT", "DATA", smtptest.EndOfData} {
		t.Run(verb, func(t *testing.T) {
			cfg := smtptest.Config{Overrides: []smtptest.Override{
				{Verb: verb, Nth: 1, Reply: response.New(421, "4.3.2 going down")},
			}}
			var opts pool.Options
			if verb == "DATA" {
				opts.Session.DisableChunking = true
			}
			srv := newServer(t, cfg)
			p, _ := newPool(t, srv, opts)
			if _, err := send(context.Background(), p, "m"); err != nil {
				t.Fatal(err)
			}
			if s := p.Stats(); s.Retries != 1 || s.Dials != 2 || s.Delivered != 1 || s.Replies[4] != 1 {
				t.Errorf("stats %+v: want one retry after the 421", s)
			}
			if got := received(srv)["m"]; got != 1 {
				t.Errorf("received %d times", got)
			}
		})
	}
}

// TestRefusalsReported: a refusal other than 421, 4yz or 5yz, is the
// caller's to handle: reported with its reply, not retried.
func TestRefusalsReported(t *testing.T) {
	tests := []struct {
		verb string
		code response.Code
		as   any
	}{
		{"MAIL", 451, new(*session.SenderRefusedError)},
		{"MAIL", 550, new(*session.SenderRefusedError)},
		{"RCPT", 450, new(*session.RecipientsRefusedError)},
		{"RCPT", 452, new(*session.RecipientsRefusedError)},
		{"RCPT", 550, new(*session.RecipientsRefusedError)},
		{smtptest.EndOfData, 451, new(*session.DataError)},
		{smtptest.EndOfData, 554, new(*session.DataError)},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+tt.code.String(), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
				{Verb: tt.verb, Reply: response.New(tt.code, "no")},
			}})
			p, _ := newPool(t, srv, pool.Options{MaxAttempts: 5})
			_, err := send(context.Background(), p, "m")
			if !errors.As(err, tt.as) {
				t.Fatalf("err = %v (%T), want %T", err, err, tt.as)
			}
			var re *response.Error
			if !errors.As(err, &re) || re.Code() != tt.code {
				t.Errorf("err = %v, want the %d reply", err, tt.code)
			}
			if got := pool.OutcomeOf(err); got != pool.Refused {
				t.Errorf("OutcomeOf = %v, want refused", got)
			}
			if s := p.Stats(); s.Retries != 0 || s.Refused != 1 {
				t.Errorf("stats %+v", s)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server recorded %d messages", n)
			}
		})
	}
}

// TestAttemptsBounded: a server that closes every connection at MAIL
// (no reply, no message) costs the message MaxAttempts attempts, then it
// is reported not sent.
func TestAttemptsBounded(t *testing.T) {
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt("MAIL")}})
	// With DATA the message waits for the 354 that never comes, so it
	// is known not to have gone out (with BDAT it would have, and be
	// unknown).
	opts := pool.Options{MaxAttempts: 4}
	opts.Session.DisableChunking = true
	p, _ := newPool(t, srv, opts)
	_, err := send(context.Background(), p, "m")
	var ue *session.UnansweredError
	if !errors.As(err, &ue) || ue.MaybeDelivered {
		t.Fatalf("err = %v, want an *UnansweredError, not delivered", err)
	}
	if got := pool.OutcomeOf(err); got != pool.NotSent {
		t.Errorf("OutcomeOf = %v", got)
	}
	if s := p.Stats(); s.Dials != 4 || s.Retries != 3 || s.NotSent != 1 {
		t.Errorf("stats %+v: want 4 attempts", s)
	}
}

// TestBehindClosingReplyFree: with MaxAttempts 1, the messages
// pipelined behind the one that got the server's 421 still go again
// (the server never judged them); only the one whose MAIL got the 421
// is refused.
func TestBehindClosingReplyFree(t *testing.T) {
	srv := newServer(t, smtptest.Config{MaxMessagesPerConnection: 3})
	p, _ := newPool(t, srv, pool.Options{MaxAttempts: 1, MaxConnections: 1})
	var refused, delivered int
	for i := range 40 {
		_, err := send(context.Background(), p, fmt.Sprint("m", i))
		switch pool.OutcomeOf(err) {
		case pool.Delivered:
			delivered++
		case pool.Refused:
			var re *response.Error
			if !errors.As(err, &re) || re.Code() != 421 {
				t.Errorf("refused with %v, want the 421", err)
			}
			refused++
		default:
			t.Errorf("outcome %v", err)
		}
	}
	// Sent one at a time, every fourth MAIL on a connection gets the 421.
	if delivered != 30 || refused != 10 {
		t.Errorf("%d delivered, %d refused; want 30 and 10", delivered, refused)
	}

	// Sent together, the messages behind each 421 are retried for free.
	srv = newServer(t, smtptest.Config{MaxMessagesPerConnection: 3})
	p, _ = newPool(t, srv, pool.Options{MaxAttempts: 1, MaxConnections: 1})
	ids := make([]string, 40)
	msgs := make([]*session.Message, len(ids))
	for i := range msgs {
		ids[i] = fmt.Sprint("n", i)
		msgs[i] = envelopeMessage(ids[i])
	}
	refused, delivered = 0, 0
	for _, err := range p.SendStream(context.Background(), slices.Values(msgs)) {
		switch pool.OutcomeOf(err) {
		case pool.Delivered:
			delivered++
		case pool.Refused:
			refused++
		default:
			t.Errorf("outcome %v", err)
		}
	}
	got := received(srv)
	for i, m := range msgs {
		if want := map[bool]int{true: 1, false: 0}[m.Err == nil]; got[ids[i]] != want {
			t.Errorf("%s: received %d times, outcome %v", ids[i], got[ids[i]], m.Err)
		}
	}
	if s := p.Stats(); delivered+refused != len(msgs) || int(s.Replies[4]) != refused {
		t.Errorf("%d delivered, %d refused, stats %+v: want one refusal per 421", delivered, refused, s)
	}
	t.Logf("together: %d delivered, %d refused, stats %+v", delivered, refused, p.Stats())
}

// TestDialFailures: a dial that may succeed later is retried; one that
// will not is reported at once.
func TestDialFailures(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		p, err := pool.New(testfixture.RefusedAddr(t), &pool.Options{MaxAttempts: 3, Backoff: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(context.Background())
		_, err = send(context.Background(), p, "m")
		var ce *session.ConnectError
		if !errors.As(err, &ce) || pool.OutcomeOf(err) != pool.NotSent {
			t.Fatalf("err = %v, want a *ConnectError, not sent", err)
		}
		if s := p.Stats(); s.DialErrors != 3 || s.Dials != 0 || s.NotSent != 1 {
			t.Errorf("stats %+v: want 3 dial attempts", s)
		}
	})
	for _, tt := range []struct {
		code  response.Code
		tries uint64
	}{{421, 3}, {554, 1}} {
		t.Run("greeting "+tt.code.String(), func(t *testing.T) {
			g := response.New(tt.code, "not now")
			srv := newServer(t, smtptest.Config{Greeting: &g})
			p, _ := newPool(t, srv, pool.Options{MaxAttempts: 3})
			_, err := send(context.Background(), p, "m")
			var re *response.Error
			if !errors.As(err, &re) || re.Code() != tt.code {
				t.Fatalf("err = %v, want the greeting", err)
			}
			if s := p.Stats(); s.DialErrors != tt.tries {
				t.Errorf("stats %+v: want %d dial attempts", s, tt.tries)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{
			Extensions: append(smtptest.DefaultExtensions(), "AUTH PLAIN LOGIN"),
			Users:      map[string]string{"alice": "s3cret"},
		})
		p, _ := newPool(t, srv, pool.Options{Credentials: &pool.Credentials{Username: "alice", Password: "wrong"}})
		_, err := send(context.Background(), p, "m")
		var ae *session.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want an *AuthError", err)
		}
		if s := p.Stats(); s.DialErrors != 1 {
			t.Errorf("stats %+v: want one dial attempt", s)
		}
	})
}

// TestBodyRewound: a retried message is sent again whole, from where the
// body was when it was handed over, whatever kind of reader it is.
func TestBodyRewound(t *testing.T) {
	const head = "X-Skipped: yes\r\n"
	for _, tt := range []struct {
		name string
		body func(msg []byte) io.Reader
	}{
		{"bytes.Reader from an offset", func(msg []byte) io.Reader {
			r := bytes.NewReader(append([]byte(head), msg...))
			r.Seek(int64(len(head)), io.SeekStart)
			return r
		}},
		{"plain reader", func(msg []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(msg)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
				{Verb: smtptest.EndOfData, Nth: 1, Reply: response.New(421, "4.3.2 going down")},
			}})
			p, _ := newPool(t, srv, pool.Options{})
			msg := message("m")
			if _, err := p.Send(context.Background(), "a@example.org", []string{"b@example.org"}, tt.body(msg)); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 || !bytes.Equal(got[0].Data, msg) || p.Stats().Retries != 1 {
				t.Errorf("received %d messages, stats %+v", len(got), p.Stats())
			}
		})
	}
}

// TestBodyErrors: a body that cannot be read is not sent, and not tried
// again.
func TestBodyErrors(t *testing.T) {
	broken := errors.New("disk on fire")
	srv := newServer(t, smtptest.Config{})
	for _, attempts := range []int{1, 3} {
		p, _ := newPool(t, srv, pool.Options{MaxAttempts: attempts})
		body := io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), iotest.ErrReader(broken))
		_, err := p.Send(context.Background(), "a@example.org", []string{"b@example.org"}, body)
		if !errors.Is(err, broken) || pool.OutcomeOf(err) != pool.NotSent {
			t.Errorf("MaxAttempts %d: err = %v, want the reader's error, not sent", attempts, err)
		}
		if s := p.Stats(); s.Retries != 0 {
			t.Errorf("MaxAttempts %d: stats %+v", attempts, s)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server recorded %d messages", n)
	}
}

// TestContextWhileWaiting: a Send waiting for a connection gives up when
// its context ends, and its message is never sent.
func TestContextWhileWaiting(t *testing.T) {
	busy, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := newServer(t, smtptest.Config{OnMessage: func(smtptest.Message) {
		once.Do(func() { close(busy); <-release })
	}})
	p, _ := newPool(t, srv, pool.Options{MaxConnections: 1})
	first := make(chan error, 1)
	go func() {
		_, err := send(context.Background(), p, "first")
		first <- err
	}()
	<-busy // the only connection waits for the first message's reply
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := send(ctx, p, "second")
	if !errors.Is(err, context.DeadlineExceeded) || pool.OutcomeOf(err) != pool.NotSent {
		t.Errorf("err = %v, want the context's deadline, not sent", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	closePool(t, p)
	if got := received(srv); got["first"] != 1 || got["second"] != 0 {
		t.Errorf("received %v", got)
	}
}
