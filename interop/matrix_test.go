package interop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// TestMatrix runs each case against each peer, as TestMatrix/CASE/PEER;
// interop/report turns the outcomes into the table in the README. A case
// that needs what a peer does not offer (it is not in the peer's EHLO or
// LHLO) is skipped with "not offered: ..." (the "not offered" cell); a
// case that cannot apply to a peer at all (LMTP's per-recipient replies
// for an SMTP server, STARTTLS on an implicit-TLS port) has no subtest
// for it (the "n/a" cell). A peer whose variables are missing fails.
func TestMatrix(t *testing.T) {
	for _, mc := range matrixCases {
		t.Run(mc.name, func(t *testing.T) {
			for _, p := range peers {
				if mc.applies != nil && !mc.applies(p) {
					continue
				}
				t.Run(p.name, func(t *testing.T) {
					t.Parallel()
					mc.run(t, p)
				})
			}
		})
	}
}

type matrixCase struct {
	name    string
	applies func(*peer) bool // nil: every peer
	run     func(*testing.T, *peer)
}

var matrixCases = []matrixCase{
	{"ehlo-extensions", nil, testEHLOExtensions},
	{"starttls", notImplicit, testStartTLS},
	{"starttls-wrong-ca", notImplicit, testStartTLSWrongCA},
	{"implicit-tls", onlyImplicit, testImplicitTLS},
	{"auth-plain", nil, authMechanismCase("PLAIN")},
	{"auth-login", nil, authMechanismCase("LOGIN")},
	{"auth-cram-md5", nil, authMechanismCase("CRAM-MD5")},
	{"auth-scram-sha-1", nil, authMechanismCase("SCRAM-SHA-1")},
	{"auth-scram-sha-256", nil, authMechanismCase("SCRAM-SHA-256")},
	{"auth-strongest", nil, testAuthStrongest},
	{"auth-only-after-tls", notImplicit, testAuthOnlyAfterTLS},
	{"auth-wrong-password", nil, testAuthWrongPassword},
	{"refused-recipient", nil, testRefusedRecipient},
	{"pipelined", nil, testPipelined},
	{"bdat", nil, testBDAT},
	{"dsn", nil, testDSN},
	{"smtputf8", nil, testSMTPUTF8},
	{"8bit-body", nil, test8BitBody},
	{"oversized-before-body", nil, testOversizedBeforeBody},
	{"vrfy", nil, testVRFY},
	{"100-messages-one-connection", nil, testHundredMessages},
	{"lmtp-per-recipient", onlyLMTP, testLMTPPerRecipient},
}

func notImplicit(p *peer) bool  { return !p.implicit }
func onlyImplicit(p *peer) bool { return p.implicit }
func onlyLMTP(p *peer) bool     { return p.lmtp }

// newMarker is a Message-ID unique to this test and this moment, by
// which its message is found where the peer stored it.
func newMarker(t *testing.T) string {
	name := strings.NewReplacer("/", ".", "+", "-", " ", "_").Replace(t.Name())
	return fmt.Sprintf("<%d.%s@smtpkit.test>", time.Now().UnixNano(), name)
}

// trickyBody is a message whose encoding can go wrong: lines starting
// with dots and a lone dot (dot-stuffing), a bare LF, and a last line
// without a line ending.
func trickyBody(marker string) string {
	return "From: sender@example.net\r\nTo: alice@example.org, bob@example.org\r\nMessage-ID: " + marker +
		"\r\nSubject: smtpkit interop\r\n\r\n" +
		"line one\r\n.starts with a dot\r\n..two dots\r\n.\r\nbare LF line\nlast line without newline"
}

func simpleBody(marker, subject string) string {
	return "From: sender@example.net\r\nMessage-ID: " + marker + "\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
}

// okResult checks an accepted message's result: SMTP's one reply after
// the data, or LMTP's one per accepted recipient.
func okResult(t *testing.T, p *peer, res *session.Result) {
	t.Helper()
	if res == nil {
		t.Fatal("no result")
	}
	if !p.lmtp {
		if res.Data.Code != 250 {
			t.Errorf("reply after the message: %v, want 250", res.Data)
		}
		return
	}
	for _, r := range res.Recipients {
		if r.Accepted && r.Data.Code != 250 {
			t.Errorf("%s: reply after the message %v, want 250", r.Address, r.Data)
		}
	}
}

// checkTLSRecorded checks that the peer recorded the message as received
// over TLS (or not).
func (p *peer) checkTLSRecorded(t *testing.T, d *delivered, want bool) {
	t.Helper()
	var got bool
	switch p.store {
	case aiosmtpdStore:
		got = d.env.TLS
	case postfixMaildir:
		got = strings.Contains(string(d.data), " with ESMTPS") // ESMTPS, or ESMTPSA after AUTH
	case dovecotMaildir:
		got = strings.Contains(string(d.data), "with LMTPS\n")
	}
	if got != want {
		t.Errorf("%s recorded TLS = %v, want %v:\n%s", p.name, got, want, d.data)
	}
}

