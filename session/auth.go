package session

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

// Login authenticates with a user name and password, as smtplib's login
// does: EHLO (and the TLS mode) first if needed, then the strongest
// mechanism both sides support, in the order SCRAM-SHA-256-PLUS,
// SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN
// (-PLUS only over TLS with channel-binding data). Every one of them
// carries something an eavesdropper can use (the password, or for
// CRAM-MD5 and SCRAM a response to test password guesses against), so over
// an unencrypted connection Login refuses, with an *AuthError matching
// ErrInsecureAuth and nothing sent, unless the peer is known to be on this
// machine or Options.AllowInsecureAuth is set (whose documentation says
// which peers count).
//
// A mechanism the server answers with 504 (not implemented, despite being
// listed) is skipped for the next one; any other failure ends the login,
// since trying a weaker mechanism with the same password would only help
// an attacker. Errors are *AuthError (a 535 for a wrong password carries
// the reply), *NotSupportedError when the server offers no AUTH, or no
// mechanism implemented here (its Offered then lists what the server
// offers: use Auth with an auth.Mechanism for one of those), and the
// connection errors of any call.
func (c *Client) Login(ctx context.Context, username, password string) error {
	if err := c.authReady(ctx); err != nil {
		return err
	}
	offered := c.ext.AuthMechanisms()
	cb, cbErr := c.channelBinding()
	var candidates []string
	insecure, unbound := "", false
	for _, name := range auth.PasswordMechanisms() {
		if !slices.Contains(offered, name) {
			continue
		}
		if strings.HasSuffix(name, "-PLUS") && cbErr != nil {
			unbound = true
			continue
		}
		// Every mechanism Login knows carries the password
		// (auth.NeedsConfidentiality).
		if !c.credentialsMayGo() {
			if insecure == "" {
				insecure = name
			}
			continue
		}
		candidates = append(candidates, name)
	}
	if len(candidates) == 0 {
		if insecure != "" {
			return &AuthError{Mechanism: insecure, Err: ErrInsecureAuth}
		}
		if len(offered) == 0 {
			return &NotSupportedError{Extension: "AUTH", Reason: "with a mechanism (the server's AUTH line lists none)"}
		}
		why := "by Login, which knows " + strings.Join(auth.PasswordMechanisms(), " ")
		if unbound {
			why += " (the -PLUS ones only over TLS)"
		}
		return &NotSupportedError{Extension: "AUTH", Reason: why + "; for another, use Auth with an auth.Mechanism",
			Offered: slices.Clone(offered)}
	}
	var err error
	for _, name := range candidates {
		m, _ := auth.ByName(name, auth.Credentials{Username: username, Secret: password}) // a name of PasswordMechanisms
		err = c.authenticate(ctx, m, offered, cb, cbErr)
		var ae *AuthError
		if !errors.As(err, &ae) || ae.Reply.Code != response.CodeParamNotImplemented || c.usable() != nil {
			return err
		}
	}
	return err
}

// Auth authenticates with mechanism m (RFC 4954): EHLO (and the TLS mode)
// first if needed, then AUTH with m's initial response, then m's answers to
// each 334 challenge until the server's final reply. The server must list
// the mechanism in its AUTH extension. A mechanism that carries a
// credential (auth.NeedsConfidentiality: PLAIN, LOGIN, CRAM-MD5, SCRAM,
// XOAUTH2, OAUTHBEARER, and any mechanism that does not say otherwise) is
// refused with an *AuthError matching ErrInsecureAuth, before anything is
// sent, over an unencrypted connection to a peer not known to be local,
// unless Options.AllowInsecureAuth is set. When m fails in the middle of
// the exchange the client cancels it with "*".
//
// A nil error means 235. Errors are *AuthError, carrying the server's
// reply when there was one and m's reason when m gave one (matches
// auth.ErrServerSignature, *auth.OAuthError, ... with errors.Is/As);
// *NotSupportedError; *StateError inside a transaction or after a
// successful AUTH; and the connection errors of any call.
func (c *Client) Auth(ctx context.Context, m auth.Mechanism) error {
	if err := c.authReady(ctx); err != nil {
		return err
	}
	cb, cbErr := c.channelBinding()
	return c.authenticate(ctx, m, c.ext.AuthMechanisms(), cb, cbErr)
}

