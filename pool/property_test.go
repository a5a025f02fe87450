package pool_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestOutcomesAgreeWithServer sends messages through a pool to a server
// that misbehaves at random: a 421 (or another refusal) to the n-th MAIL,
// RCPT, DATA, BDAT, RSET or end of data, a per-connection message limit,
// 452 to some recipients, connections closed after so many octets read
// or written, with or without PIPELINING and CHUNKING, LIMITS announced
// or not. Whatever happens, each message's reported outcome must agree
// with what the server recorded: delivered, recorded exactly once (to
// the recipients the result says accepted it); refused or not sent, not
// recorded; unknown, recorded at most once. And every message is
// counted once in the pool's Stats.
func TestOutcomesAgreeWithServer(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		start := time.Now()
		cfg := smtptest.Config{Extensions: smtptest.DefaultExtensions()}
		if rapid.Bool().Draw(rt, "limitPerConnection") {
			cfg.MaxMessagesPerConnection = rapid.IntRange(1, 6).Draw(rt, "serverLimit")
			if rapid.Bool().Draw(rt, "announceMAILMAX") {
				cfg.Extensions = append(cfg.Extensions, fmt.Sprint("LIMITS MAILMAX=", cfg.MaxMessagesPerConnection))
			}
		}
		verbs := []string{"MAIL", "RCPT", "DATA", "BDAT", "RSET", smtptest.EndOfData}
		codes := []response.Code{421, 421, 451, 452, 550, 554}
		for i := range rapid.IntRange(0, 4).Draw(rt, "overrides") {
			cfg.Overrides = append(cfg.Overrides, smtptest.Override{
				Verb:  rapid.SampledFrom(verbs).Draw(rt, fmt.Sprint("verb", i)),
				Nth:   rapid.IntRange(1, 30).Draw(rt, fmt.Sprint("nth", i)),
				Reply: response.New(rapid.SampledFrom(codes).Draw(rt, fmt.Sprint("code", i)), "scripted"),
			})
		}
		if rapid.Bool().Draw(rt, "refuseSomeRecipients") {
			cfg.Overrides = append(cfg.Overrides, smtptest.Override{Verb: "RCPT", Match: "<r1@", Reply: response.New(452, "4.5.3 Too many recipients")})
		}
		switch rapid.IntRange(0, 3).Draw(rt, "fault") {
		case 1:
			cfg.Faults = []smtptest.Fault{smtptest.CloseAfterWrite(rapid.Int64Range(0, 2500).Draw(rt, "closeAfterWrite"))}
		case 2:
			cfg.Faults = []smtptest.Fault{smtptest.CloseAfterRead(rapid.Int64Range(0, 3000).Draw(rt, "closeAfterRead"))}
		}
		opts := pool.Options{
			MaxConnections:           rapid.IntRange(1, 4).Draw(rt, "connections"),
			MaxAttempts:              rapid.IntRange(1, 4).Draw(rt, "attempts"),
			MaxMessagesPerConnection: rapid.IntRange(0, 5).Draw(rt, "poolLimit"),
		}
		opts.Session.DisableChunking = rapid.Bool().Draw(rt, "noChunking")
		opts.Session.DisablePipelining = rapid.Bool().Draw(rt, "noPipelining")
		opts.Session.Timeouts = session.Timeouts{Command: 5 * time.Second, Mail: 5 * time.Second, Rcpt: 5 * time.Second,
			DataInit: 5 * time.Second, DataBlock: 5 * time.Second, DataEnd: 5 * time.Second}

		srv := smtptest.NewServer(cfg)
		defer srv.Close()
		p, _ := newPool(t, srv, opts)

		n := rapid.IntRange(1, 25).Draw(rt, "messages")
		msgs := make([]*session.Message, n)
		for i := range msgs {
			rcpts := rapid.SliceOfNDistinct(rapid.IntRange(0, 3), 1, 3, rapid.ID).Draw(rt, fmt.Sprint("rcpts", i))
			m := envelopeMessage(fmt.Sprint("p", i))
			m.Envelope.To = nil
			for _, r := range rcpts {
				m.Envelope.To = append(m.Envelope.To, command.Mailbox{Local: fmt.Sprint("r", r), Domain: "example.net"})
			}
			msgs[i] = m
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if rapid.Bool().Draw(rt, "stream") {
			for range p.SendStream(ctx, slices.Values(msgs)) {
			}
		} else {
			var wg sync.WaitGroup
			goroutines := rapid.IntRange(1, 4).Draw(rt, "goroutines")
			for g := range goroutines {
				wg.Go(func() {
					for i := g; i < n; i += goroutines {
						m := msgs[i]
						m.Result, m.Err = p.SendEnvelope(ctx, &m.Envelope, m.Body)
						m.Done = true
					}
				})
			}
			wg.Wait()
		}
		// Nothing here waits for a timeout: a slow check is a message
		// that waited for a connection that never came.
		if d := time.Since(start); d > 15*time.Second {
			rt.Fatalf("sending took %v", d)
		}
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelClose()
		if err := p.Close(closeCtx); err != nil {
			rt.Fatalf("Close: %v", err)
		}
		srv.Close() // every connection's goroutine has ended: all is recorded

		recorded := map[string][]smtptest.Message{}
		for _, m := range srv.Messages() {
			if id := messageID.FindSubmatch(m.Data); id != nil {
				recorded[string(id[1])] = append(recorded[string(id[1])], m)
			}
		}
		var counts [5]uint64
		for i, m := range msgs {
			id := fmt.Sprint("p", i)
			got := recorded[id]
			if !m.Done {
				rt.Fatalf("%s: no outcome", id)
			}
			out := pool.OutcomeOf(m.Err)
			counts[out]++
			switch out {
			case pool.Delivered:
				// A message may go in several transactions (recipients
				// refused as too many go in the next): each recipient
				// reported delivered was recorded once, no other was.
				if len(got) == 0 {
					rt.Fatalf("%s delivered, never recorded", id)
				}
				var delivered []string
				for _, r := range m.Result.Recipients {
					if r.Delivered() {
						delivered = append(delivered, r.Address)
					}
				}
				if rec := recordedTo(got); !slices.Equal(rec, sorted(delivered)) {
					rt.Fatalf("%s: delivered to %v, server recorded %v", id, delivered, rec)
				}
				for _, g := range got {
					if !bytes.Contains(g.Data, []byte("Hello, "+id+".")) {
						rt.Fatalf("%s recorded as %q", id, g.Data)
					}
				}
			case pool.Refused, pool.NotSent:
				if len(got) != 0 {
					rt.Fatalf("%s %v (%v), recorded %d times", id, out, m.Err, len(got))
				}
			case pool.Unknown:
				// Recorded at most once for each recipient.
				rec := recordedTo(got)
				if len(slices.Compact(slices.Clone(rec))) != len(rec) {
					rt.Fatalf("%s unknown (%v), recorded %v", id, m.Err, rec)
				}
			}
		}
		s := p.Stats()
		if s.Delivered != counts[pool.Delivered] || s.Refused != counts[pool.Refused] ||
			s.Unknown != counts[pool.Unknown] || s.NotSent != counts[pool.NotSent] {
			rt.Fatalf("stats %+v, outcomes %v", s, counts)
		}
		if s.Open != 0 {
			rt.Fatalf("%d connections open after Close", s.Open)
		}
	})
}

// recordedTo lists, sorted, the recipients of every recorded copy of a
// message.
func recordedTo(msgs []smtptest.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.To...)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
