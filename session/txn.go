package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

// This file is one mail transaction, whichever way it is sent: the same
// code writes it and the same rules (txn.outcome) say what became of it,
// for Send with or without PIPELINING (RFC 2920), with DATA or BDAT (RFC
// 3030), in SMTP or LMTP (RFC 2033), one at a time or in a SendStream.
// The ways differ only in when they wait for replies (see engine.go).

// maxOutstandingReplies bounds the replies a stream leaves unread before
// it stops to read them. Replies are small, but a server blocked on
// writing them stops reading, and a client that never reads would then
// block writing: both would wait forever. 256 replies are a few KiB, far
// below any socket buffer.
const maxOutstandingReplies = 256

// usePipelining and useChunking say whether the server offers the
// extension and the caller has not turned it off.
func (c *Client) usePipelining() bool {
	return !c.opts.DisablePipelining && c.ext.Has("PIPELINING")
}

func (c *Client) useChunking() bool {
	return !c.opts.DisableChunking && c.ext.Has("CHUNKING")
}

// txn is one transaction: what is to be sent, and what was answered.
type txn struct {
	env    *Envelope
	body   io.Reader
	params command.MailParams
	bdat   bool // the message goes as BDAT chunks
	raw    bool // BODY=BINARYMIME: the chunks carry the body unchanged
	clean  bool // the body was scanned: its line endings are all CRLF already
	manual bool // the low-level calls drive it (Mail, Rcpt, Data)
	msg    *Message
	split  *splitter // the message may go in more transactions than this one

	longLines LongLines // the line-length policy its encoder applies (longlines.go)

	res        *Result
	due        int  // entries queued and not answered
	written    bool // the client will write nothing more for it
	done       bool // written and every entry answered or abandoned
	mailDone   bool
	mailOK     bool
	rcptDone   int
	rcptQueued int
	accepted   int
	dataDone   bool
	dataReply  response.Reply
	chunks     int            // non-final BDAT chunks written
	chunksOK   int            // ... and answered
	chunkErr   response.Reply // the first refused chunk's reply
	endSent    bool           // the whole message, its end included, was written
	endDone    bool           // the end's reply (in LMTP, every one of them) was read
	endReply   response.Reply
	lmtpNext   int  // LMTP: the next recipient whose reply after the message is due
	lmtpStart  bool // LMTP: the first reply after the message has been read

	err    error // set when the transaction failed before anything was written
	outRes *Result
	failed error
	judged bool
}

// resultOne is a Result with room for one recipient: one allocation for
// the usual message.
type resultOne struct {
	Result
	one [1]RecipientResult
}

func (c *Client) newTxn(env *Envelope) *txn {
	var t *txn
	if n := len(c.free); n > 0 {
		t, c.free = c.free[n-1], c.free[:n-1]
	} else {
		t = new(txn)
	}
	*t = txn{env: env}
	if len(env.To) == 1 {
		r := new(resultOne)
		r.Recipients = r.one[:]
		t.res = &r.Result
	} else {
		t.res = &Result{Recipients: make([]RecipientResult, len(env.To))}
	}
	for i, to := range env.To {
		t.res.Recipients[i].Address = to.String()
	}
	return t
}

// recycle keeps t, whose outcome has been reported, for a later message:
// nothing of it reaches the caller but its Result, which it does not
// hold. One the engine may still look at is left alone.
func (c *Client) recycle(t *txn) {
	if t == nil || !t.done || !t.judged || t.manual || t == c.last || t == c.cur || len(c.free) >= maxOutstandingReplies {
		return
	}
	*t = txn{}
	c.free = append(c.free, t)
}

// checkEnvelope finds what is wrong with env whatever the server offers,
// so that it is reported before any I/O: no recipients, or RcptParams
// that do not match them.
func checkEnvelope(env *Envelope) error {
	if len(env.To) == 0 {
		return ErrNoRecipients
	}
	if env.RcptParams != nil && len(env.RcptParams) != len(env.To) {
		return fmt.Errorf("%w (len(To) = %d, len(RcptParams) = %d)", ErrRcptParams, len(env.To), len(env.RcptParams))
	}
	return nil
}

