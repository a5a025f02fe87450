package smtptest

import (
	"errors"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
)

func verbOf(cmd command.Command, err error, line string) string {
	if cmd != nil {
		return strings.ToUpper(cmd.Verb())
	}
	var ce *command.Error
	if errors.As(err, &ce) && ce.Verb != "" {
		return ce.Verb
	}
	verb, _, _ := strings.Cut(line, " ")
	return strings.ToUpper(verb)
}

func (c *conn) syntaxError(err error) response.Reply {
	var ce *command.Error
	if !errors.As(err, &ce) {
		return c.reply(response.CodeParamSyntaxError, "5.5.4", "Syntax error")
	}
	msg := strings.TrimPrefix(ce.Error(), "command: ")
	switch {
	case ce.Arg == "verb":
		return c.reply(response.CodeSyntaxError, "5.5.2", "Syntax error, command unrecognized")
	case ce.Verb == "":
		return c.reply(response.CodeSyntaxError, "5.5.2", "Syntax error: "+msg)
	case errors.Is(err, command.ErrNeedsSMTPUTF8) && (ce.Verb == "MAIL" || ce.Verb == "RCPT"):
		return c.reply(response.CodeMailboxNameNotAllowed, "5.6.7", "Non-ASCII address requires SMTPUTF8")
	}
	return c.reply(response.CodeParamSyntaxError, "5.5.4", "Syntax error: "+msg)
}

func (c *conn) helloFirst() response.Reply {
	if c.s.cfg.LMTP {
		return c.reply(response.CodeBadSequence, "5.5.1", "Send LHLO first")
	}
	return c.reply(response.CodeBadSequence, "5.5.1", "Send EHLO or HELO first")
}

// dispatch works out the default reply to a command line.
func (c *conn) dispatch(cmd command.Command, perr error, line string) (action, error) {
	s, st := c.s, &c.st
	if b, ok := cmd.(command.Bdat); ok {
		return c.bdat(b)
	}
	if n, ok := badBdat(perr, line); ok {
		// A BDAT line that does not parse fails the transaction, as in
		// Dovecot. When its size parsed, its octets follow whatever the
		// reply (RFC 3030 §2): they are skipped, not read as commands.
		if n > 0 {
			if err := c.discard(n); err != nil {
				return action{}, err
			}
		}
		act := action{reply: c.syntaxError(perr), refused: c.failChunks}
		if c.refusing {
			act.reply = c.reply(response.CodeBadSequence, "5.5.1", "No SMTP service here")
		}
		return act, nil
	}
	if c.refusing {
		if _, ok := cmd.(command.Quit); !ok {
			return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "No SMTP service here")}, nil
		}
	}
	if perr != nil {
		return action{reply: c.syntaxError(perr)}, nil
	}
	notImplemented := action{reply: c.reply(response.CodeNotImplemented, "5.5.1", "Command not implemented")}
	unrecognized := action{reply: c.reply(response.CodeSyntaxError, "5.5.1", "Command unrecognized")}
	switch cmd := cmd.(type) {
	case command.Ehlo:
		if s.cfg.LMTP {
			return unrecognized, nil
		}
		if s.cfg.DisableEHLO {
			return notImplemented, nil
		}
		return c.hello(cmd.Domain, true), nil
	case command.Helo:
		if s.cfg.LMTP {
			return unrecognized, nil
		}
		return c.hello(cmd.Domain, false), nil
	case command.Lhlo:
		if !s.cfg.LMTP {
			return unrecognized, nil
		}
		return c.hello(cmd.Domain, true), nil
	case command.Mail:
		return c.mail(cmd, line), nil
	case command.Rcpt:
		return c.rcpt(cmd, line), nil
	case command.Data:
		return c.data(), nil
	case command.Rset:
		return action{reply: c.reply(response.CodeOK, "2.0.0", "OK"), then: func(response.Reply) error {
			st.resetTx()
			return nil
		}}, nil
	case command.Noop:
		return action{reply: c.reply(response.CodeOK, "2.0.0", "OK")}, nil
	case command.Vrfy:
		return action{reply: c.reply(response.CodeCannotVerify, "2.1.5", "Cannot VRFY user, but will accept message and attempt delivery")}, nil
	case command.Expn:
		return action{reply: c.reply(response.CodeNotImplemented, "5.5.1", "EXPN not supported")}, nil
	case command.Help:
		return action{reply: c.reply(response.CodeHelp, "2.0.0", "smtptest: see RFC 5321")}, nil
	case command.Quit:
		return action{reply: c.reply(response.CodeServiceClosing, "2.0.0", s.hostname+" closing connection"), then: func(response.Reply) error {
			return errQuit
		}}, nil
	case command.StartTLS:
		if !s.hasExt("STARTTLS") || st.tls {
			return notImplemented, nil
		}
		return action{reply: c.reply(response.CodeServiceReady, "2.0.0", "Ready to start TLS"), then: c.startTLS}, nil
	case command.Auth:
		return c.auth(cmd), nil
	}
	return unrecognized, nil
}

