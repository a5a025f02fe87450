package session_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// TestTLSVerificationFailureAdvice: a certificate that does not verify,
// after STARTTLS or with implicit TLS, is a *transport.TLSError that
// errors.As finds, Permanent, whose message names the Options that fix
// it; turning TLS off is offered only where it could work (STARTTLS).
func TestTLSVerificationFailureAdvice(t *testing.T) {
	tests := []struct {
		name    string
		cfg     smtptest.Config
		opts    session.Options
		want    []string
		notWant []string
	}{
		{"STARTTLS, unknown authority", smtptest.Config{Extensions: tlsExtensions}, session.Options{},
			[]string{"Options.TLSConfig.RootCAs", "transport.LoadCertPool", "Options.TLS to TLSOff"}, []string{"tls.Config.RootCAs"}},
		{"STARTTLS, name mismatch", smtptest.Config{Extensions: tlsExtensions}, session.Options{},
			[]string{"does not name this host", "Options.TLSConfig.ServerName", "Options.TLSConfig.RootCAs", "TLSOff"}, nil},
		{"TLSRequired", smtptest.Config{Extensions: tlsExtensions}, session.Options{TLS: session.TLSRequired},
			[]string{"Options.TLSConfig.RootCAs", "transport.LoadCertPool", "TLSOff"}, nil},
		{"implicit TLS", smtptest.Config{ImplicitTLS: true}, session.Options{TLS: session.TLSImplicit},
			[]string{"Options.TLSConfig.RootCAs", "transport.LoadCertPool"}, []string{"TLSOff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.cfg)
			if strings.Contains(tt.name, "mismatch") {
				cfg := srv.ClientTLSConfig()
				cfg.ServerName = "mail.example"
				tt.opts.TLSConfig = cfg
			}
			var err error
			c, err := session.Dial(testCtx(t), srv.Addr, &tt.opts)
			if err == nil {
				defer c.Close()
				_, err = c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
			}
			var te *transport.TLSError
			if !errors.As(err, &te) || !te.VerificationFailed() {
				t.Fatalf("err = %v (%T); want a *transport.TLSError for verification", err, err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("message %q has %q", msg, w)
				}
			}
			if hasCommand(srv, "MAIL") {
				t.Error("MAIL sent")
			}
		})
	}

	// Followed, the advice works.
	srv := newServer(t, smtptest.Config{Extensions: tlsExtensions})
	pool := srv.ClientTLSConfig().RootCAs
	c := dial(t, srv, &session.Options{TLSConfig: &tls.Config{RootCAs: pool}})
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
}
