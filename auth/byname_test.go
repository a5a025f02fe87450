package auth_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/smtpkit/smtpkit/auth"
)

// TestByName: every name of Mechanisms gives the mechanism of that name,
// whatever its case; another name is an *UnknownMechanismError.
func TestByName(t *testing.T) {
	cr := auth.Credentials{Username: "alice", Secret: "s3cret", Host: "mx.example.org", Port: 587}
	for _, name := range auth.Mechanisms() {
		for _, asked := range []string{name, toLower(name)} {
			m, err := auth.ByName(asked, cr)
			if err != nil {
				t.Fatalf("ByName(%q): %v", asked, err)
			}
			if b, ok := m.(auth.ChannelBinder); ok {
				b.SetChannelBinding(auth.ChannelBinding{Type: "tls-exporter", Data: make([]byte, 32)}, true)
			}
			if got, _, _ := m.Start(); got != name {
				t.Errorf("ByName(%q) starts %q", asked, got)
			}
		}
	}
	_, err := auth.ByName("GSSAPI", cr)
	var ue *auth.UnknownMechanismError
	if !errors.As(err, &ue) || ue.Name != "GSSAPI" {
		t.Errorf("ByName(GSSAPI) = %v, want an *UnknownMechanismError", err)
	}
}

// TestPasswordMechanismsStrongestFirst: the password mechanisms are the
// server side's, in the same order, and each needs confidentiality.
func TestPasswordMechanismsStrongestFirst(t *testing.T) {
	if got, want := auth.PasswordMechanisms(), auth.ServerMechanisms(); !slices.Equal(got, want) {
		t.Errorf("PasswordMechanisms() = %v, ServerMechanisms() = %v", got, want)
	}
	for _, name := range auth.PasswordMechanisms() {
		m, _ := auth.ByName(name, auth.Credentials{Username: "u", Secret: "p"})
		if !auth.NeedsConfidentiality(m) {
			t.Errorf("%s does not need confidentiality", name)
		}
	}
	// The slice is the caller's: changing it changes no later answer.
	p := auth.PasswordMechanisms()
	p[0] = "X"
	if auth.PasswordMechanisms()[0] == "X" {
		t.Error("PasswordMechanisms returns shared state")
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