// prepareTxn checks env and fills in its parameters, writing nothing.
func (c *Client) prepareTxn(env *Envelope, body io.Reader) (*txn, error) {
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	params, scan, err := c.autoParams(env, body)
	if err != nil {
		return nil, err
	}
	t := c.newTxn(env)
	t.body, t.params, t.clean = body, params, scan.clean()
	// Without PIPELINING, BDAT would only add a wait per chunk: DATA is
	// used, unless the body needs BINARYMIME.
	t.bdat = c.useChunking() && (c.usePipelining() || params.Body == command.BodyBinaryMIME)
	if t.params.Body == command.BodyBinaryMIME {
		if !t.bdat {
			return nil, &NotSupportedError{Extension: "CHUNKING", Reason: "for BODY=BINARYMIME (RFC 3030 §3)"}
		}
		t.raw = true
	}
	if err := c.checkLongLines(t, &scan); err != nil {
		return nil, err
	}
	if err := c.checkMailParams(t.params); err != nil {
		return nil, err
	}
	if env.RcptParams != nil && !c.ext.Has("DSN") {
		for _, p := range env.RcptParams {
			if p.Notify != 0 || p.ORCPT != (command.OriginalRecipient{}) {
				return nil, &NotSupportedError{Extension: "DSN", Reason: "for NOTIFY= or ORCPT="}
			}
		}
	}
	return t, nil
}

// mayBeOpen says whether the server may still hold t's transaction open
// once t is done, so that the next one must start with RSET: MAIL was
// accepted and the message was not (after a refused BDAT chunk the state
// is not defined, RFC 3030 §2).
func (t *txn) mayBeOpen() bool {
	return t.mailOK && !(t.endDone && (!t.bdat || t.lmtpStart || t.endReply.Positive() && t.chunkErr.Code == 0))
}

// answerEnd takes one reply to the end of the message. It reports whether
// more replies are due for it: in LMTP, one per accepted recipient (RFC
// 2033 §4.2), or only one when none was accepted.
func (t *txn) answerEnd(reply response.Reply, lmtp bool) (more bool) {
	t.endReply = reply
	if !lmtp || t.accepted == 0 {
		t.endDone = true
		return false
	}
	t.lmtpStart = true
	for ; t.lmtpNext < len(t.res.Recipients); t.lmtpNext++ {
		if r := &t.res.Recipients[t.lmtpNext]; r.Accepted && r.Data.Code == 0 {
			r.Data = reply
			t.res.Data = reply
			t.lmtpNext++
			break
		}
	}
	for i := t.lmtpNext; i < len(t.res.Recipients); i++ {
		if t.res.Recipients[i].Accepted {
			return true
		}
	}
	t.endDone = true
	return false
}

// outcome is what became of t, from what was answered, by the first rule
// that applies; it is the same whichever way t was sent:
//
//	MAIL refused                       *SenderRefusedError
//	MAIL, or an RCPT, unanswered       *UnansweredError
//	every RCPT refused                 *RecipientsRefusedError
//	DATA not answered 354              *DataError (or *UnansweredError)
//	a BDAT chunk refused               *DataError (or *UnansweredError)
//	the end of the message refused     *DataError (or *UnansweredError)
//	LMTP: no recipient took it         *DeliveryError (or *UnansweredError)
//	otherwise                          delivered: the *Result
//
// An *UnansweredError after the whole message was written, in a session
// the server did not end with a 421 or 221, may hide a delivery.
func (c *Client) outcome(t *txn) (*Result, error) {
	if t.judged {
		return t.outRes, t.failed
	}
	t.judged = true
	t.outRes, t.failed = t.judge(c.err, c.serverClosed, c.opts.LMTP)
	if c.err != nil && voidedByDesync(c.err, t.failed) {
		// The server sent a reply nobody asked for: the replies this
		// outcome rests on may answer other commands.
		t.outRes, t.failed = nil, c.err
	}
	return t.outRes, t.failed
}

// voidedByDesync says whether an outcome judged from replies must give way
// to the session's desynchronisation. (A function of its own, so that the
// targets errors.As needs are allocated only when the session failed.)
func voidedByDesync(sessionErr, failed error) bool {
	var de *DesyncError
	var ue *UnansweredError
	return errors.As(sessionErr, &de) && !errors.As(failed, &ue)
}

