package pool

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/session"
)

// maxBatch bounds the messages one stream on a connection takes before
// it stops to read their replies and report them: the wait of the first
// message in a batch grows with the batch.
const maxBatch = 256

// errNoOutcome stands in for the outcome of a message a stream took and
// did not report, which package session promises never happens. It
// counts as unknown: the message may have been written.
var errNoOutcome = errors.New("pool: the session reported no outcome for the message")

// conn is one connection's goroutine: it takes messages from the pool
// and sends them, a batch at a time, with session.Client.SendStream.
type conn struct {
	p       *Pool
	c       *session.Client
	limit   int    // messages it may take (MaxMessagesPerConnection, MAILMAX); 0: no limit
	taken   int    // messages it has taken
	batch   []*job // the messages of the stream in progress, in order
	extra   *job   // a SendMessage job received during a stream, sent after it
	lost    bool   // the session has ended (an outcome said so)
	holding bool   // it holds the pool's gathering turn
	check   *idleCheck
}

// ending is why a connection ended.
type ending int

const (
	endLimit ending = iota
	endIdle
	endLost
	endClose
)

// work runs a connection, which sends first and then what the pool hands
// it, until it retires; then it frees its slot.
func (p *Pool) work(c *session.Client, first *job) {
	defer p.workers.Done()
	w := &conn{p: p, c: c, limit: p.opts.MaxMessagesPerConnection, check: newIdleCheck(c.Conn())}
	if m := c.Extensions().Limits().MailMax; m > 0 && (w.limit <= 0 || m < w.limit) {
		w.limit = m
	}
	why := w.loop(first)
	if why == endLost {
		c.Close()
	} else {
		c.Quit(p.ctx) // closes the connection whatever the reply
	}
	switch why {
	case endLimit:
		p.stats.retiredLimit.Add(1)
	case endIdle:
		p.stats.retiredIdle.Add(1)
	case endLost:
		p.stats.retiredLost.Add(1)
	case endClose:
		p.stats.retiredClose.Add(1)
	}
	p.release()
}

// loop serves first, then messages from the pool, until the connection
// has to go.
func (w *conn) loop(first *job) ending {
	if !w.serve(first) {
		return endLost
	}
	if w.full() {
		return endLimit
	}
	var idle <-chan time.Time
	d := w.p.opts.IdleTimeout
	var timer *time.Timer
	if d > 0 {
		timer = time.NewTimer(d)
		defer timer.Stop()
		idle = timer.C
	}
	for {
		select {
		case w.p.gather <- struct{}{}:
			w.holding = true
		case <-idle:
			return endIdle
		case <-w.p.closing:
			return endClose
		}
		select {
		case j := <-w.p.jobs:
			ok := w.serve(j)
			w.yieldTurn()
			if !ok {
				return endLost
			}
			if w.full() {
				return endLimit
			}
			if timer != nil {
				timer.Reset(d)
			}
		case <-idle:
			w.yieldTurn()
			return endIdle
		case <-w.p.closing:
			w.yieldTurn()
			return endClose
		}
	}
}

// spreadAbove is the time a message takes on a connection, its batch's
// round trip divided among its messages, above which the pool spreads
// the messages waiting over its connections rather than gathering them
// into one batch: the server then spends its time on each message, one
// at a time per connection, and several connections share that time.
// Below it a round trip costs about the same for one message as for a
// hundred, and the fewer, the fuller the batches, the less each message
// costs.
const spreadAbove = 200 * time.Microsecond

// batchLimit is how many messages a connection's next batch may take:
// all that are waiting (up to maxBatch) while the server answers fast,
// else an even share of those in flight over MaxConnections.
func (p *Pool) batchLimit() int {
	if p.perMessage.load() < spreadAbove {
		return maxBatch
	}
	p.mu.Lock()
	n := p.active
	p.mu.Unlock()
	return max(1, min(maxBatch, (n+p.opts.MaxConnections-1)/p.opts.MaxConnections))
}

// ewma is a moving average of durations, safe for concurrent use (an
// update that races another may be lost, which an average can afford).
type ewma struct{ v atomic.Int64 }

func (e *ewma) load() time.Duration { return time.Duration(e.v.Load()) }

func (e *ewma) observe(d time.Duration) {
	old := e.v.Load()
	if old == 0 {
		e.v.Store(int64(d))
		return
	}
	e.v.Store(old + (int64(d)-old)/8)
}

