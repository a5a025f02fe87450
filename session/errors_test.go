package session_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// Helpers for the tests of errors.

func reply(code response.Code, text string) response.Reply { return response.New(code, text) }

// isA reports whether errors.As finds a T in err.
func isA[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

// iotestErrReader fails every read.
type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// TestConnectErrorSaysAddressOnce: a refused connection names the address
// once, without "dial tcp …: dial tcp …".
func TestConnectErrorSaysAddressOnce(t *testing.T) {
	addr := testfixture.RefusedAddr(t)
	_, err := session.Dial(testCtx(t), addr, nil)
	if !isA[*session.ConnectError](err) {
		t.Fatalf("err = %v (%T)", err, err)
	}
	msg := err.Error()
	if strings.Count(msg, addr) != 1 || strings.Count(msg, "dial") > 1 || strings.Count(msg, "session:") != 1 {
		t.Errorf("message %q repeats itself", msg)
	}
	if !strings.HasPrefix(msg, "session: connect to "+addr+": ") || !strings.Contains(msg, "refused") {
		t.Errorf("message %q", msg)
	}

	// The greeting's failure: one "session:".
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt(smtptest.Greeting)}})
	_, err = session.Dial(testCtx(t), srv.Addr, nil)
	if err == nil || strings.Count(err.Error(), "session:") != 1 || strings.Count(err.Error(), srv.Addr) != 1 {
		t.Errorf("greeting failure: %v", err)
	}
}

// TestLoginOnlyUnknownMechanisms: a server whose AUTH offers only
// mechanisms Login does not implement is told as such, not as a server
// without AUTH.
func TestLoginOnlyUnknownMechanisms(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: []string{"AUTH GSSAPI NTLM"}})
	c := dial(t, srv, nil)
	err := c.Login(testCtx(t), "alice", "secret")
	var ne *session.NotSupportedError
	if !errors.As(err, &ne) || ne.Extension != "AUTH" || strings.Join(ne.Offered, " ") != "GSSAPI NTLM" {
		t.Fatalf("err = %#v", err)
	}
	msg := err.Error()
	for _, want := range []string{"offers AUTH GSSAPI NTLM", "none of them is supported", "Login", "PLAIN", "auth.Mechanism"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "does not offer") {
		t.Errorf("message %q says AUTH is not offered", msg)
	}
	if hasCommand(srv, "AUTH") {
		t.Error("AUTH sent")
	}

	// An AUTH line that lists nothing.
	c = dial(t, newServer(t, smtptest.Config{Extensions: []string{"AUTH"}}), nil)
	if err := c.Login(testCtx(t), "alice", "secret"); !isA[*session.NotSupportedError](err) || !strings.Contains(err.Error(), "lists none") {
		t.Errorf("empty AUTH: %v", err)
	}

	// A mechanism given to Auth is another matter: it says what it
	// needs.
	c = dial(t, newServer(t, smtptest.Config{Extensions: []string{"AUTH GSSAPI"}}), nil)
	if err := c.Auth(testCtx(t), auth.Plain("", "alice", "x")); !isA[*session.NotSupportedError](err) || !strings.Contains(err.Error(), "AUTH PLAIN") {
		t.Errorf("Auth: %v", err)
	}
}

// TestStateErrorIsTyped: a caller branches on StateError.State, a value,
// not on prose (issue 22).
func TestStateErrorIsTyped(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	ctx := testCtx(t)
	_, err := c.Rcpt(ctx, command.Rcpt{To: mailbox("bob@example.org")})
	var se *session.StateError
	if !errors.As(err, &se) || se.State != session.StateGreeted {
		t.Fatalf("RCPT before EHLO: %v, want StateGreeted", err)
	}
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Rcpt(ctx, command.Rcpt{To: mailbox("bob@example.org")})
	if !errors.As(err, &se) || se.State != session.StateReady || se.Op != "RCPT" {
		t.Fatalf("RCPT before MAIL: %v, want a *StateError{RCPT, StateReady}", err)
	}
	if _, err := c.Mail(ctx, command.Mail{From: mailbox("alice@example.org")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Data(ctx)
	if !errors.As(err, &se) || se.State != session.StateNoRecipient {
		t.Fatalf("DATA without a recipient: %v, want StateNoRecipient", err)
	}
	if got, want := err.Error(), "session: DATA not allowed with no accepted recipient"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestDialerSettingsHaveOnePlace: a Dialer that sets what Options sets is
// refused before any I/O, not silently overwritten (issue 22).
func TestDialerSettingsHaveOnePlace(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	for _, d := range []struct {
		field  string
		dialer transport.Dialer
	}{
		{"Dialer.ImplicitTLS", transport.Dialer{ImplicitTLS: true}},
		{"Dialer.TLSConfig", transport.Dialer{TLSConfig: &tls.Config{}}},
		{"Dialer.Timeout", transport.Dialer{Timeout: time.Second}},
	} {
		_, err := session.Dial(testCtx(t), srv.Addr, &session.Options{Dialer: &d.dialer})
		var oe *session.OptionsError
		if !errors.As(err, &oe) || oe.Field != d.field {
			t.Errorf("%s set: %v, want an *OptionsError naming it", d.field, err)
		}
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("%d connections made, want none", n)
	}
	// What only the Dialer says is used.
	c, err := session.Dial(testCtx(t), srv.Addr, &session.Options{Dialer: &transport.Dialer{LocalAddr: "127.0.0.1"}})
	if err != nil {
		t.Fatalf("Dial with LocalAddr: %v", err)
	}
	c.Close()
}
