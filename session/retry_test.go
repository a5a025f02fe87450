package session_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
)

// retryCase is one error and what Temporary must say of it (Permanent
// must say the opposite). name is the exported identifier of package
// session it stands for, when it stands for one.
type retryCase struct {
	name      string
	err       error
	temporary bool
}

// constructedErrors holds one value of every error type and sentinel of
// package session (TestTaxonomyCoversEveryError checks that none is
// missing), and the errors of other packages that session returns as
// they are.
func constructedErrors() []retryCase {
	r450 := reply(450, "4.2.1 busy")
	r550 := reply(550, "5.1.1 no such user")
	r421 := reply(421, "4.3.2 shutting down")
	res := func(rs ...session.RecipientResult) *session.Result { return &session.Result{Recipients: rs} }
	verify := &transport.TLSError{Host: "mx.example", Err: x509.UnknownAuthorityError{}}
	return []retryCase{
		{"ErrServerDisconnected", session.ErrServerDisconnected, true},
		{"ErrClosed", session.ErrClosed, true},
		{"ErrAborted", session.ErrAborted, true},
		{"ErrRcptParams", session.ErrRcptParams, false},
		{"ErrBadSequence", session.ErrBadSequence, false},
		{"ErrInsecureAuth", session.ErrInsecureAuth, false},
		{"ErrDataAfterStartTLS", session.ErrDataAfterStartTLS, true},
		{"ErrNoRecipients", session.ErrNoRecipients, false},

		{"ConnectError", &session.ConnectError{Addr: "mx:25", Reply: reply(554, "5.3.2 no service")}, false},
		{"ConnectError/421 greeting", &session.ConnectError{Addr: "mx:25", Reply: r421}, true},
		{"ConnectError/refused", &session.ConnectError{Addr: "mx:25", Err: &transport.DialError{Addr: transport.Address{Host: "mx", Port: 25},
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}}}, true},
		{"ConnectError/bad address", &session.ConnectError{Addr: "a b", Err: &transport.AddressError{Input: "a b", Reason: "space"}}, false},
		{"ConnectError/no such host", &session.ConnectError{Addr: "nx.example:25", Err: &transport.DialError{Addr: transport.Address{Host: "nx.example", Port: 25},
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nx.example", IsNotFound: true}}}}, false},
		{"ConnectError/DNS timeout", &session.ConnectError{Addr: "mx.example:25", Err: &transport.DialError{Addr: transport.Address{Host: "mx.example", Port: 25},
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "timeout", Name: "mx.example", IsTimeout: true}}}}, true},
		{"ConnectError/implicit TLS unverified", &session.ConnectError{Addr: "mx:465", Err: &transport.DialError{Addr: transport.Address{Host: "mx", Port: 465}, Err: verify}}, false},
		{"HelloError", &session.HelloError{Command: "EHLO", Reply: reply(550, "5.7.1 go away")}, false},
		{"HelloError/421", &session.HelloError{Command: "EHLO", Reply: r421}, true},
		{"SenderRefusedError", &session.SenderRefusedError{Sender: "a@x", Reply: reply(553, "5.1.8 bad sender")}, false},
		{"SenderRefusedError/451", &session.SenderRefusedError{Sender: "a@x", Reply: reply(451, "4.3.0 try later")}, true},
		{"RecipientsRefusedError", &session.RecipientsRefusedError{Recipients: []session.RecipientResult{{Address: "b@x", Reply: r550}, {Address: "c@x", Reply: r550}}}, false},
		{"RecipientsRefusedError/one 4yz", &session.RecipientsRefusedError{Recipients: []session.RecipientResult{{Address: "b@x", Reply: r550}, {Address: "c@x", Reply: r450}}}, true},
		{"DataError", &session.DataError{Command: "end of data", Reply: reply(554, "5.6.0 content rejected")}, false},
		{"DataError/452", &session.DataError{Command: "end of data", Reply: reply(452, "4.3.1 no space")}, true},
		{"DataError/421", &session.DataError{Command: "DATA", Reply: r421}, true},
		{"DeliveryError", &session.DeliveryError{Result: res(session.RecipientResult{Address: "b@x", Accepted: true, Data: r550})}, false},
		{"DeliveryError/one 4yz", &session.DeliveryError{Result: res(
			session.RecipientResult{Address: "b@x", Accepted: true, Data: r550},
			session.RecipientResult{Address: "c@x", Accepted: true, Data: reply(452, "4.2.2 over quota")})}, true},
		{"NotSupportedError", &session.NotSupportedError{Extension: "STARTTLS", Reason: "by TLSRequired"}, false},
		{"AuthError", &session.AuthError{Mechanism: "PLAIN", Reply: reply(535, "5.7.8 bad credentials")}, false},
		{"AuthError/454", &session.AuthError{Mechanism: "PLAIN", Reply: reply(454, "4.7.0 try later")}, true},
		{"AuthError/insecure", &session.AuthError{Mechanism: "PLAIN", Err: session.ErrInsecureAuth}, false},
		{"AuthError/mechanism gave up", &session.AuthError{Mechanism: "SCRAM-SHA-256", Reply: reply(501, "5.0.0 canceled"), Err: errors.New("bad nonce")}, false},
		{"AuthError/unproven 235", &session.AuthError{Mechanism: "SCRAM-SHA-256", Reply: reply(235, "2.7.0 ok"), Err: errors.New("server signature")}, false},
		{"MessageTooLargeError", &session.MessageTooLargeError{Size: 2, Limit: 1}, false},
		{"LineTooLongError", &session.LineTooLongError{Line: 3, Length: 1200, Limit: 998}, false},
		{"LineTooLongError/DATA aborted", fmt.Errorf("%w: %w", session.ErrAborted, &session.LineTooLongError{Line: 3, Length: 1200, Limit: 998}), false},
		{"DisconnectedError", &session.DisconnectedError{Op: "RCPT", Err: io.EOF}, true},
		{"DisconnectedError/421", &session.DisconnectedError{Op: "MAIL", Err: r421.Err("MAIL")}, true},
		{"DisconnectedError/221", &session.DisconnectedError{Op: "MAIL", Err: &response.Error{Reply: reply(221, "2.0.0 bye"), Command: "MAIL"}}, true},
		{"TimeoutError", &session.TimeoutError{Phase: "MAIL", After: time.Minute, Err: os.ErrDeadlineExceeded}, true},
		{"TimeoutError/context", &session.TimeoutError{Phase: "MAIL", Err: context.DeadlineExceeded}, true},
		{"StateError", &session.StateError{Op: "RCPT", State: session.StateReady}, false},
		{"OptionsError", &session.OptionsError{Field: "Dialer.Timeout", Use: "Options.Timeouts.Connect"}, false},
		{"UnexpectedReplyError", &session.UnexpectedReplyError{Command: "RCPT", Reply: reply(354, "go ahead")}, true},
		{"UnansweredError", &session.UnansweredError{Command: "end of data", MaybeDelivered: true, Err: &session.TimeoutError{Phase: "end of data", After: time.Minute, Err: os.ErrDeadlineExceeded}}, true},
		{"UnansweredError/421", &session.UnansweredError{Command: "RCPT", Err: &session.DisconnectedError{Op: "MAIL", Err: r421.Err("MAIL")}}, true},
		{"UnansweredError/body", &session.UnansweredError{Command: "end of data", Err: &session.BodyError{Err: io.ErrUnexpectedEOF}}, false},
		{"DesyncError", &session.DesyncError{After: "RCPT", Buffered: 5}, true},
		{"BodyError", &session.BodyError{Err: errors.New("disk on fire")}, false},
		{"BodyError/timeout", &session.BodyError{Err: os.ErrDeadlineExceeded}, false},
		{"HeaderError", &session.HeaderError{Field: "To", Reason: "address does not parse"}, false},
		{"HeaderError/no recipients", &session.HeaderError{Reason: "no recipients", Err: session.ErrNoRecipients}, false},

		// From other packages, as the session returns them.
		{"*transport.TLSError/unverified", verify, false},
		{"*transport.TLSError/name mismatch", &transport.TLSError{Host: "mx", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "mx"}}, false},
		{"*transport.TLSError/no server name", &transport.TLSError{Err: transport.ErrNoServerName}, false},
		{"*transport.TLSError/alert", &transport.TLSError{Host: "mx", Err: tls.AlertError(40)}, false},
		{"*transport.TLSError/reset", &transport.TLSError{Host: "mx", Err: &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}}, true},
		{"*transport.TLSError/EOF", &transport.TLSError{Host: "mx", Err: io.EOF}, true},
		{"*transport.TLSError/deadline", &transport.TLSError{Host: "mx", Err: context.DeadlineExceeded}, true},
		{"*transport.ProxyError/refused", &transport.ProxyError{Protocol: "SOCKS5", Err: transport.ErrProxyRefused}, true},
		{"*transport.ProxyError/407", &transport.ProxyError{Protocol: "HTTP CONNECT", StatusCode: 407, Err: transport.ErrProxyRefused}, false},
		{"*transport.ProxyError/request", &transport.ProxyError{Protocol: "HTTP CONNECT", Err: fmt.Errorf("%w: bad target", transport.ErrProxyRequest)}, false},
		{"*transport.MXError/null MX", &transport.MXError{Domain: "x", Err: transport.ErrNullMX}, false},
		{"*command.Error", fmt.Errorf("session: recipient: %w", &command.Error{Arg: "address", Err: command.ErrSyntax}), false},
		{"*command.AddressError", fmt.Errorf("session: recipient: %w", &command.AddressError{Address: "bob@@x", Offset: 4, Reason: "a second @", Err: command.ErrSyntax}), false},
		{"*wire.ProtocolError", fmt.Errorf("session: MAIL: %w", &wire.ProtocolError{Err: wire.ErrLineTooLong}), true},
		{"*response.Error/450", r450.Err("RCPT"), true},
		{"*response.Error/550", r550.Err("RCPT"), false},
		{"context.Canceled", fmt.Errorf("session: MAIL: %w", context.Canceled), true},
		{"context.DeadlineExceeded", context.DeadlineExceeded, true},
		{"foreign", errors.New("something else"), true},
	}
}