func (t *txn) judge(cause error, byServer, lmtp bool) (*Result, error) {
	if t.err != nil {
		return nil, t.err
	}
	res := t.res
	unanswered := func(cmd string) error {
		if cause == nil {
			cause = ErrServerDisconnected
		}
		return &UnansweredError{Command: cmd, Result: res, Err: cause,
			MaybeDelivered: t.endSent && !byServer}
	}
	switch {
	case !t.mailDone:
		return nil, unanswered("MAIL")
	case !t.mailOK:
		return nil, &SenderRefusedError{Sender: t.env.From.String(), Reply: res.Mail}
	case t.rcptDone < len(res.Recipients):
		return nil, unanswered("RCPT")
	case t.accepted == 0:
		return nil, &RecipientsRefusedError{Recipients: res.Recipients}
	}
	end := "end of data"
	if t.bdat {
		end = "BDAT"
		switch {
		case t.chunkErr.Code != 0:
			return nil, &DataError{Command: "BDAT", Reply: t.chunkErr, Result: res.decided(t.chunkErr)}
		case t.chunksOK < t.chunks:
			return nil, unanswered("BDAT")
		}
	} else {
		switch {
		case !t.dataDone:
			return nil, unanswered("DATA")
		case t.dataReply.Code != response.CodeStartMailInput:
			return nil, &DataError{Command: "DATA", Reply: t.dataReply, Result: res.decided(t.dataReply)}
		}
	}
	if !lmtp {
		switch {
		case !t.endDone:
			return nil, unanswered(end)
		case !t.endReply.Positive():
			return nil, &DataError{Command: end, Reply: t.endReply, Result: res.decided(t.endReply)}
		}
		res.Data = t.endReply
		res.decided(t.endReply)
		return res, nil
	}
	var missing []string
	delivered := false
	for _, r := range res.Recipients {
		switch {
		case !r.Accepted:
		case r.Data.Code == 0:
			missing = append(missing, r.Address)
		case r.Data.Positive():
			delivered = true
		}
	}
	if missing != nil {
		err := unanswered(end).(*UnansweredError)
		err.Recipients = missing
		return nil, err
	}
	if !delivered {
		return nil, &DeliveryError{Result: res}
	}
	return res, nil
}