// checkAuthRecorded checks that the peer recorded the message as an
// authenticated submission by user.
func (p *peer) checkAuthRecorded(t *testing.T, d *delivered, user string) {
	t.Helper()
	switch p.store {
	case aiosmtpdStore:
		if !d.env.Authenticated || d.env.AuthUser == nil || *d.env.AuthUser != user {
			t.Errorf("aiosmtpd's envelope does not record AUTH as %s: %+v", user, d.env)
		}
	case postfixMaildir:
		if !strings.Contains(string(d.data), "with ESMTPSA") {
			t.Errorf("delivered message does not record an authenticated submission (ESMTPSA):\n%s", d.data)
		}
	}
}

// ---- EHLO, TLS ---------------------------------------------------------

func checkKeywords(t *testing.T, p *peer, when string, ext session.Extensions, want []string) {
	t.Helper()
	if got := ext.Keywords(); !slices.Equal(got, want) {
		t.Errorf("%s %s lists %v, want %v", p.hello(), when, got, want)
	}
	for k, v := range p.params {
		if !slices.Contains(want, k) {
			continue
		}
		if got, _ := ext.Param(k); got != v {
			t.Errorf("%s %s: %s %q, want %q", p.hello(), when, k, got, v)
		}
	}
}

// The extensions each peer lists, parsed: before TLS and on TLS.
func testEHLOExtensions(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	if p.ehloPlain != nil {
		c := p.dial(t, ctx, session.Options{TLS: session.TLSOff})
		if err := c.Hello(ctx); err != nil {
			t.Fatal(err)
		}
		if !c.ESMTP() || c.Greeting().Code != 220 {
			t.Errorf("greeting %v, ESMTP %v", c.Greeting(), c.ESMTP())
		}
		checkKeywords(t, p, "before TLS", c.Extensions(), p.ehloPlain)
		if limit, ok := c.Extensions().MaxSize(); slices.Contains(p.ehloPlain, "SIZE") && (!ok || limit != 10485760) {
			t.Errorf("MaxSize = %d, %v; want 10485760", limit, ok)
		}
		if _, err := c.Quit(ctx); err != nil {
			t.Errorf("QUIT: %v", err)
		}
	}
	c := p.dial(t, ctx, session.Options{TLS: session.TLSRequired})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	checkKeywords(t, p, "on TLS", c.Extensions(), p.ehloTLS)
	if want := strings.Fields(p.params["AUTH"]); slices.Contains(p.ehloTLS, "AUTH") && !slices.Equal(c.Extensions().AuthMechanisms(), want) {
		t.Errorf("AuthMechanisms = %v, want %v", c.Extensions().AuthMechanisms(), want)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("QUIT: %v", err)
	}
}

