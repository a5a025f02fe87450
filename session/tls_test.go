package session_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

func TestStartTLSOpportunistic(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: tlsExtensions})
	c := dial(t, srv, &session.Options{TLSConfig: srv.ClientTLSConfig()})
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.TLS(); !ok {
		t.Error("not TLS after Send")
	}
	if got := strings.Join(verbs(srv), " "); got != "EHLO STARTTLS EHLO MAIL RCPT DATA" {
		t.Errorf("verbs %q", got)
	}
	if c.Extensions().Has("STARTTLS") {
		t.Error("extension table not replaced after STARTTLS")
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("message not sent over TLS: %+v", m)
	}
}

func TestStartTLSUnverified(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: tlsExtensions})
	c := dial(t, srv, nil) // no RootCAs: the generated certificate cannot verify
	_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	var te *transport.TLSError
	if !errors.As(err, &te) {
		t.Fatalf("err = %#v, want *transport.TLSError", err)
	}
	if !strings.Contains(err.Error(), "RootCAs") {
		t.Errorf("error does not say how to fix it: %v", err)
	}
	if hasCommand(srv, "MAIL") {
		t.Error("fell back to plaintext and sent MAIL")
	}
	if _, err2 := c.Noop(testCtx(t)); err2 == nil {
		t.Error("session usable after a failed handshake")
	}
}

func TestTLSModes(t *testing.T) {
	tests := []struct {
		name      string
		ext       []string
		mode      session.TLSMode
		wantTLS   bool
		wantErr   string // extension of a *NotSupportedError
		wantVerbs string
	}{
		{name: "required, offered", ext: tlsExtensions, mode: session.TLSRequired, wantTLS: true, wantVerbs: "EHLO STARTTLS EHLO MAIL RCPT DATA"},
		{name: "required, not offered: fails closed", ext: []string{"8BITMIME"}, mode: session.TLSRequired, wantErr: "STARTTLS", wantVerbs: "EHLO"},
		{name: "opportunistic, not offered", ext: []string{"8BITMIME"}, mode: session.TLSOpportunistic, wantVerbs: "EHLO MAIL RCPT DATA"},
		{name: "off, offered", ext: tlsExtensions, mode: session.TLSOff, wantVerbs: "EHLO MAIL RCPT DATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Extensions: tt.ext})
			c := dial(t, srv, &session.Options{TLS: tt.mode, TLSConfig: srv.ClientTLSConfig()})
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
			if tt.wantErr != "" {
				var ne *session.NotSupportedError
				if !errors.As(err, &ne) || ne.Extension != tt.wantErr {
					t.Fatalf("err = %#v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.TLS(); ok != tt.wantTLS {
				t.Errorf("TLS = %v", ok)
			}
			if got := strings.Join(verbs(srv), " "); got != tt.wantVerbs {
				t.Errorf("verbs %q, want %q", got, tt.wantVerbs)
			}
		})
	}
}

func TestStartTLS454Opportunistic(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: tlsExtensions, Overrides: []smtptest.Override{
		{Verb: "STARTTLS", Reply: response.New(454, "4.7.0 TLS not available")},
	}})
	c := dial(t, srv, nil)
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatalf("opportunistic: %v", err)
	}
	srv2 := newServer(t, smtptest.Config{Extensions: tlsExtensions, Overrides: []smtptest.Override{
		{Verb: "STARTTLS", Reply: response.New(454, "4.7.0 TLS not available")},
	}})
	c2 := dial(t, srv2, &session.Options{TLS: session.TLSRequired})
	_, err := c2.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	var re *response.Error
	if !errors.As(err, &re) || re.Code() != 454 {
		t.Fatalf("required: err = %#v", err)
	}
	if hasCommand(srv2, "MAIL") {
		t.Error("required mode sent MAIL after STARTTLS failed")
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := newServer(t, smtptest.Config{ImplicitTLS: true})
	c := dial(t, srv, &session.Options{TLS: session.TLSImplicit, TLSConfig: srv.ClientTLSConfig()})
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	st, ok := c.TLS()
	if !ok || st.Version < tls.VersionTLS12 {
		t.Errorf("TLS %v %x", ok, st.Version)
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages %+v", m)
	}
}

// Over implicit TLS the connection counts as TLS for everything that asks:
// REQUIRETLS may be sent, and StartTLS is refused without writing.
func TestImplicitTLSCountsAsTLS(t *testing.T) {
	srv := newServer(t, smtptest.Config{ImplicitTLS: true, Extensions: append(smtptest.DefaultExtensions(), "REQUIRETLS", "STARTTLS")})
	c := dial(t, srv, &session.Options{TLS: session.TLSImplicit, TLSConfig: srv.ClientTLSConfig()})
	ctx := testCtx(t)
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(ctx, nil); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("StartTLS over implicit TLS: %v, want a *StateError", err)
	}
	env := &session.Envelope{
		From:       command.Mailbox{Local: "alice", Domain: "example.org"},
		To:         []command.Mailbox{{Local: "bob", Domain: "example.org"}},
		MailParams: command.MailParams{RequireTLS: true},
	}
	if _, err := c.SendEnvelope(ctx, env, strings.NewReader(testBody)); err != nil {
		t.Fatalf("REQUIRETLS over implicit TLS: %v", err)
	}
	if hasCommand(srv, "STARTTLS") {
		t.Error("STARTTLS sent over implicit TLS")
	}
}

func TestStartTLSInjection(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: tlsExtensions, Faults: []smtptest.Fault{
		smtptest.AfterStartTLS([]byte("250-PIPELINING\r\n250 AUTH PLAIN\r\n")),
	}})
	c := dial(t, srv, &session.Options{TLSConfig: srv.ClientTLSConfig()})
	_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	if !errors.Is(err, session.ErrDataAfterStartTLS) {
		t.Fatalf("err = %v, want ErrDataAfterStartTLS", err)
	}
	if hasCommand(srv, "MAIL") {
		t.Error("MAIL sent after an injection")
	}
}

func TestUnixSocket(t *testing.T) {
	path := t.TempDir() + "/smtp.sock"
	srv := newServer(t, smtptest.Config{UnixSocket: path, Extensions: tlsExtensions})
	c := dial(t, srv, nil)
	// STARTTLS is offered, but opportunistic mode does not try it over a
	// Unix socket.
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	if hasCommand(srv, "STARTTLS") {
		t.Error("STARTTLS attempted over a Unix socket")
	}
}
