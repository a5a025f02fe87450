package pool

import (
	"errors"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
)

// Outcome is what became of a message, as the pool reports it: exactly
// one per message handed to it.
type Outcome int

const (
	// Delivered: the server accepted the message (a 2yz reply to its end
	// of data; in LMTP, for at least one recipient). The error is nil and
	// the *session.Result holds every reply.
	Delivered Outcome = iota + 1
	// Refused: the server refused the message with a reply, which the
	// error carries (*session.SenderRefusedError,
	// *session.RecipientsRefusedError, *session.DataError,
	// *session.DeliveryError). Not delivered.
	Refused
	// Unknown: the connection was lost after the whole message had gone
	// out and before the server's reply to it (*session.UnansweredError
	// with MaybeDelivered set), or the server's replies could not be
	// trusted (*session.DesyncError). The server may have the message:
	// sending it again may deliver it twice.
	Unknown
	// NotSent: the message did not reach the server's verdict and was not
	// delivered: it was never written, or the server closed the
	// connection before its end (an *session.UnansweredError without
	// MaybeDelivered), on every attempt; no connection could be opened;
	// the context ended while it waited; the pool was closed; or this
	// side refused it before sending (too large, a bad address, an
	// extension missing).
	NotSent
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Refused:
		return "refused"
	case Unknown:
		return "unknown"
	case NotSent:
		return "not sent"
	}
	return "Outcome(?)"
}

// OutcomeOf classifies the error a Send method of the pool (or of a
// session.Client) returned for a message: nil is Delivered.
func OutcomeOf(err error) Outcome {
	switch verdictOf(err) {
	case vDelivered:
		return Delivered
	case vRefused, vClosing:
		return Refused
	case vUnknown:
		return Unknown
	}
	return NotSent // vNotDelivered, vBehindClose, vFailed
}

// verdict is what one attempt at a message came to, and so whether the
// pool tries again.
type verdict int

const (
	vDelivered    verdict = iota
	vRefused              // refused with a reply (not 421): reported
	vClosing              // refused with a 421 (or 221): the session ended; retried
	vUnknown              // may have been delivered: retried only with RetryUnknown
	vNotDelivered         // unanswered before its end went out, or never written: retried
	vBehindClose          // unanswered because the server closed with a 421 to an earlier message: retried free
	vFailed               // not sent, and sending it again would fail the same way: reported
)

// verdictOf judges one attempt by its error. A message error from
// package session is one of: a refusal carrying the reply, an
// *UnansweredError, a *DesyncError, or an error found before anything
// was written for the message (too large, an extension missing, a bad
// address, a header without an envelope); the last kind is vFailed.
func verdictOf(err error) verdict {
	if err == nil {
		return vDelivered
	}
	var ue *session.UnansweredError
	if errors.As(err, &ue) {
		var be *session.BodyError
		switch {
		case ue.MaybeDelivered:
			return vUnknown
		case errors.As(ue.Err, &be):
			return vFailed // reading the body failed: it would again
		case closedBefore(ue):
			return vBehindClose
		}
		return vNotDelivered
	}
	var de *session.DesyncError
	if errors.As(err, &de) || errors.Is(err, errNoOutcome) {
		return vUnknown
	}
	if replies, ok := refusal(err); ok {
		for _, r := range replies {
			if closes(r) {
				return vClosing
			}
		}
		return vRefused
	}
	return vFailed
}

// ended reports whether a message's error says that the session ended
// with it: the connection broke or timed out, the server closed it, or
// its replies could no longer be trusted.
func ended(err error) bool {
	if err == nil {
		return false
	}
	var (
		ue *session.UnansweredError
		de *session.DesyncError
	)
	return errors.As(err, &ue) || errors.As(err, &de) || errors.Is(err, errNoOutcome) || verdictOf(err) == vClosing
}

// closedBefore reports whether the session ended with the server
// closing it (a 421, or a 221 to anything but QUIT) in answer to a
// command that was not this message's: the message was not judged at all.
func closedBefore(ue *session.UnansweredError) bool {
	var re *response.Error
	if !errors.As(ue.Err, &re) || !closes(re.Reply) {
		return false
	}
	if res := ue.Result; res != nil {
		if closes(res.Mail) {
			return false
		}
		for _, r := range res.Recipients {
			if closes(r.Reply) || closes(r.Data) {
				return false
			}
		}
	}
	return true
}

// refusal returns the replies of an error by which the server refused a
// message, and whether err is one.
func refusal(err error) ([]response.Reply, bool) {
	var (
		se *session.SenderRefusedError
		re *session.RecipientsRefusedError
		de *session.DataError
		le *session.DeliveryError
	)
	switch {
	case errors.As(err, &se):
		return []response.Reply{se.Reply}, true
	case errors.As(err, &re):
		out := make([]response.Reply, len(re.Recipients))
		for i, r := range re.Recipients {
			out[i] = r.Reply
		}
		return out, true
	case errors.As(err, &de):
		return []response.Reply{de.Reply}, true
	case errors.As(err, &le):
		var out []response.Reply
		if le.Result != nil {
			for _, r := range le.Result.Recipients {
				out = append(out, r.Reply, r.Data)
			}
		}
		return out, true
	}
	return nil, false
}

// closes reports whether r is the server closing the session: a 421, or
// a 221 to a command other than QUIT (RFC 5321 §3.8).
func closes(r response.Reply) bool {
	return r.Code == response.CodeServiceNotAvailable || r.Code == response.CodeServiceClosing
}

// dialRetryable reports whether opening a connection may succeed later
// where it failed with err, as session.Temporary judges it: after a 4yz
// reply (a 421 greeting, a 454 to AUTH) and on the network, yes; after a
// 5yz reply, an address that does not parse, a certificate that does not
// verify, an extension missing or credentials refused, no.
func dialRetryable(err error) bool {
	return session.Temporary(err) && !errors.Is(err, ErrClosed)
}

// countReplies adds the replies one attempt got for its commands to
// counts, indexed by class (the first digit of the code): MAIL's, each
// RCPT's and the end of data's (in LMTP, each recipient's), or those of
// the refusal. In SMTP every accepted recipient's Data repeats the one
// reply to the end of data, which is counted once.
func countReplies(counts *[6]uint64, res *session.Result, err error, lmtp bool) {
	add := func(r response.Reply) {
		if c := r.Code.Class(); r.Code != 0 && c >= 0 && int(c) < len(counts) {
			counts[c]++
		}
	}
	result := func(res *session.Result, perRecipient bool) {
		if res == nil {
			return
		}
		add(res.Mail)
		for _, r := range res.Recipients {
			add(r.Reply)
			if perRecipient {
				add(r.Data)
			}
		}
	}
	if err == nil {
		result(res, lmtp)
		if res != nil && !lmtp {
			add(res.Data)
		}
		return
	}
	var (
		se *session.SenderRefusedError
		re *session.RecipientsRefusedError
		de *session.DataError
		le *session.DeliveryError
		ue *session.UnansweredError
	)
	switch {
	case errors.As(err, &se):
		add(se.Reply)
	case errors.As(err, &re):
		result(&session.Result{Recipients: re.Recipients}, false)
	case errors.As(err, &de):
		result(de.Result, false)
		add(de.Reply)
	case errors.As(err, &le):
		result(le.Result, true)
	case errors.As(err, &ue):
		result(ue.Result, lmtp)
	}
}
