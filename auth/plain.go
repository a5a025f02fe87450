package auth

import (
	"bytes"
	"crypto/subtle"
	"strings"
)

// plain is PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd, sent as the
// initial response.
type plain struct {
	identity, username, password string
	started                      bool
}

// Plain returns the PLAIN mechanism (RFC 4616). identity is the
// authorization identity, usually empty (act as username). It sends the
// password itself: sessions refuse it without TLS except to loopback (see
// [NeedsConfidentiality]).
func Plain(identity, username, password string) Mechanism {
	return &plain{identity: identity, username: username, password: password}
}

func (p *plain) RevealsSecret() bool { return true }

func (p *plain) NeedsConfidentiality() bool { return true }

func (p *plain) Start() (string, []byte, error) {
	if p.started {
		return "", nil, errReused("PLAIN")
	}
	p.started = true
	for _, s := range []string{p.identity, p.username, p.password} {
		if strings.IndexByte(s, 0) >= 0 {
			return "", nil, badInput("PLAIN", "NUL in a credential")
		}
	}
	if p.username == "" {
		return "", nil, badInput("PLAIN", "empty user name")
	}
	ir := make([]byte, 0, len(p.identity)+len(p.username)+len(p.password)+2)
	ir = append(ir, p.identity...)
	ir = append(ir, 0)
	ir = append(ir, p.username...)
	ir = append(ir, 0)
	ir = append(ir, p.password...)
	return "PLAIN", ir, nil
}

func (p *plain) Next(challenge []byte) ([]byte, error) {
	return nil, ErrUnexpectedChallenge
}

// plainServer verifies PLAIN.
type plainServer struct {
	cfg      ServerConfig
	asked    bool
	identity string
}

func newPlainServer(cfg ServerConfig) *plainServer { return &plainServer{cfg: cfg} }

func (s *plainServer) Identity() string { return s.identity }

func (s *plainServer) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		if s.asked {
			return nil, true, protoErr("PLAIN", "no response")
		}
		// No initial response: an empty challenge asks for it (RFC 4422 §5).
		s.asked = true
		return []byte{}, false, nil
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return nil, true, protoErr("PLAIN", "response is not authzid NUL authcid NUL passwd")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" {
		return nil, true, protoErr("PLAIN", "empty user name")
	}
	if authz != "" && authz != user {
		// Acting for someone else needs a policy a test server does not have.
		return nil, true, ErrInvalidCredentials
	}
	if !s.cfg.check(user, pass) {
		return nil, true, ErrInvalidCredentials
	}
	s.identity = user
	return nil, true, nil
}

// check compares pass with the user's password in constant time. An
// unknown user is compared against a dummy, so timing does not tell them
// apart.
func (cfg ServerConfig) check(user, pass string) bool {
	want, ok := cfg.Password(user)
	if !ok {
		want = "\x00unknown user"
	}
	eq := subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
	return eq && ok
}
