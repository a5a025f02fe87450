package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

// This file sends one message in as many transactions as the server's
// limits require, and merges what became of each recipient:
//
//   - LIMITS RCPTMAX and RCPTDOMAINMAX (RFC 9422 §5.2, §5.3) are honoured
//     before anything is sent: the recipients past them go in following
//     transactions, in order;
//   - a recipient refused with "too many recipients" (452, or 552, which
//     RFC 5321 §4.5.3.1.10 says to treat the same way for RCPT) in a
//     transaction that delivered the message to others goes in a
//     following transaction on the same connection.
//
// A following transaction sends the same body again, so it needs the body
// from its start: a *bytes.Reader, *strings.Reader or *bytes.Buffer, or any
// io.Seeker (an *os.File). Another reader cannot be read twice: the whole
// envelope then goes in one transaction, and recipients the server refuses
// as too many are reported refused with that reply, for the caller to send
// again.

// splitter is one message that may go in several transactions.
type splitter struct {
	env     *Envelope
	body    io.Reader
	restart func() (io.Reader, bool) // the body from its start, for one more transaction
	limits  ServerLimits
	left    []int   // indexes in env.To of the recipients not sent yet, in order
	group   []int   // ... of the current transaction's, in its order
	res     *Result // one entry per recipient of env
	txns    int     // transactions sent
	someOK  bool    // a transaction delivered the message
	lastErr error   // the last transaction's error, when it failed
	stop    bool    // no more transactions: the session ended, or the sender was refused
}

// newSplitter returns the splitter for a message with more than one
// recipient, nil for one that can only ever go in one transaction.
func (c *Client) newSplitter(env *Envelope, body io.Reader) *splitter {
	if len(env.To) < 2 {
		return nil
	}
	s := &splitter{env: env, body: body, limits: c.ext.Limits()}
	s.restart = restartable(body)
	s.left = make([]int, len(env.To))
	for i := range s.left {
		s.left[i] = i
	}
	return s
}

// merged is the message's Result, made when a second transaction or a
// first one without every recipient needs it.
func (s *splitter) merged() *Result {
	if s.res == nil {
		s.res = &Result{Recipients: make([]RecipientResult, len(s.env.To))}
		for i, to := range s.env.To {
			s.res.Recipients[i].Address = to.String()
		}
	}
	return s.res
}

// whole says whether the message went in one transaction with every
// recipient: its outcome is then that transaction's, as it was.
func (s *splitter) whole() bool {
	return s.txns == 1 && len(s.group) == len(s.env.To) && len(s.left) == 0
}

// restartable returns a function that gives body from where it is now,
// as many times as asked, or nil when body cannot be read twice.
func restartable(body io.Reader) func() (io.Reader, bool) {
	switch b := body.(type) {
	case *bytes.Buffer:
		// Sending drains the buffer; the bytes stay where they are.
		data := b.Bytes()
		first := true
		return func() (io.Reader, bool) {
			if first {
				first = false
				return b, true
			}
			return bytes.NewReader(data), true
		}
	case io.Seeker:
		pos, err := b.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil
		}
		return func() (io.Reader, bool) {
			if _, err := b.Seek(pos, io.SeekStart); err != nil {
				return nil, false
			}
			return body, true
		}
	}
	return nil
}

// next chooses the recipients of the next transaction, within RCPTMAX and
// RCPTDOMAINMAX, and returns its envelope and body; ok is false when there
// is nothing more to send or it cannot be sent.
func (s *splitter) next() (env *Envelope, body io.Reader, ok bool) {
	if len(s.left) == 0 || s.stop {
		return nil, nil, false
	}
	if s.txns > 0 && s.restart == nil {
		return nil, nil, false
	}
	body = s.body
	s.group = s.group[:0]
	if s.restart == nil {
		// The body goes once: every recipient goes with it.
		s.group = append(s.group, s.left...)
		s.left = s.left[:0]
	} else {
		if body, ok = s.restart(); !ok {
			return nil, nil, false
		}
		s.group, s.left = s.take(s.group, s.left)
	}
	s.txns++
	if s.whole() {
		return s.env, body, true
	}
	sub := &Envelope{From: s.env.From, MailParams: s.env.MailParams, Size: s.env.Size,
		To: make([]command.Mailbox, len(s.group))}
	if s.env.RcptParams != nil {
		sub.RcptParams = make([]command.RcptParams, len(s.group))
	}
	for j, i := range s.group {
		sub.To[j] = s.env.To[i]
		if sub.RcptParams != nil {
			sub.RcptParams[j] = s.env.RcptParams[i]
		}
	}
	return sub, body, true
}

