package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// This file is the pipelined transaction (RFC 2920) and CHUNKING (RFC
// 3030): MAIL, every RCPT and DATA (or the BDAT chunks with the message)
// go out in one write, and the replies are read afterwards, strictly in
// the order of the commands. A single message then costs one round trip
// with BDAT and two with DATA (its 354 must be seen before the message
// goes out); a stream of messages (SendStream) costs none per message with
// BDAT and one with DATA.

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

// txn is one transaction on its way: written, its replies not all read.
type txn struct {
	env    *Envelope
	body   io.Reader
	params command.MailParams
	bdat   bool // the message goes as BDAT chunks, written with the commands
	raw    bool // BODY=BINARYMIME: the chunks carry the body unchanged
	clean  bool // the body was scanned: its line endings are all CRLF already
	rset   bool // an RSET goes before MAIL (the previous outcome is unknown)

	res      *Result
	mailOK   bool
	accepted int
	chunks   int   // BDAT replies to read
	err      error // the transaction's failure, once known
	dataOK   bool  // DATA got 354: the message follows it
	needRset bool  // the server may still hold this transaction open
	phaseA   bool  // (stream, DATA) replies read through DATA's, message written
}

// prepareTxn checks env and fills in its parameters, writing nothing.
func (c *Client) prepareTxn(env *Envelope, body io.Reader) (*txn, error) {
	if len(env.To) == 0 {
		return nil, ErrNoRecipients
	}
	if env.RcptParams != nil && len(env.RcptParams) != len(env.To) {
		return nil, fmt.Errorf("session: %d recipients but %d RcptParams", len(env.To), len(env.RcptParams))
	}
	params, scan, err := c.autoParams(env, body)
	if err != nil {
		return nil, err
	}
	t := &txn{env: env, body: body, params: params, clean: scan.clean()}
	// Without PIPELINING, BDAT would only add a wait per chunk: DATA is
	// used, unless the body needs BINARYMIME (see sendChunked).
	t.bdat = c.useChunking() && (c.usePipelining() || params.Body == command.BodyBinaryMIME)
	if t.params.Body == command.BodyBinaryMIME {
		if !t.bdat {
			return nil, &NotSupportedError{Extension: "CHUNKING", Reason: "for BODY=BINARYMIME (RFC 3030 §3)"}
		}
		t.raw = true
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
	t.res = &Result{Recipients: make([]RecipientResult, 0, len(env.To))}
	return t, nil
}

// writeCommands buffers t's commands: RSET if asked, MAIL, each RCPT,
// and DATA unless the message goes as BDAT. Every line is built before
// any is written, so an address that cannot be sent leaves nothing on the
// wire.
func (c *Client) writeCommands(t *txn) error {
	line := c.line[:0]
	var err error
	// Each command is appended as its concrete type: going through the
	// Command interface would allocate one box per recipient.
	if t.rset {
		line, _ = command.Rset{}.Append(line)
	}
	if line, err = (command.Mail{From: t.env.From, Params: t.params}).Append(line); err != nil {
		return err
	}
	for i, to := range t.env.To {
		r := command.Rcpt{To: to, SMTPUTF8: t.params.SMTPUTF8}
		if t.env.RcptParams != nil {
			r.Params = t.env.RcptParams[i]
		}
		if line, err = r.Append(line); err != nil {
			return err
		}
	}
	if !t.bdat {
		line, _ = command.Data{}.Append(line)
	}
	c.line = line
	if c.tr.on() {
		c.traceCommands(line)
	}
	_, err = c.w.Write(line)
	return err
}

// traceCommands traces a group of command lines (each with its CRLF),
// with secrets hidden as for single commands.
func (c *Client) traceCommands(group []byte) {
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
		return string(line[:i])
	}
	return string(line)
}

