package auth

import (
	"fmt"
	"strings"
)

// PasswordMechanisms lists the mechanisms that authenticate with a user
// name and a password, strongest first: the order in which a session's
// Login tries those the server offers. Why this order is in the package
// documentation.
func PasswordMechanisms() []string {
	return []string{
		"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1",
		"CRAM-MD5", "PLAIN", "LOGIN",
	}
}

// Mechanisms lists the name of every client mechanism of this package:
// the names ByName takes.
func Mechanisms() []string {
	return append(PasswordMechanisms(), "XOAUTH2", "OAUTHBEARER", "EXTERNAL", "ANONYMOUS")
}

// Credentials are what ByName builds a mechanism from.
type Credentials struct {
	// Username is the user to authenticate as; for EXTERNAL the
	// authorization identity (may be empty), for ANONYMOUS the trace
	// information.
	Username string
	// Secret is the password, or the OAuth 2.0 bearer token for XOAUTH2
	// and OAUTHBEARER. EXTERNAL and ANONYMOUS do not use it.
	Secret string
	// Host and Port tell an OAUTHBEARER server which service the token is
	// meant for (RFC 7628 §3.1); both may be left zero.
	Host string
	Port int
}

// UnknownMechanismError reports a mechanism name ByName does not know.
type UnknownMechanismError struct {
	Name string
}

func (e *UnknownMechanismError) Error() string {
	return fmt.Sprintf("auth: unknown mechanism %q (known: %s)", e.Name, strings.Join(Mechanisms(), ", "))
}

// ByName returns the client mechanism called name (without regard to
// case; one of [Mechanisms]) for cr: what a configuration file or a
// command line names. An unknown name is an *UnknownMechanismError.
func ByName(name string, cr Credentials) (Mechanism, error) {
	u, s := cr.Username, cr.Secret
	switch strings.ToUpper(name) {
	case "SCRAM-SHA-256-PLUS":
		return SCRAMSHA256Plus(u, s), nil
	case "SCRAM-SHA-1-PLUS":
		return SCRAMSHA1Plus(u, s), nil
	case "SCRAM-SHA-256":
		return SCRAMSHA256(u, s), nil
	case "SCRAM-SHA-1":
		return SCRAMSHA1(u, s), nil
	case "CRAM-MD5":
		return CRAMMD5(u, s), nil
	case "PLAIN":
		return Plain("", u, s), nil
	case "LOGIN":
		return Login(u, s), nil
	case "XOAUTH2":
		return XOAUTH2(u, s), nil
	case "OAUTHBEARER":
		return OAuthBearer(u, s, cr.Host, cr.Port), nil
	case "EXTERNAL":
		return External(u), nil
	case "ANONYMOUS":
		return Anonymous(u), nil
	}
	return nil, &UnknownMechanismError{Name: name}
}
