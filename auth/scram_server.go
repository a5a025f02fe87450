package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"
)

// scramDefaultIterations is the iteration count a SCRAM server announces
// when ServerConfig.SCRAMIterations is zero: the RFC 7677 minimum.
const scramDefaultIterations = 4096

// scramSaltLen is the length of the random salt a SCRAM server draws for
// each exchange.
const scramSaltLen = 16

type scramServerStep int

const (
	scramServerStart scramServerStep = iota
	scramServerAsked                 // sent an empty challenge for client-first
	scramServerWantFinal
	scramServerDone
)

// scramServer is the server side of one SCRAM exchange.
//
// It keeps passwords in the clear (ServerConfig.Password) and derives the
// salted password afresh for each exchange, from a random salt: nothing is
// cached. The work is done when client-final arrives, so a client that
// refuses the iteration count costs the server nothing.
//
// An unknown user is not told apart from a wrong password: the server
// answers with a server-first-message all the same, derives keys from a
// random password, and fails the proof with "e=invalid-proof".
//
// Channel binding: the server offers -PLUS exactly when
// ServerConfig.ChannelBinding has data (NewServer refuses a -PLUS
// mechanism otherwise). A client that flags "y" (it could bind but
// believes the server cannot) while the server offers -PLUS is a
// downgrade; a "p=" type other than the configured one is unsupported;
// both fail in the server-final-message, with the RFC 5802 §7 error values
// "server-does-support-channel-binding" and
// "unsupported-channel-binding-type", as does a c= that is not the gs2
// header (plus the binding data for -PLUS): "channel-bindings-dont-match".
//
// An authorization identity (a=) other than the user is refused.
type scramServer struct {
	mech       string
	newHash    func() hash.Hash
	plus       bool
	cfg        ServerConfig
	iterations int

	// salt and nonce, when set, replace the random salt and server nonce
	// (the part the server appends to the client's), so that tests can
	// replay published exchanges.
	salt  []byte
	nonce string

	step        scramServerStep
	user        string // SASLprep'd authentication identity
	known       bool   // Password knew user
	password    string // SASLprep'd, or random for an unknown user
	gs2         string // gs2-header as received
	firstBare   string // client-first-message-bare as received
	serverFirst string
	fullNonce   string
	pending     string // server-error-value to fail with at the final step
	pendingErr  error
	identity    string
}

func newSCRAMServer(mech string, cfg ServerConfig) (Server, error) {
	h, plus, ok := scramHash(mech)
	if !ok {
		return nil, fmt.Errorf("auth: no server mechanism %q", mech)
	}
	if plus && len(cfg.ChannelBinding.Data) == 0 {
		return nil, fmt.Errorf("auth: %s: %w: ServerConfig.ChannelBinding is empty", mech, ErrNoChannelBinding)
	}
	if len(cfg.ChannelBinding.Data) > 0 && !scramCBName(cfg.ChannelBinding.Type) {
		return nil, fmt.Errorf("auth: %s: ServerConfig.ChannelBinding.Type %q is not a channel-binding type", mech, cfg.ChannelBinding.Type)
	}
	iter := cfg.SCRAMIterations
	if iter <= 0 {
		iter = scramDefaultIterations
	}
	return &scramServer{mech: mech, newHash: h, plus: plus, cfg: cfg, iterations: iter}, nil
}

func (s *scramServer) Identity() string { return s.identity }

func (s *scramServer) Next(response []byte) ([]byte, bool, error) {
	step := s.step
	if step == scramServerStart && response == nil {
		// No initial response: ask for client-first-message with an
		// empty challenge (RFC 4422 §5).
		s.step = scramServerAsked
		return []byte{}, false, nil
	}
	s.step = scramServerDone // until a step succeeds
	switch {
	case step == scramServerDone:
		return nil, true, protoErr(s.mech, "response after the exchange ended")
	case len(response) > MaxChallengeLength:
		return nil, true, protoErr(s.mech, "client message of %d octets", len(response))
	case !utf8.Valid(response):
		return nil, true, protoErr(s.mech, "client message is not UTF-8")
	case step == scramServerWantFinal:
		return s.clientFinal(string(response))
	}
	return s.clientFirst(string(response))
}

