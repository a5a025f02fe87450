package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mechStart runs Start and fails the test on error.
func mechStart(t *testing.T, m Mechanism) (string, []byte) {
	t.Helper()
	name, ir, err := m.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return name, ir
}

// RFC 4616 §4: the two example messages.
func TestPlainRFC4616Vectors(t *testing.T) {
	for _, tt := range []struct {
		authz, user, pass, want string
	}{
		{"", "tim", "tanstaaftanstaaf", "\x00tim\x00tanstaaftanstaaf"},
		{"Ursel", "Kurt", "xipj3plmq", "Ursel\x00Kurt\x00xipj3plmq"},
	} {
		name, ir := mechStart(t, Plain(tt.authz, tt.user, tt.pass))
		if name != "PLAIN" || string(ir) != tt.want {
			t.Errorf("Plain(%q, %q, ...) = %q %q, want PLAIN %q", tt.authz, tt.user, name, ir, tt.want)
		}
	}
}

func TestPlainRefusesNUL(t *testing.T) {
	for _, args := range [][3]string{{"a\x00", "u", "p"}, {"", "u\x00", "p"}, {"", "u", "p\x00q"}, {"", "", "p"}} {
		_, _, err := Plain(args[0], args[1], args[2]).Start()
		if !errors.Is(err, ErrBadInput) {
			t.Errorf("Plain(%q) Start error = %v, want ErrBadInput", args, err)
		}
	}
}

// RFC 2195 §2: the example exchange, byte for byte.
func TestCRAMMD5RFC2195Vector(t *testing.T) {
	m := CRAMMD5("tim", "tanstaaftanstaaf")
	name, ir := mechStart(t, m)
	if name != "CRAM-MD5" || ir != nil {
		t.Fatalf("Start = %q %q, want CRAM-MD5 and no initial response", name, ir)
	}
	ch, _ := base64.StdEncoding.DecodeString("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+")
	if string(ch) != "<1896.697170952@postoffice.reston.mci.net>" {
		t.Fatalf("vector challenge decodes to %q", ch)
	}
	resp, err := m.Next(ch)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := base64.StdEncoding.EncodeToString(resp), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"; got != want {
		t.Errorf("response = %q (%q), want %q", got, resp, want)
	}
	if _, err := m.Next(ch); !errors.Is(err, ErrUnexpectedChallenge) {
		t.Errorf("second challenge: %v, want ErrUnexpectedChallenge", err)
	}
}

func TestCRAMMD5BadChallenges(t *testing.T) {
	for name, ch := range map[string][]byte{
		"empty":    {},
		"too long": []byte(strings.Repeat("x", MaxChallengeLength+1)),
	} {
		m := CRAMMD5("tim", "secret")
		mechStart(t, m)
		if resp, err := m.Next(ch); err == nil || resp != nil {
			t.Errorf("%s: Next = %q, %v; want an error and no response", name, resp, err)
		}
	}
}

func TestLoginSteps(t *testing.T) {
	m := Login("alice", "pw")
	name, ir := mechStart(t, m)
	if name != "LOGIN" || ir != nil {
		t.Fatalf("Start = %q %q", name, ir)
	}
	for _, want := range []string{"alice", "pw"} {
		resp, err := m.Next([]byte("whatever"))
		if err != nil || string(resp) != want {
			t.Fatalf("Next = %q, %v; want %q", resp, err, want)
		}
	}
	if _, err := m.Next(nil); !errors.Is(err, ErrUnexpectedChallenge) {
		t.Errorf("third challenge: %v", err)
	}
}