// writeBDAT buffers the message as BDAT chunks: line endings as CRLF
// (BINARYMIME: unchanged), no dot-stuffing.
func (c *Client) writeBDAT(ctx context.Context, t *txn) error {
	if c.bdat == nil {
		c.bdat = wire.NewBDATWriter(c.w, c.opts.ChunkSize)
	} else {
		c.bdat.Reset(c.w, c.opts.ChunkSize)
	}
	var dst io.Writer = c.bdat
	var crlf *crlfWriter
	if !t.raw && !t.clean {
		c.crlf = crlfWriter{w: c.bdat}
		crlf = &c.crlf
		dst = crlf
	}
	n, err := c.copyMessage(ctx, dst, t.body)
	if err == nil && crlf != nil {
		err = crlf.finish()
	}
	if err == nil {
		err = c.bdat.Close()
	}
	t.chunks = c.bdat.Chunks()
	if c.tr.on() {
		sent := n
		if crlf != nil {
			sent = crlf.n
		}
		c.traceChunks(sent, t.chunks)
	}
	return err
}

// traceChunks traces the BDAT commands that carried sent octets in
// chunks, and a summary of the data.
func (c *Client) traceChunks(sent int64, chunks int) {
	size := int64(c.opts.ChunkSize)
	if size <= 0 {
		size = wire.DefaultChunkSize
	}
	for i := range chunks {
		if i < chunks-1 {
			c.tr.line("C", "BDAT "+strconv.FormatInt(size, 10))
			continue
		}
		c.tr.line("C", "BDAT "+strconv.FormatInt(sent-size*int64(chunks-1), 10)+" LAST")
	}
	c.tr.line("C", fmt.Sprintf("<message data: %d octets>", sent))
}

// copyMessage copies body to dst under the DataBlock timeout, reporting
// Progress. A read error closes the connection: the message cannot be
// ended without the server taking what it got for all of it.
func (c *Client) copyMessage(ctx context.Context, dst io.Writer, body io.Reader) (int64, error) {
	disarm := c.arm(ctx, c.timeouts.DataBlock)
	defer disarm()
	switch b := body.(type) {
	case *bytes.Reader, *bytes.Buffer:
		// In memory: reading cannot fail, and one Write of the whole
		// body lets the BDAT writer send full chunks without copying
		// them (a strings.Reader would be copied to []byte first).
		n, err := b.(io.WriterTo).WriteTo(dst)
		if err != nil {
			return n, c.ioError(ctx, "message data", c.timeouts.DataBlock, err)
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
				return n, c.ioError(ctx, "message data", c.timeouts.DataBlock, err)
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
			err := fmt.Errorf("session: reading the message: %w (connection closed before the end of data, so the server did not accept it)", rerr)
			return n, c.abort(err)
		}
	}
}

// flushOut writes what is buffered under the DataBlock timeout.
func (c *Client) flushOut(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return c.abort(err)
	}
	disarm := c.arm(ctx, c.timeouts.DataBlock)
	err := c.w.Flush()
	disarm()
	if err != nil {
		return c.ioError(ctx, "pipelined commands", c.timeouts.DataBlock, err)
	}
	return nil
}

// readEnvelope reads the replies to RSET (if sent), MAIL and the RCPTs.
// A refusal is recorded in t.err; the error returned is the connection's.
func (c *Client) readEnvelope(ctx context.Context, t *txn) error {
	if t.rset {
		reply, err := c.read(ctx, "RSET", c.timeouts.Command)
		if err != nil {
			return err
		}
		if !reply.Positive() {
			// Whatever the previous transaction left, the server would
			// not clear it: this one cannot be trusted to start clean.
			return c.abort(&UnexpectedReplyError{Command: "RSET", Reply: reply})
		}
	}
	reply, err := c.read(ctx, "MAIL", c.timeouts.Mail)
	if err != nil {
		return err
	}
	t.res.Mail = reply
	switch {
	case reply.Intermediate():
		return c.unexpected("MAIL", reply)
	case reply.Positive():
		t.mailOK = true
		t.needRset = true
	default:
		t.err = &SenderRefusedError{Sender: t.env.From.String(), Reply: reply}
	}
	for _, to := range t.env.To {
		reply, err := c.read(ctx, "RCPT", c.timeouts.Rcpt)
		if err != nil {
			return err
		}
		if reply.Intermediate() {
			return c.unexpected("RCPT", reply)
		}
		ok := reply.Positive() && t.mailOK
		if ok {
			t.accepted++
		}
		t.res.Recipients = append(t.res.Recipients, RecipientResult{Address: to.String(), Accepted: ok, Reply: reply})
	}
	if t.err == nil && t.accepted == 0 {
		t.err = &RecipientsRefusedError{Recipients: t.res.Recipients}
	}
	return nil
}