// clientFirst parses client-first-message and returns
// server-first-message.
func (s *scramServer) clientFirst(msg string) ([]byte, bool, error) {
	fail := func(format string, args ...any) ([]byte, bool, error) {
		return nil, true, protoErr(s.mech, format, args...)
	}
	flag, rest, ok1 := strings.Cut(msg, ",")
	authz, bare, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return fail("client-first-message has no gs2 header")
	}
	s.gs2 = msg[:len(msg)-len(bare)]
	var cbType string
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p=") && scramCBName(flag[2:]):
		cbType = flag[2:]
	default:
		return fail("gs2 header has an invalid channel-binding flag")
	}
	var authzid string
	if authz != "" {
		a, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return fail("gs2 header has an invalid authorization identity")
		}
		if authzid, ok = scramUnescape(a); !ok {
			return fail("authorization identity is not a valid saslname")
		}
	}

	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return fail("client-first-message requires an unsupported mandatory extension (m=)")
	}
	if len(attrs) < 2 {
		return fail("client-first-message has no n= and r=")
	}
	n, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return fail("client-first-message has no n= after the gs2 header")
	}
	name, ok := scramUnescape(n)
	if !ok {
		return fail("user name is not a valid saslname")
	}
	cnonce, ok := strings.CutPrefix(attrs[1], "r=")
	if !ok || !scramPrintable(cnonce) {
		return fail("client-first-message has no valid r= after n=")
	}
	if err := scramExtensions(attrs[2:]); err != "" {
		return fail("client-first-message: %s", err)
	}
	if authzid != "" && authzid != name {
		return fail("authorization identity differs from the user; not supported")
	}
	user, err := saslprep(name, true)
	if err != nil || user == "" {
		return nil, true, &ProtocolError{Mechanism: s.mech, Reason: "user name refused by SASLprep", Err: err}
	}

	// Channel-binding negotiation (RFC 5802 §6). What a client could not
	// know is reported in server-final, with an RFC 5802 §7 error value.
	offersPlus := len(s.cfg.ChannelBinding.Data) > 0
	switch {
	case s.plus && cbType == "":
		return fail("client chose %s but did not bind to the channel (gs2 flag %q)", s.mech, flag)
	case !s.plus && cbType != "":
		return fail("client bound to the channel with %s, which has no channel binding", s.mech)
	case s.plus && cbType != s.cfg.ChannelBinding.Type:
		s.pending = "unsupported-channel-binding-type"
		s.pendingErr = protoErr(s.mech, "client asked for channel-binding type %q, server has %q", cbType, s.cfg.ChannelBinding.Type)
	case flag == "y" && offersPlus:
		s.pending = "server-does-support-channel-binding"
		s.pendingErr = protoErr(s.mech, "client flagged channel binding as possible but unused (gs2 \"y\") while the server offers -PLUS: a downgrade")
	}

	s.user = user
	if pw, ok := s.cfg.Password(user); ok {
		if p, err := saslprep(pw, false); err == nil {
			s.password, s.known = p, true
		}
	}
	if !s.known {
		s.password = scramNewNonce() // a random password: the proof will fail
	}
	salt := s.salt
	if salt == nil {
		salt = make([]byte, scramSaltLen)
		rand.Read(salt)
		s.salt = salt
	}
	snonce := s.nonce
	if snonce == "" {
		snonce = scramNewNonce()
	}
	s.fullNonce = cnonce + snonce
	s.firstBare = bare
	s.serverFirst = "r=" + s.fullNonce + ",s=" + base64.StdEncoding.EncodeToString(salt) + ",i=" + strconv.Itoa(s.iterations)
	s.step = scramServerWantFinal
	return []byte(s.serverFirst), false, nil
}

// clientFinal parses client-final-message, checks the channel binding,
// the nonce and the proof, and returns server-final-message.
func (s *scramServer) clientFinal(msg string) ([]byte, bool, error) {
	fail := func(value string, err error) ([]byte, bool, error) {
		return []byte("e=" + value), true, err
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return fail("invalid-encoding", protoErr(s.mech, "client-final-message has no p="))
	}
	withoutProof := msg[:i]
	proof, ok := scramDecode(msg[i+len(",p="):])
	if !ok || len(proof) != s.newHash().Size() {
		return fail("invalid-encoding", protoErr(s.mech, "client proof is not base64 of the hash size"))
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 {
		return fail("invalid-encoding", protoErr(s.mech, "client-final-message has no c= and r="))
	}
	c, ok1 := strings.CutPrefix(attrs[0], "c=")
	r, ok2 := strings.CutPrefix(attrs[1], "r=")
	if !ok1 || !ok2 {
		return fail("invalid-encoding", protoErr(s.mech, "client-final-message does not start with c= and r="))
	}
	cbind, ok := scramDecode(c)
	if !ok {
		return fail("invalid-encoding", protoErr(s.mech, "channel binding (c=) is not base64"))
	}
	if err := scramExtensions(attrs[2:]); err != "" {
		if strings.Contains(err, "m=") {
			return fail("extensions-not-supported", protoErr(s.mech, "client-final-message: %s", err))
		}
		return fail("invalid-encoding", protoErr(s.mech, "client-final-message: %s", err))
	}
	if s.pending != "" {
		return fail(s.pending, s.pendingErr)
	}
	want := []byte(s.gs2)
	if s.plus {
		want = append(want, s.cfg.ChannelBinding.Data...)
	}
	if !hmac.Equal(cbind, want) {
		return fail("channel-bindings-dont-match", protoErr(s.mech, "channel binding (c=) does not match"))
	}
	if r != s.fullNonce {
		return fail("other-error", protoErr(s.mech, "client-final-message nonce differs from server-first-message's"))
	}

	salted, err := pbkdf2.Key(s.newHash, s.password, s.salt, s.iterations, s.newHash().Size())
	if err != nil {
		return fail("other-error", &ProtocolError{Mechanism: s.mech, Reason: "PBKDF2", Err: err})
	}
	authMessage := s.firstBare + "," + s.serverFirst + "," + withoutProof
	want, serverSig := scramProof(s.newHash, salted, authMessage)
	if !hmac.Equal(proof, want) || !s.known {
		return fail("invalid-proof", fmt.Errorf("auth: %s: %w", s.mech, ErrInvalidCredentials))
	}
	s.identity = s.user
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
}
