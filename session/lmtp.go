package session

import (
	"context"
	"fmt"
	"strings"

	"github.com/smtpkit/smtpkit/command"
)

// LMTP (RFC 2033) is SMTP with one difference that matters to a client:
// after the message the server answers once per accepted recipient, in
// the order of the RCPTs, so each recipient can be delivered or not on
// its own. With Options.LMTP the Send methods read those replies here.

// DeliveryError reports that, in LMTP, the server accepted recipients but
// then delivered to none of them: every reply after the message was a
// failure. Result holds each recipient's reply (RecipientResult.Data).
// Partial delivery is not an error. It unwraps to the first failure as a
// *response.Error, so a temporary failure can be told from a permanent
// one.
type DeliveryError struct {
	Result *Result
}

func (e *DeliveryError) Error() string {
	var b strings.Builder
	b.WriteString("session: LMTP: no recipient took the message:")
	for _, r := range e.Result.Recipients {
		if r.Accepted {
			fmt.Fprintf(&b, " <%s>: %s;", r.Address, r.Data)
		}
	}
	return strings.TrimSuffix(b.String(), ";")
}

func (e *DeliveryError) Unwrap() error {
	for _, r := range e.Result.Recipients {
		if r.Accepted {
			return r.Data.Err("end of data for <" + r.Address + ">")
		}
	}
	return nil
}

// UnansweredError reports that an LMTP server stopped (closed, timed out,
// sent garbage) before answering for every accepted recipient after the
// message. Recipients lists those without an answer: whether they got the
// message is unknown, and must never be taken for delivered. Result holds
// what did come (the other recipients' Data). Err is the connection's
// error, which it unwraps to.
type UnansweredError struct {
	Recipients []string
	Result     *Result
	Err        error
}

func (e *UnansweredError) Error() string {
	return fmt.Sprintf("session: LMTP: no reply after the message for %s, fate unknown: %v",
		strings.Join(e.Recipients, ", "), e.Err)
}

func (e *UnansweredError) Unwrap() error { return e.Err }

// readPerRecipient reads the LMTP replies that follow the message, one
// per accepted recipient in RCPT order, into t.
func (c *Client) readPerRecipient(ctx context.Context, t *txn) error {
	var delivered, answered int
	for i := range t.res.Recipients {
		r := &t.res.Recipients[i]
		if !r.Accepted {
			continue
		}
		reply, err := c.read(ctx, "end of data", c.timeouts.DataEnd)
		if err == nil && reply.Intermediate() {
			err = c.unexpected("end of data", reply)
		}
		if err != nil {
			var missing []string
			for _, rest := range t.res.Recipients[i:] {
				if rest.Accepted {
					missing = append(missing, rest.Address)
				}
			}
			return &UnansweredError{Recipients: missing, Result: t.res, Err: err}
		}
		r.Data = reply
		t.res.Data = reply
		answered++
		if reply.Positive() {
			delivered++
		}
	}
	if answered > 0 && delivered == 0 && t.err == nil {
		t.err = &DeliveryError{Result: t.res}
	}
	return nil
}

// sendLMTP runs an LMTP transaction without PIPELINING: MAIL and each
// RCPT wait for their replies, then DATA, the message, and the replies
// for each recipient.
func (c *Client) sendLMTP(ctx context.Context, t *txn) (*Result, error) {
	if err := c.mailAndRcpts(ctx, t); err != nil {
		return nil, err
	}
	c.state = stateReady // the end of the message ends the transaction
	c.line, _ = command.Data{}.Append(c.line[:0])
	c.tr.sent(command.Data{}, c.line)
	c.w.Write(c.line)
	if err := c.flushOut(ctx); err != nil {
		return nil, err
	}
	return c.dataAndEnd(ctx, t)
}
