package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestSendMessageHeaderErrors: SendMessage's header errors are
// *HeaderError, one without recipients matches ErrNoRecipients, and no
// message names the internal package.
func TestSendMessageHeaderErrors(t *testing.T) {
	tests := []struct {
		name, msg    string
		noRecipients bool
		line         int
		field        string
	}{
		{"no recipient field", "From: alice@example.org\r\nSubject: hi\r\n\r\nbody\r\n", true, 0, ""},
		{"empty To", "From: alice@example.org\r\nTo: \r\n\r\nbody\r\n", true, 0, ""},
		{"no sender, no recipients", "Subject: hi\r\n\r\nbody\r\n", true, 0, ""},
		{"no sender", "To: bob@example.org\r\n\r\nbody\r\n", false, 0, ""},
		{"bad address", "From: alice@example.org\r\nTo: bob\r\n\r\nbody\r\n", false, 2, "To"},
		{"not a field", "From: alice@example.org\r\nTo: bob@example.org\r\nnot a field\r\n\r\nbody\r\n", false, 3, ""},
		{"two Resent-Date", "From: a@example.org\r\nTo: b@example.org\r\nResent-Date: x\r\nResent-Date: y\r\n\r\n", false, 4, "Resent-Date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{})
			c := dial(t, srv, nil)
			_, err := c.SendMessage(testCtx(t), strings.NewReader(tt.msg))
			var he *session.HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("err = %v (%T); want a *session.HeaderError", err, err)
			}
			if errors.Is(err, session.ErrNoRecipients) != tt.noRecipients {
				t.Errorf("errors.Is(%v, ErrNoRecipients) = %v, want %v", err, !tt.noRecipients, tt.noRecipients)
			}
			if he.Line != tt.line || he.Field != tt.field {
				t.Errorf("Line %d, Field %q; want %d, %q", he.Line, he.Field, tt.line, tt.field)
			}
			if msg := err.Error(); strings.Contains(msg, "msghdr") || !strings.HasPrefix(msg, "session: message header: ") {
				t.Errorf("message %q", msg)
			}
			if len(srv.Commands()) != 0 {
				t.Errorf("sent %q for a message that cannot go", srv.Commands())
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Client unusable after a header error: %v", err)
			}
		})
	}
	t.Run("reader fails", func(t *testing.T) {
		c := dial(t, newServer(t, smtptest.Config{}), nil)
		boom := errors.New("disk on fire")
		_, err := c.SendMessage(testCtx(t), iotestErrReader{boom})
		if !isA[*session.HeaderError](err) || !errors.Is(err, boom) || strings.Contains(err.Error(), "msghdr") {
			t.Errorf("err = %v (%T); want a *HeaderError wrapping the reader's error", err, err)
		}
	})
}
