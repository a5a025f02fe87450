package session

import (
	"context"
	"errors"
	"time"

	"github.com/smtpkit/smtpkit/response"
)

// The engine: one FIFO of commands awaiting a reply.
//
// SMTP answers strictly in order (RFC 5321 §4.1, RFC 2920 §3.1), so every
// command the Client writes — MAIL, each RCPT, DATA, each BDAT chunk, the
// end of data, RSET, and any other command — is queued here as one
// pending entry, and every reply read is handed to the entry at the head.
// Writing and reading are separate steps: a command is buffered and
// queued by enqueue; sync flushes and reads replies until few enough are
// pending. Sequential use syncs after every command, pipelining at RFC
// 2920's sync points (DATA, the end of a group), a stream when its window
// is full. No path has its own idea of which reply answers which command.
//
// The invariants:
//   - A reply matches exactly one pending entry. Bytes left in the read
//     buffer once nothing is pending mean the server answered something
//     the client never asked: the connection is closed with a
//     *DesyncError, and nothing read after it is trusted.
//   - A 421, or a 221 to anything but QUIT, is the server closing the
//     channel (RFC 5321 §3.8): it answers the head entry, every entry
//     behind it is left unanswered, and the connection is closed with an
//     error that carries that reply.
//   - A transaction's outcome is computed once from what was answered
//     (see txn.outcome): delivered, refused with a reply, or unanswered,
//     and only unanswered after the whole message was written may it have
//     been delivered.

// entryKind says what a pending entry is waiting for.
type entryKind uint8

const (
	entryCommand  entryKind = iota // a command outside a transaction: its reply goes back to the caller
	entryQuit                      // QUIT, whose 221 is the normal answer
	entryStartTLS                  // STARTTLS, whose caller checks the read buffer itself
	entryRset                      // an RSET written before a transaction's MAIL
	entryMail
	entryRcpt
	entryData  // the DATA command
	entryChunk // a BDAT chunk that is not the last
	entryEnd   // the end of data, or BDAT LAST: in LMTP, one reply per accepted recipient
)

// entry is one command awaiting its reply.
type entry struct {
	kind entryKind
	op   string // for errors and timeouts: "MAIL", "end of data", ...
	t    *txn   // the transaction it belongs to, if any
	idx  int    // RCPT: the recipient's index
}

// timeout is the RFC 5321 §4.5.3.2 limit for waiting on e's reply.
func (c *Client) timeout(e *entry) time.Duration {
	switch e.kind {
	case entryMail:
		return c.timeouts.Mail
	case entryRcpt:
		return c.timeouts.Rcpt
	case entryData:
		return c.timeouts.DataInit
	case entryChunk:
		return c.timeouts.DataBlock
	case entryEnd:
		return c.timeouts.DataEnd
	}
	return c.timeouts.Command
}

// queued is the number of entries awaiting a reply.
func (c *Client) queued() int { return len(c.pending) - c.head }

// enqueue records a command that has been buffered for writing.
func (c *Client) enqueue(e entry) {
	if c.err != nil {
		return // nothing more is written: it will get no reply
	}
	if c.head > 0 && len(c.pending) == cap(c.pending) {
		// Reuse the room the answered entries left rather than grow: a
		// stream's queue never empties, only slides.
		n := copy(c.pending, c.pending[c.head:])
		clear(c.pending[n:])
		c.pending, c.head = c.pending[:n], 0
	}
	if e.t != nil {
		e.t.due++
	}
	c.pending = append(c.pending, e)
}

// flush writes out what is buffered. A failure closes the connection.
func (c *Client) flush(ctx context.Context) error {
	if c.w.Buffered() == 0 {
		return c.err
	}
	if err := ctx.Err(); err != nil {
		return c.fail(ctx, "pipelined commands", 0, err)
	}
	c.ctx, c.wtimeout = ctx, c.timeouts.Command
	if err := c.w.Flush(); err != nil {
		return c.fail(ctx, "pipelined commands", c.wtimeout, err)
	}
	return nil
}

