package smtptest

import (
	"bytes"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

func (c *conn) data() action {
	st := &c.st
	switch {
	case !st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Need MAIL before DATA")}
	case st.chunked:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "DATA mixed with BDAT")}
	case st.mail.Params.Body == command.BodyBinaryMIME:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "BINARYMIME requires BDAT")}
	case len(st.rcpts) == 0:
		return action{reply: c.reply(response.CodeTransactionFailed, "5.5.1", "No valid recipients")}
	}
	return action{reply: response.New(response.CodeStartMailInput, "End data with <CR><LF>.<CR><LF>"), then: func(response.Reply) error {
		if err := c.flush(); err != nil {
			return err
		}
		if c.emulatesEndOfData() {
			return c.emulatedData()
		}
		raw, data, tooBig, err := c.readData()
		if err != nil {
			return err
		}
		c.s.logf(c.id, "C: <%d octets of data>", len(raw))
		return c.endOfData(c.finishMessage(raw, data, tooBig, false))
	}}
}

// readData reads the message after a 354 through the end-of-data line,
// within Config.DataTimeout, with a wire.DotReader, and returns it as
// received and as decoded: the two share memory unless the client stuffed
// dots. What it reads goes to raw as it arrives; the decoded octets are
// only counted, and made (into a second buffer) at the end only when they
// differ from raw. Past the size limit, raw is dropped and the rest of the
// message read and dropped too: tooBig.
func (c *conn) readData() (raw, data []byte, tooBig bool, err error) {
	c.readWithin(c.s.dataTimeout)
	buffered, _ := c.br.Peek(c.br.Buffered())
	raw = append(make([]byte, 0, max(c.sizeHint(), len(buffered))), buffered...)
	start := c.consumed()
	c.tee = &raw
	defer func() { c.tee = nil }()
	c.noteHeld(len(raw))

	d := c.dotReader(c.br)
	if c.scratch == nil {
		c.scratch = make([]byte, 32<<10)
	}
	var n int64 // decoded octets
	for {
		k, err := d.Read(c.scratch)
		n += int64(k)
		if !tooBig && c.s.maxSize > 0 && n > c.s.maxSize {
			tooBig, raw, c.tee = true, nil, nil
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, false, err
		}
	}
	if tooBig {
		return nil, nil, true, nil
	}
	raw = raw[:c.consumed()-start]
	if int64(len(raw)) == n+3 { // nothing but ".\r\n" was removed
		return raw, raw[:n:n], false, nil
	}
	data = make([]byte, n)
	if _, err := io.ReadFull(c.dotReader(bytes.NewReader(raw)), data); err != nil {
		return nil, nil, false, err // cannot be: raw decoded once already
	}
	c.noteHeld(len(raw) + len(data))
	return raw, data, false, nil
}

// dotReader returns the connection's DotReader, reset to read from r.
// Lines have no length limit: the size limit bounds what is kept, and a
// line past it must still be read to the end of the data.
func (c *conn) dotReader(r io.Reader) *wire.DotReader {
	if c.dot == nil {
		c.dot = wire.NewDotReader(r)
		c.dot.SetMaxDataLineLength(math.MaxInt)
	} else {
		c.dot.Reset(r)
	}
	return c.dot
}

// sizeHint is how much room the message of the current transaction
// needs, going by its MAIL SIZE= (RFC 1870) within the size limit, plus
// some for dot-stuffing and read-ahead; 0 when unknown. It never goes
// above 16 MiB, whatever SIZE= says, so that a client cannot make the
// server reserve memory it does not fill.
func (c *conn) sizeHint() int {
	n := c.st.mail.Params.Size
	if n <= 0 || c.s.maxSize > 0 && n > c.s.maxSize {
		return 0
	}
	return int(min(n+n/32+readBufferSize, 16<<20))
}

