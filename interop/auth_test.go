package interop

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
)

// Postfix offers AUTH only after STARTTLS on the plain port (and at once
// on the implicit-TLS port); Dovecot checks the passwords.

func TestPostfixNoAuthBeforeTLS(t *testing.T) {
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{TLS: session.TLSOff})
	err := c.Login(ctx, peerEnv(t, "SMTPKIT_AUTH_USER"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD"))
	var ns *session.NotSupportedError
	if !errors.As(err, &ns) || ns.Extension != "AUTH" {
		t.Fatalf("Login before STARTTLS: %v, want *NotSupportedError for AUTH", err)
	}
}

func TestPostfixAuthMechanismsAfterSTARTTLS(t *testing.T) {
	tests := []struct {
		name string
		mech func(user, pass string) auth.Mechanism
	}{
		{"PLAIN", func(u, p string) auth.Mechanism { return auth.Plain("", u, p) }},
		{"LOGIN", func(u, p string) auth.Mechanism { return auth.Login(u, p) }},
		{"CRAM-MD5", func(u, p string) auth.Mechanism { return auth.CRAMMD5(u, p) }},
		{"SCRAM-SHA-1", func(u, p string) auth.Mechanism { return auth.SCRAMSHA1(u, p) }},
		{"SCRAM-SHA-256", func(u, p string) auth.Mechanism { return auth.SCRAMSHA256(u, p) }},
	}
	users := [][2]string{
		{peerEnv(t, "SMTPKIT_AUTH_USER"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD")},
		{peerEnv(t, "SMTPKIT_AUTH_USER2"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD2")}, // a non-ASCII password
	}
	for _, tt := range tests {
		for _, u := range users {
			t.Run(tt.name+"/"+u[0], func(t *testing.T) {
				ctx := ctxFor(t)
				c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{TLS: session.TLSRequired})
				if err := c.Auth(ctx, tt.mech(u[0], u[1])); err != nil {
					t.Fatalf("Auth %s: %v", tt.name, err)
				}
				if err := c.Auth(ctx, tt.mech(u[0], u[1])); !errors.Is(err, session.ErrBadSequence) {
					t.Errorf("second Auth: %v, want ErrBadSequence", err)
				}
				if _, err := c.Noop(ctx); err != nil {
					t.Errorf("NOOP after AUTH: %v", err)
				}
			})
		}
	}
}

func TestPostfixWrongPassword(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"} {
		t.Run(mech, func(t *testing.T) {
			ctx := ctxFor(t)
			c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{TLS: session.TLSRequired})
			user := peerEnv(t, "SMTPKIT_AUTH_USER")
			var m auth.Mechanism
			switch mech {
			case "PLAIN":
				m = auth.Plain("", user, "not-the-password")
			case "LOGIN":
				m = auth.Login(user, "not-the-password")
			default:
				m = auth.SCRAMSHA256(user, "not-the-password")
			}
			err := c.Auth(ctx, m)
			var ae *session.AuthError
			var re *response.Error
			if !errors.As(err, &ae) || ae.Reply.Code != 535 || !errors.As(err, &re) || re.Code() != 535 {
				t.Fatalf("wrong password: %v, want *AuthError with 535", err)
			}
			// The session goes on: the right password works next.
			if err := c.Login(ctx, user, peerEnv(t, "SMTPKIT_AUTH_PASSWORD")); err != nil {
				t.Fatalf("Login after a failure: %v", err)
			}
		})
	}
}

// Login picks SCRAM-SHA-256, the strongest mechanism Dovecot offers
// through Postfix, on both ports, and the message then goes through as an
// authenticated submission.
func TestPostfixLoginAndSend(t *testing.T) {
	for _, port := range []struct {
		name, addrVar string
		tls           session.TLSMode
	}{
		{"starttls", "SMTPKIT_POSTFIX_ADDR", session.TLSRequired},
		{"implicit", "SMTPKIT_POSTFIX_TLS_ADDR", session.TLSImplicit},
	} {
		t.Run(port.name, func(t *testing.T) {
			ctx := ctxFor(t)
			var trace strings.Builder
			c := dialPostfix(t, ctx, port.addrVar, "SMTPKIT_POSTFIX_CA", session.Options{TLS: port.tls, Trace: &trace})
			user, pass := peerEnv(t, "SMTPKIT_AUTH_USER2"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD2")
			if err := c.Login(ctx, user, pass); err != nil {
				t.Fatalf("Login: %v\ntrace:\n%s", err, trace.String())
			}
			if !strings.Contains(trace.String(), "C: AUTH SCRAM-SHA-256 [redacted]") {
				t.Errorf("Login did not choose SCRAM-SHA-256:\n%s", trace.String())
			}
			if strings.Contains(trace.String(), pass) {
				t.Errorf("password in the trace:\n%s", trace.String())
			}
			marker := fmt.Sprintf("auth-%s-%d", port.name, time.Now().UnixNano())
			msg := "From: bob@example.org\r\nTo: alice@example.org\r\nSubject: " + marker + "\r\n\r\nauthenticated\r\n"
			if _, err := c.Send(ctx, "bob@example.org", []string{"alice+" + marker + "@example.org"}, strings.NewReader(msg)); err != nil {
				t.Fatal(err)
			}
			got := waitDelivered(t, peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR"), "alice", marker)
			if !strings.Contains(string(got), "ESMTPSA") {
				t.Errorf("delivered message does not record an authenticated submission (ESMTPSA):\n%s", got)
			}
		})
	}
}