// sync flushes what is buffered and reads replies, handing each to its
// entry, until at most keep entries are pending. Once nothing is pending,
// anything left in the read buffer is a desynchronisation.
func (c *Client) sync(ctx context.Context, keep int) error {
	if c.err != nil {
		return c.err
	}
	if err := c.flush(ctx); err != nil {
		return err
	}
	for c.queued() > keep {
		e := &c.pending[c.head]
		d := c.timeout(e)
		if err := ctx.Err(); err != nil {
			// A command is on the wire: if its reply were left unread,
			// the next command would get it as its own.
			return c.fail(ctx, e.op, d, err)
		}
		// Replies that came together are taken from the buffer without
		// arming a deadline for each.
		reply, ok, err := c.r.ReadBufferedReply()
		if !ok && err == nil {
			c.armRead(ctx, d)
			reply, err = c.r.ReadReply()
		}
		if err != nil {
			return c.fail(ctx, e.op, d, err)
		}
		c.tr.reply(reply)
		closing := reply.Code == response.CodeServiceNotAvailable ||
			reply.Code == response.CodeServiceClosing && e.kind != entryQuit
		if err := c.answer(e, reply); err != nil {
			return err
		}
		if closing {
			return c.closedByServer(e.op, reply)
		}
	}
	if c.queued() == 0 && c.r.Buffered() > 0 && c.lastKind != entryStartTLS {
		return c.failWith(&DesyncError{After: c.lastOp, Buffered: c.r.Buffered()}, false)
	}
	return nil
}

// answer hands reply to e, the head entry, and removes it from the queue
// unless it waits for more replies (LMTP's end of data). An error means
// the reply cannot belong to the command: the connection is closed.
func (c *Client) answer(e *entry, reply response.Reply) error {
	c.lastOp, c.lastKind = e.op, e.kind
	t := e.t
	more := false
	if reply.Intermediate() && e.kind != entryData && e.kind != entryCommand && e.kind != entryStartTLS {
		return c.unexpected(e.op, reply)
	}
	switch e.kind {
	case entryCommand, entryQuit, entryStartTLS:
		c.got = reply
	case entryRset:
		if !reply.Positive() && reply.Code != response.CodeServiceNotAvailable {
			// Whatever the previous transaction left, the server would
			// not clear it: the next one cannot be trusted to start clean.
			return c.unexpected("RSET", reply)
		}
	case entryMail:
		t.mailDone = true
		t.res.Mail = reply
		t.mailOK = reply.Positive() && reply.Code != response.CodeServiceClosing
	case entryRcpt:
		r := &t.res.Recipients[e.idx]
		r.Reply = reply
		r.Accepted = t.mailOK && reply.Positive() && reply.Code != response.CodeServiceClosing
		t.rcptDone++
		if r.Accepted {
			t.accepted++
		}
	case entryData:
		if reply.Code != response.CodeStartMailInput && (reply.Positive() || reply.Intermediate()) {
			return c.unexpected("DATA", reply)
		}
		t.dataDone = true
		t.dataReply = reply
	case entryChunk:
		t.chunksOK++
		if !reply.Positive() && t.chunkErr.Code == 0 {
			t.chunkErr = reply
		}
	case entryEnd:
		more = t.answerEnd(reply, c.opts.LMTP)
	}
	if more {
		return nil
	}
	c.pending[c.head].t = nil // let a finished transaction go
	c.head++
	if t != nil {
		t.due--
		c.settle(t)
	}
	return nil
}

// settle marks t done once it is fully written and fully answered, and
// remembers whether the server may still hold its transaction open.
func (c *Client) settle(t *txn) {
	if t.due > 0 || !t.written || t.done {
		return
	}
	t.done = true
	if t == c.last {
		c.needRset = c.needRset || t.mayBeOpen()
		c.last = nil
	}
}

// closedByServer ends the session after a 421 (or an unasked-for 221):
// the reply has answered its command; whatever is still pending will get
// no answer.
func (c *Client) closedByServer(op string, reply response.Reply) error {
	err := &DisconnectedError{Op: op, Err: reply.Err(op)}
	if reply.Positive() {
		// reply.Err is nil for 2yz: a 221 still ends the session.
		err.Err = &response.Error{Reply: reply, Command: op}
	}
	return c.failWith(err, true)
}