func (c *conn) hello(domain string, esmtp bool) action {
	s, st := c.s, &c.st
	then := func(response.Reply) error {
		st.resetTx()
		st.helo, st.greeted, st.esmtp = domain, true, esmtp
		return nil
	}
	first := s.hostname + " greets " + domain
	if !esmtp {
		return action{reply: response.New(response.CodeOK, first), then: then}
	}
	lines := []string{first}
	for _, e := range s.exts {
		if st.tls && strings.EqualFold(e, "STARTTLS") {
			continue
		}
		lines = append(lines, e)
	}
	return action{reply: response.New(response.CodeOK, lines...), then: then}
}

func (c *conn) paramError(kw string) action {
	return action{reply: c.reply(response.CodeParamsNotRecognized, "5.5.4", kw+" parameter not supported")}
}

func (c *conn) mail(cmd command.Mail, line string) action {
	s, st := c.s, &c.st
	switch {
	case !st.greeted:
		return action{reply: c.helloFirst()}
	case s.cfg.MaxMessagesPerConnection > 0 && c.accepted >= s.cfg.MaxMessagesPerConnection:
		return action{reply: c.reply(response.CodeServiceNotAvailable, "4.7.0", s.hostname+" Too many messages in this connection")}
	case s.cfg.RequireTLS && !st.tls:
		return action{reply: c.reply(response.CodeAuthRequired, "5.7.0", "Must issue a STARTTLS command first")}
	case s.cfg.RequireAuth && !st.authed:
		return action{reply: c.reply(response.CodeAuthRequired, "5.7.0", "Authentication required")}
	case st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Nested MAIL command")}
	}
	p := cmd.Params
	need := []struct {
		used bool
		kw   string
		ext  []string
	}{
		{p.Size > 0, "SIZE", []string{"SIZE"}},
		{p.Body == command.Body7Bit, "BODY", []string{"8BITMIME", "BINARYMIME"}},
		{p.Body == command.Body8BitMIME, "BODY", []string{"8BITMIME"}},
		{p.Body == command.BodyBinaryMIME, "BODY", []string{"BINARYMIME"}},
		{p.SMTPUTF8, "SMTPUTF8", []string{"SMTPUTF8"}},
		{p.Ret != "", "RET", []string{"DSN"}},
		{p.EnvID != "", "ENVID", []string{"DSN"}},
		{p.Auth != "", "AUTH", []string{"AUTH"}},
		{p.RequireTLS, "REQUIRETLS", []string{"REQUIRETLS"}},
		{p.MTPriority != nil, "MT-PRIORITY", []string{"MT-PRIORITY"}},
		{p.By != nil, "BY", []string{"DELIVERBY"}},
	}
	for _, n := range need {
		if n.used && !slicesAny(n.ext, s.hasExt) {
			return c.paramError(n.kw)
		}
	}
	for _, x := range p.Extra {
		if !s.hasExt(x.Keyword) {
			return c.paramError(strings.ToUpper(x.Keyword))
		}
	}
	if s.maxSize > 0 && p.Size > s.maxSize {
		return action{reply: c.reply(response.CodeExceededStorage, "5.3.4", "Message size exceeds fixed maximum message size")}
	}
	return action{reply: c.reply(response.CodeOK, "2.1.0", "OK"), then: func(response.Reply) error {
		st.resetTx()
		st.inTx, st.mail, st.from = true, cmd, cmd.From.String()
		return nil
	}}
}

func slicesAny(list []string, f func(string) bool) bool {
	for _, s := range list {
		if f(s) {
			return true
		}
	}
	return false
}

func (c *conn) rcpt(cmd command.Rcpt, line string) action {
	s, st := c.s, &c.st
	switch {
	case !st.inTx:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "Need MAIL before RCPT")}
	case st.chunked:
		return action{reply: c.reply(response.CodeBadSequence, "5.5.1", "RCPT after BDAT")}
	case s.cfg.MaxRecipients > 0 && len(st.rcpts) >= s.cfg.MaxRecipients:
		return action{reply: c.reply(response.CodeInsufficientStorage, "4.5.3", "Too many recipients")}
	}
	p := cmd.Params
	if p.Notify != 0 && !s.hasExt("DSN") {
		return c.paramError("NOTIFY")
	}
	if p.ORCPT != (command.OriginalRecipient{}) && !s.hasExt("DSN") {
		return c.paramError("ORCPT")
	}
	for _, x := range p.Extra {
		if !s.hasExt(x.Keyword) {
			return c.paramError(strings.ToUpper(x.Keyword))
		}
	}
	if cmd.SMTPUTF8 && !st.mail.Params.SMTPUTF8 {
		return action{reply: c.reply(response.CodeMailboxNameNotAllowed, "5.6.7", "Non-ASCII address requires SMTPUTF8")}
	}
	return action{reply: c.reply(response.CodeOK, "2.1.5", "OK"), then: func(response.Reply) error {
		st.rcpts = append(st.rcpts, cmd)
		st.to = append(st.to, cmd.To.String())
		st.rcptLines = append(st.rcptLines, line)
		return nil
	}}
}
