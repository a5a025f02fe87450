package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// SCRAM (RFC 5802), with SHA-256 from RFC 7677 and the tls-exporter
// channel binding of RFC 9266.

// scramMaxIterations is the largest iteration count a SCRAM client accepts
// from a server. A hostile server could otherwise announce 2^31 and make
// the client spend minutes of CPU in PBKDF2 before it can tell anything is
// wrong. 2^20 (1,048,576) is above what real servers announce (4096 is the
// RFC 5802 and RFC 7677 minimum, 10,000 to 600,000 are seen) and costs well
// under a second.
const scramMaxIterations = 1 << 20

// DefaultSCRAMMinIterations is the smallest iteration count a SCRAM client
// accepts from a server unless told otherwise ([IterationLimiter]): 4096,
// the count RFC 7677 §4 says a server SHOULD announce at least. The count
// is the cost of each password guess against a captured exchange, and the
// server chooses it: a server that strips STARTTLS and announces i=1 makes
// the client's proof as cheap to attack as an unsalted hash.
const DefaultSCRAMMinIterations = 4096

// An IterationLimiter is a Mechanism whose key derivation cost the server
// chooses (SCRAM, RFC 5802 §3): SetMinIterations sets the smallest
// iteration count it accepts, [DefaultSCRAMMinIterations] until called. A
// server-first message with fewer iterations fails the exchange with a
// *[SCRAMIterationError] before the client computes or sends its proof.
// Call it before Start; n <= 1 accepts any count.
//
//	m := auth.SCRAMSHA256(user, password)
//	m.(auth.IterationLimiter).SetMinIterations(1000) // a legacy server
type IterationLimiter interface {
	SetMinIterations(n int)
}

// SCRAMIterationError reports a SCRAM server-first message whose
// iteration count is below the client's minimum (see [IterationLimiter]).
// The exchange is cancelled; nothing derived from the password was sent.
type SCRAMIterationError struct {
	Mechanism  string
	Iterations int // what the server announced
	Min        int // the smallest count the client accepts
}

func (e *SCRAMIterationError) Error() string {
	return fmt.Sprintf("auth: %s: server announced %d iterations, fewer than the minimum %d (RFC 7677 §4); a server that means it must be allowed with SetMinIterations",
		e.Mechanism, e.Iterations, e.Min)
}

// scramNonceLen is the number of random octets in a nonce, 24, which
// base64 turns into 32 printable characters.
const scramNonceLen = 24

// SCRAMError is the error a SCRAM server reports in its final message,
// the value of the "e=" attribute of RFC 5802 §7: "invalid-proof",
// "unknown-user", "channel-bindings-dont-match",
// "server-does-support-channel-binding", "other-error" and so on.
type SCRAMError struct {
	Value string
}

func (e *SCRAMError) Error() string {
	return "auth: SCRAM server error: " + logsafe.Escape(e.Value)
}

// SCRAMSHA1 returns the client side of SCRAM-SHA-1 (RFC 5802). The user
// name and the password are prepared with SASLprep (RFC 4013); Start fails
// with [ErrBadInput] when SASLprep refuses either.
func SCRAMSHA1(username, password string) Mechanism {
	return newSCRAMClient("SCRAM-SHA-1", username, password)
}

// SCRAMSHA256 returns the client side of SCRAM-SHA-256 (RFC 7677), as
// [SCRAMSHA1] with SHA-256.
func SCRAMSHA256(username, password string) Mechanism {
	return newSCRAMClient("SCRAM-SHA-256", username, password)
}

// SCRAMSHA1Plus returns the client side of SCRAM-SHA-1-PLUS, SCRAM-SHA-1
// bound to the TLS connection: SetChannelBinding (see [ChannelBinder]) must
// be called before Start, which otherwise fails with
// [ErrNoChannelBinding].
func SCRAMSHA1Plus(username, password string) Mechanism {
	return newSCRAMClient("SCRAM-SHA-1-PLUS", username, password)
}

// SCRAMSHA256Plus returns the client side of SCRAM-SHA-256-PLUS, as
// [SCRAMSHA1Plus] with SHA-256.
func SCRAMSHA256Plus(username, password string) Mechanism {
	return newSCRAMClient("SCRAM-SHA-256-PLUS", username, password)
}