// TestTemporaryPermanentEveryType: Temporary and Permanent over one
// value of every error type of the package, each exactly one of them.
func TestTemporaryPermanentEveryType(t *testing.T) {
	for _, tt := range constructedErrors() {
		t.Run(tt.name, func(t *testing.T) {
			checkRetry(t, tt.err, tt.temporary)
		})
	}
	if session.Temporary(nil) || session.Permanent(nil) {
		t.Error("nil is Temporary or Permanent")
	}
}

func checkRetry(t *testing.T, err error, temporary bool) {
	t.Helper()
	tmp, perm := session.Temporary(err), session.Permanent(err)
	if tmp == perm {
		t.Errorf("%v (%T): Temporary %v, Permanent %v: want exactly one", err, err, tmp, perm)
	}
	if tmp != temporary {
		t.Errorf("%v (%T): Temporary = %v, want %v", err, err, tmp, temporary)
	}
}

// TestTaxonomyCoversEveryError: every exported error type (a type named
// ...Error) and error variable (Err...) of package session has a value in
// constructedErrors, so that a new one cannot be left out of the rule.
func TestTaxonomyCoversEveryError(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() && strings.HasSuffix(s.Name.Name, "Error") {
						names = append(names, s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && strings.HasPrefix(n.Name, "Err") {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d error names: %v", len(names), names)
	}
	var have []string
	for _, c := range constructedErrors() {
		have = append(have, strings.SplitN(c.name, "/", 2)[0])
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			t.Errorf("%s has no case in constructedErrors: Temporary and Permanent are untested for it", n)
		}
	}
	// The package documentation lists every type and sentinel.
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(doc), n) {
			t.Errorf("the package documentation does not mention %s", n)
		}
	}
}

