package session

import (
	"context"
	"io"
	"iter"
)

// Message is one message for [Client.SendStream]: an envelope and a
// body, as [Client.SendEnvelope] takes them.
type Message struct {
	Envelope Envelope
	Body     io.Reader
}

// SendStream sends messages back to back over the connection and yields
// each one's outcome, in the order of msgs, as SendEnvelope would return
// it. With PIPELINING the next transaction's commands are written while
// the replies to the previous ones are still on their way: with CHUNKING
// too, nothing waits for the server until a few hundred replies are
// outstanding; with DATA, each message waits once, for its 354 (the reply
// to the previous message's end of data comes in the same read). Without
// PIPELINING it is SendEnvelope in a loop.
//
// A refused message (*SenderRefusedError, *RecipientsRefusedError,
// *DataError, *MessageTooLargeError, ...) is yielded and the stream goes
// on. When the connection fails, every message written but not answered
// is yielded with the error (its fate is unknown: never assume it was
// delivered) and the stream ends without taking more from msgs. If the
// loop over the results stops early, the replies still due are read
// before SendStream returns, so the Client stays usable.
//
// Because a BDAT transaction's outcome is not known when the next one is
// written, each transaction after a BDAT one starts with RSET (pipelined,
// it costs no round trip): a failed BDAT can leave the server's
// transaction open (RFC 3030 §2), and the next message's recipients must
// never join it.
func (c *Client) SendStream(ctx context.Context, msgs iter.Seq[*Message]) iter.Seq2[*Result, error] {
	return func(yield func(*Result, error) bool) {
		if err := c.ensureHello(ctx); err != nil {
			yield(nil, err)
			return
		}
		if c.state != stateReady {
			yield(nil, &StateError{Op: "SendStream", State: c.state.String()})
			return
		}
		if !c.usePipelining() {
			for m := range msgs {
				res, err := c.SendEnvelope(ctx, &m.Envelope, m.Body)
				if !yield(res, err) || c.usable() != nil {
					return
				}
			}
			return
		}
		s := stream{c: c, ctx: ctx, yield: yield}
		s.run(msgs)
	}
}

// stream is one SendStream in progress.
type stream struct {
	c     *Client
	ctx   context.Context
	yield func(*Result, error) bool
	stop  bool // the caller's loop ended: results are read, not yielded

	queue      []*txn // written, not fully answered, in order
	broken     error  // the connection failed
	lastFailed bool   // the last transaction answered failed
}

func (s *stream) run(msgs iter.Seq[*Message]) {
	c, ctx := s.c, s.ctx
	for m := range msgs {
		t, err := c.prepareTxn(&m.Envelope, m.Body)
		if err == nil {
			t.rset = s.needRset()
			err = c.writeCommands(t) // a line that cannot be built writes nothing
		}
		if err != nil {
			// Nothing written for m; its result still comes in order,
			// after those before it.
			if !s.drain(0) {
				if !s.stop {
					s.yield(nil, s.broken) // m was taken: it gets a result too
				}
				return
			}
			if !s.emit(nil, err) {
				return
			}
			continue
		}
		if t.bdat {
			if err := c.writeBDAT(ctx, t); err != nil {
				s.fail(append(s.queue, t), err)
				return
			}
		}
		s.queue = append(s.queue, t)
		if !t.bdat {
			// The message goes only after DATA's 354: read everything
			// before it, then t's envelope and DATA replies.
			if !s.drain(1) {
				return
			}
			if err := s.readStart(t); err != nil {
				s.fail(s.queue, err)
				return
			}
			continue
		}
		if s.due() > maxOutstandingReplies && !s.drain(len(s.queue)/2) {
			return
		}
	}
	s.drain(0)
}

// needRset says whether the next transaction must start with RSET: the
// last one written failed, or its outcome is not known yet and a failure
// could leave it open (BDAT).
func (s *stream) needRset() bool {
	if len(s.queue) == 0 {
		return s.lastFailed
	}
	last := s.queue[len(s.queue)-1]
	if last.bdat {
		return true
	}
	return last.err != nil
}

// readStart reads t's replies up to the message: RSET, MAIL, RCPTs and,
// for DATA, DATA's reply, after which the message (or, when nothing was
// accepted, only the end of data) is written; it is flushed with what
// comes next, or now when nothing does.
func (s *stream) readStart(t *txn) error {
	c, ctx := s.c, s.ctx
	if err := c.readEnvelope(ctx, t); err != nil {
		return err
	}
	if !t.bdat {
		if err := c.readDataStart(ctx, t); err != nil {
			return err
		}
	}
	t.phaseA = true
	return nil
}

// due is the number of replies still to read for the queue.
func (s *stream) due() int {
	n := 0
	for _, t := range s.queue {
		switch {
		case t.phaseA && t.dataOK:
			n++ // the end of data
		case t.phaseA:
		case t.bdat:
			n += 1 + len(t.env.To) + t.chunks
			if s.c.opts.LMTP {
				n += len(t.env.To) - 1 // BDAT LAST: a reply per recipient
			}
		default:
			n += 1 + len(t.env.To) + 2
		}
		if t.rset && !t.phaseA {
			n++
		}
	}
	return n
}

// drain flushes and reads the replies of the oldest transactions until at
// most keep are left, yielding their results. It reports whether the
// stream can go on.
func (s *stream) drain(keep int) bool {
	if s.broken != nil {
		return false
	}
	c, ctx := s.c, s.ctx
	// Flush even with nothing to read yet: a DATA transaction waits next
	// for replies to what may still be in the buffer.
	if c.w.Buffered() > 0 {
		if err := c.flushOut(ctx); err != nil {
			s.fail(s.queue, err)
			return false
		}
	}
	for len(s.queue) > keep {
		t := s.queue[0]
		if !t.phaseA {
			if err := s.readStart(t); err != nil {
				s.fail(s.queue, err)
				return false
			}
		}
		if c.w.Buffered() > 0 {
			// readStart wrote the message after DATA's 354.
			if err := c.flushOut(ctx); err != nil {
				s.fail(s.queue, err)
				return false
			}
		}
		if err := c.readEnd(ctx, t); err != nil {
			s.fail(s.queue, err)
			return false
		}
		s.queue = s.queue[1:]
		s.lastFailed = t.err != nil
		var ok bool
		if t.err != nil {
			ok = s.emit(nil, t.failure())
		} else {
			ok = s.emit(t.res, nil)
		}
		if !ok {
			return false
		}
	}
	return true
}

// emit yields one result unless the caller has stopped listening, in
// which case the stream only reads what is due and ends.
func (s *stream) emit(res *Result, err error) bool {
	if s.stop {
		return true
	}
	if !s.yield(res, err) {
		s.stop = true
		s.drain(0)
		return false
	}
	return true
}

// fail ends the stream after a connection error: every transaction
// written and not answered gets the error.
func (s *stream) fail(pending []*txn, err error) {
	s.broken = err
	s.queue = nil
	for range pending {
		if s.stop || !s.yield(nil, err) {
			s.stop = true
			return
		}
	}
}