// scramHash returns the hash of a SCRAM mechanism name (upper case) and
// whether it is a -PLUS variant; ok is false for any other name.
func scramHash(mech string) (h func() hash.Hash, plus, ok bool) {
	base, plus := strings.CutSuffix(mech, "-PLUS")
	switch base {
	case "SCRAM-SHA-1":
		return sha1.New, plus, true
	case "SCRAM-SHA-256":
		return sha256.New, plus, true
	}
	return nil, false, false
}

type scramClientStep int

const (
	scramClientStart scramClientStep = iota
	scramClientWantFirst
	scramClientWantFinal
	scramClientDone
)

// scramClient is the client side of one SCRAM exchange. It implements
// Mechanism, ChannelBinder, ServerVerifier, IterationLimiter,
// SecretRevealer and ConfidentialityNeeder.
type scramClient struct {
	mech     string
	newHash  func() hash.Hash
	plus     bool
	username string
	password string
	cb       ChannelBinding // from SetChannelBinding; Data nil without
	// serverOffersPlus is from SetChannelBinding.
	serverOffersPlus bool

	// nonce is the client nonce; Start draws one when it is empty. Tests
	// set it to replay published exchanges.
	nonce string
	// maxIter is the largest iteration count accepted; 0 means
	// scramMaxIterations. Fuzz tests lower it to stay fast.
	maxIter int
	// minIter is the smallest iteration count accepted; see
	// SetMinIterations.
	minIter int

	step      scramClientStep
	gs2       string // gs2-header sent, e.g. "n,,"
	firstBare string // client-first-message-bare sent
	serverSig []byte // ServerSignature expected in server-final
	verified  bool   // server-final carried serverSig
}

func newSCRAMClient(mech, username, password string) *scramClient {
	h, plus, _ := scramHash(mech)
	return &scramClient{mech: mech, newHash: h, plus: plus, username: username, password: password, minIter: DefaultSCRAMMinIterations}
}

// RevealsSecret reports false: SCRAM sends a proof, never the password.
func (c *scramClient) RevealsSecret() bool { return false }

// NeedsConfidentiality reports true: the proof lets an eavesdropper test
// password guesses offline, at a cost the server chose.
func (c *scramClient) NeedsConfidentiality() bool { return true }

// SetMinIterations sets the smallest iteration count the client accepts
// from the server (see [IterationLimiter]).
func (c *scramClient) SetMinIterations(n int) { c.minIter = n }

// SetChannelBinding gives the mechanism the TLS channel binding (see
// [ChannelBinder]). A -PLUS mechanism binds the exchange to it. A plain
// one only uses it to choose its gs2 flag: "y" (the client could bind but
// believes the server cannot) when the server offers no -PLUS mechanism,
// "n" when it does, since the caller then chose not to bind. A binding
// with no data is ignored.
func (c *scramClient) SetChannelBinding(cb ChannelBinding, serverOffersPlus bool) {
	if len(cb.Data) == 0 {
		return
	}
	c.cb = ChannelBinding{Type: cb.Type, Data: append([]byte(nil), cb.Data...)}
	c.serverOffersPlus = serverOffersPlus
}

// ServerVerified reports whether the server proved that it knows the
// password: whether its server-final-message carried the right signature
// (see [ServerVerifier]).
func (c *scramClient) ServerVerified() bool { return c.verified }

