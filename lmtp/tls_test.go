package lmtp_test

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// TestSelfSignedOverTCPSaysWhatToDo: LMTP over TCP to a server whose
// certificate does not verify fails (STARTTLS is used when offered), and
// the error says how to pass its CA, or to turn TLS off; doing the first,
// with transport.LoadCertPool, works.
func TestSelfSignedOverTCPSaysWhatToDo(t *testing.T) {
	srv := server(t, smtptest.Config{Extensions: []string{"STARTTLS", "PIPELINING", "ENHANCEDSTATUSCODES"}})
	c := dial(t, testCtx(t), srv.Addr, session.Options{})
	_, err := c.Send(testCtx(t), testFrom, []string{"a@example.org"}, strings.NewReader(testBody))
	var te *transport.TLSError
	if !errors.As(err, &te) || !te.VerificationFailed() {
		t.Fatalf("err = %v (%T); want a *transport.TLSError for verification", err, err)
	}
	for _, want := range []string{"Options.TLSConfig.RootCAs", "transport.LoadCertPool", "Options.TLS to TLSOff"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if len(srv.Messages()) != 0 {
		t.Error("a message went")
	}

	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := transport.LoadCertPool(ca)
	if err != nil {
		t.Fatal(err)
	}
	c = dial(t, testCtx(t), srv.Addr, session.Options{TLSConfig: &tls.Config{RootCAs: pool}})
	res, err := c.Send(testCtx(t), testFrom, []string{"a@example.org"}, strings.NewReader(testBody))
	if err != nil || lmtp.OutcomeOf(res.Recipients[0]) != lmtp.Delivered {
		t.Fatalf("with the CA: %v, %v", res, err)
	}
	if m := srv.Messages(); len(m) != 1 || !m[0].TLS {
		t.Errorf("messages %+v", m)
	}
}
