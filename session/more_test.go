package session_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

func TestNewClientOverOwnConn(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := session.NewClient(testCtx(t), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Greeting().Code != 220 {
		t.Errorf("greeting %v", c.Greeting())
	}
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if c.Conn() != conn {
		t.Error("Conn() is not the connection given")
	}
}

func TestLogger(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := dial(t, srv, &session.Options{Logger: log})
	if _, err := c.Noop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "dir=C line=NOOP") || !strings.Contains(out, "dir=S line=\"250 ") {
		t.Errorf("log:\n%s", out)
	}
}

func TestSendEnvelopeParams(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	env := &session.Envelope{
		From:       command.Mailbox{Local: "alice", Domain: "example.org"},
		To:         []command.Mailbox{{Local: "bob", Domain: "example.org"}, {Local: "carol", Domain: "example.org"}},
		MailParams: command.MailParams{Ret: command.RetHeaders, EnvID: "id+1"},
		RcptParams: []command.RcptParams{{Notify: command.NotifyFailure | command.NotifyDelay}, {}},
	}
	if _, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	cmds := srv.Commands()
	if !strings.Contains(cmds[1], "RET=HDRS") || !strings.Contains(cmds[1], "ENVID=id+2B1") {
		t.Errorf("MAIL %q", cmds[1])
	}
	if !strings.Contains(cmds[2], "NOTIFY=FAILURE,DELAY") || strings.Contains(cmds[3], "NOTIFY") {
		t.Errorf("RCPTs %q %q", cmds[2], cmds[3])
	}

	env.RcptParams = env.RcptParams[:1]
	if _, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n")); err == nil {
		t.Error("RcptParams of the wrong length accepted")
	}
	if _, err := c.SendEnvelope(testCtx(t), &session.Envelope{}, strings.NewReader("x\r\n")); !errors.Is(err, session.ErrNoRecipients) {
		t.Errorf("no recipients: %v", err)
	}
}

func TestExtensionChecks(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: []string{"SIZE 1000"}})
	c := dial(t, srv, nil)
	from := command.Mailbox{Local: "a", Domain: "example.org"}
	for _, p := range []command.MailParams{
		{Body: command.Body8BitMIME},
		{SMTPUTF8: true},
		{Ret: command.RetFull},
		{RequireTLS: true},
		{Auth: "<>"},
	} {
		if _, err := c.Mail(testCtx(t), command.Mail{From: from, Params: p}); err == nil {
			t.Errorf("MAIL with %+v sent to a server without the extension", p)
		} else {
			var ne *session.NotSupportedError
			if !errors.As(err, &ne) {
				t.Errorf("%+v: err = %v", p, err)
			}
		}
	}
	if hasCommand(srv, "MAIL") {
		t.Fatalf("MAIL reached the wire: %q", srv.Commands())
	}
	// A bad address is refused by command, before the wire.
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@exa mple.org"}, strings.NewReader("x")); err == nil {
		t.Error("bad address accepted")
	}
	var ce *command.Error
	_, err := c.Mail(testCtx(t), command.Mail{From: command.Mailbox{Local: "a\r\nRCPT TO:<x@y>", Domain: "example.org"}})
	if !errors.As(err, &ce) || hasCommand(srv, "MAIL") {
		t.Errorf("injection: err = %v, commands %q", err, srv.Commands())
	}
}

