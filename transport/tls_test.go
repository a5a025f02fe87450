package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

func TestClientTLSConfig(t *testing.T) {
	pool := x509.NewCertPool()
	tests := []struct {
		name       string
		base       *tls.Config
		host       string
		serverName string
		minVersion uint16
	}{
		{"nil base", nil, "mx.example", "mx.example", tls.VersionTLS12},
		{"ip host", nil, "192.0.2.1", "192.0.2.1", tls.VersionTLS12},
		{"ipv6 host", nil, "2001:db8::1", "2001:db8::1", tls.VersionTLS12},
		{"zone dropped", nil, "fe80::1%eth0", "fe80::1", tls.VersionTLS12},
		{"trailing dot dropped", nil, "mx.example.", "mx.example", tls.VersionTLS12},
		{"empty host", nil, "", "", tls.VersionTLS12},
		{"ServerName kept", &tls.Config{ServerName: "other.example"}, "mx.example", "other.example", tls.VersionTLS12},
		{"MinVersion raised", &tls.Config{MinVersion: tls.VersionTLS10}, "h", "h", tls.VersionTLS12},
		{"MinVersion 1.3 kept", &tls.Config{MinVersion: tls.VersionTLS13}, "h", "h", tls.VersionTLS13},
		{"RootCAs kept", &tls.Config{RootCAs: pool}, "h", "h", tls.VersionTLS12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before tls.Config
			if tt.base != nil {
				before = *tt.base.Clone()
			}
			got := ClientTLSConfig(tt.base, tt.host)
			if got == tt.base {
				t.Fatal("returned base itself, not a clone")
			}
			if got.ServerName != tt.serverName || got.MinVersion != tt.minVersion {
				t.Errorf("ServerName %q MinVersion %x, want %q %x", got.ServerName, got.MinVersion, tt.serverName, tt.minVersion)
			}
			if got.InsecureSkipVerify {
				t.Error("InsecureSkipVerify set")
			}
			if tt.base != nil {
				if tt.base.ServerName != before.ServerName || tt.base.MinVersion != before.MinVersion {
					t.Error("base modified")
				}
				if got.RootCAs != tt.base.RootCAs {
					t.Error("RootCAs not carried over")
				}
			}
		})
	}
}

// startTLSServer accepts plain TCP and, like an SMTP server after its 220
// reply to STARTTLS, runs the server side of TLS, then echoes.
func startTLSServer(t *testing.T, cert *testfixture.Certificate) *testfixture.Server {
	return testfixture.Serve(t, tlsEcho(cert.ServerConfig()))
}

func TestStartTLS(t *testing.T) {
	testfixture.CheckGoroutines(t)
	tc := testfixture.SelfSigned(t)
	srv := startTLSServer(t, tc)

	tests := []struct {
		name         string
		cfg          *tls.Config
		wantErr      error // nil: success; errAny: some error
		verification bool
		text         []string
	}{
		{"ip SAN", ClientTLSConfig(&tls.Config{RootCAs: tc.Pool}, "127.0.0.1"), nil, false, nil},
		{"dns SAN", ClientTLSConfig(&tls.Config{RootCAs: tc.Pool}, "localhost"), nil, false, nil},
		{"tls 1.3 only", ClientTLSConfig(&tls.Config{RootCAs: tc.Pool, MinVersion: tls.VersionTLS13}, "localhost"), nil, false, nil},
		{"unknown authority", ClientTLSConfig(nil, "127.0.0.1"), errAny, true,
			[]string{"TLS handshake with 127.0.0.1", "unknown authority", "TLSConfig.RootCAs", "transport.LoadCertPool", "turn TLS off"}},
		{"name mismatch", ClientTLSConfig(&tls.Config{RootCAs: tc.Pool}, "mail.example"), errAny, true,
			[]string{"mail.example", "TLSConfig.ServerName", "TLSConfig.RootCAs", "transport.LoadCertPool", "turn TLS off"}},
		{"nil config", nil, ErrNoServerName, false, []string{"ServerName"}},
		{"no ServerName", &tls.Config{RootCAs: tc.Pool}, ErrNoServerName, false, []string{"ServerName"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			conn, err := StartTLS(context.Background(), raw, tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := conn.ConnectionState(); !got.HandshakeComplete || len(got.VerifiedChains) == 0 {
					t.Errorf("state: complete %v, %d verified chains", got.HandshakeComplete, len(got.VerifiedChains))
				}
				roundTrip(t, conn, "EHLO client.example\r\n")
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			if conn != nil {
				t.Error("a connection with the error")
			}
			te := as[*TLSError](t, err)
			if te.VerificationFailed() != tt.verification {
				t.Errorf("VerificationFailed() = %v", te.VerificationFailed())
			}
			if tt.verification {
				as[*tls.CertificateVerificationError](t, err)
			}
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Errorf("error is not %v", tt.wantErr)
			}
			wantErrText(t, err, append([]string{"transport: TLS handshake"}, tt.text...)...)
			if _, werr := raw.Write([]byte("x")); werr == nil {
				t.Error("the raw connection is still open after a failed StartTLS")
			}
		})
	}
}

