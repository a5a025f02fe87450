package transport

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
)

// rvControlChars returns the control characters in s.
func rvControlChars(s string) []rune {
	var out []rune
	for _, r := range s {
		if unicode.IsControl(r) {
			out = append(out, r)
		}
	}
	return out
}

// rvScriptedProxy is an HTTP proxy that reads one CONNECT request head and
// writes resp, then echoes whatever comes next (the "tunnel").
func rvScriptedProxy(t *testing.T, resp string) *server {
	t.Helper()
	return serve(t, listen(t), func(_ *server, c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
		io.Copy(c, br)
	})
}

// RFC 9110 §15.2: "A client MUST be able to parse one or more 1xx responses
// received prior to a final response, even if the client does not expect
// one." connectExchange takes the first status line as final, so an
// interim "100 Continue" (or "102 Processing") before the proxy's 200 turns
// a working tunnel into ErrProxyRefused with StatusCode 100.
func TestReviewHTTPConnectSkipsInterimResponses(t *testing.T) {
	checkGoroutines(t)
	p := rvScriptedProxy(t, "HTTP/1.1 100 Continue\r\n\r\n"+
		"HTTP/1.1 102 Processing\r\nX-Note: still here\r\n\r\n"+
		"HTTP/1.1 200 Connection established\r\n\r\n")
	dial := HTTPConnect(p.addr(), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dial(ctx, "tcp", "127.0.0.1:25")
	if err != nil {
		t.Fatalf("CONNECT with 1xx interim responses before 200: %v", err)
	}
	defer conn.Close()
	roundTrip(t, conn, "EHLO client.example\r\n")
}

// rvHostileCert is a self-signed certificate whose DNS names are chosen by
// the (hostile) server: IA5String allows ASCII control characters.
func rvHostileCert(t *testing.T, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "hostile"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A server's certificate names reach TLSError.Error() raw: x509's
// HostnameError lists them, and cause() passes the wrapped text through, so
// a hostile STARTTLS or implicit-TLS server puts terminal escapes and BEL
// into the client's error messages and logs. quote()'s promise ("control
// characters never reach a terminal or log raw") is kept only for the
// strings this package formats itself.
func TestReviewTLSErrorEscapesPeerControlCharacters(t *testing.T) {
	checkGoroutines(t)
	cert := rvHostileCert(t, "evil\x1b[2J\x07.example")
	srv := serve(t, listen(t), tlsEcho(&tls.Config{Certificates: []tls.Certificate{cert}}))

	// STARTTLS.
	c, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = StartTLS(ctx, c, ClientTLSConfig(nil, "localhost"))
	if err == nil {
		t.Fatal("handshake with a certificate for another name succeeded")
	}
	if cc := rvControlChars(err.Error()); len(cc) > 0 {
		t.Errorf("StartTLS error carries control characters %q: %q", cc, err.Error())
	}

	// Implicit TLS through the Dialer.
	d := Dialer{ImplicitTLS: true, Timeout: 5 * time.Second, TLSConfig: &tls.Config{ServerName: "localhost"}}
	_, err = d.DialContext(ctx, Address{Network: "tcp", Host: "127.0.0.1", Port: srv.port()})
	if err == nil {
		t.Fatal("implicit TLS with a certificate for another name succeeded")
	}
	if cc := rvControlChars(err.Error()); len(cc) > 0 {
		t.Errorf("DialContext error carries control characters %q: %q", cc, err.Error())
	}
}

// DialError.Error() quotes the address in its own prefix but appends the
// net error's text raw, which repeats the address: an Address built by a
// caller (or from an MX record) with control characters in it gets them
// into the message unescaped. Address.check does not refuse them either.
func TestReviewDialErrorEscapesControlCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock\x1b[31m\x07")
	d := Dialer{Timeout: 2 * time.Second}
	_, err := d.DialContext(context.Background(), Address{Network: "unix", Host: path})
	if err == nil {
		t.Fatal("dialing a socket that does not exist succeeded")
	}
	if cc := rvControlChars(err.Error()); len(cc) > 0 {
		t.Errorf("DialError carries control characters %q: %q", cc, err.Error())
	}
}

type rvResolver []*net.MX

func (r rvResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return r, nil }

// MX.Host is documented as "host name (no trailing dot) or, for an address
// literal, an IP address", and Resolver invites "callers with their own DNS
// client" to plug in; but LookupMX copies whatever the resolver returns,
// so names with CR LF, a port or brackets come out as exchangers (and
// MX.Address then makes Addresses like "[mx.example.org:2525]:25").
// *net.Resolver filters such names; a custom Resolver does not.
func TestReviewLookupMXChecksExchangerNames(t *testing.T) {
	for _, bad := range []string{"mx\r\nevil.example.", "mx.example.org:2525.", "[192.0.2.1]", "mx example.org."} {
		r := rvResolver{{Host: bad, Pref: 10}, {Host: "mx2.example.org.", Pref: 20}}
		mxs, err := LookupMX(context.Background(), r, "example.org", nil)
		if err != nil {
			continue // refusing the answer is a fix too
		}
		for _, m := range mxs {
			if m.Implicit {
				continue
			}
			if _, reason := checkHostName(m.Host); reason != "" {
				t.Errorf("resolver name %q: LookupMX returned exchanger %q (%s)", bad, m.Host, reason)
			}
		}
	}
}

// ParseAddress's doc refuses names that "look like an IP address without
// being one". Only an all-digit last label is caught: hex and octal forms
// that inet_aton (and so getaddrinfo, the cgo resolver, curl, browsers'
// URL parsers) read as IPv4 pass as host names, e.g. "0x7f.0x0.0x0.0x1"
// is 127.0.0.1 to libc. A name check meant to keep IP literals out can be
// bypassed this way.
func TestReviewParseAddressRefusesInetAtonForms(t *testing.T) {
	for _, s := range []string{"0x7f.0x0.0x0.0x1", "127.0.0.0x1", "0x7f000001", "1.2.3.0X4"} {
		a, err := ParseAddress(s, 25)
		if err == nil && !strings.Contains(a.Host, ":") && a.Host != "127.0.0.1" && a.Host != "1.2.3.4" {
			t.Errorf("ParseAddress(%q) = %+v: an IPv4 address in inet_aton form accepted as a host name", s, a)
		}
	}
}
