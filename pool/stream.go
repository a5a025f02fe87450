package pool

import (
	"context"
	"iter"

	"github.com/smtpkit/smtpkit/session"
)

// streamWindow is how many messages of a SendStream may be in flight per
// connection of the pool: enough to keep every connection's own stream
// full while the replies of the one before come back.
const streamWindow = 64

// SendStream sends msgs over the pool's connections, several at once, and
// yields each message's outcome, as [Pool.SendEnvelope] returns it
// (retries included), in the order of msgs; each is also recorded in its
// Message (Done, Result, Err), as session.Client.SendStream records it.
// Up to MaxConnections × 64 messages are in flight at once: a message is
// taken from msgs only when there is room, so msgs may be endless.
//
// When the loop over the results stops early, or ctx ends, SendStream
// takes no more messages from msgs, waits for the outcome of every
// message it took, and records it in the Message: a message taken is
// never lost, and one never taken keeps Done false, so a caller that
// re-queues the messages without Done sends none twice. ctx applies to
// each message as it does to SendEnvelope: a message still waiting for a
// connection when it ends is reported with ctx's error, not sent.
//
// The body of each message is read (and, for a retry, read again) while
// the message is in flight; see the package documentation.
func (p *Pool) SendStream(ctx context.Context, msgs iter.Seq[*session.Message]) iter.Seq2[*session.Result, error] {
	return func(yield func(*session.Result, error) bool) {
		window := p.opts.MaxConnections * streamWindow
		var queue []*flight
		listening := true
		report := func(f *flight) {
			f.m.Done, f.m.Result, f.m.Err = true, f.res, f.err
			if listening && !yield(f.res, f.err) {
				listening = false
			}
		}
		for m := range msgs {
			f := &flight{m: m, done: make(chan struct{})}
			go f.send(ctx, p)
			queue = append(queue, f)
			// Report what has finished at the front, waiting for it
			// while the window is full.
			for len(queue) > 0 && (len(queue) >= window || queue[0].finished()) {
				<-queue[0].done
				report(queue[0])
				queue[0] = nil
				queue = queue[1:]
			}
			if !listening || ctx.Err() != nil {
				break
			}
		}
		for _, f := range queue {
			<-f.done
			report(f)
		}
	}
}

// flight is one message of a SendStream on its way.
type flight struct {
	m    *session.Message
	done chan struct{}
	res  *session.Result
	err  error
}

// finished reports whether the message has its outcome.
func (f *flight) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *flight) send(ctx context.Context, p *Pool) {
	f.res, f.err = p.SendEnvelope(ctx, &f.m.Envelope, f.m.Body)
	close(f.done)
}
