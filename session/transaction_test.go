package session_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

func TestSend(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(res.Recipients) != 2 || !res.Recipients[0].Accepted || !res.Recipients[1].Accepted {
		t.Fatalf("Recipients = %+v", res.Recipients)
	}
	if res.Mail.Code != 250 || res.Data.Code != 250 || len(res.Refused()) != 0 {
		t.Errorf("Mail %v, Data %v, Refused %v", res.Mail, res.Data, res.Refused())
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	m := msgs[0]
	if m.From != "alice@example.org" || strings.Join(m.To, ",") != "bob@example.org,carol@example.org" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if string(m.Data) != testBody {
		t.Errorf("data %q, want %q", m.Data, testBody)
	}
	if !bytes.Contains(m.Raw, []byte("\r\n..dot line\r\n")) || !bytes.HasSuffix(m.Raw, []byte("\r\n.\r\n")) {
		t.Errorf("raw data not dot-stuffed: %q", m.Raw)
	}
	// SIZE is known from the strings.Reader; a 7-bit body gets no BODY=.
	want := "MAIL FROM:<alice@example.org> SIZE=" + strconv.Itoa(len(testBody))
	if got := srv.Commands()[1]; got != want {
		t.Errorf("MAIL line %q, want %q", got, want)
	}
	if c.Extensions().Len() == 0 || !c.ESMTP() {
		t.Error("no extension table after Send")
	}
	// The session is reusable.
	if _, err := c.Send(testCtx(t), "", []string{"bob@example.org"}, strings.NewReader("x\n")); err != nil {
		t.Fatalf("second Send: %v", err)
	}
	if msgs := srv.Messages(); len(msgs) != 2 || msgs[1].From != "" || string(msgs[1].Data) != "x\r\n" {
		t.Errorf("second message %+v", msgs[len(msgs)-1])
	}
	reply, err := c.Quit(testCtx(t))
	if err != nil || reply.Code != 221 {
		t.Errorf("Quit = %v, %v", reply, err)
	}
	if _, err := c.Noop(testCtx(t)); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Noop after Quit: %v, want ErrClosed", err)
	}
}

func TestSendRefusedRecipient(t *testing.T) {
	srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<bob@", Reply: response.New(550, "5.1.1 <bob@example.org>: no such user")},
	}})
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", []string{"carol@example.org", "bob@example.org", "dave@example.org"}, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	refused := res.Refused()
	if len(refused) != 1 || refused[0].Address != "bob@example.org" || refused[0].Reply.Code != 550 ||
		refused[0].Reply.Enhanced.String() != "5.1.1" {
		t.Fatalf("Refused = %+v", refused)
	}
	if !res.Recipients[0].Accepted || res.Recipients[1].Accepted || !res.Recipients[2].Accepted {
		t.Errorf("Recipients = %+v", res.Recipients)
	}
	if m := srv.Messages(); len(m) != 1 || strings.Join(m[0].To, ",") != "carol@example.org,dave@example.org" {
		t.Errorf("server messages %+v", m)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		overrides []smtptest.Override
		check     func(t *testing.T, err error)
		wantRSET  bool
	}{
		{
			name:      "sender refused",
			overrides: []smtptest.Override{{Verb: "MAIL", Nth: 1, Reply: response.New(553, "5.7.1 sender not allowed")}},
			check: func(t *testing.T, err error) {
				var e *session.SenderRefusedError
				if !errors.As(err, &e) || e.Reply.Code != 553 || e.Sender != "alice@example.org" {
					t.Fatalf("err = %#v", err)
				}
			},
			wantRSET: false, // a refused MAIL opens no transaction (RFC 5321 §4.1.1.2)
		},
		{
			name: "all recipients refused",
			overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "bob", Nth: 1, Reply: response.New(550, "5.1.1 no bob")},
				{Verb: "RCPT", Match: "carol", Nth: 2, Reply: response.New(450, "4.2.1 carol busy")},
			},
			check: func(t *testing.T, err error) {
				var e *session.RecipientsRefusedError
				if !errors.As(err, &e) || len(e.Recipients) != 2 || e.Recipients[0].Reply.Code != 550 || e.Recipients[1].Reply.Code != 450 ||
					e.Recipients[0].Address != "bob@example.org" || e.Recipients[1].Address != "carol@example.org" {
					t.Fatalf("err = %#v", err)
				}
				var re *response.Error
				if !errors.As(err, &re) || re.Code() != 550 {
					t.Errorf("errors.As response.Error: %v", re)
				}
			},
			wantRSET: true,
		},
		{
			name:      "DATA refused",
			overrides: []smtptest.Override{{Verb: "DATA", Nth: 1, Reply: response.New(554, "5.5.1 no valid recipients")}},
			check: func(t *testing.T, err error) {
				var e *session.DataError
				if !errors.As(err, &e) || e.Reply.Code != 554 || e.Command != "DATA" {
					t.Fatalf("err = %#v", err)
				}
			},
			wantRSET: true,
		},
		{
			name:      "message refused after the data",
			overrides: []smtptest.Override{{Verb: smtptest.EndOfData, Nth: 1, Reply: response.New(552, "5.3.4 too big")}},
			check: func(t *testing.T, err error) {
				var e *session.DataError
				if !errors.As(err, &e) || e.Reply.Code != 552 || e.Command != "end of data" {
					t.Fatalf("err = %#v", err)
				}
				var re *response.Error
				if !errors.As(err, &re) || !re.Permanent() {
					t.Errorf("errors.As response.Error: %v", re)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Overrides: tt.overrides})
			c := dial(t, srv, nil)
			res, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(testBody))
			if err == nil {
				t.Fatalf("Send succeeded: %+v", res)
			}
			tt.check(t, err)
			if got := hasCommand(srv, "RSET"); got != tt.wantRSET {
				t.Errorf("RSET sent: %v, want %v (commands %q)", got, tt.wantRSET, srv.Commands())
			}
			// The session is still usable: the overrides fire only once.
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(testBody)); err != nil {
				t.Fatalf("Send after %s: %v", tt.name, err)
			}
			if n := len(srv.Messages()); n != 1 {
				t.Errorf("server has %d messages, want 1", n)
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

func TestStateMachine(t *testing.T) {
	srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Reply: response.New(550, "5.1.1 nobody here")},
	}})
	c := dial(t, srv, nil)
	ctx := testCtx(t)
	if _, err := c.Rcpt(ctx, command.Rcpt{To: command.Mailbox{Local: "bob", Domain: "example.org"}}); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("RCPT before MAIL: %v", err)
	}
	if _, err := c.Data(ctx); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("DATA before MAIL: %v", err)
	}
	if n := len(srv.Commands()); n != 0 {
		t.Fatalf("refused calls touched the wire: %q", srv.Commands())
	}
	if _, err := c.Mail(ctx, command.Mail{From: command.Mailbox{Local: "a", Domain: "example.org"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mail(ctx, command.Mail{}); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("second MAIL: %v", err)
	}
	_, err := c.Rcpt(ctx, command.Rcpt{To: command.Mailbox{Local: "bob", Domain: "example.org"}})
	var re *response.Error
	if !errors.As(err, &re) || re.Code() != 550 || re.Command != "RCPT" {
		t.Errorf("refused RCPT: %#v", err)
	}
	before := len(srv.Commands())
	if _, err := c.Data(ctx); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("DATA with no accepted recipient: %v", err)
	}
	if len(srv.Commands()) != before {
		t.Errorf("DATA refusal touched the wire")
	}
	if _, err := c.Rset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rcpt(ctx, command.Rcpt{To: command.Mailbox{Local: "bob", Domain: "example.org"}}); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("RCPT after RSET: %v", err)
	}
}

