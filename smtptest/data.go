package smtptest

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
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
		raw, tooBig, err := c.readDotData()
		if err != nil {
			return err
		}
		var data []byte
		var decodeErr error
		if !tooBig {
			d := wire.NewDotReader(bytes.NewReader(raw))
			d.SetMaxLineLength(len(raw) + 3)
			data, decodeErr = io.ReadAll(d)
			if data == nil {
				data = []byte{}
			}
			tooBig = c.s.maxSize > 0 && int64(len(data)) > c.s.maxSize
		}
		c.s.logf(c.id, "C: <%d octets of data>", len(raw))
		return c.endOfData(c.finishMessage(raw, data, tooBig, decodeErr, false))
	}}
}

// readDotData reads the message after a 354 through the end-of-data line
// and returns the bytes as received. Past the size limit it stops keeping
// them, reads on to the end, and reports tooBig.
func (c *conn) readDotData() (raw []byte, tooBig bool, err error) {
	keep := int64(-1) // no bound
	if c.s.maxSize > 0 && c.s.maxSize <= (math.MaxInt64-16)/2 {
		// Dot-stuffing adds at most a third: past this the decoded
		// message is over the limit for sure. A larger limit would
		// overflow; no message that big can arrive anyway.
		keep = 2*c.s.maxSize + 16
	}
	raw = []byte{}
	atStart, afterCR := true, false
	for {
		b, err := c.br.ReadSlice('\n')
		if atStart && err == nil && len(b) == 3 && b[0] == '.' && b[1] == '\r' {
			if !tooBig {
				raw = append(raw, b...)
			}
			return raw, tooBig, nil
		}
		if len(b) > 0 {
			if !tooBig && (keep < 0 || int64(len(raw)+len(b)) <= keep) {
				raw = append(raw, b...)
			} else {
				tooBig, raw = true, nil
			}
			if last := b[len(b)-1]; last == '\n' {
				atStart = len(b) >= 2 && b[len(b)-2] == '\r' || len(b) == 1 && afterCR
				afterCR = false
			} else {
				atStart, afterCR = false, last == '\r'
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, err
		}
	}
}

// finishMessage returns the end-of-data action, which records the message.
// The caller ends the transaction (st.resetTx) before the reply is sent.
func (c *conn) finishMessage(raw, data []byte, tooBig bool, decodeErr error, chunked bool) action {
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
	case decodeErr != nil:
		act.reply = c.reply(response.CodeLocalError, "4.3.0", "Cannot decode the data: "+decodeErr.Error())
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
			return c.finishMessage(nil, nil, true, nil, true), nil
		}
		if tooBig {
			refuse = c.reply(response.CodeExceededStorage, "5.3.4", "Message too big")
		}
		return action{reply: refuse, refused: c.failChunks}, nil
	}
	var chunk bytes.Buffer
	if _, err := io.CopyN(&chunk, c.br, cmd.Size); err != nil {
		return action{}, err
	}
	c.s.logf(c.id, "C: <%d octets>", cmd.Size)
	if cmd.Last {
		data := append(st.chunks, chunk.Bytes()...)
		return c.finishMessage(bytes.Clone(data), data, false, nil, true), nil
	}
	return action{
		reply: c.reply(response.CodeOK, "2.0.0", strconv.FormatInt(cmd.Size, 10)+" octets received"),
		then: func(response.Reply) error {
			st.chunks = append(st.chunks, chunk.Bytes()...)
			st.chunked = true
			return nil
		},
		refused: c.failChunks,
	}, nil
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
