package auth

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// OAuthError is the error document an OAuth server sends as a challenge
// when it refuses a token (RFC 7628 §3.2.2; Google's and Microsoft's
// XOAUTH2 send the same shape). The session reports it with the server's
// final reply.
type OAuthError struct {
	Status              string `json:"status"` // "invalid_token", or an HTTP status such as "401"
	Scope               string `json:"scope,omitempty"`
	Schemes             string `json:"schemes,omitempty"`
	OpenIDConfiguration string `json:"openid-configuration,omitempty"`
}

func (e *OAuthError) Error() string {
	s := "auth: OAuth token refused: status " + strconv.Quote(e.Status)
	if e.Scope != "" {
		s += ", scope " + strconv.Quote(e.Scope)
	}
	return s
}

// parseOAuthError reads the JSON error challenge. A challenge that is not
// such a document is a *ProtocolError.
func parseOAuthError(mech string, challenge []byte) error {
	if len(challenge) > MaxChallengeLength {
		return ErrChallengeTooLong
	}
	var e OAuthError
	if err := json.Unmarshal(challenge, &e); err != nil {
		return &ProtocolError{Mechanism: mech, Reason: "challenge is not a JSON error document", Err: err}
	}
	if e.Status == "" {
		return protoErr(mech, "JSON error document without status")
	}
	return &e
}

// checkBearer enforces RFC 6750's b64token syntax, which also keeps the
// token from breaking the ^A-separated framing.
func checkBearer(mech, token string) error {
	t := strings.TrimRight(token, "=")
	if t == "" {
		return badInput(mech, "empty token")
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~+/", c) >= 0) {
			return badInput(mech, fmt.Sprintf("token has a character outside RFC 6750 b64token at offset %d", i))
		}
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// xoauth2 is Google's and Microsoft's XOAUTH2:
//
//	user=USER ^A auth=Bearer TOKEN ^A ^A
//
// On a bad token the server sends a JSON error challenge, which the client
// must answer with an empty response before the server's final 535.
type xoauth2 struct {
	username, token string
	step            int
}

// XOAUTH2 returns the XOAUTH2 mechanism with an OAuth 2.0 bearer token.
// The token is a secret: sessions refuse it without TLS except to
// loopback (see [NeedsConfidentiality]).
func XOAUTH2(username, token string) Mechanism {
	return &xoauth2{username: username, token: token}
}

func (x *xoauth2) RevealsSecret() bool { return true }

func (x *xoauth2) NeedsConfidentiality() bool { return true }

func (x *xoauth2) Start() (string, []byte, error) {
	if x.step != 0 {
		return "", nil, errReused("XOAUTH2")
	}
	if x.username == "" || hasControl(x.username) {
		return "", nil, badInput("XOAUTH2", "empty user name or one with a control character")
	}
	if err := checkBearer("XOAUTH2", x.token); err != nil {
		return "", nil, err
	}
	x.step = 1
	return "XOAUTH2", []byte("user=" + x.username + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	if x.step != 1 {
		return nil, ErrUnexpectedChallenge
	}
	x.step = 2
	// The only challenge is the error document; answer it empty so the
	// server sends its final reply, and keep its details.
	return []byte{}, parseOAuthError("XOAUTH2", challenge)
}

// oauthBearer is OAUTHBEARER (RFC 7628 §3.1):
//
//	n,a=USER, ^A host=HOST ^A port=PORT ^A auth=Bearer TOKEN ^A ^A
//
// An error challenge is answered with a single ^A (§3.2.3).
type oauthBearer struct {
	username, token, host string
	port                  int
	step                  int
}

// OAuthBearer returns the OAUTHBEARER mechanism (RFC 7628) with an OAuth
// 2.0 bearer token for username (the authorization identity; may be empty).
// host and port, when set, tell the server which service the token is
// meant for. The token is a secret: sessions refuse it without TLS except
// to loopback (see [NeedsConfidentiality]).
func OAuthBearer(username, token, host string, port int) Mechanism {
	return &oauthBearer{username: username, token: token, host: host, port: port}
}

func (o *oauthBearer) RevealsSecret() bool { return true }

func (o *oauthBearer) NeedsConfidentiality() bool { return true }

func (o *oauthBearer) Start() (string, []byte, error) {
	if o.step != 0 {
		return "", nil, errReused("OAUTHBEARER")
	}
	if hasControl(o.username) || hasControl(o.host) {
		return "", nil, badInput("OAUTHBEARER", "control character in user name or host")
	}
	if o.port < 0 || o.port > 65535 {
		return "", nil, badInput("OAUTHBEARER", "port out of range")
	}
	if err := checkBearer("OAUTHBEARER", o.token); err != nil {
		return "", nil, err
	}
	o.step = 1
	var b strings.Builder
	b.WriteString("n,")
	if o.username != "" {
		// saslname (RFC 5801 §4): "," and "=" escaped.
		b.WriteString("a=")
		b.WriteString(strings.NewReplacer("=", "=3D", ",", "=2C").Replace(o.username))
	}
	b.WriteString(",\x01")
	if o.host != "" {
		b.WriteString("host=" + o.host + "\x01")
	}
	if o.port != 0 {
		b.WriteString("port=" + strconv.Itoa(o.port) + "\x01")
	}
	b.WriteString("auth=Bearer " + o.token + "\x01\x01")
	return "OAUTHBEARER", []byte(b.String()), nil
}

func (o *oauthBearer) Next(challenge []byte) ([]byte, error) {
	if o.step != 1 {
		return nil, ErrUnexpectedChallenge
	}
	o.step = 2
	return []byte{0x01}, parseOAuthError("OAUTHBEARER", challenge)
}
