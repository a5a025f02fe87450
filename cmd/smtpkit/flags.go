package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// listFlag is a flag that may be repeated: --to a --to b.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// tlsFlags are the TLS flags that send, probe and bench share.
type tlsFlags struct {
	mode     string
	ca       string
	insecure bool
}

// register declares --tls, --ca and --insecure; require and starttls
// describe those two modes for the command.
func (t *tlsFlags) register(fs *flag.FlagSet, require, starttls string) {
	fs.StringVar(&t.mode, "tls", "starttls", "`MODE`:\n  none      plaintext, even when STARTTLS is offered\n  starttls  STARTTLS when offered, "+starttls+"\n  require   "+require+"\n  implicit  TLS from the first byte, as on port 465")
	fs.StringVar(&t.ca, "ca", "", "PEM `FILE` of the certificates to trust instead of the system's")
	fs.BoolVar(&t.insecure, "insecure", false, "skip certificate verification (anyone on the path can read and change the session;\na warning says so on standard error)")
}

// sessionMode is the session.TLSMode for --tls.
func (t *tlsFlags) sessionMode() (session.TLSMode, error) {
	switch t.mode {
	case "none", "off":
		return session.TLSOff, nil
	case "starttls", "opportunistic", "":
		return session.TLSOpportunistic, nil
	case "require", "required":
		return session.TLSRequired, nil
	case "implicit":
		return session.TLSImplicit, nil
	}
	return 0, fmt.Errorf("--tls %q: want none, starttls, require or implicit", t.mode)
}

// config is the tls.Config for --ca and --insecure: nil when neither is
// given (the session's default: system roots, verification on).
func (t *tlsFlags) config() (*tls.Config, error) {
	if t.ca == "" && !t.insecure {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: t.insecure}
	if t.ca != "" {
		pool, err := loadCA(t.ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// warnInsecure says loudly, on standard error, what --insecure means.
func (t *tlsFlags) warnInsecure(st stdio) {
	if t.insecure {
		fmt.Fprintln(st.err, "smtpkit: WARNING: --insecure: the server's certificate is NOT verified; anyone on the path can read and change this session")
	}
}

func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca %s: no PEM certificate in the file", file)
	}
	return pool, nil
}

// checkLineSafe returns an error for the first of the named flags whose
// value holds CR, LF or NUL (each value of a repeated flag is checked).
// These flags go into a header field of the built message (--subject,
// --from, --to) or into a command line (--helo, and the DSN, AUTH and
// address flags), where a line break ends the field or the command and
// starts another: "--subject $'hi\r\nBcc: x@evil.example'" would add a
// Bcc field. The caller reports the error as a usage error, before
// anything is sent. Every name must be a flag of fs.
func checkLineSafe(fs *flag.FlagSet, names ...string) error {
	for _, name := range names {
		fl := fs.Lookup(name)
		if fl == nil {
			panic("checkLineSafe: no flag --" + name)
		}
		values := []string{fl.Value.String()}
		if l, ok := fl.Value.(*listFlag); ok {
			values = *l
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("--%s %q: CR, LF and NUL are not allowed: the value goes into a header field or a command line, where a line break would end it and start another", name, v)
			}
		}
	}
	return nil
}

// autoOff checks an auto|off flag and reports whether it is off.
func autoOff(name, v string) (off bool, err error) {
	switch v {
	case "auto", "":
		return false, nil
	case "off":
		return true, nil
	}
	return false, fmt.Errorf("--%s %q: want auto or off", name, v)
}

// isTerminal reports whether f is a terminal (a character device: close
// enough without a syscall package per platform; /dev/null counts too,
// which only matters for a progress line nobody reads).
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// authFlags are the AUTH flags that send and bench share, with their
// rules: the password never from a flag's value, and TLS required with
// --auth-user unless --tls says otherwise.
type authFlags struct {
	user, passEnv, passFile, mech string
}