// readDataStart reads DATA's reply. On 354 with recipients accepted it
// writes the message and the end of data (buffered, not flushed); on 354
// without any, only the end of data, so that nothing is delivered (RFC
// 2920 §3.1); otherwise the transaction failed.
func (c *Client) readDataStart(ctx context.Context, t *txn) error {
	reply, err := c.read(ctx, "DATA", c.timeouts.DataInit)
	if err != nil {
		return err
	}
	if reply.Code != 354 {
		if reply.Positive() || reply.Intermediate() {
			return c.unexpected("DATA", reply)
		}
		if t.err == nil {
			t.err = &DataError{Command: "DATA", Reply: reply}
		}
		return nil
	}
	t.dataOK = true
	t.needRset = false // the end of data ends the transaction, whatever its reply
	if c.dot == nil {
		c.dot = wire.NewDotWriter(c.w)
	} else {
		c.dot.Reset(c.w)
	}
	var n int64
	if t.err == nil {
		if n, err = c.copyMessage(ctx, c.dot, t.body); err != nil {
			return err
		}
	}
	if c.tr.on() {
		c.tr.line("C", fmt.Sprintf("<message data: %d octets>", n))
		c.tr.line("C", ".")
	}
	if err := c.dot.Close(); err != nil {
		return c.ioError(ctx, "end of data", c.timeouts.DataBlock, err)
	}
	return nil
}

// readEnd reads the verdict on the message: the end-of-data reply after
// DATA's 354, or one reply per BDAT chunk. After it the server holds no
// transaction, unless BDAT failed (RFC 3030 §2: the client should RSET).
func (c *Client) readEnd(ctx context.Context, t *txn) error {
	if !t.bdat {
		if !t.dataOK {
			return nil
		}
		if c.opts.LMTP {
			t.needRset = false
			return c.readPerRecipient(ctx, t)
		}
		reply, err := c.read(ctx, "end of data", c.timeouts.DataEnd)
		if err != nil {
			return err
		}
		t.needRset = false
		if reply.Intermediate() {
			return c.unexpected("end of data", reply)
		}
		t.res.Data = reply
		if !reply.Positive() && t.err == nil {
			t.err = &DataError{Command: "end of data", Reply: reply}
		}
		return nil
	}
	for i := range t.chunks {
		last := i == t.chunks-1
		d := c.timeouts.DataBlock
		if last {
			d = c.timeouts.DataEnd
		}
		if last && c.opts.LMTP && t.err == nil && t.accepted > 0 {
			// RFC 2033 §4.3: BDAT LAST, like the end of data, gets a
			// reply per accepted recipient.
			t.needRset = false
			return c.readPerRecipient(ctx, t)
		}
		reply, err := c.read(ctx, "BDAT", d)
		if err != nil {
			return err
		}
		if reply.Intermediate() {
			return c.unexpected("BDAT", reply)
		}
		if !reply.Positive() && t.err == nil {
			t.err = &DataError{Command: "BDAT", Reply: reply}
		}
		if last {
			t.res.Data = reply
			t.needRset = t.err != nil
		}
	}
	return nil
}

// sendPipelined runs one transaction with PIPELINING (and CHUNKING when
// offered): one round trip with BDAT, two with DATA.
func (c *Client) sendPipelined(ctx context.Context, t *txn) (*Result, error) {
	if err := c.writeCommands(t); err != nil {
		return nil, err
	}
	if t.bdat {
		if err := c.writeBDAT(ctx, t); err != nil {
			return nil, err
		}
	}
	if err := c.flushOut(ctx); err != nil {
		return nil, err
	}
	if err := c.readEnvelope(ctx, t); err != nil {
		return nil, err
	}
	if t.bdat {
		if err := c.readEnd(ctx, t); err != nil {
			return nil, err
		}
		return c.finish(ctx, t)
	}
	return c.dataAndEnd(ctx, t)
}