// STARTTLS, the certificate verified against the interop CA; the message
// arrives and the peer records that it came over TLS.
func testStartTLS(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	needIn(t, p, p.probe(t, ctx), "STARTTLS")
	c := p.dial(t, ctx, session.Options{TLS: session.TLSRequired})
	marker := newMarker(t)
	body := trickyBody(marker)
	res, err := c.Send(ctx, "sender@example.net", []string{"alice+starttls@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	okResult(t, p, res)
	st, ok := c.TLS()
	if !ok || !st.HandshakeComplete || len(st.VerifiedChains) == 0 || st.Version < tls.VersionTLS12 {
		t.Errorf("TLS state after Send in TLSRequired mode: on TLS %v, complete %v, %d verified chains, version %x", ok, st.HandshakeComplete, len(st.VerifiedChains), st.Version)
	}
	if !c.trace.has("C: STARTTLS") || c.Extensions().Has("STARTTLS") {
		t.Errorf("no STARTTLS in the trace, or STARTTLS still listed after it: %v", c.Extensions().Keywords())
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	d := p.waitDelivered(t, "alice", marker)
	p.checkStored(t, d, body)
	p.checkTLSRecorded(t, d, true)
}

// A certificate that does not verify (the wrong CA) is an error, in the
// default opportunistic mode too: never a fall back to plaintext, and no
// envelope goes out.
func testStartTLSWrongCA(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	needIn(t, p, p.probe(t, ctx), "STARTTLS")
	mode := session.TLSOpportunistic
	if p.unix() {
		mode = session.TLSRequired // opportunistic mode does not try STARTTLS over a Unix socket
	}
	c := p.dial(t, ctx, session.Options{TLS: mode, TLSConfig: tlsFor(t, "SMTPKIT_WRONG_CA")})
	_, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	var te *transport.TLSError
	if !errors.As(err, &te) || !te.VerificationFailed() {
		t.Fatalf("err = %v, want a certificate verification *transport.TLSError", err)
	}
	for _, w := range c.rec.since(0) {
		if strings.Contains(string(w), "MAIL FROM") {
			t.Errorf("MAIL went out in plaintext after the failed handshake: %q", w)
		}
	}
	if _, err := c.Noop(ctx); err == nil {
		t.Error("the client is still usable after the failed handshake")
	}
}

// TLS from the first byte; and with the wrong CA the dial fails.
func testImplicitTLS(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	st, ok := c.TLS()
	if !ok || !st.HandshakeComplete || len(st.VerifiedChains) == 0 {
		t.Fatalf("not on verified TLS after the greeting: %v %+v", ok, st)
	}
	marker := newMarker(t)
	body := trickyBody(marker)
	res, err := c.Send(ctx, "sender@example.net", []string{"bob+implicit@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	okResult(t, p, res)
	if c.trace.has("C: STARTTLS") {
		t.Error("STARTTLS on an implicit-TLS connection")
	}
	c.Quit(ctx)
	d := p.waitDelivered(t, "bob", marker)
	p.checkStored(t, d, body)
	p.checkTLSRecorded(t, d, true)

	_, err = p.tryDial(t, ctx, session.Options{TLSConfig: tlsFor(t, "SMTPKIT_WRONG_CA")})
	var te *transport.TLSError
	var ce *session.ConnectError
	if !errors.As(err, &te) || !te.VerificationFailed() || !errors.As(err, &ce) {
		t.Fatalf("dial with the wrong CA: %v, want a *session.ConnectError for a certificate verification *transport.TLSError", err)
	}
}

// ---- AUTH --------------------------------------------------------------

var mechanisms = map[string]func(user, password string) auth.Mechanism{
	"PLAIN":         func(u, p string) auth.Mechanism { return auth.Plain("", u, p) },
	"LOGIN":         auth.Login,
	"CRAM-MD5":      auth.CRAMMD5,
	"SCRAM-SHA-1":   auth.SCRAMSHA1,
	"SCRAM-SHA-256": auth.SCRAMSHA256,
}

// authOffered connects on TLS where the peer offers it and skips the test
// unless AUTH lists mech ("" for any mechanism).
func authOffered(t *testing.T, p *peer, mech string) *conn {
	t.Helper()
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	c.need(t, "AUTH")
	if mech != "" && !slices.Contains(c.Extensions().AuthMechanisms(), mech) {
		t.Skipf("not offered: AUTH %s (%s offers AUTH %s)", mech, p.name, strings.Join(c.Extensions().AuthMechanisms(), " "))
	}
	return c
}

type credentials struct{ user, password string }

func testUsers(t *testing.T) []credentials {
	return []credentials{
		{peerEnv(t, "SMTPKIT_AUTH_USER"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD")},
		{peerEnv(t, "SMTPKIT_AUTH_USER2"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD2")}, // a non-ASCII password
	}
}

// AUTH with one mechanism, for both test users; then the session goes on
// and its message is recorded as authenticated.
func authMechanismCase(mech string) func(*testing.T, *peer) {
	return func(t *testing.T, p *peer) {
		authOffered(t, p, mech).Quit(ctxFor(t))
		for _, u := range testUsers(t) {
			t.Run(u.user, func(t *testing.T) {
				ctx := ctxFor(t)
				c := p.dial(t, ctx, session.Options{})
				if err := c.Auth(ctx, mechanisms[mech](u.user, u.password)); err != nil {
					t.Fatalf("Auth %s: %v", mech, err)
				}
				if err := c.Auth(ctx, mechanisms[mech](u.user, u.password)); !errors.Is(err, session.ErrBadSequence) {
					t.Errorf("second Auth: %v, want ErrBadSequence", err)
				}
				if _, err := c.Noop(ctx); err != nil {
					t.Errorf("NOOP after AUTH: %v", err)
				}
				if strings.Contains(c.trace.String(), u.password) {
					t.Error("password in the trace")
				}
				marker := newMarker(t)
				body := simpleBody(marker, "auth "+mech)
				res, err := c.Send(ctx, u.user+"@example.org", []string{"alice+auth@example.org"}, strings.NewReader(body))
				if err != nil {
					t.Fatalf("Send after AUTH: %v", err)
				}
				okResult(t, p, res)
				c.Quit(ctx)
				d := p.waitDelivered(t, "alice", marker)
				p.checkStored(t, d, body)
				p.checkAuthRecorded(t, d, u.user)
			})
		}
	}
}

// loginPreference is the order in which session's Login picks a
// mechanism, strongest first (see its documentation).
var loginPreference = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"}

// Login picks the strongest mechanism the peer offers, with the
// non-ASCII password; the message then goes as an authenticated one.
func testAuthStrongest(t *testing.T, p *peer) {
	c := authOffered(t, p, "")
	ctx := ctxFor(t)
	offered := c.Extensions().AuthMechanisms()
	want := ""
	for _, m := range loginPreference {
		if slices.Contains(offered, m) {
			want = m
			break
		}
	}
	if want == "" {
		t.Fatalf("%s offers no mechanism Login implements: %v", p.name, offered)
	}
	u := testUsers(t)[1]
	if err := c.Login(ctx, u.user, u.password); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if !c.trace.has("C: AUTH " + want + " ") {
		t.Errorf("Login did not choose %s from %v", want, offered)
	}
	if strings.Contains(c.trace.String(), u.password) {
		t.Error("password in the trace")
	}
	marker := newMarker(t)
	body := simpleBody(marker, "login")
	res, err := c.Send(ctx, u.user+"@example.org", []string{"alice+login@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	okResult(t, p, res)
	c.Quit(ctx)
	d := p.waitDelivered(t, "alice", marker)
	p.checkStored(t, d, body)
	p.checkAuthRecorded(t, d, u.user)
}

// A peer that offers AUTH only on TLS lists no AUTH before it, and the
// client then says so without sending anything.
func testAuthOnlyAfterTLS(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	before := p.probe(t, ctx)
	needIn(t, p, before, "STARTTLS")
	authOffered(t, p, "").Quit(ctx)
	if before.Has("AUTH") {
		t.Skipf("not offered: AUTH only after TLS (%s offers AUTH %s before TLS)", p.name, strings.Join(before.AuthMechanisms(), " "))
	}
	c := p.dial(t, ctx, session.Options{TLS: session.TLSOff})
	err := c.Login(ctx, peerEnv(t, "SMTPKIT_AUTH_USER"), peerEnv(t, "SMTPKIT_AUTH_PASSWORD"))
	var ns *session.NotSupportedError
	if !errors.As(err, &ns) || ns.Extension != "AUTH" {
		t.Fatalf("Login before STARTTLS: %v, want *NotSupportedError for AUTH", err)
	}
	if c.trace.has("C: AUTH") {
		t.Error("AUTH sent")
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Errorf("NOOP: %v", err)
	}
}

// A wrong password, by each mechanism offered: a 535 *session.AuthError
// (a *response.Error too), and the session goes on: the right password
// works next.
func testAuthWrongPassword(t *testing.T, p *peer) {
	offered := authOffered(t, p, "").Extensions().AuthMechanisms()
	for _, mech := range []string{"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"} {
		if !slices.Contains(offered, mech) {
			continue
		}
		t.Run(mech, func(t *testing.T) {
			ctx := ctxFor(t)
			c := p.dial(t, ctx, session.Options{})
			user := peerEnv(t, "SMTPKIT_AUTH_USER")
			err := c.Auth(ctx, mechanisms[mech](user, "not-the-password"))
			var ae *session.AuthError
			var re *response.Error
			if !errors.As(err, &ae) || ae.Reply.Code != 535 || !errors.As(err, &re) || re.Code() != 535 {
				t.Fatalf("wrong password: %v, want *AuthError with 535", err)
			}
			if err := c.Login(ctx, user, peerEnv(t, "SMTPKIT_AUTH_PASSWORD")); err != nil {
				t.Fatalf("Login after a failure: %v", err)
			}
		})
	}
}

// ---- transactions --------------------------------------------------------

// checkRefused checks that of three recipients the middle one,
// nobody@example.org, was refused at RCPT with 550 5.1.1.
func checkRefused(t *testing.T, res *session.Result) {
	t.Helper()
	r := res.Refused()
	if len(r) != 1 || r[0].Address != "nobody@example.org" || r[0].Reply.Code != 550 || r[0].Reply.Enhanced.String() != "5.1.1" {
		t.Errorf("refused %+v, want only nobody@example.org with 550 5.1.1", r)
	}
	if len(res.Recipients) != 3 || !res.Recipients[0].Accepted || !res.Recipients[2].Accepted {
		t.Errorf("recipients %+v, want the first and last accepted", res.Recipients)
	}
}

// A message to two users and one unknown one: the unknown one is
// refused at RCPT, the others get the message. Then a message whose every
// recipient is refused: *session.RecipientsRefusedError, and the session
// goes on.
func testRefusedRecipient(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	marker := newMarker(t)
	body := trickyBody(marker)
	res, err := c.Send(ctx, "sender@example.net", []string{"alice+refused@example.org", "nobody@example.org", "bob@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkRefused(t, res)
	okResult(t, p, res)

	_, err = c.Send(ctx, "sender@example.net", []string{"nobody@example.org", "nobody2@example.org"}, strings.NewReader(body))
	var rr *session.RecipientsRefusedError
	if !errors.As(err, &rr) || len(rr.Recipients) != 2 {
		t.Fatalf("Send to unknown users only: %v; want *RecipientsRefusedError for both", err)
	}
	for _, r := range rr.Recipients {
		if r.Reply.Code != 550 {
			t.Errorf("%s: %v, want 550", r.Address, r.Reply)
		}
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Errorf("NOOP after the refusal: %v", err)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	for _, user := range []string{"alice", "bob"} {
		p.checkStored(t, p.waitDelivered(t, user, marker), body)
	}
}

// checkOneWrite checks that a transaction's commands went out together:
// on a plaintext connection, the write with MAIL also carries every RCPT
// and last (DATA, or BDAT with the message); over TLS, where the writes
// are records, that there were at most max of them.
func checkOneWrite(t *testing.T, c *conn, writes [][]byte, rcpts int, last string, max int) {
	t.Helper()
	if len(writes) > max {
		t.Errorf("%d writes for the transaction, want at most %d", len(writes), max)
	}
	if _, onTLS := c.TLS(); onTLS {
		return
	}
	for _, w := range writes {
		s := string(w)
		if !strings.Contains(s, "MAIL FROM:") {
			continue
		}
		if strings.Count(s, "RCPT TO:") != rcpts || !strings.Contains(s, last) {
			t.Errorf("the write with MAIL does not carry the %d RCPTs and %q:\n%q", rcpts, last, s)
		}
		return
	}
	t.Errorf("no write with MAIL FROM: %q", writes)
}

// MAIL, the RCPTs and DATA in one write (RFC 2920); the message arrives
// intact.
func testPipelined(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{TLS: session.TLSOff, DisableChunking: true})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	c.need(t, "PIPELINING")
	marker := newMarker(t)
	body := trickyBody(marker)
	mark := c.rec.mark()
	res, err := c.Send(ctx, "sender@example.net", []string{"alice+pipelined@example.org", "nobody@example.org", "bob@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	checkOneWrite(t, c, c.rec.since(mark), 3, "\r\nDATA\r\n", 2)
	if !c.trace.has("C: DATA") || c.trace.has("C: BDAT") {
		t.Error("the message did not go with DATA")
	}
	checkRefused(t, res)
	okResult(t, p, res)
	c.Quit(ctx)
	for _, user := range []string{"alice", "bob"} {
		p.checkStored(t, p.waitDelivered(t, user, marker), body)
	}
}

// BDAT (RFC 3030): with PIPELINING the whole transaction in one write;
// then a message in 7-octet chunks, which split CRLFs and lines.
func testBDAT(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{TLS: session.TLSOff})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	c.need(t, "CHUNKING")
	marker := newMarker(t)
	body := trickyBody(marker)
	mark := c.rec.mark()
	res, err := c.Send(ctx, "sender@example.net", []string{"alice+bdat@example.org", "nobody@example.org", "bob@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if c.Extensions().Has("PIPELINING") {
		checkOneWrite(t, c, c.rec.since(mark), 3, " LAST\r\nFrom: sender@example.net\r\n", 1)
	}
	if !c.trace.has("C: BDAT") || c.trace.has("C: DATA") {
		t.Error("the message did not go with BDAT")
	}
	checkRefused(t, res)
	okResult(t, p, res)
	c.Quit(ctx)

	c = p.dial(t, ctx, session.Options{ChunkSize: 7})
	marker2 := newMarker(t)
	body2 := trickyBody(marker2)
	res, err = c.Send(ctx, "sender@example.net", []string{"alice+chunks@example.org"}, strings.NewReader(body2))
	if err != nil {
		t.Fatalf("Send in 7-octet chunks: %v", err)
	}
	okResult(t, p, res)
	if !c.trace.hasLine("C: BDAT 7") {
		t.Error("no 7-octet chunk in the trace")
	}
	c.Quit(ctx)
	for _, user := range []string{"alice", "bob"} {
		p.checkStored(t, p.waitDelivered(t, user, marker), body)
	}
	p.checkStored(t, p.waitDelivered(t, "alice", marker2), body2)
}

// DSN parameters (RFC 3461) are accepted and acted on: NOTIFY=SUCCESS for
// alice sends bob, the sender, a success notice with the ENVID. Where DSN
// is not offered, the client refuses the parameters before sending
// anything.
func testDSN(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	envid := fmt.Sprintf("smtpkit-dsn-%d-%s", time.Now().UnixNano(), p.name)
	env := &session.Envelope{
		From:       command.Mailbox{Local: "bob", Domain: "example.org"},
		To:         []command.Mailbox{{Local: "alice", Domain: "example.org"}},
		MailParams: command.MailParams{Ret: command.RetHeaders, EnvID: envid},
		RcptParams: []command.RcptParams{{
			Notify: command.NotifySuccess | command.NotifyFailure,
			ORCPT:  command.OriginalRecipient{Type: "rfc822", Address: "alice@example.org"},
		}},
	}
	body := "Subject: dsn " + envid + "\r\n\r\nnotify me\r\n"
	if !c.Extensions().Has("DSN") {
		_, err := c.SendEnvelope(ctx, env, strings.NewReader(body))
		var ns *session.NotSupportedError
		if !errors.As(err, &ns) || ns.Extension != "DSN" || c.trace.has("C: MAIL") {
			t.Fatalf("DSN parameters to a server without DSN: %v, want *NotSupportedError for DSN and nothing sent", err)
		}
		needIn(t, p, c.Extensions(), "DSN")
	}
	res, err := c.SendEnvelope(ctx, env, strings.NewReader(body))
	if err != nil {
		t.Fatalf("SendEnvelope with DSN parameters: %v", err)
	}
	if res.Mail.Code != 250 || !res.Recipients[0].Accepted {
		t.Fatalf("result %+v", res)
	}
	okResult(t, p, res)
	if !c.trace.has("C: MAIL FROM:<bob@example.org>") || !strings.Contains(c.trace.String(), " RET=HDRS ENVID="+envid+"\n") ||
		!strings.Contains(c.trace.String(), "C: RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice@example.org\n") {
		t.Errorf("MAIL without RET and ENVID, or RCPT without NOTIFY and ORCPT")
	}
	c.Quit(ctx)
	p.checkStored(t, p.waitDelivered(t, "alice", envid), body)
	notice := string(p.waitDelivered(t, "bob", "Original-Envelope-Id: "+envid).data)
	if !strings.Contains(notice, "Action: delivered") {
		t.Errorf("success notice without Action: delivered:\n%s", notice)
	}
}

// An internationalised sender and recipient (RFC 6531). Where SMTPUTF8 is
// not offered, the client refuses them before sending anything.
func testSMTPUTF8(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := "jöran@exämple.net", "alice+ünï@example.org"
	marker := newMarker(t)
	body := "From: " + from + "\r\nTo: " + to + "\r\nMessage-ID: " + marker + "\r\nSubject: café\r\n\r\nGrüße\r\n"
	if !c.Extensions().Has("SMTPUTF8") {
		_, err := c.Send(ctx, from, []string{to}, strings.NewReader(body))
		var ns *session.NotSupportedError
		if !errors.As(err, &ns) || ns.Extension != "SMTPUTF8" || c.trace.has("C: MAIL") {
			t.Fatalf("UTF-8 addresses to a server without SMTPUTF8: %v, want *NotSupportedError for SMTPUTF8 and nothing sent", err)
		}
		needIn(t, p, c.Extensions(), "SMTPUTF8")
	}
	res, err := c.Send(ctx, from, []string{to}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	okResult(t, p, res)
	if !c.trace.has("C: MAIL FROM:<"+from+">") || !strings.Contains(c.trace.String(), " SMTPUTF8") {
		t.Error("MAIL without the UTF-8 address or SMTPUTF8")
	}
	c.Quit(ctx)
	d := p.waitDelivered(t, "alice", marker)
	p.checkStored(t, d, body)
	if p.store == aiosmtpdStore {
		if d.env.MailFrom != from || !slices.Equal(d.env.RcptTos, []string{to}) || !d.env.SMTPUTF8 {
			t.Errorf("aiosmtpd's envelope: %+v, want from %s to %s with SMTPUTF8", d.env, from, to)
		}
	} else if !strings.Contains(string(d.data), "Return-Path: <"+from+">") {
		t.Errorf("the UTF-8 sender is not the Return-Path:\n%s", d.data)
	}
}

// An 8-bit body (UTF-8 and a Latin-1 octet) goes with BODY=8BITMIME and
// arrives unchanged.
func test8BitBody(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	c.need(t, "8BITMIME")
	marker := newMarker(t)
	body := "From: sender@example.net\r\nMessage-ID: " + marker + "\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln, ½ € ☃\r\nLatin-1: caf\xe9\r\n.dot and ünïcode\r\nno newline: ß"
	res, err := c.Send(ctx, "sender@example.net", []string{"alice+8bit@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	okResult(t, p, res)
	if !c.trace.has("C: MAIL FROM:<sender@example.net>") || !strings.Contains(c.trace.String(), " BODY=8BITMIME") {
		t.Error("MAIL without BODY=8BITMIME")
	}
	c.Quit(ctx)
	p.checkStored(t, p.waitDelivered(t, "alice", marker), body)
}

// sizedBody is a message of exactly n octets with CRLF line endings.
func sizedBody(n int) string {
	line := strings.Repeat("x", 998) + "\r\n"
	var b strings.Builder
	b.WriteString("Subject: too big\r\n\r\n")
	for b.Len()+len(line)+2 <= n {
		b.WriteString(line)
	}
	rest := n - b.Len()
	b.WriteString(strings.Repeat("y", rest-2) + "\r\n")
	return b.String()
}

// A message one octet over the SIZE limit (RFC 1870) is refused before
// anything is sent, and the session goes on.
func testOversizedBeforeBody(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	var written atomic.Int64
	c := p.dial(t, ctx, session.Options{Progress: func(n int64) { written.Store(n) }})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	c.need(t, "SIZE")
	limit, _ := c.Extensions().MaxSize()
	if limit <= 0 {
		t.Fatalf("SIZE without a limit: %v", c.Extensions().Keywords())
	}
	body := sizedBody(int(limit) + 1)
	_, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org"}, strings.NewReader(body))
	var tooBig *session.MessageTooLargeError
	if !errors.As(err, &tooBig) || tooBig.Limit != limit || tooBig.Size != limit+1 {
		t.Fatalf("err = %v, want *MessageTooLargeError %d > %d", err, limit+1, limit)
	}
	if written.Load() != 0 || c.trace.has("C: MAIL") || c.trace.has("C: BDAT") || c.trace.has("C: DATA") {
		t.Errorf("something was sent for the oversized message (%d octets)", written.Load())
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Errorf("session unusable after the refusal: %v", err)
	}
	c.Quit(ctx)
}

// VRFY where the peer lists it: a known user verifies, an unknown one
// gets 550.
func testVRFY(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	c.need(t, "VRFY")
	r, err := c.Vrfy(ctx, "alice@example.org")
	if err != nil || r.Code/100 != 2 {
		t.Errorf("VRFY alice = %v, %v", r, err)
	}
	r, err = c.Vrfy(ctx, "nobody@example.org")
	if err == nil || r.Code != 550 {
		t.Errorf("VRFY nobody = %v, %v; want 550", r, err)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("QUIT: %v", err)
	}
}

// 100 messages over one connection with SendStream (pipelined, with BDAT
// where offered), and one more in the middle whose only recipient is
// refused; all 100 are stored, each intact.
func testHundredMessages(t *testing.T, p *peer) {
	ctx := ctxFor(t)
	c := p.dial(t, ctx, session.Options{})
	const n, refusedAt = 101, 50
	stamp := time.Now().UnixNano()
	bodies := make([]string, n)
	var markers, sent []string
	msgs := iter.Seq[*session.Message](func(yield func(*session.Message) bool) {
		for i := range n {
			to := command.Mailbox{Local: "alice+stream", Domain: "example.org"}
			if i == refusedAt {
				to.Local = "nobody"
			}
			marker := fmt.Sprintf("<%d.%d.stream.%s@smtpkit.test>", stamp, i, p.name)
			bodies[i] = "From: sender@example.net\r\nMessage-ID: " + marker + fmt.Sprintf("\r\nSubject: stream %d\r\n\r\nmessage %d\r\n.dot\r\nend", i, i)
			if i != refusedAt {
				markers = append(markers, marker)
				sent = append(sent, bodies[i])
			}
			m := &session.Message{
				Envelope: session.Envelope{From: command.Mailbox{Local: "sender", Domain: "example.net"}, To: []command.Mailbox{to}},
				Body:     strings.NewReader(bodies[i]),
			}
			if !yield(m) {
				return
			}
		}
	})
	i := 0
	for res, err := range c.SendStream(ctx, msgs) {
		var rr *session.RecipientsRefusedError
		switch {
		case i == refusedAt:
			if !errors.As(err, &rr) {
				t.Errorf("message %d: %v, want *RecipientsRefusedError", i, err)
			}
		case err != nil:
			t.Errorf("message %d: %v", i, err)
		default:
			okResult(t, p, res)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d results for %d messages", i, n)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	for j, d := range p.waitAll(t, "alice", markers) {
		p.checkStored(t, d, sent[j])
	}
}

// ---- LMTP ----------------------------------------------------------------

// ltMaildirSizes are the S= and W= fields of a Dovecot maildir file name:
// the size as stored and the size with CRLF line endings ("virtual").
var ltMaildirSizes = regexp.MustCompile(`,S=(\d+),W=(\d+)`)

func ltOutcomesOf(rs []session.RecipientResult) []lmtp.Outcome {
	out := make([]lmtp.Outcome, len(rs))
	for i, r := range rs {
		out[i] = lmtp.OutcomeOf(r)
	}
	return out
}

// LMTP (RFC 2033): after the message one reply per accepted recipient, in
// RCPT order, each naming it; with pipelining and BDAT, pipelining and
// DATA, and neither. Over TCP, STARTTLS is taken in the default
// opportunistic mode; over the Unix socket it is not tried. The stored
// bytes are checked against what was sent, with Dovecot's own file
// details; and SendStream's results are per recipient too.
func testLMTPPerRecipient(t *testing.T, p *peer) {
	maildir := peerEnv(t, "SMTPKIT_DOVECOT_MAILDIR")
	for _, mode := range []struct {
		name string
		opts session.Options
		verb string // the trace line that shows how the message went
		not  string
	}{
		{"pipelining+chunking", session.Options{}, "C: BDAT", "C: DATA"},
		{"DisableChunking", session.Options{DisableChunking: true}, "C: DATA", "C: BDAT"},
		{"DisablePipelining", session.Options{DisablePipelining: true}, "C: DATA", "C: BDAT"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxFor(t)
			c := p.dial(t, ctx, mode.opts)
			marker := newMarker(t)
			body := "From: sender@example.net\r\nTo: alice@example.org, bob@example.org\r\nMessage-ID: " + marker +
				"\r\nSubject: lmtp interop\r\n\r\n" +
				"line one\r\n.starts with a dot\r\n..two dots\r\n.\r\nGrüße\r\nbare LF line\nlast line without newline"
			to := []string{"alice@example.org", "bob@example.org", "nobody@example.org"}
			res, err := c.Send(ctx, "sender@example.net", to, strings.NewReader(body))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if !c.trace.has("C: LHLO client.example.org") {
				t.Error("no LHLO in the trace")
			}
			if !c.trace.has(mode.verb) || c.trace.has(mode.not) {
				t.Errorf("trace does not show the message going with %q only", mode.verb)
			}
			_, onTLS := c.TLS()
			if want := !p.unix(); onTLS != want {
				t.Errorf("TLS = %v, want %v (STARTTLS offered over TCP; never tried over the socket)", onTLS, want)
			}
			if got := c.trace.has("C: STARTTLS"); got != !p.unix() {
				t.Errorf("STARTTLS in trace = %v", got)
			}

			want := []lmtp.Outcome{lmtp.Delivered, lmtp.Delivered, lmtp.Refused}
			if got := ltOutcomesOf(res.Recipients); !slices.Equal(got, want) {
				t.Errorf("outcomes %v, want %v\n%+v", got, want, res.Recipients)
			}
			for _, r := range res.Recipients[:2] {
				if r.Data.Code != 250 || r.Data.Enhanced.String() != "2.0.0" || !strings.Contains(r.Data.Text, "<"+r.Address+">") {
					t.Errorf("%s: Data %v, want 250 2.0.0 naming it", r.Address, r.Data)
				}
			}
			nobody := res.Recipients[2]
			if nobody.Accepted || nobody.Reply.Code != 550 || nobody.Reply.Enhanced.String() != "5.1.1" || nobody.Data.Code != 0 {
				t.Errorf("nobody: %+v, want refused at RCPT with 550 5.1.1 and no Data", nobody)
			}
			if res.Data != res.Recipients[1].Data {
				t.Errorf("Result.Data = %v, want the last per-recipient reply %v", res.Data, res.Recipients[1].Data)
			}
			if _, err := c.Quit(ctx); err != nil {
				t.Errorf("Quit: %v", err)
			}

			// Dovecot stores the message as it went on the wire with the
			// dot-stuffing undone and each CRLF turned into LF (its
			// default mail_save_crlf = no), below Return-Path and
			// Received; checked against the file name's S= and W=.
			var paths []string
			for _, user := range []string{"alice", "bob"} {
				d := p.waitDelivered(t, user, marker)
				paths = append(paths, d.path)
				p.checkStored(t, d, body)
				got := string(d.data)
				added := strings.TrimSuffix(got, strings.ReplaceAll(wireForm(body), "\r\n", "\n"))
				if !strings.HasPrefix(added, "Return-Path: <sender@example.net>\n") {
					t.Errorf("%s's file does not start with Return-Path:\n%s", user, added)
				}
				if !strings.Contains(added, "\nReceived: from client.example.org") {
					t.Errorf("%s's file has no Received header for the LHLO name:\n%s", user, added)
				}
				p.checkTLSRecorded(t, d, !p.unix())
				if strings.Contains(added, "Delivered-To:") {
					t.Errorf("%s's file has a Delivered-To header though the message had two recipients:\n%s", user, added)
				}
				m := ltMaildirSizes.FindStringSubmatch(filepath.Base(d.path))
				if m == nil {
					t.Errorf("file name %s has no S= and W=", filepath.Base(d.path))
					continue
				}
				s, _ := strconv.Atoi(m[1])
				w, _ := strconv.Atoi(m[2])
				lines := strings.Count(got, "\n")
				if s != len(got) || w != len(got)+lines {
					t.Errorf("%s: S=%d W=%d for a file of %d octets and %d LFs: not stored with LF endings as assumed", filepath.Base(d.path), s, w, len(got), lines)
				}
			}
			if a, errA := os.Stat(paths[0]); errA == nil {
				if b, errB := os.Stat(paths[1]); errB == nil && !os.SameFile(a, b) {
					t.Logf("note: alice's and bob's copies are not one hard-linked file in %s", maildir)
				}
			}
		})
	}

	t.Run("stream", func(t *testing.T) {
		ctx := ctxFor(t)
		c := p.dial(t, ctx, session.Options{})
		base := time.Now().UnixNano()
		var markers []string
		var msgs []*session.Message
		for i, to := range [][]string{
			{"alice@example.org", "nobody@example.org"},
			{"nobody@example.org"},
			{"bob@example.org", "alice@example.org"},
		} {
			marker := fmt.Sprintf("<%d.%d.lmtp-stream.%s@smtpkit.test>", base, i, p.name)
			markers = append(markers, marker)
			env := session.Envelope{From: command.Mailbox{Local: "sender", Domain: "example.net"}}
			for _, a := range to {
				m, err := command.ParseMailbox(a)
				if err != nil {
					t.Fatal(err)
				}
				env.To = append(env.To, m)
			}
			msgs = append(msgs, &session.Message{Envelope: env, Body: strings.NewReader("Message-ID: " + marker + "\r\nSubject: stream\r\n\r\nbody\r\n")})
		}
		var results []*session.Result
		var errs []error
		for res, err := range c.SendStream(ctx, slices.Values(msgs)) {
			results = append(results, res)
			errs = append(errs, err)
		}
		if len(results) != 3 {
			t.Fatalf("%d results: %v", len(results), errs)
		}
		if errs[0] != nil || !slices.Equal(ltOutcomesOf(results[0].Recipients), []lmtp.Outcome{lmtp.Delivered, lmtp.Refused}) {
			t.Errorf("message 1: %+v, %v", results[0], errs[0])
		}
		var rr *session.RecipientsRefusedError
		if !errors.As(errs[1], &rr) {
			t.Errorf("message 2: %v, want *RecipientsRefusedError", errs[1])
		}
		if errs[2] != nil || !slices.Equal(ltOutcomesOf(results[2].Recipients), []lmtp.Outcome{lmtp.Delivered, lmtp.Delivered}) {
			t.Errorf("message 3: %+v, %v", results[2], errs[2])
		} else if d := results[2].Recipients; !strings.Contains(d[0].Data.Text, "<bob@example.org>") || !strings.Contains(d[1].Data.Text, "<alice@example.org>") {
			t.Errorf("message 3 replies not in RCPT order: %v / %v", d[0].Data, d[1].Data)
		}
		c.Quit(ctx)
		p.waitDelivered(t, "alice", markers[0])
		p.waitDelivered(t, "alice", markers[2])
		p.waitDelivered(t, "bob", markers[2])
	})
}
