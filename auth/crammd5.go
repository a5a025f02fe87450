package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// cramMD5 is CRAM-MD5 (RFC 2195): the answer to the server's challenge is
// the user name, a space, and the lower-case hex HMAC-MD5 of the challenge
// keyed with the secret.
type cramMD5 struct {
	username, secret string
	step             int
}

// CRAMMD5 returns the CRAM-MD5 mechanism (RFC 2195). The password does not
// cross the wire, but an eavesdropper can test guesses against the
// exchange offline, and the server must store the password in the clear:
// prefer SCRAM when the server offers it. Sessions refuse it without TLS
// except to loopback (see [NeedsConfidentiality]).
func CRAMMD5(username, secret string) Mechanism {
	return &cramMD5{username: username, secret: secret}
}

func (c *cramMD5) RevealsSecret() bool { return false }

// NeedsConfidentiality reports true: the response lets an eavesdropper
// test password guesses offline.
func (c *cramMD5) NeedsConfidentiality() bool { return true }

func (c *cramMD5) Start() (string, []byte, error) {
	if c.step != 0 {
		return "", nil, errReused("CRAM-MD5")
	}
	if c.username == "" || strings.ContainsAny(c.username, " \x00") {
		return "", nil, badInput("CRAM-MD5", "empty user name or one with a space or NUL")
	}
	c.step = 1
	return "CRAM-MD5", nil, nil
}

func (c *cramMD5) Next(challenge []byte) ([]byte, error) {
	if c.step != 1 {
		return nil, ErrUnexpectedChallenge
	}
	c.step = 2
	switch {
	case len(challenge) > MaxChallengeLength:
		return nil, ErrChallengeTooLong
	case len(challenge) == 0:
		return nil, protoErr("CRAM-MD5", "empty challenge")
	}
	return cramDigest(c.username, c.secret, challenge), nil
}

func cramDigest(user, secret string, challenge []byte) []byte {
	mac := hmac.New(md5.New, []byte(secret))
	mac.Write(challenge)
	out := make([]byte, 0, len(user)+1+2*md5.Size)
	out = append(out, user...)
	out = append(out, ' ')
	return hex.AppendEncode(out, mac.Sum(nil))
}

// cramMD5Server verifies CRAM-MD5 with a challenge in the RFC 2195 form
// "<random.timestamp@hostname>".
type cramMD5Server struct {
	cfg       ServerConfig
	challenge []byte
	step      int
	identity  string
}

func newCRAMMD5Server(cfg ServerConfig) *cramMD5Server {
	var r [8]byte
	rand.Read(r[:])
	ch := fmt.Sprintf("<%x.%d@%s>", r, time.Now().Unix(), cfg.Hostname)
	return &cramMD5Server{cfg: cfg, challenge: []byte(ch)}
}

func (s *cramMD5Server) Identity() string { return s.identity }

func (s *cramMD5Server) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step = 1
		if len(resp) > 0 {
			return nil, true, protoErr("CRAM-MD5", "initial response not allowed")
		}
		return s.challenge, false, nil
	case 1:
		s.step = 2
	default:
		return nil, true, protoErr("CRAM-MD5", "exchange is over")
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok || user == "" {
		return nil, true, protoErr("CRAM-MD5", "response is not user SP digest")
	}
	pass, known := s.cfg.Password(user)
	if !known {
		pass = "\x00unknown user"
	}
	want := cramDigest(user, pass, s.challenge)
	got := user + " " + strings.ToLower(digest)
	if subtle.ConstantTimeCompare(want, []byte(got)) != 1 || !known {
		return nil, true, ErrInvalidCredentials
	}
	s.identity = user
	return nil, true, nil
}
