package session

import (
	"context"
	"io"
	"iter"
)

// Message is one message for [Client.SendStream]: an envelope and a
// body, as [Client.SendEnvelope] takes them. SendStream records the
// message's outcome in it.
type Message struct {
	Envelope Envelope
	Body     io.Reader

	// Done is set by SendStream once the message's outcome is known, and
	// then Result and Err are what SendEnvelope would have returned. A
	// message SendStream never took from its input keeps Done false.
	Done   bool
	Result *Result
	Err    error
}

// SendStream sends messages back to back over the connection and yields
// each one's outcome, in the order of msgs, as SendEnvelope would return
// it. With PIPELINING the next transaction's commands are written while
// the replies to the previous ones are still on their way: with CHUNKING
// too, nothing waits for the server until a few hundred replies are
// outstanding; with DATA, each message waits once, for its 354 (the reply
// to the previous message's end of data comes in the same read). Without
// PIPELINING each message is sent as SendEnvelope sends it.
//
// A message with more recipients than the server takes in one
// transaction (LIMITS RCPTMAX, or 452 replies: see SendEnvelope) has its
// following transactions sent, on the same connection, before its
// outcome is yielded; the stream waits for them.
//
// Every message taken from msgs gets exactly one outcome. A refused
// message (*SenderRefusedError, *RecipientsRefusedError, *DataError,
// *MessageTooLargeError, ...) is yielded and the stream goes on. When the
// session ends (the connection fails, or the server closes it with a 421,
// as servers with a per-connection message limit do), the message whose
// command got the 421 is refused with it, every message written but not
// answered is yielded with an *UnansweredError (see MaybeDelivered: never
// assume it was delivered), and the stream ends without taking more from
// msgs: dial again for the rest.
//
// Messages are taken from msgs only as they are written. If the loop over
// the results stops early, SendStream still reads the replies to every
// message it wrote, so the Client stays usable, and records each outcome
// in its Message (Done, Result, Err): a message taken but not yielded is
// not lost, and one never taken has Done false, so a caller that re-queues
// the messages without Done sends none twice.
//
// A message whose envelope is wrong whatever the server offers (no
// recipients, RcptParams that do not match them) is refused before any
// I/O; Hello, when still to do, is done for the first message that is
// not, and if it fails, that message's outcome is its error and the
// stream ends.
//
// While the stream runs, every other call on the Client (from the loop's
// body, say) is refused with a *StateError: the replies due belong to the
// stream's commands.
//
// Because a BDAT transaction's outcome is not known when the next one is
// written, each transaction after a BDAT one starts with RSET (pipelined,
// it costs no round trip): a failed BDAT can leave the server's
// transaction open (RFC 3030 §2), and the next message's recipients must
// never join it.
func (c *Client) SendStream(ctx context.Context, msgs iter.Seq[*Message]) iter.Seq2[*Result, error] {
	return func(yield func(*Result, error) bool) {
		if err := c.usable(); err != nil {
			yield(nil, err)
			return
		}
		if c.state != StateReady && c.state != StateGreeted {
			yield(nil, &StateError{Op: "SendStream", State: c.state})
			return
		}
		s := stream{c: c, ctx: ctx, yield: yield}
		c.streaming = true
		defer func() { c.streaming = false }()
		s.run(ctx, msgs)
	}
}

// stream is one SendStream in progress.
type stream struct {
	c       *Client
	ctx     context.Context
	yield   func(*Result, error) bool
	order   []*txn // taken from the input, outcome not yet reported: order[head:]
	head    int
	stopped bool // the caller's loop ended: outcomes are recorded, not yielded
	greeted bool // Hello has been done for the stream
}

// hello runs Hello before the first message that will be written, so
// that a stream whose messages are refused before any I/O writes nothing.
func (s *stream) hello(ctx context.Context) error {
	c := s.c
	if s.greeted {
		return nil
	}
	c.streaming = false // Hello is one of the calls a stream refuses
	err := c.ensureHello(ctx)
	c.streaming = true
	if err == nil && c.state != StateReady {
		err = &StateError{Op: "SendStream", State: c.state}
	}
	s.greeted = err == nil
	return err
}

func (s *stream) run(ctx context.Context, msgs iter.Seq[*Message]) {
	c := s.c
	for m := range msgs {
		// What is wrong with the envelope whatever the server offers is
		// found before Hello.
		err := checkEnvelope(&m.Envelope)
		var helloErr error
		if err == nil {
			helloErr = s.hello(ctx)
			err = helloErr
		}
		var t *txn
		if err == nil {
			t, err = c.prepareFirst(&m.Envelope, m.Body)
		}
		if err != nil {
			// Nothing is written for m; its outcome still comes in order.
			t = &txn{err: err, written: true, done: true}
		}
		t.msg = m
		if s.head > 0 && len(s.order) == cap(s.order) {
			n := copy(s.order, s.order[s.head:])
			clear(s.order[n:])
			s.order, s.head = s.order[:n], 0
		}
		s.order = append(s.order, t)
		if err == nil {
			if err := ctx.Err(); err != nil {
				c.fail(ctx, "SendStream", 0, err)
			}
			if c.last != nil && !c.last.done && c.last.bdat {
				c.needRset = true // its failure could leave it open
			}
			if err := c.writeTxn(ctx, t); err == nil && c.queued() > maxOutstandingReplies {
				c.sync(ctx, c.queued()/2)
			}
		}
		if !s.report() || c.err != nil || helloErr != nil {
			break
		}
	}
	// The replies to everything written, read even when the caller has
	// stopped listening: their outcomes are recorded in the messages. Each
	// outcome is reported as soon as it is known, so that a cancel in the
	// loop's body stops the stream there.
	for len(s.order) > s.head && c.queued() > 0 {
		c.sync(ctx, c.queued()-1)
		s.report()
	}
	c.sync(ctx, 0)
	c.resetIfOpen(ctx)
	s.report()
}

// report records the outcome of every settled transaction at the front of
// the order and yields it, unless the caller has stopped listening. It
// reports whether the caller still listens.
func (s *stream) report() bool {
	c := s.c
	for len(s.order) > s.head && s.order[s.head].done {
		t := s.order[s.head]
		s.order[s.head] = nil
		s.head++
		res, err := c.outcome(t)
		m, sp := t.msg, t.split
		c.recycle(t)
		if sp != nil {
			// The rest of the message's recipients go now, before its
			// outcome is reported.
			sp.record(res, err, c.err != nil)
			res, err = c.sendRest(s.ctx, sp, res, err)
		}
		m.Done, m.Result, m.Err = true, res, err
		if !s.stopped && !s.yield(res, err) {
			s.stopped = true
		}
	}
	return !s.stopped
}
