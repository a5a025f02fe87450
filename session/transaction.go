package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

// Mail starts a transaction with MAIL FROM (RFC 5321 §4.1.1.2). It says
// Hello first if needed. Parameters that need an extension the server did
// not list (SMTPUTF8, BODY=8BITMIME, DSN's RET and ENVID, REQUIRETLS, …)
// are refused with a *NotSupportedError before anything is written, and
// REQUIRETLS also needs a TLS connection (RFC 8689 §4.1). A refusal is a
// *SenderRefusedError.
func (c *Client) Mail(ctx context.Context, m command.Mail) (response.Reply, error) {
	if err := c.ensureHello(ctx); err != nil {
		return response.Reply{}, err
	}
	if c.state != StateReady {
		return response.Reply{}, &StateError{Op: "MAIL", State: c.state}
	}
	if err := c.checkMailParams(m.Params); err != nil {
		return response.Reply{}, err
	}
	line, err := m.Append(c.line[:0])
	if err != nil {
		return response.Reply{}, err
	}
	c.line = line
	t := c.newTxn(&Envelope{From: m.From, MailParams: m.Params})
	t.manual = true
	if c.needRset {
		// A transaction that failed may still be open on the server.
		if _, err := c.roundTrip(ctx, "RSET", command.Rset{}); err != nil {
			return response.Reply{}, err
		}
		c.needRset = false
		line, _ = m.Append(c.line[:0])
		c.line = line
	}
	c.tr.sent(m, line)
	c.w.Write(line)
	c.enqueue(entry{kind: entryMail, op: "MAIL", t: t})
	c.last = t
	// A reply that ends the session (421) still answers MAIL.
	if err := c.sync(ctx, 0); err != nil && !t.mailDone {
		return t.res.Mail, err
	}
	reply := t.res.Mail
	if !t.mailOK {
		return reply, &SenderRefusedError{Sender: m.From.String(), Reply: reply}
	}
	c.cur = t
	c.state = StateMail
	return reply, nil
}

