package session_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = session.Dial(testCtx(t), addr, nil)
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