func TestStartTLSNotTLS(t *testing.T) {
	testfixture.CheckGoroutines(t)
	srv := testfixture.Serve(t, func(_ *testfixture.Server, c net.Conn) {
		io.WriteString(c, "220 mx.example ESMTP this is not TLS\r\n")
		io.Copy(io.Discard, c)
	})
	raw, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, err = StartTLS(context.Background(), raw, ClientTLSConfig(nil, "localhost"))
	t.Log(err)
	te := as[*TLSError](t, err)
	if te.VerificationFailed() {
		t.Error("a protocol failure reported as a verification failure")
	}
	if strings.Contains(err.Error(), "RootCAs") {
		t.Errorf("message %q gives certificate advice for a protocol failure", err)
	}
}

func TestStartTLSCancel(t *testing.T) {
	for _, tt := range []struct {
		name    string
		timeout bool
	}{{"cancel", false}, {"deadline", true}} {
		t.Run(tt.name, func(t *testing.T) {
			testfixture.CheckGoroutines(t)
			srv := testfixture.Serve(t, silent)
			raw, err := net.Dial("tcp", srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var (
				ctx    context.Context
				cancel context.CancelFunc
				want   error
			)
			if tt.timeout {
				ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
				want = context.DeadlineExceeded
			} else {
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				want = context.Canceled
			}
			defer cancel()
			start := time.Now()
			_, err = StartTLS(ctx, raw, ClientTLSConfig(nil, "localhost"))
			t.Log(err)
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v", el)
			}
			if !errors.Is(err, want) {
				t.Errorf("error %v is not %v", err, want)
			}
			as[*TLSError](t, err)
		})
	}
}

func TestTLSErrorVerificationFailed(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"CertificateVerificationError", &tls.CertificateVerificationError{Err: errors.New("x")}, true},
		{"UnknownAuthorityError", x509.UnknownAuthorityError{}, true},
		{"HostnameError", x509.HostnameError{Host: "h", Certificate: &x509.Certificate{}}, true},
		{"CertificateInvalidError", x509.CertificateInvalidError{Reason: x509.Expired, Cert: &x509.Certificate{}}, true},
		{"SystemRootsError", x509.SystemRootsError{}, true},
		{"io error", io.ErrUnexpectedEOF, false},
		{"alert", tls.AlertError(40), false},
		{"no server name", ErrNoServerName, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &TLSError{Host: "mx.example", Err: tt.err}
			if got := e.VerificationFailed(); got != tt.want {
				t.Errorf("VerificationFailed() = %v, want %v", got, tt.want)
			}
			if got := strings.Contains(e.Error(), "RootCAs"); got != tt.want {
				t.Errorf("message %q: mentions RootCAs = %v, want %v", e, got, tt.want)
			}
			if !errors.Is(e, tt.err) {
				t.Error("Unwrap does not reach the cause")
			}
		})
	}
}

// A server's certificate names reach TLSError.Error() raw: x509's
// HostnameError lists them, and cause() passes the wrapped text through, so
// a hostile STARTTLS or implicit-TLS server puts terminal escapes and BEL
// into the client's error messages and logs. quote()'s promise ("control
// characters never reach a terminal or log raw") is kept only for the
// strings this package formats itself.
func TestTLSErrorEscapesPeerControlCharacters(t *testing.T) {
	testfixture.CheckGoroutines(t)
	cert := testfixture.SelfSigned(t, "evil\x1b[2J\x07.example")
	srv := testfixture.Serve(t, tlsEcho(cert.ServerConfig()))

	// STARTTLS.
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = StartTLS(ctx, c, ClientTLSConfig(nil, "localhost"))
	if err == nil {
		t.Fatal("handshake with a certificate for another name succeeded")
	}
	if cc := controlChars(err.Error()); len(cc) > 0 {
		t.Errorf("StartTLS error carries control characters %q: %q", cc, err.Error())
	}

	// Implicit TLS through the Dialer.
	d := Dialer{ImplicitTLS: true, Timeout: 5 * time.Second, TLSConfig: &tls.Config{ServerName: "localhost"}}
	_, err = d.DialContext(ctx, Address{Network: "tcp", Host: "127.0.0.1", Port: srv.Port()})
	if err == nil {
		t.Fatal("implicit TLS with a certificate for another name succeeded")
	}
	if cc := controlChars(err.Error()); len(cc) > 0 {
		t.Errorf("DialContext error carries control characters %q: %q", cc, err.Error())
	}
}
