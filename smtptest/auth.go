package smtptest

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

func (c *conn) auth(cmd command.Auth) action {
	s, st := c.s, &c.st
	mechs, offered := s.extArg("AUTH")
	switch {
	case !offered:
		return action{reply: c.reply(response.CodeNotImplemented, "5.5.1", "Command not implemented")}
	case s.cfg.RequireTLS && !st.tls:
		return action{reply: c.reply(response.CodeAuthRequired, "5.7.0", "Must issue a STARTTLS command first")}
	case !st.greeted:
		return action{reply: c.helloFirst()}
	case st.authed:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Already authenticated")}
	case st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "AUTH not permitted during a mail transaction")}
	}
	var sasl auth.Server
	for _, m := range strings.Fields(mechs) {
		if strings.EqualFold(m, cmd.Mechanism) {
			sasl = c.newSASL(m)
		}
	}
	if sasl == nil {
		return action{reply: c.reply(response.CodeParamNotImplemented, "5.5.4", "Unrecognized authentication type")}
	}
	chal, done, err := sasl.Next(cmd.InitialResponse)
	if done {
		return c.authResult(sasl, chal, err)
	}
	return action{
		reply: response.New(response.CodeAuthContinue, base64.StdEncoding.EncodeToString(chal)),
		then:  func(response.Reply) error { return c.saslExchange(sasl) },
		force: func() { st.authed = true },
	}
}

// newSASL returns the server side of mech, checking Config.Users, or nil
// when auth has none.
func (c *conn) newSASL(mech string) auth.Server {
	users := c.s.cfg.Users
	cfg := auth.ServerConfig{
		Password: func(u string) (string, bool) {
			p, ok := users[u]
			return p, ok
		},
		Hostname: c.s.hostname,
	}
	// The binding goes to the SCRAM server only when this server offers
	// channel binding (a -PLUS mechanism): with it, a client's "y" flag
	// reads as a downgrade attack.
	mechs, _ := c.s.extArg("AUTH")
	offersPlus := strings.Contains(strings.ToUpper(mechs), "-PLUS")
	if tc, ok := c.io.c.(*tls.Conn); ok && offersPlus {
		cs := tc.ConnectionState()
		if cb, err := auth.ChannelBindingFor(&cs); err == nil {
			cfg.ChannelBinding = cb
		}
	}
	srv, err := auth.NewServer(mech, cfg)
	if err != nil {
		return nil
	}
	return srv
}

// authResult answers the end of an exchange: 235 or 535, after a last
// challenge when the mechanism has one for success (SCRAM's server
// signature, which the client answers with an empty line).
func (c *conn) authResult(sasl auth.Server, final []byte, err error) action {
	st := &c.st
	switch {
	case err != nil && errors.Is(err, auth.ErrInvalidCredentials):
		return action{reply: c.reply(response.CodeAuthInvalid, "5.7.8", "Authentication credentials invalid")}
	case err != nil:
		return action{reply: c.reply(response.CodeParamSyntaxError, "5.5.2", "Malformed authentication exchange")}
	case final != nil:
		return action{
			reply: response.New(response.CodeAuthContinue, base64.StdEncoding.EncodeToString(final)),
			then: func(response.Reply) error {
				line, tooLong, err := c.readLine(c.s.cfg.MaxAuthLineLength)
				if err != nil {
					return err
				}
				c.recordAuthLine(line)
				resp, perr := parseAuthAnswer(line)
				switch {
				case tooLong || perr != nil || len(resp) != 0:
					c.queue(c.reply(response.CodeParamSyntaxError, "5.5.2", "Expected an empty answer to the server's final message"))
					return nil
				}
				act := c.authResult(sasl, nil, nil)
				c.queue(act.reply)
				return act.then(act.reply)
			},
		}
	}
	return action{reply: c.reply(response.CodeAuthSucceeded, "2.7.0", "Authentication successful"), then: func(response.Reply) error {
		st.authed, st.authUser = true, sasl.Identity()
		return nil
	}}
}

// parseAuthAnswer is command.ParseAuthResponse without its leniency: "="
// is the empty string only in AUTH's initial response, and Dovecot, for
// one, refuses it as an answer to a challenge, so this server does too.
func parseAuthAnswer(line []byte) ([]byte, error) {
	if string(trimEOL(line)) == "=" {
		return nil, errors.New("smtptest: \"=\" is not base64 in a continued response")
	}
	return command.ParseAuthResponse(line)
}

func (c *conn) recordAuthLine(line []byte) {
	text := string(trimEOL(line))
	c.s.record(text)
	c.s.logf(c.id, "C: %s", text)
}

// saslExchange reads the client's answers to 334 challenges and replies
// until the mechanism is done (RFC 4954 §4).
func (c *conn) saslExchange(sasl auth.Server) error {
	for {
		line, tooLong, err := c.readLine(c.s.cfg.MaxAuthLineLength)
		if err != nil {
			return err
		}
		if tooLong {
			c.queue(c.reply(response.CodeSyntaxError, "5.5.6", "Authentication exchange line is too long"))
			return nil
		}
		c.recordAuthLine(line)
		resp, err := parseAuthAnswer(line)
		if errors.Is(err, command.ErrAuthCanceled) {
			c.queue(c.reply(response.CodeParamSyntaxError, "5.0.0", "Authentication canceled"))
			return nil
		}
		if err != nil {
			c.queue(c.reply(response.CodeParamSyntaxError, "5.5.2", "Cannot decode response"))
			return nil
		}
		chal, done, err := sasl.Next(resp)
		if !done {
			c.queue(response.New(response.CodeAuthContinue, base64.StdEncoding.EncodeToString(chal)))
			continue
		}
		act := c.authResult(sasl, chal, err)
		c.queue(act.reply)
		if act.then != nil {
			return act.then(act.reply)
		}
		return nil
	}
}