func TestSendMessageErrors(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	for _, msg := range []string{
		"Resent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-Date: Tue, 2 Jan 2024 00:00:00 +0000\r\nFrom: a@example.org\r\nTo: b@example.org\r\n\r\nx\r\n",
		"Subject: no addresses\r\n\r\nx\r\n",
		"From: a@example.org\r\n\r\nno recipients\r\n",
	} {
		if _, err := c.SendMessage(testCtx(t), strings.NewReader(msg)); err == nil {
			t.Errorf("SendMessage(%q) succeeded", msg)
		}
	}
	if hasCommand(srv, "MAIL") {
		t.Errorf("MAIL sent for a message without a usable envelope")
	}
	// Resent-: exactly one Resent-Date selects the Resent- fields.
	msg := "From: a@example.org\r\nTo: b@example.org\r\nResent-Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nResent-From: r@example.org\r\nResent-To: x@example.org\r\nResent-Bcc: y@example.org\r\n\r\nbody\r\n"
	if _, err := c.SendMessage(testCtx(t), strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if m.From != "r@example.org" || strings.Join(m.To, " ") != "x@example.org y@example.org" || bytes.Contains(m.Data, []byte("Resent-Bcc")) {
		t.Errorf("message %q -> %q: %q", m.From, m.To, m.Data)
	}
}

func TestQuitDuringData(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	ctx := testCtx(t)
	if _, err := c.Mail(ctx, command.Mail{From: command.Mailbox{Local: "a", Domain: "example.org"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rcpt(ctx, command.Rcpt{To: command.Mailbox{Local: "b", Domain: "example.org"}}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: half a message\r\n"))
	if _, err := c.Quit(ctx); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("Quit during DATA: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Error("Close after Quit reported the message accepted")
	}
	srv.Close() // waits for the server's connection to end
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server accepted %d messages", n)
	}
	if hasCommand(srv, "QUIT") {
		t.Error("QUIT went out as message data or a command")
	}
}

// TestDialDefaultPortsAndDialer checks the address Dial asks for, through
// a caller's dial function that then connects to smtptest: port 25 by
// default, 465 with implicit TLS, the port as written otherwise.
func TestDialDefaultPortsAndDialer(t *testing.T) {
	for _, tt := range []struct {
		addr string
		mode session.TLSMode
		want string
	}{
		{"mx.example.org", session.TLSOpportunistic, "mx.example.org:25"},
		{"mx.example.org:587", session.TLSRequired, "mx.example.org:587"},
		{"[2001:db8::1]", session.TLSOff, "[2001:db8::1]:25"},
		{"localhost", session.TLSImplicit, "localhost:465"},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			cfg := smtptest.Config{ImplicitTLS: tt.mode == session.TLSImplicit}
			if tt.mode == session.TLSRequired {
				cfg.Extensions = tlsExtensions
			}
			srv := newServer(t, cfg)
			var asked []string
			d := &transport.Dialer{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
				asked = append(asked, network+" "+address)
				var nd net.Dialer
				return nd.DialContext(ctx, "tcp", srv.Addr)
			}}
			tc := srv.ClientTLSConfig()
			tc.ServerName = "localhost"
			c, err := session.Dial(testCtx(t), tt.addr, &session.Options{TLS: tt.mode, TLSConfig: tc, Dialer: d})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader("x\r\n")); err != nil {
				t.Fatal(err)
			}
			if len(asked) != 1 || asked[0] != "tcp "+tt.want {
				t.Errorf("dialled %q, want %q", asked, "tcp "+tt.want)
			}
			_, isTLS := c.TLS()
			if want := tt.mode == session.TLSImplicit || tt.mode == session.TLSRequired; isTLS != want {
				t.Errorf("TLS = %v, want %v", isTLS, want)
			}
		})
	}
}

// A message refused at DATA (or its end) still reports what the server
// said to MAIL and each RCPT, on the sequential and pipelined paths.
func TestDataErrorCarriesResult(t *testing.T) {
	for _, ext := range [][]string{nil, {"PIPELINING"}, {"PIPELINING", "CHUNKING"}} {
		verb := "DATA"
		if len(ext) == 2 {
			verb = "BDAT"
		}
		srv := newServer(t, smtptest.Config{Extensions: ext, Overrides: []smtptest.Override{
			{Verb: "RCPT", Match: "<nobody@", Reply: response.New(550, "5.1.1 no such user")},
			{Verb: verb, Reply: response.New(554, "5.6.0 refused")},
		}})
		c := dial(t, srv, nil)
		_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org", "nobody@example.org"}, strings.NewReader("x\r\n"))
		var de *session.DataError
		if !errors.As(err, &de) || de.Result == nil {
			t.Fatalf("%v: err = %v, want a *DataError with its Result", ext, err)
		}
		rs := de.Result.Recipients
		if de.Result.Mail.Code != 250 || len(rs) != 2 || !rs[0].Accepted || rs[1].Accepted || rs[1].Reply.Code != 550 {
			t.Errorf("%v: result %+v", ext, de.Result)
		}
	}
}
