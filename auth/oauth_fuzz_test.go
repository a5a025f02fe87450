package auth

import (
	"errors"
	"testing"
)

// FuzzOAuthErrorChallenge feeds arbitrary challenges to XOAUTH2 and
// OAUTHBEARER: each must answer with its fixed reply (empty, or ^A) and
// an error that is an *OAuthError, a *ProtocolError or
// ErrChallengeTooLong; never panic, never a nil error.
func FuzzOAuthErrorChallenge(f *testing.F) {
	f.Add([]byte(`{"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}`))
	f.Add([]byte(`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`))
	f.Add([]byte(`{"status":1}`))
	f.Add([]byte(`{"status":"x"`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ch []byte) {
		for _, m := range []Mechanism{XOAUTH2("u@example.com", "tok"), OAuthBearer("u@example.com", "tok", "h", 25)} {
			if _, _, err := m.Start(); err != nil {
				t.Fatal(err)
			}
			resp, err := m.Next(ch)
			if resp == nil || len(resp) > 1 {
				t.Fatalf("%T: response %q, want the fixed answer", m, resp)
			}
			var oe *OAuthError
			var pe *ProtocolError
			if !errors.As(err, &oe) && !errors.As(err, &pe) && !errors.Is(err, ErrChallengeTooLong) {
				t.Fatalf("%T: error %v (%T)", m, err, err)
			}
			if oe != nil && oe.Status == "" {
				t.Fatalf("OAuthError without status from %q", ch)
			}
		}
	})
}
