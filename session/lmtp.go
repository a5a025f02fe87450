package session

import (
	"fmt"
	"strings"
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
			return r.Data.Err("end of data")
		}
	}
	return nil
}
