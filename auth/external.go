package auth

import "unicode/utf8"

// external is EXTERNAL (RFC 4422 Appendix A): the server authenticates the
// client by something outside SASL, in SMTP its TLS client certificate;
// the initial response is the authorization identity, empty for "the one
// the certificate names".
type external struct {
	identity string
	started  bool
}

// External returns the EXTERNAL mechanism, for a server that
// authenticates the client by its TLS certificate (set it in the
// session's TLSConfig.Certificates). identity is the authorization
// identity to act as, usually empty.
func External(identity string) Mechanism { return &external{identity: identity} }

func (e *external) RevealsSecret() bool { return false }

// NeedsConfidentiality reports false: EXTERNAL carries no credential, only
// the identity to act as.
func (e *external) NeedsConfidentiality() bool { return false }

func (e *external) Start() (string, []byte, error) {
	if e.started {
		return "", nil, errReused("EXTERNAL")
	}
	e.started = true
	if !utf8.ValidString(e.identity) || hasControl(e.identity) {
		return "", nil, badInput("EXTERNAL", "identity is not UTF-8 text")
	}
	return "EXTERNAL", []byte(e.identity), nil
}

func (e *external) Next(challenge []byte) ([]byte, error) {
	return nil, ErrUnexpectedChallenge
}

// anonymous is ANONYMOUS (RFC 4505): the initial response is trace
// information, an email address or up to 255 characters of text.
type anonymous struct {
	trace   string
	started bool
}

// Anonymous returns the ANONYMOUS mechanism (RFC 4505) with optional trace
// information (an email address or an opaque token, at most 255
// characters).
func Anonymous(trace string) Mechanism { return &anonymous{trace: trace} }

func (a *anonymous) RevealsSecret() bool { return false }

// NeedsConfidentiality reports false: ANONYMOUS carries no credential,
// only trace information.
func (a *anonymous) NeedsConfidentiality() bool { return false }

func (a *anonymous) Start() (string, []byte, error) {
	if a.started {
		return "", nil, errReused("ANONYMOUS")
	}
	a.started = true
	if !utf8.ValidString(a.trace) || hasControl(a.trace) || utf8.RuneCountInString(a.trace) > 255 {
		return "", nil, badInput("ANONYMOUS", "trace is not UTF-8 text of at most 255 characters")
	}
	return "ANONYMOUS", []byte(a.trace), nil
}

func (a *anonymous) Next(challenge []byte) ([]byte, error) {
	return nil, ErrUnexpectedChallenge
}