// finishMessage returns the end-of-data action, which records the message.
// The caller ends the transaction (st.resetTx) before the reply is sent.
func (c *conn) finishMessage(raw, data []byte, tooBig bool, chunked bool) action {
	st := &c.st
	msg := Message{
		Conn:     c.id,
		Helo:     st.helo,
		TLS:      st.tls,
		AuthUser: st.authUser,
		From:     st.from,
		Mail:     st.mail,
		Rcpts:    append([]command.Rcpt(nil), st.rcpts...),
		To:       append([]string(nil), st.to...),
		Data:     data,
		Raw:      raw,
		Chunked:  chunked,
	}
	rcptLines := st.rcptLines
	act := action{endOfData: true, data: data}
	switch {
	case tooBig:
		act.reply = c.reply(response.CodeExceededStorage, "5.3.4", "Message too big")
	default:
		act.reply = c.reply(response.CodeOK, "2.0.0", "OK queued")
		act.then = func(response.Reply) error {
			c.addMessage(msg)
			return nil
		}
	}
	if c.s.cfg.LMTP {
		act.perRcpt = c.lmtpReplies(msg, rcptLines, act.reply)
		act.replies = len(rcptLines)
	}
	return act
}

// lmtpReplies returns a function that sends one reply per recipient (RFC
// 2033 §4.2) instead of the single one, and records the message for those
// whose reply is 2yz.
func (c *conn) lmtpReplies(msg Message, rcptLines []string, def response.Reply) func() error {
	return func() error {
		var rcpts []command.Rcpt
		var to []string
		var closing error
		for i, line := range rcptLines {
			keys := []string{endOfDataKey}
			counts := c.count(keys)
			r := def
			if r.Positive() {
				r = c.reply(response.CodeOK, "2.1.5", "<"+msg.To[i]+"> OK")
			}
			var sent response.Reply
			act := action{reply: r, then: func(final response.Reply) error { sent = final; return nil }}
			if o, ok := c.override(keys, counts, line, nil); ok {
				act.reply = o
			}
			err := c.respond(keys, counts, line, act, &act.reply)
			if err == errClosing {
				// A 421 ends the connection: the recipients after it get
				// no reply, those before it that got 2yz have the message.
				closing = err
				break
			}
			if err != nil {
				return err
			}
			if sent.Positive() && def.Positive() {
				rcpts = append(rcpts, msg.Rcpts[i])
				to = append(to, msg.To[i])
			}
		}
		if len(rcpts) > 0 {
			msg.Rcpts, msg.To = rcpts, to
			c.addMessage(msg)
		}
		return closing
	}
}

// addMessage records a message accepted on the connection.
func (c *conn) addMessage(m Message) {
	c.accepted++
	c.s.addMessage(m)
}

// endOfData answers the end of the data of DATA, which ends the
// transaction.
func (c *conn) endOfData(act action) error {
	c.st.resetTx()
	if act.perRcpt != nil {
		// LMTP: the per-recipient replies stand in for the single one.
		return act.perRcpt()
	}
	keys := []string{endOfDataKey}
	return c.respond(keys, c.count(keys), "", act, nil)
}