// TestTemporaryPermanentScenarios: the rule over errors the package
// really returns, from a test server.
func TestTemporaryPermanentScenarios(t *testing.T) {
	send := func(t *testing.T, srv *smtptest.Server, opts *session.Options, to ...string) error {
		t.Helper()
		if len(to) == 0 {
			to = []string{"bob@example.org"}
		}
		c, err := session.Dial(testCtx(t), srv.Addr, opts)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(testBody))
		return err
	}
	override := func(verb string, code response.Code, text string) smtptest.Config {
		return smtptest.Config{Overrides: []smtptest.Override{{Verb: verb, Reply: reply(code, text)}}}
	}
	short := session.Timeouts{Mail: 100 * time.Millisecond}
	tests := []struct {
		name      string
		run       func(t *testing.T) error
		check     func(error) bool
		temporary bool
	}{
		{"all recipients 550", func(t *testing.T) error {
			return send(t, newServer(t, override("RCPT", 550, "5.1.1 no such user")), nil)
		}, isA[*session.RecipientsRefusedError], false},
		{"all recipients 450", func(t *testing.T) error {
			return send(t, newServer(t, override("RCPT", 450, "4.2.1 busy")), nil)
		}, isA[*session.RecipientsRefusedError], true},
		{"sender 553", func(t *testing.T) error {
			return send(t, newServer(t, override("MAIL", 553, "5.1.8 bad sender")), nil)
		}, isA[*session.SenderRefusedError], false},
		{"421 to MAIL", func(t *testing.T) error {
			return send(t, newServer(t, override("MAIL", 421, "4.3.2 closing")), nil)
		}, isA[*response.Error], true},
		{"554 after the data", func(t *testing.T) error {
			return send(t, newServer(t, override(smtptest.EndOfData, 554, "5.6.0 rejected")), nil)
		}, isA[*session.DataError], false},
		{"554 greeting", func(t *testing.T) error {
			g := reply(554, "5.3.2 no service")
			return send(t, newServer(t, smtptest.Config{Greeting: &g}), nil)
		}, isA[*session.ConnectError], false},
		{"421 greeting", func(t *testing.T) error {
			g := reply(421, "4.3.2 busy")
			return send(t, newServer(t, smtptest.Config{Greeting: &g}), nil)
		}, isA[*session.ConnectError], true},
		{"MAIL phase timeout", func(t *testing.T) error {
			srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.StallAt("MAIL", 2*time.Second)}})
			return send(t, srv, &session.Options{Timeouts: short})
		}, isA[*session.TimeoutError], true},
		{"connection closed at RCPT", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt("RCPT")}}), nil)
		}, func(err error) bool { return errors.Is(err, session.ErrServerDisconnected) }, true},
		{"garbage reply", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.GarbageAt("MAIL", []byte("\x00\x01garbage\r\n"))}}), nil)
		}, func(err error) bool { return err != nil }, true},
		{"certificate not verified", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{Extensions: tlsExtensions}), nil)
		}, isA[*transport.TLSError], false},
		{"TLSRequired, no STARTTLS", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{}), &session.Options{TLS: session.TLSRequired})
		}, isA[*session.NotSupportedError], false},
		{"over the SIZE limit", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{Extensions: []string{"SIZE 10"}}), nil)
		}, isA[*session.MessageTooLargeError], false},
		{"bad recipient address", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{}), nil, "bob@@example.org")
		}, func(err error) bool { return errors.Is(err, command.ErrSyntax) }, false},
		{"CR LF in an address", func(t *testing.T) error {
			return send(t, newServer(t, smtptest.Config{}), nil, "bob@example.org\r\nRSET")
		}, func(err error) bool { return errors.Is(err, command.ErrIllegalChar) }, false},
		{"connection refused", func(t *testing.T) error {
			addr := testfixture.RefusedAddr(t)
			_, err := session.Dial(testCtx(t), addr, nil)
			return err
		}, isA[*session.ConnectError], true},
		{"wrong password", func(t *testing.T) error {
			srv := newServer(t, smtptest.Config{Extensions: []string{"AUTH PLAIN"}, Users: map[string]string{"alice": "right"}})
			c := dial(t, srv, nil)
			return c.Login(testCtx(t), "alice", "wrong")
		}, isA[*session.AuthError], false},
		{"password over plaintext", func(t *testing.T) error {
			srv := newServer(t, smtptest.Config{Extensions: []string{"AUTH PLAIN"}})
			conn, err := net.Dial("tcp", srv.Addr) // not known to be local
			if err != nil {
				t.Fatal(err)
			}
			c, err := session.NewClient(testCtx(t), conn, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			return c.Login(testCtx(t), "alice", "secret")
		}, func(err error) bool { return errors.Is(err, session.ErrInsecureAuth) }, false},
		{"body read fails", func(t *testing.T) error {
			c := dial(t, newServer(t, smtptest.Config{}), nil)
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"},
				io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), iotestErrReader{errors.New("disk on fire")}))
			return err
		}, func(err error) bool { return errors.As(err, new(*session.BodyError)) }, false},
		{"header without recipients", func(t *testing.T) error {
			c := dial(t, newServer(t, smtptest.Config{}), nil)
			_, err := c.SendMessage(testCtx(t), strings.NewReader("From: alice@example.org\r\n\r\nhi\r\n"))
			return err
		}, func(err error) bool { return errors.Is(err, session.ErrNoRecipients) }, false},
		{"after Abort", func(t *testing.T) error {
			c := dial(t, newServer(t, smtptest.Config{}), nil)
			w := startData(t, c)
			w.Abort()
			_, err := c.Noop(testCtx(t))
			return err
		}, func(err error) bool { return errors.Is(err, session.ErrAborted) }, true},
		{"after Close", func(t *testing.T) error {
			c := dial(t, newServer(t, smtptest.Config{}), nil)
			c.Close()
			_, err := c.Noop(testCtx(t))
			return err
		}, func(err error) bool { return errors.Is(err, session.ErrClosed) }, true},
		{"call out of order", func(t *testing.T) error {
			c := dial(t, newServer(t, smtptest.Config{}), nil)
			_, err := c.Rcpt(testCtx(t), command.Rcpt{To: mailbox("bob@example.org")})
			return err
		}, func(err error) bool { return errors.Is(err, session.ErrBadSequence) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v (%T): not the error this case is about", err, err)
			}
			checkRetry(t, err, tt.temporary)
		})
	}
}