// yieldTurn gives up the gathering turn, if the connection holds it.
func (w *conn) yieldTurn() {
	if w.holding {
		w.holding = false
		<-w.p.gather
	}
}

// full reports whether the connection has taken all it may.
func (w *conn) full() bool { return w.limit > 0 && w.taken >= w.limit }

// serve sends j, and whatever other messages are waiting, and reports
// whether the connection is still usable.
func (w *conn) serve(j *job) bool {
	// The server may have closed the connection while it was idle (a
	// timeout, a restart): a message written to it now could be reported
	// unknown although the server never read it.
	if err := w.check.run(); err != nil {
		w.handBack(j)
		return false
	}
	if j.raw {
		w.sendMessage(j)
	} else {
		w.stream(j)
	}
	for w.extra != nil {
		j, w.extra = w.extra, nil
		if w.lost {
			w.handBack(j)
			return false
		}
		w.sendMessage(j)
	}
	return !w.lost
}

// stream sends first, and every message waiting for a connection while
// it goes, in one session stream, and reports each outcome as soon as
// the stream yields it.
func (w *conn) stream(first *job) {
	w.batch = w.batch[:0]
	head := 0
	limit := w.p.batchLimit()
	start := time.Now()
	msgs := func(yield func(*session.Message) bool) {
		for j := first; ; {
			w.take(j)
			w.batch = append(w.batch, j)
			if !yield(&j.msg) || w.full() || len(w.batch) >= limit {
				w.yieldTurn()
				return
			}
			var ok bool
			if j, ok = w.next(); !ok {
				w.yieldTurn()
				return
			}
			if j.raw {
				w.extra = j
				w.yieldTurn()
				return
			}
		}
	}
	// Every way a session ends shows in an outcome (the connection
	// broke, or the server closed it, while a message waited for a
	// reply) or makes the stream refuse to start, handing first back;
	// only the RSET that ends a stream whose last transaction may still
	// be open on the server (package session sends it) could end it
	// unseen, and the next stream would then hand its first message
	// back.
	for range w.c.SendStream(w.p.ctx, msgs) {
		// Each outcome is recorded in its Message before it is yielded;
		// a yield with no message behind it is the stream refusing to
		// start (the connection is gone).
		for head < len(w.batch) && w.batch[head].msg.Done {
			w.deliver(w.batch[head])
			head++
		}
	}
	for ; head < len(w.batch); head++ {
		j := w.batch[head]
		if !j.msg.Done {
			j.msg.Done, j.msg.Result, j.msg.Err = true, nil, errNoOutcome
		}
		w.deliver(j)
	}
	if len(w.batch) == 0 {
		w.handBack(first)
		w.lost = true
	} else if !w.lost {
		w.p.perMessage.observe(time.Since(start) / time.Duration(len(w.batch)))
	}
	clear(w.batch)
}

// next takes a message waiting for a connection, if there is one now or
// after the senders that are ready to run have run: a sender whose
// previous message this connection just reported is about to hand over
// its next, and joining it to the batch saves a round trip.
func (w *conn) next() (*job, bool) {
	select {
	case j := <-w.p.jobs:
		return j, true
	default:
	}
	runtime.Gosched()
	select {
	case j := <-w.p.jobs:
		return j, true
	default:
		return nil, false
	}
}

// sendMessage sends a SendMessage job on its own.
func (w *conn) sendMessage(j *job) {
	w.take(j)
	res, err := w.c.SendMessage(w.p.ctx, j.msg.Body)
	j.msg.Done, j.msg.Result, j.msg.Err = true, res, err
	w.deliver(j)
}

// take counts a message the connection takes.
func (w *conn) take(j *job) {
	if w.taken > 0 {
		w.p.stats.reuses.Add(1)
	}
	w.taken++
}

// deliver hands an attempt's outcome, recorded in j.msg, to j's sender.
// The connection must not touch j afterwards: the sender may retry it.
func (w *conn) deliver(j *job) {
	w.p.stats.attempt(j.msg.Result, j.msg.Err, w.p.opts.Session.LMTP)
	if ended(j.msg.Err) {
		w.lost = true
	}
	j.taken = true
	j.done <- struct{}{}
}

// handBack returns a job the connection did not take.
func (w *conn) handBack(j *job) {
	j.taken = false
	j.done <- struct{}{}
}