func (c *scramClient) Start() (string, []byte, error) {
	if c.step != scramClientStart {
		return "", nil, errReused(c.mech)
	}
	c.step = scramClientDone // until Start succeeds
	user, err := saslprep(c.username, true)
	if err != nil {
		return "", nil, &ProtocolError{Mechanism: c.mech, Reason: "user name", Err: err}
	}
	if user == "" {
		return "", nil, badInput(c.mech, "empty user name")
	}
	pass, err := saslprep(c.password, true)
	if err != nil {
		return "", nil, &ProtocolError{Mechanism: c.mech, Reason: "password", Err: err}
	}
	c.password = pass
	switch {
	case c.plus:
		if len(c.cb.Data) == 0 {
			return "", nil, ErrNoChannelBinding
		}
		if !scramCBName(c.cb.Type) {
			return "", nil, badInput(c.mech, "invalid channel-binding type "+strconv.Quote(c.cb.Type))
		}
		c.gs2 = "p=" + c.cb.Type + ",,"
	case len(c.cb.Data) > 0 && !c.serverOffersPlus:
		c.gs2 = "y,,"
	default:
		c.gs2 = "n,,"
	}
	if c.nonce == "" {
		c.nonce = scramNewNonce()
	}
	c.firstBare = "n=" + scramEscape(user) + ",r=" + c.nonce
	c.step = scramClientWantFirst
	return c.mech, []byte(c.gs2 + c.firstBare), nil
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	step := c.step
	if step == scramClientStart || step == scramClientDone {
		return nil, &ProtocolError{Mechanism: c.mech, Reason: "challenge outside the exchange", Err: ErrUnexpectedChallenge}
	}
	c.step = scramClientDone // until this step succeeds
	if len(challenge) > MaxChallengeLength {
		return nil, &ProtocolError{Mechanism: c.mech, Reason: fmt.Sprintf("challenge of %d octets", len(challenge)), Err: ErrChallengeTooLong}
	}
	msg := string(challenge)
	if !utf8.ValidString(msg) {
		return nil, protoErr(c.mech, "server message is not UTF-8")
	}
	if step == scramClientWantFirst {
		return c.serverFirst(msg)
	}
	return c.serverFinal(msg)
}

