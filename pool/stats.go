package pool

import (
	"sync/atomic"

	"github.com/smtpkit/smtpkit/session"
)

// Stats are a pool's counters since New, for metrics. Every message
// handed to the pool is counted once, by its final outcome, in
// Delivered, Refused, Unknown or NotSent, when its Send call returns (or
// SendStream yields it).
type Stats struct {
	// Dials counts the connections opened (greeted, EHLO done, logged
	// in); DialErrors the attempts at one that failed.
	Dials      uint64
	DialErrors uint64
	// Reuses counts the messages a connection took after an earlier one:
	// messages sent without a connection of their own.
	Reuses uint64
	// Open is the number of connections open, or being opened, now.
	Open int

	// Retirements, by why a connection ended: it took as many messages
	// as MaxMessagesPerConnection or the server's MAILMAX allow
	// (RetiredLimit), it stayed idle for IdleTimeout (RetiredIdle), the
	// server ended it (a 421, or the connection broke: RetiredLost, which
	// also counts connections found closed by the server before reuse),
	// or Close ended it (RetiredClose).
	RetiredLimit uint64
	RetiredIdle  uint64
	RetiredLost  uint64
	RetiredClose uint64

	// Final outcomes, one per message (see [Outcome]).
	Delivered uint64
	Refused   uint64
	Unknown   uint64
	NotSent   uint64
	// Retries counts the attempts after the first, over all messages.
	Retries uint64

	// Replies counts the server's replies to the messages' commands
	// (MAIL, each RCPT, and the end of data or, in LMTP, each recipient's
	// reply after it; DATA's when it refused), on every attempt, by class:
	// Replies[response.ClassPositiveCompletion] the 2yz replies,
	// Replies[response.ClassTransientNegative] the 4yz ones, and so on.
	Replies [6]uint64
}

// counters are the live Stats.
type counters struct {
	dials, dialErrors, reuses                            atomic.Uint64
	retiredLimit, retiredIdle, retiredLost, retiredClose atomic.Uint64
	delivered, refused, unknown, notSent, retries        atomic.Uint64
	replies                                              [6]atomic.Uint64
}

// outcome counts a message's final outcome.
func (c *counters) outcome(err error) {
	switch OutcomeOf(err) {
	case Delivered:
		c.delivered.Add(1)
	case Refused:
		c.refused.Add(1)
	case Unknown:
		c.unknown.Add(1)
	default:
		c.notSent.Add(1)
	}
}

// attempt counts the replies of one attempt.
func (c *counters) attempt(res *session.Result, err error, lmtp bool) {
	var n [6]uint64
	countReplies(&n, res, err, lmtp)
	for i, v := range n {
		if v > 0 {
			c.replies[i].Add(v)
		}
	}
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	c := &p.stats
	s := Stats{
		Dials:        c.dials.Load(),
		DialErrors:   c.dialErrors.Load(),
		Reuses:       c.reuses.Load(),
		RetiredLimit: c.retiredLimit.Load(),
		RetiredIdle:  c.retiredIdle.Load(),
		RetiredLost:  c.retiredLost.Load(),
		RetiredClose: c.retiredClose.Load(),
		Delivered:    c.delivered.Load(),
		Refused:      c.refused.Load(),
		Unknown:      c.unknown.Load(),
		NotSent:      c.notSent.Load(),
		Retries:      c.retries.Load(),
	}
	for i := range s.Replies {
		s.Replies[i] = c.replies[i].Load()
	}
	p.mu.Lock()
	s.Open = p.conns
	p.mu.Unlock()
	return s
}