func TestLowLevelTransaction(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	var progress []int64
	c := dial(t, srv, &session.Options{Progress: func(n int64) { progress = append(progress, n) }})
	ctx := testCtx(t)
	from := command.Mailbox{Local: "alice", Domain: "example.org"}
	if _, err := c.Mail(ctx, command.Mail{From: from, Params: command.MailParams{Body: command.Body8BitMIME}}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"bob", "carol"} {
		if r, err := c.Rcpt(ctx, command.Rcpt{To: command.Mailbox{Local: to, Domain: "example.org"}}); err != nil || r.Code != 250 {
			t.Fatalf("RCPT %s: %v %v", to, r, err)
		}
	}
	w, err := c.Data(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Split writes across a line start with a dot and a bare LF.
	for _, p := range []string{"Subject: x\n\nline\n", ".", "hidden\n", "caf\xc3\xa9\n"} {
		if _, err := io.WriteString(w, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Noop(ctx); !errors.Is(err, session.ErrBadSequence) {
		t.Errorf("NOOP during DATA: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if w.Reply().Code != 250 || w.Written() != 31 {
		t.Errorf("Reply %v, Written %d", w.Reply(), w.Written())
	}
	if len(progress) != 4 || progress[3] != 31 {
		t.Errorf("progress %v", progress)
	}
	m := srv.Messages()[0]
	if want := "Subject: x\r\n\r\nline\r\n.hidden\r\ncaf\xc3\xa9\r\n"; string(m.Data) != want {
		t.Errorf("data %q, want %q", m.Data, want)
	}
	if !strings.Contains(srv.Commands()[1], "BODY=8BITMIME") {
		t.Errorf("MAIL line %q", srv.Commands()[1])
	}
	// The other commands, each with its reply.
	for _, tc := range []struct {
		name string
		call func() (response.Reply, error)
		code response.Code
	}{
		{"NOOP", func() (response.Reply, error) { return c.Noop(ctx) }, 250},
		{"RSET", func() (response.Reply, error) { return c.Rset(ctx) }, 250},
		{"VRFY", func() (response.Reply, error) { return c.Vrfy(ctx, "bob") }, 252},
		{"HELP", func() (response.Reply, error) { return c.Help(ctx, "") }, 214},
		{"Do", func() (response.Reply, error) { return c.Do(ctx, command.Noop{Arg: "ping"}) }, 250},
	} {
		r, err := tc.call()
		if err != nil || r.Code != tc.code {
			t.Errorf("%s = %v, %v; want %d", tc.name, r, err, tc.code)
		}
	}
	// Do returns a negative reply without an error (docmd).
	r, err := c.Do(ctx, command.Raw{Name: "XYZZY"})
	if err != nil || r.Code/100 != 5 {
		t.Errorf("Do(XYZZY) = %v, %v", r, err)
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

func TestSendSizeLimit(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: []string{"SIZE 100", "8BITMIME"}})
	c := dial(t, srv, nil)
	body := strings.Repeat("x", 101) // 103 octets with its final CRLF
	_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body))
	var te *session.MessageTooLargeError
	if !errors.As(err, &te) || te.Size != 103 || te.Limit != 100 {
		t.Fatalf("err = %#v", err)
	}
	if hasCommand(srv, "MAIL") {
		t.Error("MAIL sent for a message over the SIZE limit")
	}
	// 8-bit body: BODY=8BITMIME. Its size as sent is exactly the limit:
	// 100 octets once the bare LF is CRLF and a final CRLF is added.
	body = "caf\xc3\xa9\n" + strings.Repeat("x", 91)
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, bytes.NewReader([]byte(body))); err != nil {
		t.Fatal(err)
	}
	if got := srv.Commands()[1]; got != "MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME" {
		t.Errorf("MAIL line %q", got)
	}
}

func TestSendSMTPUTF8(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	if _, err := c.Send(testCtx(t), "jöran@example.org", []string{"bob@exämple.org"}, strings.NewReader("Subject: ü\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	mail := srv.Commands()[1]
	if !strings.Contains(mail, "SMTPUTF8") || !strings.Contains(mail, "jöran@example.org") {
		t.Errorf("MAIL line %q", mail)
	}
	srv2 := newServer(t, smtptest.Config{Extensions: []string{"8BITMIME"}})
	c2 := dial(t, srv2, nil)
	_, err := c2.Send(testCtx(t), "jöran@example.org", []string{"bob@example.org"}, strings.NewReader("hi\r\n"))
	var ne *session.NotSupportedError
	if !errors.As(err, &ne) || ne.Extension != "SMTPUTF8" {
		t.Fatalf("err = %#v", err)
	}
	if hasCommand(srv2, "MAIL") {
		t.Error("MAIL sent without SMTPUTF8 support")
	}
	// A U-label domain alone does not need SMTPUTF8: it goes as A-labels.
	if _, err := c2.Send(testCtx(t), "a@example.org", []string{"bob@exämple.org"}, strings.NewReader("hi\r\n")); err != nil {
		t.Fatal(err)
	}
	if !hasCommand(srv2, "RCPT TO:<bob@xn--exmple-cua.org>") {
		t.Errorf("commands %q", srv2.Commands())
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

func TestSendMessage(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	msg := "From: Alice <alice@example.org>\r\nTo: bob@example.org, Carol <carol@example.org>\r\nCc: dave@example.org\r\nBcc: eve@example.org\r\nSubject: s\r\n\r\nbody\r\n"
	if _, err := c.SendMessage(testCtx(t), strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()[0]
	if m.From != "alice@example.org" || strings.Join(m.To, " ") != "bob@example.org carol@example.org dave@example.org eve@example.org" {
		t.Errorf("envelope %q %q", m.From, m.To)
	}
	want := strings.Replace(msg, "Bcc: eve@example.org\r\n", "", 1)
	if string(m.Data) != want {
		t.Errorf("data %q, want %q", m.Data, want)
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

// Send takes addresses as users paste them into a To field (issue 18):
// the display name and comments are dropped, "<>" is the null sender, and
// a list is refused with an error that names it, before anything is sent.
func TestSendAcceptsPastedAddresses(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "Alice <alice@example.org>", []string{`"Bob, Jr." <bob@example.org>`, "carol@example.org (Carol)", "<dave@example.org>"}, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := srv.Messages()
	if len(m) != 1 || m[0].From != "alice@example.org" || !slices.Equal(m[0].To, []string{"bob@example.org", "carol@example.org", "dave@example.org"}) || len(res.Recipients) != 3 {
		t.Fatalf("server got %+v", m)
	}
	if _, err := c.Send(testCtx(t), "<>", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatalf("Send from <>: %v", err)
	}
	if m := srv.Messages(); len(m) != 2 || m[1].From != "" {
		t.Fatalf("null sender: %+v", m[len(m)-1])
	}
	before := len(srv.Commands())
	_, err = c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org, carol@example.org"}, strings.NewReader(testBody))
	var ae *command.AddressError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "bob@example.org, carol@example.org") || !session.Permanent(err) {
		t.Fatalf("a list as one recipient: %v (%T)", err, err)
	}
	if got := srv.Commands()[before:]; len(got) != 0 {
		t.Errorf("sent %q for an address that does not parse", got)
	}
}