// fail turns a read or write failure during op into the error every
// later call reports (see ioError), closes the connection, and leaves
// everything pending unanswered. When a write failed because the server
// closed its end, the replies it sent before closing are read first: a
// 421 among them is the real reason, and the replies before it still
// answer their commands.
func (c *Client) fail(ctx context.Context, op string, d time.Duration, err error) error {
	if c.err != nil {
		return c.err
	}
	out := c.ioError(ctx, op, d, err)
	var de *DisconnectedError
	if errors.As(out, &de) && c.queued() > 0 && !c.salvaging {
		if salvaged := c.salvage(); salvaged != nil {
			return salvaged
		}
	}
	return c.failWith(out, false)
}

// salvage reads what the server already sent, briefly, after a write
// failed: it returns the error that ended the session when the replies
// explained it (a 421), and nil otherwise.
func (c *Client) salvage() error {
	c.salvaging = true
	defer func() { c.salvaging = false }()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	c.w.Reset(discard{}) // nothing more is written on this connection
	for c.queued() > 0 && c.err == nil {
		c.armRead(ctx, 0)
		reply, err := c.r.ReadReply()
		if err != nil {
			return nil
		}
		c.tr.reply(reply)
		e := &c.pending[c.head]
		if c.answer(e, reply) != nil {
			return c.err
		}
		if reply.Code == response.CodeServiceNotAvailable || reply.Code == response.CodeServiceClosing {
			return c.closedByServer(e.op, reply)
		}
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// failWith closes the connection for good with err as the reason, and
// settles every pending entry's transaction as unanswered.
func (c *Client) failWith(err error, byServer bool) error {
	if c.err == nil {
		c.err = err
		c.serverClosed = byServer
	}
	c.conn.Close()
	c.unwatch()
	for i := c.head; i < len(c.pending); i++ {
		if t := c.pending[i].t; t != nil {
			t.due--
			c.settle(t)
		}
	}
	c.pending, c.head = c.pending[:0], 0
	return c.err
}

// exchange writes one command line (CRLF included, already traced) and
// reads its reply: "queue one, sync".
func (c *Client) exchange(ctx context.Context, kind entryKind, op string, line []byte) (response.Reply, error) {
	if err := ctx.Err(); err != nil {
		return response.Reply{}, err
	}
	c.w.Write(line)
	c.enqueue(entry{kind: kind, op: op})
	c.got = response.Reply{}
	if err := c.sync(ctx, 0); err != nil && !(c.serverClosed && c.got.Code != 0) {
		return response.Reply{}, err
	}
	// A 421 still answers the command; the calls after it learn that the
	// session is over.
	return c.got, nil
}

// armRead sets the read deadline for one reply: now+d or the context's
// deadline, whichever is sooner (no limit for d <= 0), and makes
// cancelling ctx unblock the read at once.
func (c *Client) armRead(ctx context.Context, d time.Duration) {
	c.watch(ctx)
	c.conn.SetReadDeadline(deadline(ctx, d))
	if ctx.Err() != nil {
		// Cancelled before or while the deadline was set: the watch may
		// have fired before SetReadDeadline undid it.
		c.conn.SetDeadline(time.Unix(1, 0))
	}
}

func deadline(ctx context.Context, d time.Duration) time.Time {
	var dl time.Time
	if d > 0 {
		dl = time.Now().Add(d)
	}
	if cd, ok := ctx.Deadline(); ok && (dl.IsZero() || cd.Before(dl)) {
		dl = cd
	}
	return dl
}

// connWriter is what the Client's wire.Writer writes to: every write to
// the socket gets its own deadline, the current phase's timeout from now
// (RFC 5321 §4.5.3.2.5: each block of data is bounded, not the whole
// message), or the context's deadline if sooner.
type connWriter struct{ c *Client }

func (w connWriter) Write(p []byte) (int, error) {
	c := w.c
	ctx := c.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	c.watch(ctx)
	c.conn.SetWriteDeadline(deadline(ctx, c.wtimeout))
	if ctx.Err() != nil {
		c.conn.SetDeadline(time.Unix(1, 0))
	}
	return c.conn.Write(p)
}