func (c *Client) checkMailParams(p command.MailParams) error {
	need := func(ext, why string) error {
		if c.ext.Has(ext) {
			return nil
		}
		return &NotSupportedError{Extension: ext, Reason: "for " + why}
	}
	var checks []error
	if p.Size > 0 {
		checks = append(checks, need("SIZE", "MAIL SIZE="))
	}
	switch p.Body {
	case command.Body8BitMIME:
		checks = append(checks, need("8BITMIME", "BODY=8BITMIME"))
	case command.BodyBinaryMIME:
		checks = append(checks, need("BINARYMIME", "BODY=BINARYMIME"))
	}
	if p.SMTPUTF8 {
		checks = append(checks, need("SMTPUTF8", "an internationalised address (SMTPUTF8)"))
	}
	if p.Ret != "" || p.EnvID != "" {
		checks = append(checks, need("DSN", "RET= or ENVID="))
	}
	if p.Auth != "" {
		checks = append(checks, need("AUTH", "MAIL AUTH="))
	}
	if p.RequireTLS {
		checks = append(checks, need("REQUIRETLS", "REQUIRETLS"))
		if !c.isTLS {
			checks = append(checks, &NotSupportedError{Extension: "TLS", Reason: "for REQUIRETLS (RFC 8689 §4.1)"})
		}
	}
	if p.MTPriority != nil {
		checks = append(checks, need("MT-PRIORITY", "MT-PRIORITY"))
	}
	if p.By != nil {
		checks = append(checks, need("DELIVERBY", "BY="))
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// Rcpt names one recipient (RFC 5321 §4.1.1.3); it needs an accepted
// MAIL. r.SMTPUTF8 is set from the transaction's MAIL. NOTIFY and ORCPT
// need DSN. A refusal is returned as a *response.Error, and the
// transaction stays open for other recipients.
func (c *Client) Rcpt(ctx context.Context, r command.Rcpt) (response.Reply, error) {
	if err := c.usable(); err != nil {
		return response.Reply{}, err
	}
	if c.state != StateMail {
		return response.Reply{}, &StateError{Op: "RCPT", State: c.state}
	}
	if (r.Params.Notify != 0 || r.Params.ORCPT != (command.OriginalRecipient{})) && !c.ext.Has("DSN") {
		return response.Reply{}, &NotSupportedError{Extension: "DSN", Reason: "for NOTIFY= or ORCPT="}
	}
	t := c.cur
	r.SMTPUTF8 = t.env.MailParams.SMTPUTF8
	line, err := r.Append(c.line[:0])
	if err != nil {
		return response.Reply{}, err
	}
	c.line = line
	c.tr.sent(r, line)
	t.env.To = append(t.env.To, r.To)
	t.res.Recipients = append(t.res.Recipients, RecipientResult{Address: r.To.String()})
	c.w.Write(line)
	c.enqueue(entry{kind: entryRcpt, op: "RCPT", t: t, idx: len(t.res.Recipients) - 1})
	t.rcptQueued++
	err = c.sync(ctx, 0)
	rr := t.res.Recipients[len(t.res.Recipients)-1]
	if rr.Reply.Code == 0 {
		return rr.Reply, err
	}
	if !rr.Accepted {
		return rr.Reply, c.refused(r, rr.Reply)
	}
	return rr.Reply, nil
}

// Data sends DATA (RFC 5321 §4.1.1.4); it needs at least one accepted
// recipient. On 354 it returns a writer for the message: write the
// message (any line endings; they go out as CRLF, dot-stuffed), then
// Close it to send the end of data and read the server's verdict. A
// refusal of DATA is a *DataError, and the transaction stays open (RSET
// ends it).
func (c *Client) Data(ctx context.Context) (*DataWriter, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	t := c.cur
	if c.state != StateMail || t.accepted == 0 {
		st := c.state
		if c.state == StateMail {
			st = StateNoRecipient
		}
		return nil, &StateError{Op: "DATA", State: st}
	}
	line, _ := command.Data{}.Append(c.line[:0])
	c.line = line
	c.tr.sent(command.Data{}, line)
	c.w.Write(line)
	c.enqueue(entry{kind: entryData, op: "DATA", t: t})
	if err := c.sync(ctx, 0); err != nil && !t.dataDone || c.err != nil && t.dataReply.Code == response.CodeStartMailInput {
		return nil, err
	}
	if t.dataReply.Code != response.CodeStartMailInput {
		return nil, &DataError{Command: "DATA", Reply: t.dataReply}
	}
	c.dot.Reset(c.w)
	c.dot.SetLongLines(c.opts.LongLines)
	c.state = StateData
	return &DataWriter{c: c, t: t, ctx: ctx}, nil
}

// DataWriter writes the message after DATA's 354. It is an
// io.WriteCloser: Close sends the end of data and returns the server's
// verdict (nil, or a *DataError carrying the reply); [DataWriter.Reply]
// returns the reply itself. If the message cannot be completed, Abort
// closes the connection instead, so that the server never sees an end of
// data and cannot accept a truncated message.
type DataWriter struct {
	c      *Client
	t      *txn
	ctx    context.Context
	n      int64
	done   bool
	closed error
}

// Write encodes p into the message: dot-stuffed, line endings as CRLF.
// Each write to the connection is bounded by Timeouts.DataBlock. After
// Close it returns a *StateError, after Abort [ErrAborted].
func (d *DataWriter) Write(p []byte) (int, error) {
	if d.done {
		if d.closed == ErrAborted {
			return 0, ErrAborted
		}
		return 0, &StateError{Op: "Write", State: StateWriterClosed}
	}
	c := d.c
	if c.err != nil {
		return 0, c.err
	}
	if err := d.ctx.Err(); err != nil {
		return 0, c.fail(d.ctx, "message data", 0, err)
	}
	c.ctx, c.wtimeout = d.ctx, c.timeouts.DataBlock
	n, err := c.dot.Write(p)
	d.n += int64(n)
	if err, ok := c.refuseLongLine(err); ok {
		return n, err // the connection is closed: see Options.LongLines
	}
	if err != nil {
		return n, c.fail(d.ctx, "message data", c.wtimeout, err)
	}
	if c.opts.Progress != nil {
		c.opts.Progress(d.n)
	}
	return n, nil
}

// Close ends the message with <CRLF>.<CRLF>, waits for the reply (under
// Timeouts.DataEnd) and ends the transaction. It returns nil when the
// server accepted the message, a *DataError when it refused it, or the
// error that left its fate unknown. In LMTP it reads one reply per
// accepted recipient (see Replies) and returns nil when at least one of
// them took the message.
func (d *DataWriter) Close() error {
	if d.done {
		return d.closed
	}
	d.done = true
	c := d.c
	d.closed = d.close()
	if c.state == StateData {
		c.state = StateReady
	}
	c.cur = nil
	return d.closed
}

func (d *DataWriter) close() error {
	c, t := d.c, d.t
	if c.err != nil {
		return c.err
	}
	if err := d.ctx.Err(); err != nil {
		return c.fail(d.ctx, "end of data", 0, err)
	}
	if c.tr.on() {
		c.tr.line("C", fmt.Sprintf("<message data: %d octets>", d.n))
		c.tr.line("C", ".")
	}
	c.ctx, c.wtimeout = d.ctx, c.timeouts.DataBlock
	if err := c.dot.Close(); err != nil {
		return c.fail(d.ctx, "end of data", c.wtimeout, err)
	}
	c.enqueue(entry{kind: entryEnd, op: "end of data", t: t})
	t.endSent = true
	t.written = true
	if err := c.sync(d.ctx, 0); err != nil {
		var de *DesyncError
		if errors.As(err, &de) {
			return err // the replies read may answer other commands
		}
		if !t.endDone {
			if _, ferr := c.outcome(t); c.opts.LMTP && t.lmtpStart {
				return ferr // the recipients still without a reply
			}
			return err
		}
	}
	if !c.opts.LMTP {
		if !t.endReply.Positive() {
			return &DataError{Command: "end of data", Reply: t.endReply}
		}
		return nil
	}
	// LMTP: an error only when no recipient took the message.
	for _, r := range t.res.Recipients {
		if r.Accepted && r.Data.Positive() {
			return nil
		}
	}
	for _, r := range t.res.Recipients {
		if r.Accepted {
			return &DataError{Command: "end of data", Reply: r.Data}
		}
	}
	return nil
}

// Replies returns, in LMTP, the reply for each accepted recipient, in
// RCPT order, once Close has read them; in SMTP, the one reply.
func (d *DataWriter) Replies() []response.Reply {
	if !d.c.opts.LMTP {
		if d.t.endReply.Code == 0 {
			return nil
		}
		return []response.Reply{d.t.endReply}
	}
	var out []response.Reply
	for _, r := range d.t.res.Recipients {
		if r.Accepted && r.Data.Code != 0 {
			out = append(out, r.Data)
		}
	}
	return out
}

// Abort gives up on the message: it closes the connection without
// sending the end of data, the only way to stop a server from accepting
// what was written so far. The Client is unusable afterwards: its calls,
// and Write and Close here, return [ErrAborted].
func (d *DataWriter) Abort() error {
	if d.done {
		return d.closed
	}
	d.done = true
	d.closed = ErrAborted
	d.c.abort(ErrAborted)
	return nil
}

// Reply returns the server's reply to the end of data, once Close has
// read it (in LMTP, the last recipient's; see Replies).
func (d *DataWriter) Reply() response.Reply { return d.t.endReply }

// Written is the number of message octets written so far, before
// dot-stuffing.
func (d *DataWriter) Written() int64 { return d.n }

// Rset aborts the current transaction (RFC 5321 §4.1.1.5).
func (c *Client) Rset(ctx context.Context) (response.Reply, error) {
	if err := c.notInData("RSET"); err != nil {
		return response.Reply{}, err
	}
	reply, err := c.simple(ctx, "RSET", command.Rset{})
	if err == nil {
		if c.state == StateMail {
			c.state = StateReady
		}
		c.cur, c.needRset = nil, false
	}
	return reply, err
}

// Noop sends NOOP (RFC 5321 §4.1.1.9), e.g. to keep a connection alive.
func (c *Client) Noop(ctx context.Context) (response.Reply, error) {
	if err := c.notInData("NOOP"); err != nil {
		return response.Reply{}, err
	}
	return c.simple(ctx, "NOOP", command.Noop{})
}

// Vrfy asks the server to verify an address or name (RFC 5321
// §4.1.1.6; smtplib's verify). 250 and 251 confirm it; 252 means the
// server will not say. The SMTPUTF8 parameter is added when arg needs it
// and the server offers it (RFC 6531 §3.7.4).
func (c *Client) Vrfy(ctx context.Context, arg string) (response.Reply, error) {
	v := command.Vrfy{Arg: arg}
	if v.NeedsSMTPUTF8() && c.ext.Has("SMTPUTF8") {
		v.SMTPUTF8 = true
	}
	return c.query(ctx, "VRFY", v)
}

// Expn asks the server to expand a mailing list (RFC 5321 §4.1.1.7).
func (c *Client) Expn(ctx context.Context, arg string) (response.Reply, error) {
	e := command.Expn{Arg: arg}
	if e.NeedsSMTPUTF8() && c.ext.Has("SMTPUTF8") {
		e.SMTPUTF8 = true
	}
	return c.query(ctx, "EXPN", e)
}

// Help sends HELP, with an optional topic (RFC 5321 §4.1.1.8).
func (c *Client) Help(ctx context.Context, topic string) (response.Reply, error) {
	if err := c.notInData("HELP"); err != nil {
		return response.Reply{}, err
	}
	return c.simple(ctx, "HELP", command.Help{Topic: topic})
}

// query is VRFY and EXPN: they name addresses, so the TLS mode applies
// first.
func (c *Client) query(ctx context.Context, op string, cmd command.Command) (response.Reply, error) {
	if err := c.notInData(op); err != nil {
		return response.Reply{}, err
	}
	if err := c.ensureHello(ctx); err != nil {
		return response.Reply{}, err
	}
	return c.simple(ctx, op, cmd)
}

func (c *Client) notInData(op string) error {
	if err := c.usable(); err != nil {
		return err
	}
	if c.state == StateData {
		return &StateError{Op: op, State: c.state}
	}
	return nil
}

// simple sends cmd and returns its reply, with a *response.Error for a
// 4yz or 5yz reply.
func (c *Client) simple(ctx context.Context, op string, cmd command.Command) (response.Reply, error) {
	reply, err := c.roundTrip(ctx, op, cmd)
	if err != nil {
		return reply, err
	}
	return reply, c.refused(cmd, reply)
}

// Do sends any command and returns the server's reply whatever its code
// (smtplib's docmd): err is set only when the command did not build or no
// reply was read. Do does not track the session state, so a transaction
// command sent with Do is invisible to the state machine: use it for
// commands this package has no method for (ETRN, XCLIENT, a Raw test
// line).
func (c *Client) Do(ctx context.Context, cmd command.Command) (response.Reply, error) {
	if err := c.notInData(verb(cmd)); err != nil {
		return response.Reply{}, err
	}
	return c.roundTrip(ctx, verb(cmd), cmd)
}

// Quit sends QUIT (RFC 5321 §4.1.1.10), reads the reply and closes the
// connection. The Client is unusable afterwards. While message data is
// being written QUIT would be data: the connection is closed without it,
// so the unfinished message is never accepted.
func (c *Client) Quit(ctx context.Context) (response.Reply, error) {
	if err := c.usable(); err != nil {
		return response.Reply{}, err
	}
	if c.state == StateData {
		c.Close()
		return response.Reply{}, &StateError{Op: "QUIT", State: StateData}
	}
	reply, err := c.roundTrip(ctx, "QUIT", command.Quit{})
	c.Close()
	if err != nil {
		return reply, err
	}
	return reply, c.refused(command.Quit{}, reply)
}
