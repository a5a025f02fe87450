package session_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// TestSendMail: dial, EHLO, STARTTLS, login, send, QUIT, in one call.
func TestSendMail(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Extensions:  append(smtptest.DefaultExtensions(), "STARTTLS", "AUTH PLAIN SCRAM-SHA-256"),
		Users:       map[string]string{"alice": "correct horse"},
		RequireTLS:  true,
		RequireAuth: true,
	})
	opts := &session.Options{TLS: session.TLSRequired, TLSConfig: srv.ClientTLSConfig()}
	res, err := session.SendMail(testCtx(t), srv.Addr, opts, &session.Credentials{Username: "alice", Password: "correct horse"},
		"alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recipients) != 2 || !res.Data.Positive() {
		t.Errorf("result %+v", res)
	}
	m := srv.Messages()
	if len(m) != 1 || !m[0].TLS || m[0].AuthUser != "alice" {
		t.Fatalf("messages %+v", m)
	}
	// The SCRAM exchange's answers are lines too: only the commands count.
	var got []string
	for _, v := range verbs(srv) {
		switch v {
		case "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "BDAT", "DATA", "QUIT":
			got = append(got, v)
		}
	}
	want := []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "BDAT", "QUIT"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("commands %q, want %q", got, want)
	}
}

// TestSendMailMechanism: Credentials.Mechanism is used in place of the
// password.
func TestSendMailMechanism(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Extensions: append(smtptest.DefaultExtensions(), "STARTTLS", "AUTH PLAIN"),
		Users:      map[string]string{"alice": "pw"},
	})
	_, err := session.SendMail(testCtx(t), srv.Addr, &session.Options{TLSConfig: srv.ClientTLSConfig()},
		&session.Credentials{Mechanism: auth.Plain("", "alice", "pw")}, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].AuthUser != "alice" {
		t.Errorf("messages %+v", m)
	}
}

// TestSendMailNoPasswordInClear: to a server that does not offer
// STARTTLS and is not on this machine, the password is not sent, nor the
// message, and the error says why.
func TestSendMailNoPasswordInClear(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: []string{"AUTH PLAIN LOGIN"}, Users: map[string]string{"alice": "pw"}})
	// Through a "proxy", the Client cannot know where the bytes go.
	proxy := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	opts := &session.Options{Dialer: &transport.Dialer{Proxy: proxy}}
	_, err := session.SendMail(testCtx(t), srv.Addr, opts, &session.Credentials{Username: "alice", Password: "pw"},
		"alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	if !errors.Is(err, session.ErrInsecureAuth) || !session.Permanent(err) {
		t.Fatalf("err = %v; want ErrInsecureAuth", err)
	}
	if got := strings.Join(verbs(srv), " "); got != "EHLO QUIT" {
		t.Errorf("verbs %q; want EHLO QUIT", got)
	}
}

// TestSendMailErrors: a refused message is reported as Send reports it,
// and the session is still ended with QUIT.
func TestSendMailErrors(t *testing.T) {
	srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: reply(550, "5.1.1 no such user")}}})
	_, err := session.SendMail(testCtx(t), srv.Addr, nil, nil, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody))
	if !isA[*session.RecipientsRefusedError](err) {
		t.Fatalf("err = %v", err)
	}
	if v := verbs(srv); v[len(v)-1] != "QUIT" {
		t.Errorf("verbs %q; want QUIT last", v)
	}
	if _, err := session.SendMail(testCtx(t), "127.0.0.1:1", nil, nil, "a@example.org", []string{"b@example.org"}, strings.NewReader("x")); !isA[*session.ConnectError](err) {
		t.Errorf("dial failure: %v", err)
	}
}

// TestCredentialsNeverPrinted: fmt does not show the password, in any
// verb, by value or by pointer.
func TestCredentialsNeverPrinted(t *testing.T) {
	c := session.Credentials{Username: "alice", Password: "hunter2"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v %+v %#v", &c, &c, &c),
		fmt.Sprintf("%+v", struct{ C session.Credentials }{c})} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%q shows the password", s)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "alice") {
		t.Errorf("%q does not name the user", fmt.Sprint(c))
	}
}
