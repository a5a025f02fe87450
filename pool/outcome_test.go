package pool

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
)

func TestVerdictOf(t *testing.T) {
	r421 := response.New(421, "4.7.0 too many messages")
	closed := &session.DisconnectedError{Op: "MAIL", Err: r421.Err("MAIL")}
	broken := &session.DisconnectedError{Op: "end of data", Err: errors.New("connection reset")}
	tests := []struct {
		name string
		err  error
		want verdict
		out  Outcome
	}{
		{"delivered", nil, vDelivered, Delivered},
		{"sender refused 4yz", &session.SenderRefusedError{Reply: response.New(451, "later")}, vRefused, Refused},
		{"sender refused 5yz", &session.SenderRefusedError{Reply: response.New(550, "no")}, vRefused, Refused},
		{"sender refused 421", &session.SenderRefusedError{Reply: r421}, vClosing, Refused},
		{"recipients refused, one with 421", &session.RecipientsRefusedError{Recipients: []session.RecipientResult{
			{Reply: response.New(550, "no")}, {Reply: r421}}}, vClosing, Refused},
		{"recipients refused 452", &session.RecipientsRefusedError{Recipients: []session.RecipientResult{
			{Reply: response.New(452, "too many")}}}, vRefused, Refused},
		{"end of data 554", &session.DataError{Command: "end of data", Reply: response.New(554, "no")}, vRefused, Refused},
		{"end of data 421", &session.DataError{Command: "end of data", Reply: r421}, vClosing, Refused},
		{"unanswered, maybe delivered", &session.UnansweredError{Command: "end of data", MaybeDelivered: true, Err: broken}, vUnknown, Unknown},
		{"unanswered, not delivered", &session.UnansweredError{Command: "RCPT", Err: broken}, vNotDelivered, NotSent},
		{"unanswered behind another message's 421", &session.UnansweredError{Command: "MAIL", Err: closed}, vBehindClose, NotSent},
		{"unanswered after its own MAIL's 421", &session.UnansweredError{Command: "RCPT", Err: closed,
			Result: &session.Result{Mail: r421}}, vNotDelivered, NotSent},
		{"unanswered, body unreadable", &session.UnansweredError{Command: "BDAT", Err: &session.BodyError{Err: errors.New("eof")}}, vFailed, NotSent},
		{"desync", &session.DesyncError{After: "RCPT", Buffered: 5}, vUnknown, Unknown},
		{"no outcome", errNoOutcome, vUnknown, Unknown},
		{"too large", &session.MessageTooLargeError{Size: 10, Limit: 5}, vFailed, NotSent},
		{"no recipients", session.ErrNoRecipients, vFailed, NotSent},
		{"wrapped", fmt.Errorf("x: %w", &session.SenderRefusedError{Reply: r421}), vClosing, Refused},
		{"context", context.Canceled, vFailed, NotSent},
		{"closed", ErrClosed, vFailed, NotSent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := verdictOf(tt.err); got != tt.want {
				t.Errorf("verdictOf = %d, want %d", got, tt.want)
			}
			if got := OutcomeOf(tt.err); got != tt.out {
				t.Errorf("OutcomeOf = %v, want %v", got, tt.out)
			}
		})
	}
}

func TestDialRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"network", &session.ConnectError{Addr: "x", Err: errors.New("connection refused")}, true},
		{"greeting 421", &session.ConnectError{Addr: "x", Reply: response.New(421, "busy")}, true},
		{"greeting 554", &session.ConnectError{Addr: "x", Reply: response.New(554, "no")}, false},
		{"EHLO 421", &session.HelloError{Command: "EHLO", Reply: response.New(421, "busy")}, true},
		{"AUTH 454", &session.AuthError{Mechanism: "PLAIN", Reply: response.New(454, "later")}, true},
		{"AUTH 535", &session.AuthError{Mechanism: "PLAIN", Reply: response.New(535, "no")}, false},
		{"insecure", &session.AuthError{Mechanism: "PLAIN", Err: errors.New("held back")}, false},
		{"STARTTLS missing", &session.NotSupportedError{Extension: "STARTTLS"}, false},
		{"timeout", &session.TimeoutError{Phase: "greeting"}, true},
		{"closed", ErrClosed, false},
	}
	for _, tt := range tests {
		if got := dialRetryable(tt.err); got != tt.want {
			t.Errorf("%s: dialRetryable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Delivered: "delivered", Refused: "refused", Unknown: "unknown", NotSent: "not sent", 0: "Outcome(?)"} {
		if o.String() != want {
			t.Errorf("%d: %q", o, o.String())
		}
	}
}

func TestCountReplies(t *testing.T) {
	ok := response.New(250, "ok")
	var n [6]uint64
	countReplies(&n, &session.Result{Mail: ok, Recipients: []session.RecipientResult{{Reply: ok, Data: ok}, {Reply: response.New(550, "no")}}, Data: ok}, nil, false)
	countReplies(&n, nil, &session.DataError{Command: "end of data", Reply: response.New(451, "later"),
		Result: &session.Result{Mail: ok, Recipients: []session.RecipientResult{{Reply: ok}}}}, false)
	countReplies(&n, nil, &session.SenderRefusedError{Reply: response.New(421, "bye")}, false)
	if want := [6]uint64{0, 0, 5, 0, 2, 1}; n != want {
		t.Errorf("counts %v, want %v", n, want)
	}
}
