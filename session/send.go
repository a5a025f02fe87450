package session

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session/internal/msghdr"
	"github.com/smtpkit/smtpkit/wire"
)

// Envelope is what [Client.SendEnvelope] sends around a message: the
// reverse path, the recipients, and their ESMTP parameters.
type Envelope struct {
	// From is the reverse path; the zero Mailbox is the null sender "<>".
	From command.Mailbox
	// To are the recipients, in the order their RCPT commands are sent.
	To []command.Mailbox
	// MailParams are sent with MAIL. SIZE, BODY and SMTPUTF8 are filled in
	// when left zero; see [Client.SendEnvelope].
	MailParams command.MailParams
	// RcptParams, when not nil, holds one set of parameters per recipient.
	RcptParams []command.RcptParams
	// Size is the message size in octets when the caller knows it and
	// the body reader cannot tell (it has no Len or Size method); 0 means
	// unknown.
	Size int64
}

// RecipientResult is what the server said to one RCPT.
type RecipientResult struct {
	Address  string
	Accepted bool           // the server accepted the RCPT
	Reply    response.Reply // the reply to RCPT
	// Data is the reply that decided whether the message was delivered to
	// this recipient: in LMTP its own reply to the end of the message (RFC
	// 2033 §4.2); in SMTP the reply to the end of data (or the refusal of
	// DATA or of a BDAT chunk) of the transaction it went in, which is
	// Result.Data unless the message went in several transactions (see
	// [Client.SendEnvelope]). It is zero for a recipient refused at RCPT,
	// and for one whose reply never came.
	Data response.Reply
}

// Delivered says whether the server took the message for this recipient.
func (r *RecipientResult) Delivered() bool { return r.Accepted && r.Data.Positive() }

// Result is the outcome of a transaction the server accepted.
type Result struct {
	Mail       response.Reply    // the reply to MAIL
	Recipients []RecipientResult // one per recipient, in order
	// Data is the reply to the end of data. In LMTP, where each accepted
	// recipient gets its own (RecipientResult.Data), it is the last of
	// them. For a message sent in several transactions, it is the last
	// transaction's that delivered it, and Mail the first's MAIL reply.
	Data response.Reply
}

// decided records reply as what decided delivery to every accepted
// recipient (SMTP: one reply for all of them), and returns r.
func (r *Result) decided(reply response.Reply) *Result {
	for i := range r.Recipients {
		if r.Recipients[i].Accepted {
			r.Recipients[i].Data = reply
		}
	}
	return r
}

// Refused returns the recipients the server refused at RCPT, in order:
// smtplib's sendmail return value.
func (r *Result) Refused() []RecipientResult {
	var out []RecipientResult
	for _, rr := range r.Recipients {
		if !rr.Accepted {
			out = append(out, rr)
		}
	}
	return out
}

// ErrNoRecipients is returned by the Send methods for an envelope without
// recipients, before anything is sent; [Client.SendMessage] returns a
// *HeaderError that matches it, for a header that names no recipient.
var ErrNoRecipients = errors.New("session: no recipients")

// Send sends one message (smtplib's sendmail): from and each of to are
// addresses as users write or paste them ("alice@example.org",
// "<alice@example.org>", "Alice <alice@example.org>"; the display name is
// dropped, see command.ParseAddress; "" or "<>" is the null sender), body
// is the message, header and body, in any line endings. An address that
// does not parse is a *command.AddressError naming it, and nothing is
// sent. See [Client.SendEnvelope] for what is sent and what is returned.
func (c *Client) Send(ctx context.Context, from string, to []string, body io.Reader) (*Result, error) {
	env := Envelope{To: make([]command.Mailbox, 0, len(to))}
	if from != "" && from != "<>" {
		m, err := command.ParseAddress(from)
		if err != nil {
			return nil, fmt.Errorf("session: sender: %w", err)
		}
		env.From = m
	}
	for _, t := range to {
		m, err := command.ParseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("session: recipient: %w", err)
		}
		env.To = append(env.To, m)
	}
	return c.SendEnvelope(ctx, &env, body)
}

// SendMessage sends a message whose envelope is taken from its own header,
// as smtplib's send_message does: the sender from Sender, else From; the
// recipients from To, Cc and Bcc. When the header holds exactly one
// Resent-Date, the Resent- fields are used instead (Resent-Sender or
// Resent-From; Resent-To, Resent-Cc, Resent-Bcc); several Resent-Date
// fields are an error, since which resending is meant is unclear. Bcc and
// Resent-Bcc fields are removed from what is sent. The header's lines end
// where the DATA encoder will end them (CRLF, a bare LF or a bare CR), so
// a field cannot hide from this reading and appear on the wire. Only the
// header is buffered (at most Limits.MessageHeaderBytes, 1 MiB by
// default); the body streams.
//
// A header the envelope cannot be taken from (no sender field, no
// recipient, an address that does not parse, a line that is not a
// field, ...) is a *HeaderError, before anything is sent; one without
// recipients matches ErrNoRecipients.
func (c *Client) SendMessage(ctx context.Context, msg io.Reader) (*Result, error) {
	br := bufio.NewReader(msg)
	henv, header, err := msghdr.Read(br, c.opts.Limits.MessageHeaderBytes)
	if err != nil {
		return nil, headerError(err)
	}
	from := henv.From
	if from == "<>" {
		from = ""
	}
	return c.Send(ctx, from, henv.To, io.MultiReader(bytes.NewReader(header), br))
}