// bdat reads a BDAT chunk and works out the reply to it. A chunk is read
// whatever the reply (RFC 3030 §2: the octets follow the command line),
// but only an accepted one is part of the message. A chunk refused in a
// mail transaction, by the server (no recipients, the size limit, a
// syntax error) or by the Handler or an Override (4yz or 5yz), fails the
// transaction, as RFC 3030 §2 has the client consider it: every later
// BDAT in it is read and answered "503 5.5.0 Previous data chunk failed,
// issue RSET first", once even in LMTP, the transaction staying open
// until RSET (or EHLO, HELO, LHLO, STARTTLS), as Dovecot does. The
// exception is a BDAT LAST over the size limit: that is the message's
// end-of-data reply, and it ends the transaction, as after DATA.
//
// The chunk is read by its size here, not through wire.BDATReader: the
// "BDAT n" line is a command like any other (recorded, counted, given to
// the Handler and the Overrides, parsed by package command), and other
// commands may come between chunks, while a BDATReader reads the command
// lines itself and takes nothing but chunks.
func (c *conn) bdat(cmd command.Bdat) (action, error) {
	s, st := c.s, &c.st
	var refuse response.Reply
	switch {
	case c.refusing:
		refuse = c.reply(response.CodeBadSequence, "5.5.1", "No SMTP service here")
	case !s.hasExt("CHUNKING"):
		refuse = c.reply(response.CodeNotImplemented, "5.5.1", "Command not implemented")
	case !st.inTx:
		refuse = c.reply(response.CodeBadSequence, "5.5.1", "Need MAIL before BDAT")
	case st.bdatFailed:
		refuse = c.reply(response.CodeBadSequence, "5.5.0", "Previous data chunk failed, issue RSET first")
	case len(st.rcpts) == 0:
		refuse = c.reply(response.CodeTransactionFailed, "5.5.1", "No valid recipients")
	}
	tooBig := refuse.Code == 0 && s.maxSize > 0 && cmd.Size > max(0, s.maxSize-int64(len(st.chunks)))
	if refuse.Code != 0 || tooBig {
		if err := c.discard(cmd.Size); err != nil {
			return action{}, err
		}
		if tooBig && cmd.Last {
			return c.finishMessage(nil, nil, true, true), nil
		}
		if tooBig {
			refuse = c.reply(response.CodeExceededStorage, "5.3.4", "Message too big")
		}
		return action{reply: refuse, refused: c.failChunks}, nil
	}
	// The chunk goes right after the accepted ones, in their buffer, but
	// past its length until its reply accepts it: a refused chunk is
	// overwritten by the next one.
	kept := len(st.chunks)
	if err := c.readChunk(cmd.Size); err != nil {
		return action{}, err
	}
	c.s.logf(c.id, "C: <%d octets>", cmd.Size)
	if cmd.Last {
		return c.finishMessage(st.chunks, st.chunks, false, true), nil
	}
	whole := st.chunks
	st.chunks = st.chunks[:kept]
	return action{
		reply: c.reply(response.CodeOK, "2.0.0", strconv.FormatInt(cmd.Size, 10)+" octets received"),
		then: func(response.Reply) error {
			st.chunks = whole
			st.chunked = true
			return nil
		},
		refused: c.failChunks,
	}, nil
}

// readChunk reads the n octets of a BDAT chunk, within Config.DataTimeout,
// onto the end of the transaction's chunks.
func (c *conn) readChunk(n int64) error {
	c.readWithin(c.s.dataTimeout)
	st := &c.st
	for n > 0 {
		k := int(min(n, 64<<10))
		st.chunks = slices.Grow(st.chunks, k)
		m, err := io.ReadFull(c.br, st.chunks[len(st.chunks):len(st.chunks)+k])
		st.chunks = st.chunks[:len(st.chunks)+m]
		c.noteHeld(len(st.chunks))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		n -= int64(m)
	}
	return nil
}

// failChunks marks the transaction, if there is one, as failed by a
// refused BDAT.
func (c *conn) failChunks() {
	if c.st.inTx {
		c.st.chunked, c.st.bdatFailed = true, true
	}
}

// discard reads and drops the n octets of a chunk that is not kept.
func (c *conn) discard(n int64) error {
	c.readWithin(c.s.dataTimeout)
	if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
		return err
	}
	c.s.logf(c.id, "C: <%d octets discarded>", n)
	return nil
}

// badBdat reports whether perr is the parse error of a BDAT line, with
// the chunk size when it parsed (the end marker did not), else 0.
func badBdat(perr error, line string) (size int64, ok bool) {
	var ce *command.Error
	if !errors.As(perr, &ce) || ce.Verb != "BDAT" {
		return 0, false
	}
	if f := strings.Fields(line); ce.Arg == "end-marker" && len(f) >= 2 {
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil && n > 0 {
			size = n
		}
	}
	return size, true
}
