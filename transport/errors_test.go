package transport

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestErrorMessages(t *testing.T) {
	cause := errors.New("cause")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"address", &AddressError{Input: "h:0", Reason: "bad port"}, `transport: address "h:0": bad port`},
		{"address control chars quoted", &AddressError{Input: "h\r\nQUIT", Reason: "r"}, `transport: address "h\r\nQUIT": r`},
		{"address long input cut", &AddressError{Input: strings.Repeat("a", 150), Reason: "r"},
			`transport: address "` + strings.Repeat("a", 100) + `"...: r`},
		{"dial", &DialError{Addr: Address{Host: "mx.example", Port: 25}, Err: cause}, "transport: dial tcp mx.example:25: cause"},
		{"dial unix", &DialError{Addr: Address{Network: "unix", Host: "/run/lmtp"}, Err: cause}, "transport: dial unix /run/lmtp: cause"},
		{"dial control chars quoted", &DialError{Addr: Address{Host: "a\nb", Port: 25}, Err: cause}, `transport: dial tcp "a\nb:25": cause`},
		{"dial address error not repeated", &DialError{Addr: Address{Host: "h"}, Err: &AddressError{Input: "h:0", Reason: "no port"}},
			"transport: dial tcp h:0: no port"},
		{"dial wrapping proxy: one prefix", &DialError{Addr: Address{Host: "h", Port: 25},
			Err: &ProxyError{Protocol: "SOCKS5", Proxy: "p:1080", Target: "h:25", Err: cause}},
			"transport: dial tcp h:25: SOCKS5 proxy p:1080 to h:25: cause"},
		{"proxy status", &ProxyError{Protocol: "HTTP CONNECT", Proxy: "p:3128", Target: "h:25", StatusCode: 403, Status: "Forbidden", Err: ErrProxyRefused},
			"transport: HTTP CONNECT proxy p:3128 to h:25: proxy refused the connection: 403 Forbidden"},
		{"proxy status without reason", &ProxyError{Protocol: "HTTP CONNECT", Proxy: "p:3128", Target: "h:25", StatusCode: 502, Err: ErrProxyRefused},
			"transport: HTTP CONNECT proxy p:3128 to h:25: proxy refused the connection: 502"},
		{"tls", &TLSError{Host: "mx.example", Err: cause}, "transport: TLS handshake with mx.example: cause"},
		{"tls no host", &TLSError{Err: ErrNoServerName}, "transport: TLS handshake: no tls.Config.ServerName to verify the certificate against"},
		{"mx", &MXError{Domain: "example.org", Err: ErrNullMX}, `transport: MX lookup for "example.org": domain accepts no mail (null MX, RFC 7505)`},
		{"nil cause", &DialError{Addr: Address{Host: "h", Port: 1}}, "transport: dial tcp h:1: unknown error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	tests := []struct {
		name string
		err  error
		is   error
	}{
		{"dial", &DialError{Err: context.Canceled}, context.Canceled},
		{"proxy", &ProxyError{Err: ErrProxyRefused}, ErrProxyRefused},
		{"tls", &TLSError{Err: ErrNoServerName}, ErrNoServerName},
		{"mx", &MXError{Err: ErrNullMX}, ErrNullMX},
		{"nested", &DialError{Err: &ProxyError{Err: context.DeadlineExceeded}}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.is) {
				t.Errorf("%v is not %v", tt.err, tt.is)
			}
		})
	}
}

// DialError.Error() quotes the address in its own prefix but appends the
// net error's text raw, which repeats the address: an Address built by a
// caller (or from an MX record) with control characters in it gets them
// into the message unescaped. Address.check does not refuse them either.
func TestDialErrorEscapesControlCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock\x1b[31m\x07")
	d := Dialer{Timeout: 2 * time.Second}
	_, err := d.DialContext(context.Background(), Address{Network: "unix", Host: path})
	if err == nil {
		t.Fatal("dialing a socket that does not exist succeeded")
	}
	if cc := controlChars(err.Error()); len(cc) > 0 {
		t.Errorf("DialError carries control characters %q: %q", cc, err.Error())
	}
}
