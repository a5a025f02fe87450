package session

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/transport"
)

// Hello greets the server if that has not been done yet: EHLO, or HELO
// when EHLO is answered 500 or 502 (smtplib's ehlo_or_helo_if_needed).
// Then it applies the TLS mode: with [TLSOpportunistic] it upgrades when
// STARTTLS is offered, with [TLSRequired] it upgrades or fails closed.
// Every call that sends an envelope calls Hello first, so the TLS mode
// cannot be bypassed.
func (c *Client) Hello(ctx context.Context) error {
	if err := c.usable(); err != nil {
		return err
	}
	if c.state == StateGreeted {
		if _, err := c.ehloOrHelo(ctx); err != nil {
			return err
		}
	}
	if c.tlsPolicy {
		return nil
	}
	switch c.opts.TLS {
	case TLSOpportunistic:
		if !c.isTLS && !c.unix && c.ext.Has("STARTTLS") {
			if err := c.StartTLS(ctx, nil); err != nil {
				var re *response.Error
				if c.usable() == nil && errors.As(err, &re) && re.Code() == response.CodeTempAuthFailure {
					// The server offered STARTTLS and then said it cannot
					// (454, RFC 3207 §4): opportunistic means going on in
					// plaintext, as when it is not offered at all.
					break
				}
				return err
			}
		}
	case TLSRequired:
		if !c.isTLS {
			if !c.ext.Has("STARTTLS") {
				return c.abort(&NotSupportedError{Extension: "STARTTLS", Reason: "by TLSRequired"})
			}
			if err := c.StartTLS(ctx, nil); err != nil {
				return c.abort(err)
			}
		}
	}
	c.tlsPolicy = true
	return nil
}

// ensureHello is Hello when the greeting or the TLS mode is still to
// do, and otherwise only the check that the connection is usable.
func (c *Client) ensureHello(ctx context.Context) error {
	if c.state == StateGreeted || !c.tlsPolicy {
		return c.Hello(ctx)
	}
	return c.usable()
}

func (c *Client) ehloOrHelo(ctx context.Context) (response.Reply, error) {
	reply, err := c.Ehlo(ctx)
	if err == nil || c.opts.LMTP {
		return reply, err // LMTP has no HELO to fall back to
	}
	if he, ok := err.(*HelloError); ok && (he.Reply.Code == response.CodeSyntaxError || he.Reply.Code == response.CodeNotImplemented) && c.usable() == nil {
		return c.Helo(ctx)
	}
	return reply, err
}

// Ehlo sends EHLO (LHLO in LMTP) with the local name and, on 250,
// records the extension table. It may be sent again at any time outside
// DATA; it ends any open transaction (RFC 5321 §4.1.4). A refusal is a
// *HelloError.
func (c *Client) Ehlo(ctx context.Context) (response.Reply, error) {
	return c.EhloAs(ctx, "")
}

// EhloAs is [Client.Ehlo] with name in place of Options.LocalName for this
// one command, as smtplib's ehlo(name): to see what a server makes of a
// name, say. name is a domain or an address literal ("[192.0.2.1]"); one
// that cannot be sent is refused with a *command.Error before anything is
// written. "" means the local name. Greetings the Client sends on its own
// later (again after STARTTLS) use the local name.
func (c *Client) EhloAs(ctx context.Context, name string) (response.Reply, error) {
	if c.opts.LMTP {
		return c.greet(ctx, "LHLO", name)
	}
	return c.greet(ctx, "EHLO", name)
}

// Helo sends HELO with the local name: the server is then treated as
// plain SMTP, with no extensions. A refusal is a *HelloError. LMTP has
// no HELO: there it is a *StateError and nothing is sent.
func (c *Client) Helo(ctx context.Context) (response.Reply, error) {
	return c.HeloAs(ctx, "")
}

// HeloAs is [Client.Helo] with name in place of Options.LocalName for this
// one command, as smtplib's helo(name); see [Client.EhloAs].
func (c *Client) HeloAs(ctx context.Context, name string) (response.Reply, error) {
	if c.opts.LMTP {
		return response.Reply{}, &StateError{Op: "HELO", State: StateLMTP}
	}
	return c.greet(ctx, "HELO", name)
}

// HelloReply returns the server's reply to the EHLO, HELO or LHLO that
// is in force: the last one accepted, whether the caller sent it or the
// Client did on its own (the implicit Hello of Send, Login and the rest,
// and the EHLO again after STARTTLS). It is the zero Reply before any
// was accepted. Its first line is the server's name and greeting; after
// EHLO the extension lines follow, as [Client.Extensions] has them parsed.
func (c *Client) HelloReply() response.Reply { return c.hello }