// startData runs MAIL, RCPT and DATA with the low-level calls and
// returns the DataWriter.
func startData(t *testing.T, c *session.Client) *session.DataWriter {
	t.Helper()
	ctx := testCtx(t)
	if _, err := c.Mail(ctx, command.Mail{From: mailbox("alice@example.org")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rcpt(ctx, command.Rcpt{To: mailbox("bob@example.org")}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestTimeoutErrorContextDeadline: a context's deadline that passes while
// the Client waits is a *TimeoutError matching context.DeadlineExceeded;
// a phase timeout is a *TimeoutError that does not. Both are Temporary.
func TestTimeoutErrorContextDeadline(t *testing.T) {
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.StallAt("MAIL", 2*time.Second)}})

	c := dial(t, srv, nil)
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	var te *session.TimeoutError
	if !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("context deadline: err = %v (%T); want a *TimeoutError matching context.DeadlineExceeded and os.ErrDeadlineExceeded", err, err)
	} else if te.After != 0 || te.Phase != "MAIL" {
		t.Errorf("context deadline: TimeoutError{Phase: %q, After: %v}; want MAIL, 0", te.Phase, te.After)
	}
	checkRetry(t, err, true)

	c = dial(t, srv, &session.Options{Timeouts: session.Timeouts{Mail: 200 * time.Millisecond}})
	_, err = c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	if !errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("phase timeout: err = %v (%T); want a *TimeoutError not matching context.DeadlineExceeded", err, err)
	} else if te.After != 200*time.Millisecond {
		t.Errorf("phase timeout: After = %v", te.After)
	}
	checkRetry(t, err, true)
}

