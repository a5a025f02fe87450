package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestHelloReply: the reply to the greeting the Client sent on its own is
// there to read, and follows the EHLO sent again after STARTTLS.
func TestHelloReply(t *testing.T) {
	srv := newServer(t, smtptest.Config{Hostname: "mx.example.org"})
	c := dial(t, srv, &session.Options{LocalName: localName})
	if r := c.HelloReply(); r.Code != 0 {
		t.Errorf("before any hello: %v", r)
	}
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	r := c.HelloReply()
	if r.Code != 250 || r.Lines()[0] != "mx.example.org greets "+localName || !strings.Contains(r.Text, "8BITMIME") {
		t.Errorf("HelloReply after Send = %q", r)
	}

	// After STARTTLS, the second EHLO's.
	srv = newServer(t, smtptest.Config{Extensions: tlsExtensions})
	c = dial(t, srv, &session.Options{TLSConfig: srv.ClientTLSConfig()})
	if err := c.Hello(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r := c.HelloReply(); r.Code != 250 || strings.Contains(r.Text, "STARTTLS") {
		t.Errorf("HelloReply after STARTTLS = %q; want the reply without STARTTLS", r)
	}

	// HELO, when EHLO is refused.
	srv = newServer(t, smtptest.Config{DisableEHLO: true})
	c = dial(t, srv, nil)
	if err := c.Hello(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if r := c.HelloReply(); r.Code != 250 || c.ESMTP() {
		t.Errorf("HelloReply after HELO = %q", r)
	}
}

// TestEhloAs: a name for one EHLO or HELO, without changing the one the
// Client uses on its own; a name that cannot be sent is refused before
// anything is written.
func TestEhloAs(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: tlsExtensions})
	c := dial(t, srv, &session.Options{LocalName: localName, TLSConfig: srv.ClientTLSConfig()})
	ctx := testCtx(t)
	r, err := c.EhloAs(ctx, "probe.example")
	if err != nil || r.Code != 250 {
		t.Fatalf("EhloAs = %v, %v", r, err)
	}
	if r, err := c.HeloAs(ctx, "[192.0.2.1]"); err != nil || r.Code != 250 || c.ESMTP() {
		t.Fatalf("HeloAs = %v, %v", r, err)
	}
	before := len(srv.Commands())
	if _, err := c.EhloAs(ctx, "bad\r\nname"); !errors.Is(err, command.ErrIllegalChar) {
		t.Errorf("EhloAs with CR LF: %v", err)
	}
	if _, err := c.EhloAs(ctx, "two words"); err == nil {
		t.Error("EhloAs with a space: no error")
	}
	if len(srv.Commands()) != before {
		t.Errorf("a refused name was sent: %q", srv.Commands()[before:])
	}
	if _, err := c.Ehlo(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"EHLO probe.example", "HELO [192.0.2.1]", "EHLO " + localName, "STARTTLS", "EHLO " + localName}
	if got := srv.Commands(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", got, want)
	}

	// In LMTP, EhloAs sends LHLO, and HeloAs nothing.
	lsrv := newServer(t, smtptest.Config{LMTP: true})
	lc, err := lmtp.Dial(ctx, lsrv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if _, err := lc.EhloAs(ctx, "lmtp.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.HeloAs(ctx, "x.example"); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("HeloAs in LMTP: %v", err)
	}
	if got := lsrv.Commands(); len(got) != 1 || got[0] != "LHLO lmtp.example" {
		t.Errorf("LMTP commands %q", got)
	}
}
