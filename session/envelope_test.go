package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestRcptParamsLengthBeforeIO: RcptParams that do not match the
// recipients are ErrRcptParams, before anything is written (no EHLO),
// from SendEnvelope and SendStream alike.
func TestRcptParamsLengthBeforeIO(t *testing.T) {
	env := session.Envelope{
		From:       mailbox("alice@example.org"),
		To:         []command.Mailbox{mailbox("bob@example.org"), mailbox("carol@example.org")},
		RcptParams: []command.RcptParams{{Notify: command.NotifyNever}},
	}
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	_, err := c.SendEnvelope(testCtx(t), &env, strings.NewReader(testBody))
	if !errors.Is(err, session.ErrRcptParams) {
		t.Errorf("SendEnvelope: %v; want ErrRcptParams", err)
	}
	if got := srv.Commands(); len(got) != 0 {
		t.Errorf("SendEnvelope sent %q", got)
	}

	msgs := []*session.Message{{Envelope: env, Body: strings.NewReader(testBody)}}
	n := 0
	for _, err := range c.SendStream(testCtx(t), func(yield func(*session.Message) bool) {
		for _, m := range msgs {
			if !yield(m) {
				return
			}
		}
	}) {
		n++
		if !errors.Is(err, session.ErrRcptParams) {
			t.Errorf("SendStream: %v; want ErrRcptParams", err)
		}
	}
	if n != 1 || !msgs[0].Done || !errors.Is(msgs[0].Err, session.ErrRcptParams) {
		t.Errorf("SendStream yielded %d outcomes; message %+v", n, msgs[0])
	}
	if got := srv.Commands(); len(got) != 0 {
		t.Errorf("SendStream sent %q", got)
	}

	// Still usable, and a right envelope goes.
	env.RcptParams = append(env.RcptParams, command.RcptParams{})
	if _, err := c.SendEnvelope(testCtx(t), &env, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
}