// writeTxn writes t and reads as many replies as the way it is sent
// requires: without PIPELINING, each command's before the next; with it,
// none until DATA (whose 354 must come before the message) or, with BDAT,
// none at all, except that in LMTP each chunk but the last waits for its
// reply, so that the number of replies to BDAT LAST is never in doubt. It
// stops writing once the replies show the transaction has failed. An
// error is the connection's; t's own fate is in c.outcome(t).
func (c *Client) writeTxn(ctx context.Context, t *txn) error {
	defer func() {
		t.written = true
		c.settle(t)
	}()
	if c.err != nil {
		return c.err
	}
	c.last = t
	seq := !c.usePipelining()
	// Each command is appended as its concrete type: going through the
	// Command interface would allocate one box per recipient. Every line
	// is built before any is written, so an address that cannot be sent
	// leaves nothing on the wire.
	line := c.line[:0]
	var err error
	rset := c.needRset
	if rset {
		line, _ = command.Rset{}.Append(line)
	}
	if line, err = (command.Mail{From: t.env.From, Params: t.params}).Append(line); err != nil {
		t.err = err
		return nil
	}
	ends := append(c.ends[:0], len(line)) // where each command line ends
	defer func() { c.ends = ends[:0] }()
	for i, to := range t.env.To {
		r := command.Rcpt{To: to, SMTPUTF8: t.params.SMTPUTF8}
		if t.env.RcptParams != nil {
			r.Params = t.env.RcptParams[i]
		}
		if line, err = r.Append(line); err != nil {
			t.err = err
			return nil
		}
		ends = append(ends, len(line))
	}
	if !t.bdat {
		line, _ = command.Data{}.Append(line)
		ends = append(ends, len(line))
	}
	c.line = line
	if rset {
		c.needRset = false
		i := bytes.IndexByte(line, '\n') + 1
		c.traceLines(line[:i])
		c.w.Write(line[:i])
		c.enqueue(entry{kind: entryRset, op: "RSET"})
		line = line[i:]
		for j := range ends {
			ends[j] -= i
		}
		if seq {
			if err := c.sync(ctx, 0); err != nil {
				return err
			}
		}
	}
	// MAIL, each RCPT and DATA: one write with PIPELINING, one round trip
	// each without.
	start := 0
	for i, end := range ends {
		if !seq && i < len(ends)-1 {
			continue
		}
		c.traceLines(line[start:end])
		c.w.Write(line[start:end])
		for j := start; j < end; {
			k := bytes.IndexByte(line[j:end], '\n') + j + 1
			c.enqueueCommand(t, line[j:k])
			j = k
		}
		start = end
		if seq {
			if err := c.sync(ctx, 0); err != nil {
				return err
			}
			if t.mailDone && !t.mailOK || i == len(t.env.To) && t.accepted == 0 {
				return nil // refused: no point going on
			}
		}
	}
	if t.bdat {
		return c.writeChunks(ctx, t, seq || c.opts.LMTP)
	}
	// The message goes only after DATA's 354.
	if err := c.sync(ctx, 0); err != nil {
		return err
	}
	if t.dataReply.Code != response.CodeStartMailInput {
		return nil
	}
	// On a 354 with no recipient accepted, only the end of data goes, so
	// that nothing is delivered (RFC 2920 §3.1).
	var n int64
	c.dot.Reset(c.w)
	c.dot.SetLongLines(t.longLines)
	if t.accepted > 0 {
		if n, err = c.copyBody(ctx, c.dot, t.body); err != nil {
			return err
		}
	}
	c.wtimeout = c.timeouts.DataBlock
	if err := c.dot.Close(); err != nil {
		return c.fail(ctx, "end of data", c.wtimeout, err)
	}
	if c.tr.on() {
		c.tr.line("C", fmt.Sprintf("<message data: %d octets>", n))
		c.traceFolded(c.dot.Folded())
		c.tr.line("C", ".")
	}
	c.enqueue(entry{kind: entryEnd, op: "end of data", t: t})
	t.endSent = t.accepted > 0
	if seq {
		return c.sync(ctx, 0)
	}
	return nil
}

// resetIfOpen sends RSET when the server may still hold a failed
// transaction open, so that the Client is left outside one. It goes
// straight to the engine: at the end of a SendStream, which calls it, every
// public call is refused.
func (c *Client) resetIfOpen(ctx context.Context) {
	if !c.needRset || c.err != nil {
		return
	}
	c.needRset = false
	line, _ := command.Rset{}.Append(c.line[:0])
	c.line = line
	c.tr.sent(command.Rset{}, line)
	c.exchange(ctx, entryCommand, "RSET", line)
}

// enqueueCommand queues the entry for one of t's command lines.
func (c *Client) enqueueCommand(t *txn, line []byte) {
	switch verbOf(line) {
	case "MAIL":
		c.enqueue(entry{kind: entryMail, op: "MAIL", t: t})
	case "RCPT":
		c.enqueue(entry{kind: entryRcpt, op: "RCPT", t: t, idx: t.rcptQueued})
		t.rcptQueued++
	default:
		c.enqueue(entry{kind: entryData, op: "DATA", t: t})
	}
}

// errChunkRefused stops the BDAT writer after a chunk was refused: no
// more chunks go after a failed one (RFC 3030 §2).
var errChunkRefused = errors.New("session: BDAT chunk refused")

// writeChunks writes t's message as BDAT chunks: line endings made CRLF
// (unchanged for BINARYMIME), no dot-stuffing. When wait is set, each
// chunk but the last waits for its reply, and a refusal stops the
// message.
func (c *Client) writeChunks(ctx context.Context, t *txn, wait bool) error {
	c.chunk = chunkState{ctx: ctx, t: t, wait: wait}
	defer func() { c.chunk = chunkState{} }()
	c.bdat.Reset(c.w, c.opts.ChunkSize)
	dst := c.lineFilter(t, c.bdat)
	if !t.raw && !t.clean {
		c.crlf.Reset(dst)
		dst = c.crlf
	}
	_, err := c.copyBody(ctx, dst, t.body)
	if err == nil && dst == io.Writer(c.crlf) {
		c.wtimeout = c.timeouts.DataBlock
		err = c.crlf.Close()
	}
	if err == nil {
		c.wtimeout = c.timeouts.DataBlock
		err = c.bdat.Close()
	}
	switch {
	case err == nil:
	case c.chunk.err != nil:
		return c.chunk.err
	case errors.Is(err, errChunkRefused):
		return nil
	case c.err != nil:
		return c.err
	default:
		return c.fail(ctx, "message data", c.wtimeout, err)
	}
	c.traceFolded(c.lines.Folded())
	if wait && !c.usePipelining() {
		return c.sync(ctx, 0)
	}
	return nil
}

