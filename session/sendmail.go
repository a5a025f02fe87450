package session

import (
	"context"
	"io"

	"github.com/smtpkit/smtpkit/auth"
)

// Credentials are what [SendMail] logs in with: a user name and password
// for [Client.Login], or any [auth.Mechanism] for [Client.Auth]. They are
// not part of [Options], which are copied, compared and printed freely;
// String and GoString never show the password.
type Credentials struct {
	Username string
	Password string
	// Mechanism, when not nil, is used instead of Username and Password:
	// a token (auth.XOAUTH2, auth.OAuthBearer), a client certificate
	// (auth.External), or a mechanism Login would not choose.
	Mechanism auth.Mechanism
}

// String describes c without its secrets.
func (c Credentials) String() string {
	if c.Mechanism != nil {
		return "session.Credentials{Mechanism: [redacted]}"
	}
	return "session.Credentials{Username: " + c.Username + ", Password: [redacted]}"
}

// GoString is String, so that %#v does not show the password either.
func (c Credentials) GoString() string { return c.String() }

// SendMail sends one message the way net/smtp.SendMail does, with the
// safe defaults of this package: it dials addr (as [Dial] takes it: the
// default port is 25, or 465 with TLSImplicit; submission is usually
// "host:587"), says EHLO, upgrades with STARTTLS as opts.TLS says
// (opportunistic by default, the certificate verified), logs in when
// creds is not nil, sends the message as [Client.Send] does (from and each
// of to are addresses as users write them, msg is the whole message),
// and says QUIT.
//
// Logging in never sends a password in the clear to a server that is not
// on this machine: over a connection that did not become TLS, Login fails
// with an *AuthError matching ErrInsecureAuth and nothing more is sent.
// The message itself goes in the clear, under the default opportunistic
// mode, to a server that does not offer STARTTLS (or to an attacker who
// removed it from the EHLO reply): set opts.TLS to TLSRequired, or
// TLSImplicit, to send it only over TLS.
//
// The result and the error are those of [Client.Send]: refused
// recipients are in the result, and an error means the message was not
// accepted (see [Temporary] and [Permanent] to decide whether to try
// again). An error before the message, dialling, greeting, STARTTLS or
// logging in, is returned as it is. Once the server has accepted the
// message, a failure of QUIT is not reported: the message is delivered,
// and an error would invite a second copy.
func SendMail(ctx context.Context, addr string, opts *Options, creds *Credentials, from string, to []string, msg io.Reader) (*Result, error) {
	c, err := Dial(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	res, err := sendMail(ctx, c, creds, from, to, msg)
	if c.usable() == nil {
		c.Quit(ctx)
	}
	c.Close()
	return res, err
}

func sendMail(ctx context.Context, c *Client, creds *Credentials, from string, to []string, msg io.Reader) (*Result, error) {
	if err := c.Hello(ctx); err != nil {
		return nil, err
	}
	if creds != nil {
		var err error
		if creds.Mechanism != nil {
			err = c.Auth(ctx, creds.Mechanism)
		} else {
			err = c.Login(ctx, creds.Username, creds.Password)
		}
		if err != nil {
			return nil, err
		}
	}
	return c.Send(ctx, from, to, msg)
}