// dataAndEnd reads DATA's reply (DATA is on the wire), sends the message
// on 354, and reads the verdict on it.
func (c *Client) dataAndEnd(ctx context.Context, t *txn) (*Result, error) {
	if err := c.readDataStart(ctx, t); err != nil {
		return nil, err
	}
	if t.dataOK {
		if err := c.flushOut(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.readEnd(ctx, t); err != nil {
		return nil, err
	}
	return c.finish(ctx, t)
}

// mailAndRcpts sends MAIL and each RCPT, waiting for every reply, as
// SendEnvelope does without PIPELINING. After it the transaction's end
// is up to the caller.
func (c *Client) mailAndRcpts(ctx context.Context, t *txn) error {
	reply, err := c.Mail(ctx, command.Mail{From: t.env.From, Params: t.params})
	t.res.Mail = reply
	if err != nil {
		if _, ok := err.(*SenderRefusedError); ok {
			c.resetQuietly(ctx)
		}
		return err
	}
	if err := c.rcptAll(ctx, t); err != nil {
		return err
	}
	t.mailOK, t.needRset, t.accepted = true, true, c.accepted
	return nil
}

// finish returns t's outcome, resetting the server's transaction after a
// failure, as the unpipelined path does.
func (c *Client) finish(ctx context.Context, t *txn) (*Result, error) {
	if t.err != nil {
		// After a refused MAIL nothing is open, but after a refused BDAT
		// the server's state is not defined (RFC 3030 §2): RSET is cheap.
		c.resetQuietly(ctx)
		return nil, t.failure()
	}
	return t.res, nil
}

// failure is t's error, a *DataError given the replies before it.
func (t *txn) failure() error {
	if de, ok := t.err.(*DataError); ok {
		de.Result = t.res
	}
	return t.err
}

// sendChunked runs a BINARYMIME transaction when the server offers
// CHUNKING but not PIPELINING: MAIL and each RCPT wait for their replies,
// and so does each chunk (RFC 3030 §4.2). Other messages take DATA when
// there is no PIPELINING: BDAT would only add a wait per chunk.
func (c *Client) sendChunked(ctx context.Context, t *txn) (*Result, error) {
	if err := c.mailAndRcpts(ctx, t); err != nil {
		return nil, err
	}
	c.state = stateReady // the chunks end the transaction, whatever happens
	size := c.opts.ChunkSize
	if size <= 0 {
		size = wire.DefaultChunkSize
	}
	buf := make([]byte, size)
	var n int64
	for {
		m, rerr := io.ReadFull(t.body, buf)
		last := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !last {
			err := fmt.Errorf("session: reading the message: %w (connection closed before the end of data, so the server did not accept it)", rerr)
			return nil, c.abort(err)
		}
		n += int64(m)
		hdr := "BDAT " + strconv.Itoa(m)
		if last {
			hdr += " LAST"
		}
		if c.tr.on() {
			c.tr.line("C", hdr)
			c.tr.line("C", fmt.Sprintf("<message data: %d octets>", m))
		}
		c.w.WriteString(hdr + "\r\n")
		c.w.Write(buf[:m])
		if err := c.flushOut(ctx); err != nil {
			return nil, err
		}
		if c.opts.Progress != nil {
			c.opts.Progress(n)
		}
		d := c.timeouts.DataBlock
		if last {
			d = c.timeouts.DataEnd
		}
		if last && c.opts.LMTP {
			t.needRset = false
			if err := c.readPerRecipient(ctx, t); err != nil {
				return nil, err
			}
			return c.finish(ctx, t)
		}
		reply, err := c.read(ctx, "BDAT", d)
		if err != nil {
			return nil, err
		}
		if reply.Intermediate() {
			return nil, c.unexpected("BDAT", reply)
		}
		if !reply.Positive() {
			// RFC 3030 §2: no more chunks after a refused one.
			t.err = &DataError{Command: "BDAT", Reply: reply}
			return c.finish(ctx, t)
		}
		if last {
			t.res.Data = reply
			return t.res, nil
		}
	}
}

// rcptAll sends each RCPT and waits for its reply, as SendEnvelope does
// without PIPELINING.
func (c *Client) rcptAll(ctx context.Context, t *txn) error {
	for i, to := range t.env.To {
		r := command.Rcpt{To: to}
		if t.env.RcptParams != nil {
			r.Params = t.env.RcptParams[i]
		}
		reply, err := c.Rcpt(ctx, r)
		if err != nil {
			var re *response.Error
			if c.usable() != nil {
				return err // the connection is gone (or the server said 421)
			}
			if !errors.As(err, &re) || reply.Code == 0 {
				// Nothing was sent for this recipient: a bad address or a
				// parameter the server does not support. The transaction
				// is abandoned rather than sent to a subset the caller
				// did not choose.
				c.resetQuietly(ctx)
				return err
			}
		}
		t.res.Recipients = append(t.res.Recipients, RecipientResult{Address: to.String(), Accepted: err == nil, Reply: reply})
	}
	if c.accepted == 0 {
		c.resetQuietly(ctx)
		return &RecipientsRefusedError{Recipients: t.res.Recipients}
	}
	return nil
}

// crlfWriter passes message data on with every bare LF or CR turned into
// CRLF, as the DATA encoder does but without dot-stuffing, for BDAT
// (RFC 3030 §3: a message sent with BDAT is still lines ending in CRLF,
// unless BINARYMIME).
type crlfWriter struct {
	w      io.Writer
	prevCR bool
	last   byte
	any    bool
	n      int64 // octets passed on
}

var crlf = []byte{'\r', '\n'}

func (x *crlfWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if x.clean(p) {
		// Every line already ends in CRLF (the usual case): pass p on
		// whole, after three vectorised counts instead of a loop.
		if _, err := x.w.Write(p); err != nil {
			return 0, err
		}
		x.n += int64(len(p))
		x.any = true
		x.last = p[len(p)-1]
		x.prevCR = x.last == '\r'
		return len(p), nil
	}
	start := 0
	for i := 0; i < len(p); i++ {
		b := p[i]
		if x.prevCR {
			x.prevCR = false
			if b == '\n' {
				continue
			}
			// The CR before b was bare: end its line.
			if err := x.out(p[start:i], []byte{'\n'}); err != nil {
				return start, err
			}
			start = i
		}
		switch b {
		case '\n':
			if err := x.out(p[start:i], crlf); err != nil {
				return start, err
			}
			start = i + 1
		case '\r':
			x.prevCR = true
		}
	}
	if _, err := x.w.Write(p[start:]); err != nil {
		return start, err
	}
	x.n += int64(len(p) - start)
	x.any = true
	x.last = p[len(p)-1]
	return len(p), nil
}

// clean reports whether p needs no change: each CR in it is followed by
// an LF (a CR at its end waits for the next Write), each LF follows a CR,
// and a CR that ended the previous Write is followed by p's LF.
func (x *crlfWriter) clean(p []byte) bool {
	pairs := bytes.Count(p, crlf)
	lfs := bytes.Count(p, lfOnly)
	crs := bytes.Count(p, crOnly)
	if p[len(p)-1] == '\r' {
		crs--
	}
	if x.prevCR {
		if p[0] != '\n' {
			return false
		}
		lfs-- // its CR came before
	}
	return crs == pairs && lfs == pairs
}

func (x *crlfWriter) out(span, end []byte) error {
	if _, err := x.w.Write(span); err != nil {
		return err
	}
	_, err := x.w.Write(end)
	x.n += int64(len(span) + len(end))
	return err
}

// finish ends the last line when the data did not.
func (x *crlfWriter) finish() error {
	var end []byte
	switch {
	case x.prevCR:
		end = crlf[1:]
	case x.any && x.last != '\n':
		end = crlf
	}
	_, err := x.w.Write(end)
	x.n += int64(len(end))
	return err
}