// SendEnvelope runs one mail transaction: Hello if needed, MAIL, one RCPT
// per recipient, DATA and the message.
//
// When the server offers PIPELINING (RFC 2920), MAIL, the RCPTs and DATA
// go out in one write and the replies are read in order afterwards; the
// message follows DATA's 354 when a recipient was accepted. With CHUNKING
// as well (RFC 3030), the message goes in the same write as BDAT chunks
// (line endings as CRLF, no dot-stuffing; a body with a NUL octet as
// BODY=BINARYMIME, sent unchanged, when the server offers it): one round
// trip for the whole transaction. Options.DisablePipelining and
// DisableChunking turn either off. The results are the same on every path.
//
// A message goes in more than one transaction, the same body in each,
// when the server says it takes fewer recipients: the LIMITS RCPTMAX and
// RCPTDOMAINMAX it announced (RFC 9422) are kept to from the start, and a
// recipient refused as one too many (452, or 552, RFC 5321
// §4.5.3.1.10) in a transaction that delivered the message is sent in
// the next one, on the same connection. The Result then merges them: one
// entry per recipient, each with the reply to its last RCPT and, in Data,
// the reply that decided its delivery (see [RecipientResult.Delivered]).
// Sending the body again needs it from its start: a *bytes.Reader,
// *strings.Reader, *bytes.Buffer or other io.Seeker (an *os.File). Any
// other reader goes once, with every recipient, and those the server
// refuses as too many are reported refused, for the caller to send again.
// When the session ends after the message was delivered to some
// recipients, the error is an *UnansweredError with MaybeDelivered set:
// its Result says who got it, and its Recipients who may not have.
//
// MAIL parameters are filled in when left zero: SIZE when the server
// offers it and the size is known (env.Size, or a body with a Len or Size
// method such as *bytes.Reader); BODY=8BITMIME when the server offers it
// and the body has 8-bit octets, or its content cannot be seen beforehand;
// SMTPUTF8 when an address needs it, and a *NotSupportedError before
// anything is sent when the server lacks it. A message larger than the
// server's SIZE limit is a *MessageTooLargeError, also before anything is
// sent.
//
// An envelope without recipients (ErrNoRecipients) or whose RcptParams
// do not match them (ErrRcptParams) is refused before any I/O, Hello
// included.
//
// The result has one entry per recipient, with the server's reply. Some
// refused recipients are not an error (the message went to the others:
// see [Result.Refused]). The errors are typed: *SenderRefusedError,
// *RecipientsRefusedError (every recipient refused), *DataError; after
// them the transaction has been reset and the Client can send again. A
// network error, timeout or disconnection closes the Client; an error
// reading body aborts the connection before the end of data, so that the
// server cannot accept a truncated message.
func (c *Client) SendEnvelope(ctx context.Context, env *Envelope, body io.Reader) (*Result, error) {
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	if err := c.ensureHello(ctx); err != nil {
		return nil, err
	}
	if c.state != StateReady {
		return nil, &StateError{Op: "Send", State: c.state}
	}
	var res *Result
	var err error
	if s := c.newSplitter(env, body); s != nil {
		res, err = c.sendSplit(ctx, s)
	} else {
		res, err = c.sendOne(ctx, env, body)
	}
	c.resetIfOpen(ctx)
	return res, err
}

// scratch is the Client's body buffer, made on first use and kept: one
// per connection rather than one per message.
func (c *Client) scratch() []byte {
	if c.copyBuf == nil {
		c.copyBuf = make([]byte, 32<<10)
	}
	return c.copyBuf
}