// take moves from left to group the recipients, in order, that fit one
// transaction: at most RCPTMAX of them, from at most RCPTDOMAINMAX
// domains. The others stay in left, in order. The first always fits, so
// that every transaction makes progress.
func (s *splitter) take(group, left []int) ([]int, []int) {
	maxRcpt, maxDomains := s.limits.RcptMax, s.limits.RcptDomainMax
	var domains []string
	rest := left[:0]
	for _, i := range left {
		d := strings.ToLower(s.env.To[i].Domain)
		known := false
		for _, k := range domains {
			known = known || k == d
		}
		fits := maxRcpt <= 0 || len(group) < maxRcpt
		if !known && maxDomains > 0 && len(domains) >= maxDomains {
			fits = false
		}
		if fits || len(group) == 0 {
			group = append(group, i)
			if !known {
				domains = append(domains, d)
			}
			continue
		}
		rest = append(rest, i)
	}
	return group, rest
}

// record merges the outcome of the transaction just sent (its own Result,
// and its error) into the message's, and puts back in front of what is
// left the recipients the server refused as too many, when it delivered
// the message to others. Only a refusal of some recipients or of the
// message lets the next transaction go: after any other error (the
// sender refused, the session ended, the message too large, ...) the
// next would fare no better.
func (s *splitter) record(res *Result, err error, sessionDone bool) {
	s.lastErr = err
	if res == nil {
		res = resultOf(err)
	}
	var again []int
	if err == nil {
		s.someOK = true
		for j, r := range res.Recipients {
			if !r.Accepted && tooManyRecipients(r.Reply) {
				again = append(again, s.group[j])
			}
		}
	}
	if s.whole() && (again == nil || s.restart == nil || sessionDone) {
		return // the outcome is this transaction's own
	}
	m := s.merged()
	for j, i := range s.group {
		if res != nil && j < len(res.Recipients) {
			m.Recipients[i] = res.Recipients[j]
		}
	}
	if res != nil && m.Mail.Code == 0 {
		m.Mail = res.Mail
	}
	if err == nil {
		m.Data = res.Data
	}
	var (
		sr *SenderRefusedError
		re *RecipientsRefusedError
		de *DataError
		le *DeliveryError
	)
	switch {
	case sessionDone:
		s.stop = true
	case errors.As(err, &sr):
		// Every recipient not sent was refused with the sender.
		s.stop = true
		for _, i := range append(s.group, s.left...) {
			if m.Recipients[i].Reply.Code == 0 {
				m.Recipients[i].Reply = sr.Reply
			}
		}
		s.left = s.left[:0]
	case err == nil, errors.As(err, &re), errors.As(err, &de), errors.As(err, &le):
	default:
		s.stop = true
	}
	if len(again) > 0 {
		s.left = append(again, s.left...)
	}
}

// tooManyRecipients says whether a reply to RCPT refuses the recipient
// only because the transaction has enough of them (RFC 5321
// §4.5.3.1.10): a 452, or a 552, with no enhanced code or X.5.3.
func tooManyRecipients(r response.Reply) bool {
	if r.Code != 452 && r.Code != 552 {
		return false
	}
	return r.Enhanced.IsZero() || r.Enhanced.Subject == 5 && r.Enhanced.Detail == 3
}

// resultOf is the Result an error of a transaction carries, if any.
func resultOf(err error) *Result {
	var (
		ue *UnansweredError
		de *DataError
		le *DeliveryError
		re *RecipientsRefusedError
	)
	switch {
	case errors.As(err, &ue):
		return ue.Result
	case errors.As(err, &de):
		return de.Result
	case errors.As(err, &le):
		return le.Result
	case errors.As(err, &re):
		return &Result{Recipients: re.Recipients}
	}
	return nil
}

