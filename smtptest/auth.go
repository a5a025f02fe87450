package smtptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// saslServer is the server side of one SASL exchange (RFC 4422).
type saslServer interface {
	// step takes the client's next response (the initial response first,
	// when there is one; hasResp is false for none) and returns either a
	// challenge to send, or done with the result.
	step(resp []byte, hasResp bool) (challenge []byte, done bool, user string, ok bool)
}

// newSASL returns the server side of mech, or nil when the server cannot
// verify it.
func (c *conn) newSASL(mech string) saslServer {
	switch strings.ToUpper(mech) {
	case "PLAIN":
		return &plainServer{users: c.s.cfg.Users}
	case "LOGIN":
		return &loginServer{users: c.s.cfg.Users}
	case "CRAM-MD5":
		var nonce [8]byte
		rand.Read(nonce[:])
		return &cramServer{users: c.s.cfg.Users, challenge: fmt.Sprintf("<%x.%d@%s>", nonce, c.id, c.s.hostname)}
	}
	return nil
}

func checkPassword(users map[string]string, user, pass string) bool {
	want, ok := users[user]
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

// plainServer is PLAIN (RFC 4616): authzid NUL authcid NUL passwd.
type plainServer struct {
	users map[string]string
	asked bool
}

func (p *plainServer) step(resp []byte, hasResp bool) ([]byte, bool, string, bool) {
	if !hasResp {
		if p.asked {
			return nil, true, "", false
		}
		p.asked = true
		return []byte{}, false, "", false
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 {
		return nil, true, "", false
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return nil, true, "", false
	}
	if !checkPassword(p.users, user, pass) {
		return nil, true, "", false
	}
	return nil, true, user, true
}

// loginServer is the LOGIN mechanism (draft-murchison-sasl-login):
// "Username:", then "Password:".
type loginServer struct {
	users   map[string]string
	user    string
	hasUser bool
}

func (l *loginServer) step(resp []byte, hasResp bool) ([]byte, bool, string, bool) {
	switch {
	case !l.hasUser && !hasResp:
		return []byte("Username:"), false, "", false
	case !l.hasUser:
		l.user, l.hasUser = string(resp), true
		return []byte("Password:"), false, "", false
	}
	if !checkPassword(l.users, l.user, string(resp)) {
		return nil, true, "", false
	}
	return nil, true, l.user, true
}

// cramServer is CRAM-MD5 (RFC 2195): the answer is the user name, a
// space, and the hex HMAC-MD5 of the challenge keyed with the password.
type cramServer struct {
	users     map[string]string
	challenge string
	asked     bool
}

func (c *cramServer) step(resp []byte, hasResp bool) ([]byte, bool, string, bool) {
	if !c.asked {
		c.asked = true
		if hasResp {
			return nil, true, "", false // CRAM-MD5 has no initial response
		}
		return []byte(c.challenge), false, "", false
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	if !ok {
		return nil, true, "", false
	}
	pass, known := c.users[user]
	if !known {
		return nil, true, "", false
	}
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(digest))) != 1 {
		return nil, true, "", false
	}
	return nil, true, user, true
}
