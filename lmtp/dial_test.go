package lmtp_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/transport"
)

// TestDialWithoutPortSaysWhy: an address without a port is refused
// because LMTP has no default port, and the message says what to write.
func TestDialWithoutPortSaysWhy(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "localhost", "[::1]", "lmtp.example.org"} {
		_, err := lmtp.Dial(testCtx(t), addr, nil)
		var ae *transport.AddressError
		if !errors.As(err, &ae) {
			t.Errorf("Dial(%q): %v; want a *transport.AddressError", addr, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "LMTP needs a port") || !strings.Contains(msg, "Unix socket path") || strings.Contains(msg, "default port 0") {
			t.Errorf("Dial(%q): message %q", addr, msg)
		}
		if strings.Count(msg, addr) != 1 {
			t.Errorf("Dial(%q): message %q names the address %d times", addr, msg, strings.Count(msg, addr))
		}
	}
	// Other faults of an address keep their own message.
	_, err := lmtp.Dial(testCtx(t), "host:99999", nil)
	if err == nil || strings.Contains(err.Error(), "LMTP needs a port") {
		t.Errorf("bad port: %v", err)
	}
}