// Google's XOAUTH2 documentation example.
func TestXOAUTH2Vector(t *testing.T) {
	name, ir := mechStart(t, XOAUTH2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"))
	want := "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
	if got := base64.StdEncoding.EncodeToString(ir); name != "XOAUTH2" || got != want {
		t.Errorf("Start = %s %s, want XOAUTH2 %s", name, got, want)
	}
}

// RFC 7628 §4.1: the initial response of the successful IMAP exchange.
func TestOAuthBearerRFC7628Vector(t *testing.T) {
	name, ir := mechStart(t, OAuthBearer("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", "server.example.com", 143))
	want := "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB"
	if got := base64.StdEncoding.EncodeToString(ir); name != "OAUTHBEARER" || got != want {
		t.Errorf("Start = %s %s, want OAUTHBEARER %s", name, got, want)
	}
}

func TestOAuthBearerEscapesUser(t *testing.T) {
	_, ir := mechStart(t, OAuthBearer("a,b=c", "tok", "", 0))
	if want := "n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"; string(ir) != want {
		t.Errorf("initial response = %q, want %q", ir, want)
	}
}

func TestOAuthErrorChallenge(t *testing.T) {
	doc := []byte(`{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}`)
	for _, tt := range []struct {
		m    Mechanism
		want string
	}{
		{XOAUTH2("u@example.com", "tok"), ""},
		{OAuthBearer("u@example.com", "tok", "", 0), "\x01"},
	} {
		mechStart(t, tt.m)
		resp, err := tt.m.Next(doc)
		var oe *OAuthError
		if string(resp) != tt.want || resp == nil || !errors.As(err, &oe) {
			t.Fatalf("Next(error document) = %q, %v; want %q and an *OAuthError", resp, err, tt.want)
		}
		if oe.Status != "invalid_token" || oe.Scope != "example_scope" || !strings.HasPrefix(oe.OpenIDConfiguration, "https://") {
			t.Errorf("parsed %+v", oe)
		}
		if _, err := tt.m.Next(doc); !errors.Is(err, ErrUnexpectedChallenge) {
			t.Errorf("second challenge: %v", err)
		}
	}
}

func TestOAuthBadChallenge(t *testing.T) {
	for name, ch := range map[string]string{
		"not JSON":  "garbage",
		"no status": `{"scope":"x"}`,
		"too long":  `{"status":"` + strings.Repeat("x", MaxChallengeLength) + `"}`,
	} {
		m := XOAUTH2("u", "tok")
		mechStart(t, m)
		resp, err := m.Next([]byte(ch))
		var pe *ProtocolError
		if resp == nil || !(errors.As(err, &pe) || errors.Is(err, ErrChallengeTooLong)) {
			t.Errorf("%s: Next = %q, %v; want an empty answer and a protocol error", name, resp, err)
		}
	}
}

func TestBearerTokenSyntax(t *testing.T) {
	for _, tok := range []string{"", "a b", "a\x01b", "tok\r\n", "=="} {
		if _, _, err := XOAUTH2("u", tok).Start(); !errors.Is(err, ErrBadInput) {
			t.Errorf("XOAUTH2 token %q: %v, want ErrBadInput", tok, err)
		}
		if _, _, err := OAuthBearer("u", tok, "", 0).Start(); !errors.Is(err, ErrBadInput) {
			t.Errorf("OAUTHBEARER token %q: %v, want ErrBadInput", tok, err)
		}
	}
	if _, _, err := XOAUTH2("u\x01x", "tok").Start(); !errors.Is(err, ErrBadInput) {
		t.Errorf("XOAUTH2 user with ^A: %v", err)
	}
}

func TestExternalAnonymous(t *testing.T) {
	name, ir := mechStart(t, External(""))
	if name != "EXTERNAL" || ir == nil || len(ir) != 0 {
		t.Errorf("External(\"\") = %q %q, want an empty non-nil initial response", name, ir)
	}
	name, ir = mechStart(t, External("bob"))
	if name != "EXTERNAL" || string(ir) != "bob" {
		t.Errorf("External(bob) = %q %q", name, ir)
	}
	name, ir = mechStart(t, Anonymous("sirhc"))
	if name != "ANONYMOUS" || string(ir) != "sirhc" {
		t.Errorf("Anonymous = %q %q", name, ir)
	}
	if _, _, err := Anonymous(strings.Repeat("é", 256)).Start(); !errors.Is(err, ErrBadInput) {
		t.Errorf("256-character trace: %v", err)
	}
}

func TestRevealsSecret(t *testing.T) {
	for _, tt := range []struct {
		m    Mechanism
		want bool
	}{
		{Plain("", "u", "p"), true},
		{Login("u", "p"), true},
		{XOAUTH2("u", "t"), true},
		{OAuthBearer("u", "t", "", 0), true},
		{CRAMMD5("u", "p"), false},
		{External(""), false},
		{Anonymous(""), false},
		{mechOpaque{}, true},
	} {
		if got := RevealsSecret(tt.m); got != tt.want {
			t.Errorf("RevealsSecret(%T) = %v, want %v", tt.m, got, tt.want)
		}
	}
}

// TestNeedsConfidentiality: every mechanism that carries a credential
// (the password, a token, or something to test password guesses against)
// needs an encrypted connection; EXTERNAL and ANONYMOUS do not; a
// caller's mechanism does unless it says otherwise, even when it says it
// reveals no secret.
func TestNeedsConfidentiality(t *testing.T) {
	for _, tt := range []struct {
		m    Mechanism
		want bool
	}{
		{Plain("", "u", "p"), true},
		{Login("u", "p"), true},
		{XOAUTH2("u", "t"), true},
		{OAuthBearer("u", "t", "", 0), true},
		{CRAMMD5("u", "p"), true},
		{SCRAMSHA1("u", "p"), true},
		{SCRAMSHA256("u", "p"), true},
		{SCRAMSHA1Plus("u", "p"), true},
		{SCRAMSHA256Plus("u", "p"), true},
		{External(""), false},
		{Anonymous(""), false},
		{mechOpaque{}, true},
		{mechNoSecret{}, true},
		{mechPublic{}, false},
	} {
		if got := NeedsConfidentiality(tt.m); got != tt.want {
			t.Errorf("NeedsConfidentiality(%T) = %v, want %v", tt.m, got, tt.want)
		}
	}
}

// mechNoSecret is a caller's mechanism that reveals no secret but does not
// say whether it needs confidentiality (as CRAM-MD5 would).
type mechNoSecret struct{ mechOpaque }

func (mechNoSecret) RevealsSecret() bool { return false }

// mechPublic is a caller's mechanism that says it needs no confidentiality.
type mechPublic struct{ mechOpaque }

func (mechPublic) NeedsConfidentiality() bool { return false }

// mechOpaque is a caller's mechanism that says nothing about its secret.
type mechOpaque struct{}

func (mechOpaque) Start() (string, []byte, error) { return "X-OPAQUE", nil, nil }
func (mechOpaque) Next(c []byte) ([]byte, error)  { return nil, nil }

func TestMechanismsServeOneExchange(t *testing.T) {
	for _, m := range []Mechanism{Plain("", "u", "p"), Login("u", "p"), CRAMMD5("u", "p"), XOAUTH2("u", "t"), OAuthBearer("u", "t", "", 0), External(""), Anonymous("")} {
		mechStart(t, m)
		if _, _, err := m.Start(); err == nil {
			t.Errorf("%T: second Start succeeded", m)
		}
	}
}

// mechUsers is the password lookup of the server tests.
func mechUsers(u string) (string, bool) {
	p, ok := map[string]string{"tim": "tanstaaftanstaaf", "ünï": "pässwörd"}[u]
	return p, ok
}

// errNotStarted and errEndless are runExchange's own failures, which no
// mechanism returns.
var (
	errNotStarted = errors.New("test: client Start failed")
	errEndless    = errors.New("test: exchange did not end in 10 steps")
	errUnverified = errors.New("test: server succeeded but the client never verified it")
)

// runExchange drives client m against server s the way an SMTP session
// would and returns the server's verdict, or the client's reason to stop.
func runExchange(m Mechanism, s Server) error {
	_, resp, err := m.Start()
	if err != nil {
		return fmt.Errorf("%w: %w", errNotStarted, err)
	}
	for range 10 {
		ch, done, err := s.Next(resp)
		if done {
			if err == nil && ch != nil {
				if _, cerr := m.Next(ch); cerr != nil {
					return cerr
				}
			}
			if v, ok := m.(ServerVerifier); ok && err == nil && !v.ServerVerified() {
				return errUnverified
			}
			return err
		}
		if resp, err = m.Next(ch); err != nil {
			return err
		}
	}
	return errEndless
}

// mechRun is runExchange failing the test (a *testing.T or a *rapid.T)
// on the harness's own errors.
func mechRun(t interface{ Fatal(...any) }, m Mechanism, s Server) error {
	err := runExchange(m, s)
	if errors.Is(err, errNotStarted) || errors.Is(err, errEndless) || errors.Is(err, errUnverified) {
		t.Fatal(err)
	}
	return err
}

func TestServersAcceptAndRefuse(t *testing.T) {
	cfg := ServerConfig{Password: mechUsers, Hostname: "mx.example.org"}
	for _, tt := range []struct {
		mech string
		good func() Mechanism
		bad  func() Mechanism
	}{
		{"PLAIN", func() Mechanism { return Plain("", "ünï", "pässwörd") }, func() Mechanism { return Plain("", "ünï", "wrong") }},
		{"LOGIN", func() Mechanism { return Login("ünï", "pässwörd") }, func() Mechanism { return Login("nobody", "pässwörd") }},
		{"CRAM-MD5", func() Mechanism { return CRAMMD5("tim", "tanstaaftanstaaf") }, func() Mechanism { return CRAMMD5("tim", "tanstaaf") }},
	} {
		s, err := NewServer(tt.mech, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := mechRun(t, tt.good(), s); err != nil {
			t.Errorf("%s good credentials: %v", tt.mech, err)
		}
		if s.Identity() == "" {
			t.Errorf("%s: no identity after success", tt.mech)
		}
		s, _ = NewServer(tt.mech, cfg)
		if err := mechRun(t, tt.bad(), s); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("%s bad credentials: %v, want ErrInvalidCredentials", tt.mech, err)
		}
		if s.Identity() != "" {
			t.Errorf("%s: identity %q after failure", tt.mech, s.Identity())
		}
	}
}

func TestPlainServerAsksWithoutInitialResponse(t *testing.T) {
	s, _ := NewServer("plain", ServerConfig{Password: mechUsers})
	ch, done, err := s.Next(nil)
	if done || err != nil || ch == nil || len(ch) != 0 {
		t.Fatalf("Next(nil) = %q %v %v, want an empty challenge", ch, done, err)
	}
	if _, done, err := s.Next([]byte("\x00tim\x00tanstaaftanstaaf")); !done || err != nil {
		t.Errorf("answer: done=%v err=%v", done, err)
	}
	for _, bad := range []string{"tim", "\x00tim", "a\x00b\x00c\x00d", "\x00\x00pw"} {
		s, _ := NewServer("PLAIN", ServerConfig{Password: mechUsers})
		var pe *ProtocolError
		if _, done, err := s.Next([]byte(bad)); !done || !errors.As(err, &pe) {
			t.Errorf("PLAIN %q: done=%v err=%v, want a *ProtocolError", bad, done, err)
		}
	}
	s, _ = NewServer("PLAIN", ServerConfig{Password: mechUsers})
	if _, _, err := s.Next([]byte("someone\x00tim\x00tanstaaftanstaaf")); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("acting for another identity: %v", err)
	}
}

func TestCRAMMD5ServerChallengeForm(t *testing.T) {
	s, _ := NewServer("CRAM-MD5", ServerConfig{Password: mechUsers, Hostname: "mx.example.org"})
	ch, done, err := s.Next(nil)
	if done || err != nil || !strings.HasPrefix(string(ch), "<") || !strings.HasSuffix(string(ch), "@mx.example.org>") {
		t.Fatalf("challenge %q %v %v", ch, done, err)
	}
	s, _ = NewServer("CRAM-MD5", ServerConfig{Password: mechUsers})
	if _, done, err := s.Next([]byte("tim")); !done || err == nil {
		t.Errorf("initial response accepted: %v %v", done, err)
	}
}

func TestNewServerUnknown(t *testing.T) {
	if _, err := NewServer("GSSAPI", ServerConfig{Password: mechUsers}); err == nil {
		t.Error("GSSAPI server made")
	}
	if _, err := NewServer("PLAIN", ServerConfig{}); err == nil {
		t.Error("server without Password made")
	}
}