// chunkState is the message the BDAT writer is framing, for onChunk.
type chunkState struct {
	ctx  context.Context
	t    *txn
	wait bool  // each chunk but the last waits for its reply
	err  error // the connection's, from such a wait
}

// onChunk queues the reply each BDAT chunk is due (the BDAT writer calls
// it once the chunk is buffered) and, when the message waits for each
// chunk, reads it: a refused chunk stops the message.
func (c *Client) onChunk(size int, last bool) error {
	t := c.chunk.t
	if c.tr.on() {
		hdr := "BDAT " + strconv.Itoa(size)
		if last {
			hdr += " LAST"
		}
		c.tr.line("C", hdr)
		c.tr.line("C", fmt.Sprintf("<message data: %d octets>", size))
	}
	if last {
		c.enqueue(entry{kind: entryEnd, op: "BDAT", t: t})
		t.endSent = true
		return nil
	}
	c.enqueue(entry{kind: entryChunk, op: "BDAT", t: t})
	t.chunks++
	if !c.chunk.wait {
		return nil
	}
	if err := c.sync(c.chunk.ctx, 0); err != nil {
		c.chunk.err = err
		return err
	}
	if t.chunkErr.Code != 0 {
		return errChunkRefused
	}
	return nil
}

// copyBody streams body into dst (the DATA or BDAT encoder, writing into
// the Client's buffer), each write to the socket under the DataBlock
// timeout, reporting Progress. A failure to read body closes the
// connection: the message cannot be ended without the server taking what
// it got for all of it.
func (c *Client) copyBody(ctx context.Context, dst io.Writer, body io.Reader) (int64, error) {
	c.ctx, c.wtimeout = ctx, c.timeouts.DataBlock
	writeErr := func(err error) error {
		if c.err != nil {
			return c.err
		}
		if errors.Is(err, errChunkRefused) {
			return err
		}
		if err, ok := c.refuseLongLine(err); ok {
			return err
		}
		return c.fail(ctx, "message data", c.wtimeout, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, c.fail(ctx, "message data", 0, err)
	}
	switch b := body.(type) {
	case *bytes.Reader, *bytes.Buffer, *strings.Reader:
		// In memory: reading cannot fail, and one Write of the whole
		// body lets the encoders pass full spans on without copying.
		n, err := b.(io.WriterTo).WriteTo(dst)
		if err != nil {
			return n, writeErr(err)
		}
		if c.opts.Progress != nil && n > 0 {
			c.opts.Progress(n)
		}
		return n, nil
	}
	var n int64
	buf := c.scratch()
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			if _, err := dst.Write(buf[:m]); err != nil {
				return n, writeErr(err)
			}
			n += int64(m)
			if c.opts.Progress != nil {
				c.opts.Progress(n)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, c.failWith(&BodyError{Err: rerr}, false)
		}
	}
}

// traceLines traces a group of command lines (each with its CRLF), with
// secrets hidden as for single commands.
func (c *Client) traceLines(group []byte) {
	if !c.tr.on() {
		return
	}
	for len(group) > 0 {
		i := bytes.IndexByte(group, '\n') + 1
		if i == 0 {
			i = len(group)
		}
		line := group[:i]
		c.tr.sent(command.Raw{Name: verbOf(line)}, line)
		group = group[i:]
	}
}

// verbOf is the first word of a command line.
func verbOf(line []byte) string {
	if i := bytes.IndexAny(line, " \r\n"); i >= 0 {
		line = line[:i]
	}
	switch string(line) {
	case "MAIL":
		return "MAIL"
	case "RCPT":
		return "RCPT"
	case "DATA":
		return "DATA"
	}
	return string(line)
}
