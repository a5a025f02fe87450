package lmtp

import (
	"context"
	"net"

	"github.com/smtpkit/smtpkit/session"
)

// Client is an LMTP session: a *session.Client with Options.LMTP set. Its
// Send, SendEnvelope, SendMessage and SendStream report each recipient's
// delivery in RecipientResult.Data.
type Client struct {
	*session.Client
}

// Dial connects to an LMTP server and reads its greeting. addr is a Unix
// socket path (it starts with "/", as in smtplib) or "host:port": LMTP
// has no default port, so one must be given (without one, the error is a
// *transport.AddressError that says so). opts are the session's options
// (nil for the defaults); LMTP is set whatever they say. Errors are
// *session.ConnectError.
//
// Over a Unix socket STARTTLS is not attempted unless opts.TLS asks for
// it. Over TCP it is used whenever the server offers it, and the
// server's certificate must verify: for a delivery agent with a
// self-signed or privately issued certificate, pass its CA in
// opts.TLSConfig.RootCAs (transport.LoadCertPool reads it from a PEM
// file), or, where the path to the server is trusted, set opts.TLS to
// session.TLSOff. The error of a certificate that does not verify says
// the same.
func Dial(ctx context.Context, addr string, opts *session.Options) (*Client, error) {
	c, err := session.Dial(ctx, addr, lmtpOptions(opts))
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

// NewClient starts an LMTP session over a connection the caller made, as
// session.NewClient does. Only a *net.UnixConn counts as local: over any
// other unencrypted connection AUTH needs opts.AllowInsecureAuth, since
// where a connection made elsewhere leads cannot be known.
func NewClient(ctx context.Context, conn net.Conn, opts *session.Options) (*Client, error) {
	c, err := session.NewClient(ctx, conn, lmtpOptions(opts))
	if err != nil {
		return nil, err
	}
	return &Client{c}, nil
}

func lmtpOptions(opts *session.Options) *session.Options {
	var o session.Options
	if opts != nil {
		o = *opts
	}
	o.LMTP = true
	return &o
}

// DeliveryError reports that every accepted recipient's reply after the
// message was a failure; see session.DeliveryError.
type DeliveryError = session.DeliveryError

// UnansweredError reports recipients the server never answered for after
// the message; see session.UnansweredError.
type UnansweredError = session.UnansweredError

// Outcome is what became of one recipient of an LMTP transaction.
type Outcome int

const (
	// Refused: the server refused the recipient at RCPT.
	Refused Outcome = iota
	// Delivered: its reply after the message was 2yz.
	Delivered
	// TemporaryFailure: its reply after the message was 4yz; try again
	// later.
	TemporaryFailure
	// PermanentFailure: its reply after the message was 5yz.
	PermanentFailure
	// Unknown: accepted at RCPT, but no reply after the message was read
	// (the transaction failed before it, or the connection broke).
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Refused:
		return "refused"
	case Delivered:
		return "delivered"
	case TemporaryFailure:
		return "temporary failure"
	case PermanentFailure:
		return "permanent failure"
	case Unknown:
		return "unknown"
	}
	return "Outcome(?)"
}

// OutcomeOf classifies one recipient of a result.
func OutcomeOf(r session.RecipientResult) Outcome {
	switch {
	case !r.Accepted:
		return Refused
	case r.Data.Code == 0:
		return Unknown
	case r.Data.Positive():
		return Delivered
	case r.Data.Code/100 == 4:
		return TemporaryFailure
	}
	return PermanentFailure
}