func (c *Client) greet(ctx context.Context, verb, name string) (response.Reply, error) {
	if err := c.usable(); err != nil {
		return response.Reply{}, err
	}
	if c.state == StateData {
		return response.Reply{}, &StateError{Op: verb, State: c.state}
	}
	var cmd command.Command
	if name == "" {
		name = c.localName()
	}
	switch verb {
	case "EHLO":
		cmd = command.Ehlo{Domain: name}
	case "LHLO":
		cmd = command.Lhlo{Domain: name}
	default:
		cmd = command.Helo{Domain: name}
	}
	reply, err := c.roundTrip(ctx, verb, cmd)
	if err != nil {
		return reply, err
	}
	if reply.Code != response.CodeOK {
		return reply, &HelloError{Command: verb, Reply: reply}
	}
	c.hello = reply
	c.esmtp = verb != "HELO"
	if c.esmtp {
		c.ext = parseExtensions(reply)
	} else {
		c.ext = Extensions{}
	}
	c.state = StateReady
	c.cur, c.needRset = nil, false // EHLO ends any transaction (RFC 5321 §4.1.4)
	return reply, nil
}

// StartTLS upgrades the connection (RFC 3207): STARTTLS, then the TLS
// handshake with config (nil means Options.TLSConfig; ServerName is filled
// in when empty; certificates are verified unless config says otherwise),
// then EHLO again, since the extension table from before TLS must be
// discarded (RFC 3207 §4.2). Bytes that arrive with the 220 reply are
// refused with [ErrDataAfterStartTLS]. A failed handshake closes the
// connection: there is no plaintext fallback.
func (c *Client) StartTLS(ctx context.Context, config *tls.Config) error {
	if err := c.usable(); err != nil {
		return err
	}
	if c.isTLS {
		return &StateError{Op: "STARTTLS", State: StateTLS}
	}
	if c.state == StateGreeted {
		if _, err := c.ehloOrHelo(ctx); err != nil {
			return err
		}
	}
	if c.state != StateReady {
		return &StateError{Op: "STARTTLS", State: c.state}
	}
	if !c.ext.Has("STARTTLS") {
		return &NotSupportedError{Extension: "STARTTLS", Reason: "for StartTLS"}
	}
	cmd := command.StartTLS{}
	reply, err := c.roundTrip(ctx, "STARTTLS", cmd)
	if err != nil {
		return err
	}
	if reply.Code != response.CodeServiceReady {
		if err := c.refused(cmd, reply); err != nil {
			return err
		}
		return c.unexpected("STARTTLS", reply)
	}
	if c.r.Buffered() > 0 {
		return c.abort(ErrDataAfterStartTLS)
	}
	if config == nil {
		config = c.opts.TLSConfig
	}
	config = transport.ClientTLSConfig(config, c.serverName)
	// transport.StartTLS sets the handshake's deadline from its context,
	// so the phase timeout goes in there.
	hctx, cancel := ctx, context.CancelFunc(func() {})
	var phaseEnd time.Time
	if d := c.timeouts.Command; d > 0 {
		phaseEnd = time.Now().Add(d)
		hctx, cancel = context.WithDeadline(ctx, phaseEnd)
	}
	tc, err := transport.StartTLS(hctx, c.conn, config)
	// The connection's deadline can fire before the context's timer: ask
	// the clock, not hctx.Err.
	phaseTimedOut := ctx.Err() == nil && !phaseEnd.IsZero() && !time.Now().Before(phaseEnd)
	cancel()
	if err != nil {
		if phaseTimedOut {
			err = &TimeoutError{Phase: "TLS handshake", After: c.timeouts.Command, Err: err}
		}
		adviseTLS(err, true)
		return c.abort(err)
	}
	c.conn = tc
	c.r = c.newReader(tc)
	c.w.Reset(connWriter{c})
	c.isTLS = true
	c.authed = false // RFC 3207 §4.2: the session starts over
	c.ext = Extensions{}
	c.esmtp = false
	c.state = StateGreeted
	_, err = c.ehloOrHelo(ctx)
	return err
}

// adviseTLS gives a *transport.TLSError in err, when the certificate did
// not verify, advice in the terms of this package's Options: where the CA
// goes, and, after STARTTLS, how TLS is turned off (a server with
// implicit TLS speaks nothing else).
func adviseTLS(err error, starttls bool) {
	var te *transport.TLSError
	if !errors.As(err, &te) || !te.VerificationFailed() || te.Hint != "" {
		return
	}
	const ca = "pass the CA that issued it in Options.TLSConfig.RootCAs (transport.LoadCertPool reads one from a PEM file)"
	var he x509.HostnameError
	if errors.As(te.Err, &he) {
		te.Hint = "the certificate does not name this host: connect by a name it lists, or set Options.TLSConfig.ServerName to one; to trust another certificate, " + ca
	} else {
		te.Hint = "the server's certificate did not verify: " + ca
	}
	if starttls {
		te.Hint += "; or, only where the path to the server is trusted (a Unix socket, loopback), set Options.TLS to TLSOff"
	}
}