// TestDeadlineCauseKept: a cause given with the deadline is in the
// error, and the error still matches context.DeadlineExceeded.
func TestDeadlineCauseKept(t *testing.T) {
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.StallAt("MAIL", 2*time.Second)}})
	c := dial(t, srv, nil)
	why := errors.New("the queue run is over")
	ctx, cancel := context.WithDeadlineCause(testCtx(t), time.Now().Add(200*time.Millisecond), why)
	defer cancel()
	_, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, why) || !isA[*session.TimeoutError](err) {
		t.Errorf("err = %v (%T); want a *TimeoutError matching context.DeadlineExceeded and the cause", err, err)
	}
}

// TestAbortReturnsErrAborted: after DataWriter.Abort, the Client's calls
// and the DataWriter's return ErrAborted, and the server got no message.
func TestAbortReturnsErrAborted(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	w := startData(t, c)
	io.WriteString(w, "Subject: half\r\n\r\nhalf a mess")
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	ctx := testCtx(t)
	_, noopErr := c.Noop(ctx)
	_, sendErr := c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	_, writeErr := w.Write([]byte("more"))
	closeErr := w.Close()
	for name, err := range map[string]error{"Noop": noopErr, "Send": sendErr, "Write": writeErr, "Close": closeErr} {
		if !errors.Is(err, session.ErrAborted) {
			t.Errorf("%s after Abort: %v; want ErrAborted", name, err)
		}
		if errors.Is(err, session.ErrServerDisconnected) {
			t.Errorf("%s after Abort matches ErrServerDisconnected", name)
		}
	}
	if m := srv.Messages(); len(m) != 0 {
		t.Errorf("the server accepted %d messages", len(m))
	}
}

