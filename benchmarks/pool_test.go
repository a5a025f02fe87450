package benchmarks

import (
	"bytes"
	"context"
	"net/smtp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// poolSenders is the number of goroutines sending at once in
// BenchmarkPool, and poolConns the pool's connections.
const (
	poolSenders = 16
	poolConns   = 4
)

// BenchmarkPool sends streamMsgs messages of 1 KiB, one recipient each,
// per op, from poolSenders goroutines at once (streamMsgs/poolSenders
// each, one after the other). The rows:
//
//	pool            pool.SendEnvelope from the 16 goroutines, through a
//	                pool of 4 connections (each batches what is waiting
//	                into one pipelined SendStream)
//	pool-stream     pool.SendStream over the same pool, from one goroutine
//	smtpkit         one connection, session.Client.SendStream from one
//	                goroutine: the single pipelined connection the pool
//	                is measured against
//	smtpkit-conns   a session.Client per goroutine (16 connections),
//	                SendEnvelope: one round trip per message
//	netsmtp         net/smtp, a connection per goroutine (16 connections):
//	                four round trips per message
//
// The pool's connections stay open from one op to the next, as the
// others' do.
func BenchmarkPool(b *testing.B) {
	srv, body, addrs, msgs, run := smallMessages(b)
	perSender := streamMsgs / poolSenders

	// senders runs send(g, i) for each message i of goroutine g's share,
	// from poolSenders goroutines at once, and fails on the first error.
	senders := func(b *testing.B, send func(g, i int) error) {
		var wg sync.WaitGroup
		errs := make(chan error, poolSenders)
		for g := range poolSenders {
			wg.Go(func() {
				for i := g * perSender; i < (g+1)*perSender; i++ {
					if err := send(g, i); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	newPool := func(b *testing.B) *pool.Pool {
		opts := pool.Options{MaxConnections: poolConns}
		opts.Session.LocalName = localName
		opts.Session.TLS = session.TLSOff
		p, err := pool.New(srv.Addr(), &opts)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	closePool := func(b *testing.B, p *pool.Pool) {
		if err := p.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		if s := p.Stats(); s.Retries != 0 || s.Dials > poolConns {
			b.Fatalf("pool: %d retries, %d connections", s.Retries, s.Dials)
		}
	}

	b.Run("impl=pool", func(b *testing.B) {
		p := newPool(b)
		readers := make([]bytes.Reader, poolSenders)
		run(b, func() {
			senders(b, func(g, i int) error {
				r := &readers[g]
				r.Reset(body)
				_, err := p.SendEnvelope(ctx, &msgs.msgs[i].Envelope, r)
				return err
			})
		})
		closePool(b, p)
	})
	b.Run("impl=pool-stream", func(b *testing.B) {
		p := newPool(b)
		run(b, func() {
			n := 0
			for _, err := range p.SendStream(ctx, msgs.all) {
				if err != nil {
					b.Fatalf("message %d: %v", n, err)
				}
				n++
			}
		})
		closePool(b, p)
	})
	b.Run("impl=smtpkit", func(b *testing.B) {
		c := dialSmtpkit(b, srv.Addr(), session.Options{})
		run(b, func() { sendStream(b, c, msgs, false) })
		quitSmtpkit(b, c)
	})
	b.Run("impl=smtpkit-conns", func(b *testing.B) {
		clients := make([]*session.Client, poolSenders)
		readers := make([]bytes.Reader, poolSenders)
		for g := range clients {
			clients[g] = dialSmtpkit(b, srv.Addr(), session.Options{})
		}
		run(b, func() {
			senders(b, func(g, i int) error {
				r := &readers[g]
				r.Reset(body)
				_, err := clients[g].SendEnvelope(ctx, &msgs.msgs[i].Envelope, r)
				return err
			})
		})
		for _, c := range clients {
			quitSmtpkit(b, c)
		}
	})
	b.Run("impl=netsmtp", func(b *testing.B) {
		clients := make([]*smtp.Client, poolSenders)
		for g := range clients {
			clients[g] = dialNetSMTP(b, srv.Addr())
		}
		run(b, func() {
			senders(b, func(g, i int) error {
				return sendNetSMTP(clients[g], addrs[i:i+1], body)
			})
		})
		for _, c := range clients {
			if err := c.Quit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// slowMsgs is the number of messages per op of BenchmarkPoolSlowServer,
// and slowWork the time its server spends on each message.
const (
	slowMsgs = 1600
	slowWork = time.Millisecond
)

// BenchmarkPoolSlowServer is BenchmarkPool against a server that spends
// a millisecond on each message before it answers (a content filter, a
// disk that syncs), one message at a time per connection, as real
// servers do: smtptest with an OnMessage that sleeps, in place of the
// sink that does nothing. There the connections, not the client's CPU,
// are the limit, and the rows show what a pool is for.
//
//	pool     pool.SendEnvelope from 16 goroutines, 4 connections
//	smtpkit  one connection, session.Client.SendStream
func BenchmarkPoolSlowServer(b *testing.B) {
	var got atomic.Int64
	srv := smtptest.NewServer(smtptest.Config{
		NoRecord: true,
		OnMessage: func(smtptest.Message) {
			time.Sleep(slowWork)
			got.Add(1)
		},
	})
	b.Cleanup(srv.Close)
	body := benchMessage(smallSize)
	_, boxes := recipients(b, slowMsgs)
	from := senderMailbox()
	msgs := newMessages(slowMsgs, func(i int) session.Envelope {
		return session.Envelope{From: from, To: boxes[i : i+1]}
	}, body)
	run := func(b *testing.B, op func()) {
		b.SetBytes(int64(slowMsgs * smallSize))
		got0 := got.Load()
		n := 0
		for b.Loop() {
			op()
			n++
		}
		b.ReportMetric(float64(n*slowMsgs)/b.Elapsed().Seconds(), "msgs/s")
		if d := got.Load() - got0; d != int64(n*slowMsgs) {
			b.Fatalf("server received %d messages, %d were sent", d, n*slowMsgs)
		}
	}
	b.Run("impl=pool", func(b *testing.B) {
		opts := pool.Options{MaxConnections: poolConns}
		opts.Session.LocalName = localName
		opts.Session.TLS = session.TLSOff
		p, err := pool.New(srv.Addr, &opts)
		if err != nil {
			b.Fatal(err)
		}
		readers := make([]bytes.Reader, poolSenders)
		per := slowMsgs / poolSenders
		run(b, func() {
			var wg sync.WaitGroup
			for g := range poolSenders {
				wg.Go(func() {
					for i := g * per; i < (g+1)*per; i++ {
						r := &readers[g]
						r.Reset(body)
						if _, err := p.SendEnvelope(ctx, &msgs.msgs[i].Envelope, r); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		})
		if err := p.Close(ctx); err != nil {
			b.Fatal(err)
		}
	})
	b.Run("impl=smtpkit", func(b *testing.B) {
		c := dialSmtpkit(b, srv.Addr, session.Options{})
		run(b, func() { sendStream(b, c, msgs, false) })
		quitSmtpkit(b, c)
	})
}
