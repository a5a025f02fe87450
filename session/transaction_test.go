package session_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

const testBody = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n.dot line\r\n"

// sequentialExtensions are smtptest's defaults without PIPELINING and
// CHUNKING: the tests written for the one-command-at-a-time path (DATA,
// a reply awaited per command) run on it. pipeline_test.go covers the
// pipelined and BDAT paths.
func sequentialExtensions() []string {
	var out []string
	for _, e := range smtptest.DefaultExtensions() {
		if e != "PIPELINING" && e != "CHUNKING" {
			out = append(out, e)
		}
	}
	return out
}

// newServer starts a test server, on sequentialExtensions unless cfg
// lists its own.
func newServer(t *testing.T, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	if cfg.Extensions == nil {
		cfg.Extensions = sequentialExtensions()
	}
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
	t.Helper()
	c, err := session.Dial(testCtx(t), srv.Addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// verbs returns the verbs of the command lines the server received.
func verbs(srv *smtptest.Server) []string {
	var out []string
	for _, l := range srv.Commands() {
		v, _, _ := strings.Cut(l, " ")
		out = append(out, strings.ToUpper(v))
	}
	return out
}

func hasCommand(srv *smtptest.Server, prefix string) bool {
	for _, l := range srv.Commands() {
		if strings.HasPrefix(strings.ToUpper(l), strings.ToUpper(prefix)) {
			return true
		}
	}
	return false
}

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

func TestGreetingRefused(t *testing.T) {
	g := response.New(554, "5.3.2 no service for you")
	srv := newServer(t, smtptest.Config{Greeting: &g})
	c, err := session.Dial(testCtx(t), srv.Addr, nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	var ce *session.ConnectError
	if !errors.As(err, &ce) || ce.Reply.Code != 554 {
		t.Fatalf("err = %#v", err)
	}
	var re *response.Error
	if !errors.As(err, &re) || re.Code() != 554 {
		t.Errorf("errors.As response.Error = %v", re)
	}
}

func TestConnectRefused(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	addr := srv.Addr
	srv.Close()
	_, err := session.Dial(testCtx(t), addr, nil)
	var ce *session.ConnectError
	if !errors.As(err, &ce) || ce.Err == nil {
		t.Fatalf("err = %#v", err)
	}
}

func TestHello(t *testing.T) {
	tests := []struct {
		name      string
		cfg       smtptest.Config
		wantErr   int // reply code of a *HelloError, 0 for success
		wantVerbs []string
		esmtp     bool
	}{
		{name: "EHLO", wantVerbs: []string{"EHLO"}, esmtp: true},
		{name: "HELO fallback on 502", cfg: smtptest.Config{DisableEHLO: true}, wantVerbs: []string{"EHLO", "HELO"}},
		{
			name:      "HELO fallback on 500",
			cfg:       smtptest.Config{Overrides: []smtptest.Override{{Verb: "EHLO", Reply: response.New(500, "5.5.1 what")}}},
			wantVerbs: []string{"EHLO", "HELO"},
		},
		{
			name:      "421 is reported, not hidden behind HELO",
			cfg:       smtptest.Config{Overrides: []smtptest.Override{{Verb: "EHLO", Reply: response.New(421, "4.3.2 going down")}}},
			wantErr:   421,
			wantVerbs: []string{"EHLO"},
		},
		{
			name:      "550 is reported, not hidden behind HELO",
			cfg:       smtptest.Config{Overrides: []smtptest.Override{{Verb: "EHLO", Reply: response.New(550, "5.7.1 go away")}}},
			wantErr:   550,
			wantVerbs: []string{"EHLO"},
		},
		{
			name: "HELO refused too",
			cfg: smtptest.Config{DisableEHLO: true, Overrides: []smtptest.Override{
				{Verb: "HELO", Reply: response.New(501, "5.5.4 bad name")}}},
			wantErr:   501,
			wantVerbs: []string{"EHLO", "HELO"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.cfg)
			c := dial(t, srv, &session.Options{LocalName: "client.example.org"})
			err := c.Hello(testCtx(t))
			if tt.wantErr == 0 && err != nil {
				t.Fatalf("Hello: %v", err)
			}
			if tt.wantErr != 0 {
				var he *session.HelloError
				if !errors.As(err, &he) || he.Reply.Code != response.Code(tt.wantErr) {
					t.Fatalf("Hello err = %#v, want HelloError %d", err, tt.wantErr)
				}
			}
			if got := strings.Join(verbs(srv), " "); got != strings.Join(tt.wantVerbs, " ") {
				t.Errorf("commands %q, want verbs %q", srv.Commands(), tt.wantVerbs)
			}
			if c.ESMTP() != tt.esmtp {
				t.Errorf("ESMTP() = %v", c.ESMTP())
			}
			if tt.wantErr == 0 && srv.Commands()[len(srv.Commands())-1] != tt.wantVerbs[len(tt.wantVerbs)-1]+" client.example.org" {
				t.Errorf("hello line %q", srv.Commands())
			}
		})
	}
}

func TestLocalNameDefault(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	if err := c.Hello(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	line := srv.Commands()[0]
	name := strings.TrimPrefix(line, "EHLO ")
	if name == line || name == "" {
		t.Fatalf("EHLO line %q", line)
	}
	// Either an FQDN from the host name or the loopback address literal.
	if !strings.Contains(name, ".") && name != "[127.0.0.1]" {
		t.Errorf("local name %q is neither an FQDN nor an address literal", name)
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
	if !errors.As(err, &re) || re.Code() != 550 || !strings.Contains(re.Command, "RCPT TO:<bob@example.org>") {
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

func TestTrace(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	var trace bytes.Buffer
	c := dial(t, srv, &session.Options{Trace: &trace, LocalName: "me.example.org"})
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	c.Do(testCtx(t), command.Auth{Mechanism: "PLAIN", InitialResponse: []byte("\x00user\x00s3cret")})
	got := trace.String()
	for _, want := range []string{"S: 220 ", "C: EHLO me.example.org\n", "C: MAIL FROM:<alice@example.org>", "C: RCPT TO:<bob@example.org>\n", "C: DATA\n", "S: 354 ", "C: <message data: ", "C: .\n", "C: AUTH PLAIN [redacted]\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("trace lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{"s3cret", "AHVzZXIAczNjcmV0", "Hello."} {
		if strings.Contains(got, secret) {
			t.Errorf("trace shows %q:\n%s", secret, got)
		}
	}
}