// register declares --auth-user, --auth-password-env,
// --auth-password-file and --auth-mech.
func (a *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.user, "auth-user", "", "authenticate as `USER` (RFC 4954)")
	fs.StringVar(&a.passEnv, "auth-password-env", "", "take the password (or token) from environment variable `VAR`")
	fs.StringVar(&a.passFile, "auth-password-file", "", "take the password (or token) from `FILE` (one trailing newline is dropped)")
	fs.StringVar(&a.mech, "auth-mech", "", "SASL `MECH`: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), CRAM-MD5, PLAIN, LOGIN,\nXOAUTH2, OAUTHBEARER (token as password), EXTERNAL, ANONYMOUS (default: the strongest offered)")
}

// enabled reports whether the session authenticates.
func (a *authFlags) enabled() bool { return a.user != "" || a.mech != "" }

// password checks the flags against each other and returns the password
// from --auth-password-env or --auth-password-file. Its errors are usage
// errors.
func (a *authFlags) password() (string, error) {
	password, err := readPassword(a.passEnv, a.passFile)
	if err != nil {
		return "", err
	}
	mech := strings.ToUpper(a.mech)
	needsPassword := mech != "EXTERNAL" && mech != "ANONYMOUS"
	switch {
	case a.user == "" && (a.passEnv != "" || a.passFile != ""):
		return "", errors.New("a password but no --auth-user")
	case a.user == "" && mech != "" && needsPassword:
		return "", fmt.Errorf("--auth-mech %s needs --auth-user", mech)
	case a.user != "" && needsPassword && a.passEnv == "" && a.passFile == "":
		return "", errors.New("--auth-user needs --auth-password-env VAR or --auth-password-file FILE (a password is never taken from a flag's value)")
	}
	if mech != "" {
		if _, err := mechanism(mech, "", "", "", 0); err != nil {
			return "", err
		}
	}
	return password, nil
}

// tlsMode is the TLS mode for a session that may authenticate: a
// password goes only over TLS unless asked otherwise, so with --auth-user
// and no --tls, TLS is required. A server that does not offer STARTTLS
// (or an attacker who strips it) then gets an error before any envelope,
// not the credentials' exchange. A Unix socket stays on this host.
func (a *authFlags) tlsMode(mode session.TLSMode, tlsSet bool, server string) session.TLSMode {
	if a.user != "" && !tlsSet && !strings.HasPrefix(server, "/") {
		return session.TLSRequired
	}
	return mode
}

// login runs --auth-mech, or Login's choice (the strongest mechanism
// both sides have) without it.
func (a *authFlags) login(ctx context.Context, c *session.Client, server, password string) error {
	if a.mech == "" {
		return c.Login(ctx, a.user, password)
	}
	host, port := "", 0
	if addr, err := transport.ParseAddress(server, transport.PortSMTP); err == nil && addr.Network != "unix" {
		host, port = addr.Host, addr.Port
	}
	m, err := mechanism(strings.ToUpper(a.mech), a.user, password, host, port)
	if err != nil {
		return err
	}
	return c.Auth(ctx, m)
}

// mechanism returns the SASL mechanism for --auth-mech.
func mechanism(name, user, password, host string, port int) (auth.Mechanism, error) {
	m, err := auth.ByName(name, auth.Credentials{Username: user, Secret: password, Host: host, Port: port})
	if err != nil {
		return nil, fmt.Errorf("--auth-mech %q: not one of %s", name, strings.Join(auth.Mechanisms(), ", "))
	}
	return m, nil
}

// readPassword returns the password from --auth-password-env or
// --auth-password-file: never from a flag's value, which other users can
// read in the process list and which lands in shell history.
func readPassword(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("--auth-password-env and --auth-password-file: give one")
	case env != "":
		p, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("--auth-password-env: environment variable %s is not set", env)
		}
		return p, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--auth-password-file: %w", err)
		}
		p := strings.TrimSuffix(string(b), "\n")
		return strings.TrimSuffix(p, "\r"), nil
	}
	return "", nil
}