// authReady greets if needed and checks AUTH may be sent now.
func (c *Client) authReady(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	if err := c.ensureHello(ctx); err != nil {
		return err
	}
	switch {
	case c.authed:
		return &StateError{Op: "AUTH", State: StateAuthenticated}
	case c.state != StateReady:
		return &StateError{Op: "AUTH", State: c.state}
	case !c.ext.Has("AUTH"):
		return &NotSupportedError{Extension: "AUTH", Reason: "to authenticate"}
	}
	return nil
}

func (c *Client) channelBinding() (auth.ChannelBinding, error) {
	cs, ok := c.TLS()
	if !ok {
		return auth.ChannelBinding{}, auth.ErrNoChannelBinding
	}
	return auth.ChannelBindingFor(&cs)
}

// credentialsMayGo reports whether a mechanism that needs confidentiality
// may run: over TLS, to a peer known to be on this machine, or when the
// caller said so.
func (c *Client) credentialsMayGo() bool {
	return c.isTLS || c.loopback || c.opts.AllowInsecureAuth
}

// isLoopback reports whether a connection's remote address is loopback
// (or a Unix socket). Only Dial asks, about a connection it made itself
// without a proxy: a connection handed to NewClient may say anything.
func isLoopback(a net.Addr) bool {
	if a == nil {
		return false
	}
	if a.Network() == "unix" {
		return true
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

func (c *Client) authenticate(ctx context.Context, m auth.Mechanism, offered []string, cb auth.ChannelBinding, cbErr error) error {
	// The binding must reach the mechanism before Start, so the -PLUS
	// question is asked of each name the server offers.
	if b, ok := m.(auth.ChannelBinder); ok && cbErr == nil {
		b.SetChannelBinding(cb, slices.ContainsFunc(offered, func(s string) bool { return strings.HasSuffix(s, "-PLUS") }))
	}
	name, ir, err := m.Start()
	if err != nil {
		return &AuthError{Mechanism: name, Err: err}
	}
	name = strings.ToUpper(name)
	if !slices.Contains(offered, name) {
		return &NotSupportedError{Extension: "AUTH " + name, Reason: "by Auth (server offers " + strings.Join(offered, " ") + ")"}
	}
	if auth.NeedsConfidentiality(m) && !c.credentialsMayGo() {
		return &AuthError{Mechanism: name, Err: ErrInsecureAuth}
	}

	cmd := command.Auth{Mechanism: name}
	if _, err := cmd.Append(nil); err != nil {
		return &AuthError{Mechanism: name, Err: err} // a name no AUTH line can carry
	}
	cmd.InitialResponse = ir
	var pending []byte // an initial response too long for the AUTH line
	if _, err := cmd.Append(nil); errors.Is(err, command.ErrTooLong) {
		pending, cmd.InitialResponse = ir, nil
	}
	c.tr.secret = true
	defer func() { c.tr.secret = false }()
	reply, err := c.roundTrip(ctx, "AUTH", cmd)
	if err != nil {
		return err
	}
	var mechErr error // a reason m gave along with a response to send
	for step := 0; ; step++ {
		switch {
		case reply.Positive():
			// 235 is the RFC 4954 code; some servers (Postfix's
			// smtp-sink) say 250, and any 2yz means the same.
			if v, ok := m.(auth.ServerVerifier); ok && !v.ServerVerified() {
				// The server said yes without proving it knows the
				// password: it may not be the server the password is for.
				// Nothing more can be sent safely on this session.
				return c.abort(&AuthError{Mechanism: name, Reply: reply, Err: auth.ErrServerSignature})
			}
			c.authed = true
			return nil
		case reply.Code != response.CodeAuthContinue:
			if reply.Intermediate() {
				return c.unexpected("AUTH", reply)
			}
			return &AuthError{Mechanism: name, Reply: reply, Err: mechErr}
		case step >= c.authChallenges():
			return c.cancelAuth(ctx, name, errors.New("session: too many AUTH challenges"))
		}
		challenge, err := decodeChallenge(reply, c.authChallengeLength())
		if err != nil {
			return c.cancelAuth(ctx, name, err)
		}
		var resp []byte
		switch {
		case pending != nil:
			if len(challenge) != 0 {
				return c.cancelAuth(ctx, name, &auth.ProtocolError{Mechanism: name, Reason: "server sent a challenge where the initial response was due"})
			}
			resp, pending = pending, nil
		default:
			resp, err = m.Next(challenge)
			if err != nil && resp == nil {
				return c.cancelAuth(ctx, name, err)
			}
			mechErr = err
		}
		line, err := command.AppendAuthResponse(c.line[:0], resp)
		if err != nil {
			return c.cancelAuth(ctx, name, err)
		}
		c.line = line
		reply, err = c.send(ctx, "AUTH", line, "[redacted]")
		if err != nil {
			return err
		}
	}
}

// decodeChallenge returns the bytes of a 334 challenge: the base64 text of
// its (single) line, bounded by Limits.AuthChallengeLength.
func decodeChallenge(reply response.Reply, limit int) ([]byte, error) {
	if reply.LineCount() != 1 {
		return nil, &auth.ProtocolError{Mechanism: "AUTH", Reason: "multiline 334 challenge"}
	}
	text := strings.TrimSpace(reply.Text)
	if base64.StdEncoding.DecodedLen(len(text)) > limit+2 {
		return nil, auth.ErrChallengeTooLong
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, &auth.ProtocolError{Mechanism: "AUTH", Reason: "challenge is not base64", Err: err}
	}
	if len(b) > limit {
		return nil, auth.ErrChallengeTooLong
	}
	return b, nil
}

// cancelAuth answers the pending challenge with "*" (RFC 4954 §4) and
// reads the server's reply, normally 501.
func (c *Client) cancelAuth(ctx context.Context, name string, why error) error {
	reply, err := c.send(ctx, "AUTH", command.AppendAuthCancel(c.line[:0]), "*")
	if err != nil {
		return err
	}
	if reply.Code == response.CodeAuthSucceeded || reply.Intermediate() {
		// Success or another challenge after a cancel: the two sides no
		// longer agree on the state of the session.
		return c.unexpected("AUTH *", reply)
	}
	return &AuthError{Mechanism: name, Reply: reply, Err: why}
}

// send writes one raw line (CRLF included) traced as shown and reads the
// reply under the command timeout.
func (c *Client) send(ctx context.Context, op string, line []byte, shown string) (response.Reply, error) {
	if err := c.usable(); err != nil {
		return response.Reply{}, err
	}
	if err := ctx.Err(); err != nil {
		// The server waits for an answer to its challenge: the session
		// cannot go on without one.
		return response.Reply{}, c.abort(err)
	}
	if c.tr.on() {
		c.tr.line("C", shown)
	}
	return c.exchange(ctx, entryCommand, op, line)
}

// isLoopbackHost reports whether a host as the caller wrote it names the
// local machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// authChallenges is Limits.AuthChallenges, or its default.
func (c *Client) authChallenges() int {
	if n := c.opts.Limits.AuthChallenges; n > 0 {
		return n
	}
	return defaultAuthChallenges
}

// authChallengeLength is Limits.AuthChallengeLength, or its default.
func (c *Client) authChallengeLength() int {
	if n := c.opts.Limits.AuthChallengeLength; n > 0 {
		return n
	}
	return auth.MaxChallengeLength
}