// outcome is what became of the whole message. When it went in one
// transaction covering every recipient, that transaction's outcome as it
// was. Otherwise: delivered to at least one recipient and the session
// still up, the merged Result; delivered to some and then the session
// ended, an *UnansweredError with MaybeDelivered set (it was delivered,
// to the recipients whose Data says so); delivered to none, the last
// transaction's error, carrying the merged Result.
func (s *splitter) outcome(res *Result, err error, sessionErr error) (*Result, error) {
	if s.whole() {
		return res, err
	}
	switch {
	case s.someOK && sessionErr == nil && !isUnanswered(s.lastErr):
		return s.res, nil
	case s.someOK:
		cause := sessionErr
		if cause == nil {
			cause = s.lastErr
		}
		cmd := "MAIL"
		var ue *UnansweredError
		if errors.As(s.lastErr, &ue) {
			cmd = ue.Command
			if ue.Err != nil {
				cause = ue.Err
			}
		}
		var unsure []string
		for _, r := range s.res.Recipients {
			if r.Reply.Code == 0 || r.Accepted && r.Data.Code == 0 {
				unsure = append(unsure, r.Address)
			}
		}
		return nil, &UnansweredError{Command: cmd, MaybeDelivered: true, Recipients: unsure, Result: s.res, Err: cause}
	}
	return nil, withResult(s.lastErr, s.merged())
}

func isUnanswered(err error) bool {
	var ue *UnansweredError
	return errors.As(err, &ue)
}

// withResult is err with the message's merged Result in place of its
// last transaction's.
func withResult(err error, res *Result) error {
	var (
		ue *UnansweredError
		de *DataError
		le *DeliveryError
		re *RecipientsRefusedError
	)
	switch {
	case errors.As(err, &ue):
		e := *ue
		e.Result = res
		return &e
	case errors.As(err, &de):
		e := *de
		e.Result = res
		return &e
	case errors.As(err, &le):
		e := *le
		e.Result = res
		return &e
	case errors.As(err, &re):
		e := *re
		e.Recipients = res.Recipients
		return &e
	}
	return err
}

// sendSplit sends the message of s in as many transactions as it takes,
// one after the other, and returns its merged outcome.
func (c *Client) sendSplit(ctx context.Context, s *splitter) (*Result, error) {
	return c.sendRest(ctx, s, nil, nil)
}

// sendRest sends what is left of the message of s, one transaction at a
// time, after a first one that ended with res and err (already
// recorded), if any; and returns the message's outcome.
func (c *Client) sendRest(ctx context.Context, s *splitter, res *Result, err error) (*Result, error) {
	for {
		env, body, ok := s.next()
		if !ok {
			break
		}
		res, err = c.sendOne(ctx, env, body)
		s.record(res, err, c.err != nil)
	}
	return s.outcome(res, err, c.err)
}

// prepareFirst prepares the first transaction of a message in a stream:
// the whole message, or its first part when it needs several.
func (c *Client) prepareFirst(env *Envelope, body io.Reader) (*txn, error) {
	s := c.newSplitter(env, body)
	if s == nil {
		return c.prepareTxn(env, body)
	}
	env, body, _ = s.next()
	t, err := c.prepareTxn(env, body)
	if err != nil {
		return nil, err
	}
	t.split = s
	return t, nil
}

// sendOne runs one transaction to its end: written, every reply read.
func (c *Client) sendOne(ctx context.Context, env *Envelope, body io.Reader) (*Result, error) {
	t, err := c.prepareTxn(env, body)
	if err != nil {
		return nil, err
	}
	if c.last != nil && !c.last.done && c.last.bdat {
		c.needRset = true // its failure could leave it open
	}
	if err := c.writeTxn(ctx, t); err == nil {
		c.sync(ctx, 0) // an error here is t's, judged below
	}
	res, err := c.outcome(t)
	c.recycle(t)
	return res, err
}
