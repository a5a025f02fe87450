package main

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// TestTLSAdviceNamesFlags: a certificate that does not verify is
// explained in the terms of the command line (--ca, --insecure), not in
// the library's (Options.TLSConfig.RootCAs), whichever command met it.
func TestTLSAdviceNamesFlags(t *testing.T) {
	starttls := newServer(t, smtptest.Config{Extensions: append(smtptest.DefaultExtensions(), "STARTTLS")})
	implicit := newServer(t, smtptest.Config{ImplicitTLS: true})
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"send STARTTLS", []string{"send", "--server", starttls.Addr, "--to", "b@example.org"}},
		{"send implicit", []string{"send", "--server", implicit.Addr, "--to", "b@example.org", "--tls", "implicit"}},
		{"bench", []string{"bench", "--server", starttls.Addr, "--messages", "1"}},
		{"probe", []string{"probe", "--server", starttls.Addr, "--tls", "require"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := smtpkit(t, nil, tt.args...)
			r.want(t, exitFailed)
			r.oneErrorLine(t, "certificate", "--ca FILE", "--insecure")
			if strings.Contains(r.stderr, "Options.") || strings.Contains(r.stderr, "TLSConfig") {
				t.Errorf("the advice is the library's: %s", r.stderr)
			}
		})
	}
}

// TestTLSAdviceHostname: a certificate for another name says to use a
// name it lists.
func TestTLSAdviceHostname(t *testing.T) {
	cert := &x509.Certificate{DNSNames: []string{"mx.example.org"}}
	err := &session.ConnectError{Addr: "192.0.2.1:25", Err: &transport.TLSError{Host: "192.0.2.1", Err: x509.HostnameError{Certificate: cert, Host: "192.0.2.1"}}}
	got := errText(err)
	for _, want := range []string{"does not name this host", "--server", "--ca FILE", "--insecure"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "TLSConfig") {
		t.Errorf("the advice is the library's: %s", got)
	}
	// Other errors are left as they are.
	plain := errors.New("session: something else")
	if got := errText(plain); got != "something else" {
		t.Errorf("errText = %q", got)
	}
}
