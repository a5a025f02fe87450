package pool_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/smtptest"
)

// sendAll sends goroutines × perG messages through p, from that many
// goroutines at once, and fails on any error.
func sendAll(t *testing.T, p *pool.Pool, goroutines, perG int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				id := fmt.Sprintf("g%d-m%d", g, i)
				if _, err := send(ctx, p, id); err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// checkExactlyOnce checks that srv received each of the goroutines × perG
// messages exactly once, and nothing else.
func checkExactlyOnce(t *testing.T, srv *smtptest.Server, goroutines, perG int) {
	t.Helper()
	got := received(srv)
	for g := range goroutines {
		for i := range perG {
			id := fmt.Sprintf("g%d-m%d", g, i)
			if got[id] != 1 {
				t.Errorf("message %s received %d times", id, got[id])
			}
			delete(got, id)
		}
	}
	if len(got) > 0 {
		t.Errorf("%d messages received that were not sent", len(got))
	}
}

// TestConcurrentSenders sends 64 goroutines × 100 messages through a
// pool of 4 connections: every message arrives exactly once, and no more
// than 4 connections are ever open at once, whichever way the
// connections rotate.
func TestConcurrentSenders(t *testing.T) {
	const goroutines, perG = 64, 100
	tests := []struct {
		name string
		cfg  smtptest.Config
		opts pool.Options
		// check looks at the pool's counters after the run.
		check func(t *testing.T, s pool.Stats)
	}{
		{
			name: "rotation at MaxMessagesPerConnection",
			opts: pool.Options{MaxMessagesPerConnection: 300},
			check: func(t *testing.T, s pool.Stats) {
				if s.RetiredLimit < goroutines*perG/300-4 || s.Retries != 0 || s.RetiredLost != 0 {
					t.Errorf("want rotation by the pool's limit and no retries: %+v", s)
				}
			},
		},
		{
			name: "rotation at the server's 421",
			cfg:  smtptest.Config{MaxMessagesPerConnection: 250},
			check: func(t *testing.T, s pool.Stats) {
				if s.RetiredLost < goroutines*perG/250-4 || s.Retries == 0 {
					t.Errorf("want connections ended by the server's 421 and retries: %+v", s)
				}
			},
		},
		{
			name: "rotation at LIMITS MAILMAX, before the server's 421",
			cfg: smtptest.Config{
				Extensions:               append(smtptest.DefaultExtensions(), "LIMITS MAILMAX=200 RCPTMAX=10"),
				MaxMessagesPerConnection: 200,
			},
			opts: pool.Options{MaxMessagesPerConnection: 1000},
			check: func(t *testing.T, s pool.Stats) {
				if s.RetiredLimit < goroutines*perG/200-4 || s.Retries != 0 || s.RetiredLost != 0 {
					t.Errorf("want rotation at MAILMAX and no 421: %+v", s)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.NoRecord = false
			srv := newServer(t, tt.cfg)
			tt.opts.MaxConnections = 4
			p, cc := newPool(t, srv, tt.opts)
			sendAll(t, p, goroutines, perG)
			closePool(t, p)
			checkExactlyOnce(t, srv, goroutines, perG)
			open, peak, total := cc.counts()
			if peak > 4 || peak < 1 {
				t.Errorf("%d connections open at once, want at most 4", peak)
			}
			if open != 0 {
				t.Errorf("%d connections still open after Close", open)
			}
			s := p.Stats()
			if int(s.Dials) != total || s.Delivered != goroutines*perG || s.Refused+s.Unknown+s.NotSent != 0 {
				t.Errorf("stats %+v after %d dials", s, total)
			}
			if s.Replies[2] == 0 {
				t.Errorf("no 2yz replies counted: %+v", s.Replies)
			}
			t.Logf("stats: %+v; peak %d connections, %d dials", s, peak, total)
			tt.check(t, s)
		})
	}
}

// Against a server that spends its time on each message, one at a time
// per connection, the pool spreads the senders' messages over its
// connections, which the server then works on at once, rather than
// gathering them into one connection's batch at a time.
func TestSpreadOverConnectionsWhenServerIsSlow(t *testing.T) {
	// The server's time on the messages, over the run's: how many
	// connections it was working for at once, on average.
	var work atomic.Int64
	srv := newServer(t, smtptest.Config{OnMessage: func(smtptest.Message) {
		start := time.Now()
		time.Sleep(5 * time.Millisecond)
		work.Add(int64(time.Since(start)))
	}})
	p, _ := newPool(t, srv, pool.Options{MaxConnections: 4})
	const senders, each = 16, 8
	var wg sync.WaitGroup
	start := time.Now()
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				body := fmt.Sprintf("Subject: %d.%d\r\n\r\nx\r\n", g, i)
				if _, err := p.Send(context.Background(), "a@example.org", []string{"b@example.org"}, strings.NewReader(body)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	closePool(t, p)
	if n := len(srv.Messages()); n != senders*each {
		t.Fatalf("%d messages recorded, want %d", n, senders*each)
	}
	if at := float64(work.Load()) / float64(elapsed); at < 2.5 {
		t.Errorf("the server worked for %.1f of the 4 connections at once, on average; want 2.5 or more", at)
	} else {
		t.Logf("the server worked for %.1f of the 4 connections at once, on average", at)
	}
}