// serverFirst parses server-first-message (RFC 5802 §7) and returns
// client-final-message.
func (c *scramClient) serverFirst(msg string) ([]byte, error) {
	attrs := strings.Split(msg, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		return nil, protoErr(c.mech, "server-first-message requires an unsupported mandatory extension (m=)")
	}
	if len(attrs) < 3 {
		return nil, protoErr(c.mech, "server-first-message has %d attributes, want r=, s= and i=", len(attrs))
	}
	nonce, ok := strings.CutPrefix(attrs[0], "r=")
	if !ok {
		return nil, protoErr(c.mech, "server-first-message does not start with r=")
	}
	if !scramPrintable(nonce) || len(nonce) <= len(c.nonce) || !strings.HasPrefix(nonce, c.nonce) {
		return nil, protoErr(c.mech, "server nonce does not extend the client nonce")
	}
	s, ok := strings.CutPrefix(attrs[1], "s=")
	if !ok {
		return nil, protoErr(c.mech, "server-first-message has no s= after r=")
	}
	salt, ok := scramDecode(s)
	if !ok || len(salt) == 0 {
		return nil, protoErr(c.mech, "salt is empty or not base64")
	}
	i, ok := strings.CutPrefix(attrs[2], "i=")
	if !ok {
		return nil, protoErr(c.mech, "server-first-message has no i= after s=")
	}
	maxIter := c.maxIter
	if maxIter <= 0 {
		maxIter = scramMaxIterations
	}
	iter, ok := scramPositive(i, maxIter)
	if !ok {
		return nil, protoErr(c.mech, "iteration count is not a number from 1 to %d", maxIter)
	}
	if iter < c.minIter {
		return nil, &SCRAMIterationError{Mechanism: c.mech, Iterations: iter, Min: c.minIter}
	}
	if err := scramExtensions(attrs[3:]); err != "" {
		return nil, protoErr(c.mech, "server-first-message: %s", err)
	}

	salted, err := pbkdf2.Key(c.newHash, c.password, salt, iter, c.newHash().Size())
	if err != nil {
		return nil, &ProtocolError{Mechanism: c.mech, Reason: "PBKDF2", Err: err}
	}
	cbind := []byte(c.gs2)
	if c.plus {
		cbind = append(cbind, c.cb.Data...)
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(cbind) + ",r=" + nonce
	authMessage := c.firstBare + "," + msg + "," + withoutProof
	proof, serverSig := scramProof(c.newHash, salted, authMessage)
	c.serverSig = serverSig
	c.step = scramClientWantFinal
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// serverFinal checks server-final-message (RFC 5802 §7). After a verified
// signature it returns an empty response: SMTP carries server-final in a
// 334 challenge, which the client answers with an empty line.
func (c *scramClient) serverFinal(msg string) ([]byte, error) {
	attrs := strings.Split(msg, ",")
	if err := scramExtensions(attrs[1:]); err != "" {
		return nil, protoErr(c.mech, "server-final-message: %s", err)
	}
	if v, ok := strings.CutPrefix(attrs[0], "e="); ok {
		if !scramValue(v) {
			return nil, protoErr(c.mech, "server-final-message has an empty or invalid e=")
		}
		return nil, &SCRAMError{Value: v}
	}
	v, ok := strings.CutPrefix(attrs[0], "v=")
	if !ok {
		return nil, protoErr(c.mech, "server-final-message has neither v= nor e=")
	}
	sig, ok := scramDecode(v)
	if !ok {
		return nil, protoErr(c.mech, "server signature is not base64")
	}
	if !hmac.Equal(sig, c.serverSig) {
		return nil, ErrServerSignature
	}
	c.verified = true
	return []byte{}, nil
}

// scramProof returns ClientProof and ServerSignature (RFC 5802 §3) for a
// salted password and an AuthMessage.
func scramProof(h func() hash.Hash, salted []byte, authMessage string) (proof, serverSig []byte) {
	clientKey := scramHMAC(h, salted, "Client Key")
	storedKey := scramH(h, clientKey)
	proof = scramHMAC(h, storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	serverKey := scramHMAC(h, salted, "Server Key")
	return proof, scramHMAC(h, serverKey, authMessage)
}

func scramHMAC(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func scramH(h func() hash.Hash, b []byte) []byte {
	d := h()
	d.Write(b)
	return d.Sum(nil)
}

func scramNewNonce() string {
	b := make([]byte, scramNonceLen)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.StdEncoding.EncodeToString(b)
}

var scramEscaper = strings.NewReplacer("=", "=3D", ",", "=2C")

// scramEscape encodes a user name as a saslname (RFC 5802 §5.1).
func scramEscape(s string) string { return scramEscaper.Replace(s) }

// scramUnescape decodes a saslname: "=2C" is ',' and "=3D" is '=' (ABNF
// strings are case-insensitive, so "=2c" and "=3d" too); any other '=', a
// NUL or an empty name is refused.
func scramUnescape(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case 0:
			return "", false
		case '=':
			if len(s) < i+3 {
				return "", false
			}
			switch strings.ToUpper(s[i+1 : i+3]) {
			case "2C":
				b.WriteByte(',')
			case "3D":
				b.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		default:
			b.WriteByte(ch)
		}
	}
	return b.String(), true
}

// scramPrintable reports whether s is a non-empty run of "printable"
// (RFC 5802 §7: %x21-2B / %x2D-7E), as nonces are.
func scramPrintable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// scramValue reports whether s is a "value" (RFC 5802 §7): one or more
// UTF-8 characters other than NUL and ','. The caller has checked UTF-8.
func scramValue(s string) bool {
	return s != "" && !strings.ContainsAny(s, "\x00,")
}

// scramCBName reports whether s is a cb-name (RFC 5802 §7).
func scramCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '.', ch == '-':
		default:
			return false
		}
	}
	return true
}

// scramExtensions checks optional extension attributes, which are
// otherwise ignored (RFC 5802 §5.1), and returns what is wrong with them
// or "". A mandatory extension, "m=", is refused wherever it appears.
func scramExtensions(attrs []string) string {
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !('a' <= a[0] && a[0] <= 'z' || 'A' <= a[0] && a[0] <= 'Z') || !scramValue(a[2:]) {
			return "malformed attribute"
		}
		if a[0] == 'm' {
			return "unsupported mandatory extension (m=)"
		}
	}
	return ""
}

// scramDecode decodes RFC 5802 base64: the standard alphabet with its
// padding, strictly, and nothing else (the encoding/base64 decoder would
// skip CR and LF).
func scramDecode(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9', ch == '+', ch == '/', ch == '=':
		default:
			return nil, false
		}
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// scramPositive parses a posit-number (RFC 5802 §7) no larger than max.
func scramPositive(s string, max int) (int, bool) {
	if s == "" || s[0] < '1' || s[0] > '9' || len(s) > len(strconv.Itoa(max)) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= max
}
