package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestResponseErrorCommandIsVerb: response.Error.Command is the verb of
// the command the reply answered (or "greeting", "end of data"), the same
// from the low-level calls as from the Send methods.
func TestResponseErrorCommandIsVerb(t *testing.T) {
	refuse := func(verb string, code response.Code) smtptest.Config {
		return smtptest.Config{Overrides: []smtptest.Override{{Verb: verb, Reply: reply(code, "5.7.1 no")}}}
	}
	send := func(t *testing.T, c *session.Client) error {
		_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
		return err
	}
	tests := []struct {
		name string
		cfg  smtptest.Config
		opts *session.Options
		run  func(t *testing.T, c *session.Client) error
		want string
	}{
		{"Rcpt", refuse("RCPT", 550), nil, func(t *testing.T, c *session.Client) error {
			if _, err := c.Mail(testCtx(t), command.Mail{From: mailbox("alice@example.org")}); err != nil {
				t.Fatal(err)
			}
			_, err := c.Rcpt(testCtx(t), command.Rcpt{To: mailbox("bob@example.org"), Params: command.RcptParams{Notify: command.NotifyNever}})
			return err
		}, "RCPT"},
		{"Send, recipient refused", refuse("RCPT", 550), nil, send, "RCPT"},
		{"Send pipelined, recipient refused", smtptest.Config{Extensions: smtptest.DefaultExtensions(),
			Overrides: []smtptest.Override{{Verb: "RCPT", Reply: reply(550, "5.1.1 no")}}}, nil, send, "RCPT"},
		{"Mail", refuse("MAIL", 553), nil, func(t *testing.T, c *session.Client) error {
			_, err := c.Mail(testCtx(t), command.Mail{From: mailbox("alice@example.org")})
			return err
		}, "MAIL"},
		{"Send, sender refused", refuse("MAIL", 553), nil, send, "MAIL"},
		{"Send, DATA refused", refuse("DATA", 554), nil, send, "DATA"},
		{"Send, message refused", refuse(smtptest.EndOfData, 554), nil, send, "end of data"},
		{"Vrfy", refuse("VRFY", 550), nil, func(t *testing.T, c *session.Client) error {
			_, err := c.Vrfy(testCtx(t), "bob")
			return err
		}, "VRFY"},
		{"Login", smtptest.Config{Extensions: []string{"AUTH PLAIN"}, Users: map[string]string{"alice": "right"}}, nil,
			func(t *testing.T, c *session.Client) error { return c.Login(testCtx(t), "alice", "wrong") }, "AUTH"},
		{"Noop", refuse("NOOP", 550), nil, func(t *testing.T, c *session.Client) error {
			_, err := c.Noop(testCtx(t))
			return err
		}, "NOOP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, newServer(t, tt.cfg), tt.opts)
			err := tt.run(t, c)
			var re *response.Error
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T); want a *response.Error inside", err, err)
			}
			if re.Command != tt.want {
				t.Errorf("Command = %q, want %q (err %v)", re.Command, tt.want, err)
			}
			if strings.Contains(re.Error(), "bob@") {
				t.Errorf("%q carries the address", re.Error())
			}
		})
	}

	t.Run("LMTP delivery", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{LMTP: true, Overrides: []smtptest.Override{{Verb: smtptest.EndOfData, Reply: reply(552, "5.2.2 over quota")}}})
		c, err := lmtp.Dial(testCtx(t), srv.Addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
		var re *response.Error
		if !isA[*session.DeliveryError](err) || !errors.As(err, &re) || re.Command != "end of data" {
			t.Errorf("err = %v; want a *DeliveryError around a *response.Error with Command \"end of data\"", err)
		}
	})
}
