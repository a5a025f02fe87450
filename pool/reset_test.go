package pool_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// A message whose every recipient is refused leaves the server's
// transaction open after BDAT (MAIL was accepted); the stream that sent
// it must end it with RSET, or the next message on the connection gets
// "503 Nested MAIL". The pool used to send an RSET of its own after every
// refusal for this, while package session's closing RSET went unsent.
func TestRefusedLastMessageLeavesConnectionUsable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ext  []string
	}{
		{"BDAT", smtptest.DefaultExtensions()},
		{"DATA", []string{"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{
				Extensions: tc.ext,
				Overrides:  []smtptest.Override{{Verb: "RCPT", Match: "<nobody@", Reply: response.New(550, "5.1.1 No such user")}},
			})
			p, cc := newPool(t, srv, pool.Options{MaxConnections: 1})
			ctx := context.Background()
			body := "Subject: x\r\n\r\nx\r\n"
			for i := range 3 {
				_, err := p.Send(ctx, "a@example.org", []string{"nobody@example.org"}, strings.NewReader(body))
				var rr *session.RecipientsRefusedError
				if pool.OutcomeOf(err) != pool.Refused || !errors.As(err, &rr) {
					t.Fatalf("message %d to a refused recipient: %v", i, err)
				}
				if _, err := p.Send(ctx, "a@example.org", []string{"b@example.org"}, strings.NewReader(body)); err != nil {
					t.Fatalf("message %d after a refused one: %v", i, err)
				}
			}
			closePool(t, p)
			if n := len(srv.Messages()); n != 3 {
				t.Errorf("the server recorded %d messages, want 3", n)
			}
			if s := p.Stats(); s.Dials != 1 || cc.total != 1 {
				t.Errorf("%d dials (%d connections): the refusals should not cost the connection", s.Dials, cc.total)
			}
		})
	}
}