// TestWriteAfterCloseIsStateError: a DataWriter written after Close says
// so with a *StateError, not an error of its own kind.
func TestWriteAfterCloseIsStateError(t *testing.T) {
	c := dial(t, newServer(t, smtptest.Config{}), nil)
	w := startData(t, c)
	io.WriteString(w, testBody)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := w.Write([]byte("late"))
	if !errors.Is(err, session.ErrBadSequence) || !session.Permanent(err) {
		t.Errorf("Write after Close: %v (%T); want a *StateError", err, err)
	}
}

// TestErrClosedIsNotErrServerDisconnected: closed by the caller, and
// closed by the server, are told apart, both ways.
func TestErrClosedIsNotErrServerDisconnected(t *testing.T) {
	c := dial(t, newServer(t, smtptest.Config{}), nil)
	c.Close()
	_, err := c.Noop(testCtx(t))
	if !errors.Is(err, session.ErrClosed) || errors.Is(err, session.ErrServerDisconnected) {
		t.Errorf("after Close: %v; want ErrClosed only", err)
	}
	var zero session.Client
	if _, err := zero.Noop(testCtx(t)); !errors.Is(err, session.ErrClosed) {
		t.Errorf("zero Client: %v; want ErrClosed", err)
	}

	c = dial(t, newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt("NOOP")}}), nil)
	_, err = c.Noop(testCtx(t))
	if !errors.Is(err, session.ErrServerDisconnected) || errors.Is(err, session.ErrClosed) {
		t.Errorf("closed by the server: %v; want ErrServerDisconnected only", err)
	}
}