// autoParams fills in SIZE, BODY and SMTPUTF8 as SendEnvelope documents,
// and says whether the body is binary (has a NUL octet, so that only
// BODY=BINARYMIME carries it intact).
func (c *Client) autoParams(env *Envelope, body io.Reader) (command.MailParams, bodyScan, error) {
	p := env.MailParams
	needUTF8 := env.From.NeedsSMTPUTF8()
	for _, to := range env.To {
		needUTF8 = needUTF8 || to.NeedsSMTPUTF8()
	}
	if needUTF8 || p.SMTPUTF8 {
		if !c.ext.Has("SMTPUTF8") {
			return p, bodyScan{}, &NotSupportedError{Extension: "SMTPUTF8", Reason: "for an address with a UTF-8 local part (RFC 6531)"}
		}
		p.SMTPUTF8 = true
	}
	scan := inspect(body, c.scratch(), &c.scan)
	if p.Body == "" {
		switch {
		case scan.NUL() && c.ext.Has("BINARYMIME") && c.useChunking():
			// Only BINARYMIME carries a NUL intact (RFC 3030 §3).
			p.Body = command.BodyBinaryMIME
		case c.ext.Has("8BITMIME") && (scan.EightBit() || !scan.seen):
			p.Body = command.Body8BitMIME
		}
	}
	size := scan.size()
	if p.Body == command.BodyBinaryMIME && scan.seen {
		size = scan.Len() // sent unchanged: no line endings added
	}
	if env.Size > 0 {
		size = env.Size
	}
	if limit, ok := c.ext.MaxSize(); ok {
		if p.Size == 0 && size > 0 {
			p.Size = size
		}
		if limit > 0 && p.Size > limit {
			return p, scan, &MessageTooLargeError{Size: p.Size, Limit: limit}
		}
	}
	return p, scan, nil
}

// bodyScan is what is known of a body before it is sent: scanned when
// it is in memory, or only its length when it has a Len method.
type bodyScan struct {
	wire.BodyScan
	exact int64 // a length given as is, not scanned (-1: none)
	seen  bool  // the content was scanned
}

// clean reports whether the scanned body needs no line-ending change.
func (s *bodyScan) clean() bool { return s.seen && s.Clean() }

// size is the size as sent (RFC 1870 §3), 0 when unknown.
func (s *bodyScan) size() int64 {
	if !s.seen {
		return max(s.exact, 0)
	}
	return s.Size()
}

// inspect looks at a body without consuming it, when its type allows:
// its size as it will be sent (line endings as CRLF, a final CRLF added),
// and whether it has octets above 127 or a NUL. A body with only a Len
// method gives its length as the size.
//
// scratch is the Client's: the scan that a writer (for WriteTo) has to
// point to lives there rather than in a new allocation per message.
func inspect(body io.Reader, buf []byte, scratch *wire.BodyScan) (s bodyScan) {
	s.exact = -1
	switch b := body.(type) {
	case *bytes.Reader:
		// WriteTo hands over the unread bytes without a copy; Seek puts
		// the reader back where it was.
		pos := b.Size() - int64(b.Len())
		*scratch = wire.BodyScan{}
		b.WriteTo(scanWriter{scratch})
		b.Seek(pos, io.SeekStart)
		s.BodyScan, s.seen = *scratch, true
	case *strings.Reader:
		scanAt(&s.BodyScan, b, b.Size(), buf)
		s.seen = true
	case *bytes.Buffer:
		s.Scan(b.Bytes())
		s.seen = true
	default:
		if l, ok := body.(interface{ Len() int }); ok {
			s.exact = int64(l.Len())
		}
	}
	return s
}

// scanWriter feeds what is written to it to a BodyScan.
type scanWriter struct{ s *wire.BodyScan }

func (w scanWriter) Write(p []byte) (int, error) {
	w.s.Scan(p)
	return len(p), nil
}

// scanAt reads r from its current offset via ReadAt, which does not move
// it. The offset is size minus what is left (Len).
func scanAt(s *wire.BodyScan, r interface {
	io.ReaderAt
	Len() int
}, size int64, buf []byte) {
	for pos := size - int64(r.Len()); pos < size; {
		n, err := r.ReadAt(buf, pos)
		s.Scan(buf[:n])
		pos += int64(n)
		if err != nil {
			break
		}
	}
}

// headerError turns an error of msghdr.Read into a *HeaderError, whose
// message does not name the internal package.
func headerError(err error) error {
	var ee *msghdr.EnvelopeError
	var me *msghdr.Error
	switch {
	case errors.As(err, &ee):
		first, other := ee.Sender, ee.Recipients
		if first == nil {
			first, other = other, nil
		}
		if first == nil {
			return &HeaderError{Reason: "no envelope"}
		}
		he := fromMsghdr(first)
		if other != nil && other != first {
			o := fromMsghdr(other)
			he.Reason += "; " + strings.TrimPrefix(o.Error(), "session: message header: ")
		}
		if ee.Recipients != nil && errors.Is(ee.Recipients, msghdr.ErrNoRecipients) {
			he.Err = ErrNoRecipients
		}
		return he
	case errors.As(err, &me):
		return fromMsghdr(me)
	}
	// The reader's error: msghdr wraps it.
	cause := err
	if u := errors.Unwrap(err); u != nil {
		cause = u
	}
	return &HeaderError{Reason: "reading the message: " + cause.Error(), Err: cause}
}

func fromMsghdr(e *msghdr.Error) *HeaderError {
	reason := e.Err.Error()
	if e.Detail != "" {
		reason += ": " + e.Detail
	}
	he := &HeaderError{Line: e.Line, Field: e.Field, Reason: reason}
	if errors.Is(e.Err, msghdr.ErrNoRecipients) {
		he.Err = ErrNoRecipients
	}
	return he
}
