package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

// The README's first command: no server, an embedded sink, the transcript
// and the message it received.
func TestSendEmbeddedSink(t *testing.T) {
	r := smtpkit(t, nil, "send", "--to", "you@example.org")
	r.want(t, exitOK)
	for _, want := range []string{
		"S: 220 sink.localhost ESMTP smtptest",
		"C: EHLO ",
		"C: STARTTLS",
		"C: MAIL FROM:<",
		"C: RCPT TO:<you@example.org>",
		"S: 250 2.0.0 OK queued",
		"C: QUIT",
		"<you@example.org>: accepted (250 2.1.5 OK)",
		"received 1 message(s)",
		"RCPT TO:<you@example.org> (TLS, BDAT,",
		"Subject: smtpkit test message",
		"To: <you@example.org>",
		"This is a test message sent by smtpkit.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
}

func TestSendExitStatus(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Overrides: []smtptest.Override{
			{Verb: "MAIL", Match: "spammer@", Reply: response.New(553, "5.7.1 Sender address rejected")},
			{Verb: "RCPT", Match: "bob@", Reply: response.New(550, "5.1.1 No such user")},
			{Verb: "RCPT", Match: "carol@", Reply: response.New(550, "5.1.1 No such user here either")},
			{Verb: smtptest.EndOfData, Match: "REJECT-ME", Reply: response.New(554, "5.6.0 Content rejected")},
		},
	})
	send := func(args ...string) result {
		return smtpkit(t, nil, append([]string{"send", "--server", srv.Addr, "--from", "alice@example.org"}, args...)...)
	}

	t.Run("all accepted", func(t *testing.T) {
		r := send("--to", "dave@example.org", "--to", "erin@example.org")
		r.want(t, exitOK)
		if !strings.Contains(r.stdout, "<dave@example.org>: accepted (250 2.1.5 OK)") ||
			!strings.Contains(r.stdout, "message: accepted (250 2.0.0 OK queued)") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})
	t.Run("some refused", func(t *testing.T) {
		r := send("--to", "dave@example.org", "--to", "bob@example.org")
		r.want(t, exitPartial)
		r.oneErrorLine(t, "1 of 2 recipients", "<bob@example.org> refused: 550 5.1.1 No such user")
	})
	t.Run("all refused", func(t *testing.T) {
		r := send("--to", "bob@example.org", "--to", "carol@example.org")
		r.want(t, exitFailed)
		r.oneErrorLine(t, "smtpkit send: all recipients refused", "550 5.1.1 No such user")
	})
	t.Run("sender refused", func(t *testing.T) {
		r := smtpkit(t, nil, "send", "--server", srv.Addr, "--from", "spammer@example.org", "--to", "dave@example.org")
		r.want(t, exitFailed)
		r.oneErrorLine(t, "smtpkit send: sender <spammer@example.org> refused: 553 5.7.1 Sender address rejected")
	})
	t.Run("data refused", func(t *testing.T) {
		r := send("--to", "dave@example.org", "--body", "REJECT-ME please")
		r.want(t, exitFailed)
		r.oneErrorLine(t, "message refused", "554 5.6.0 Content rejected")
	})
	t.Run("connection refused", func(t *testing.T) {
		addr := testfixture.RefusedAddr(t)
		r := smtpkit(t, nil, "send", "--server", addr, "--to", "dave@example.org")
		r.want(t, exitFailed)
		r.oneErrorLine(t, "smtpkit send: connect to "+addr)
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"send"}, // no --to
			{"send", "--to", "a@example.org", "--tls", "sometimes"},
			{"send", "--to", "a@example.org", "--no-such-flag"},
			{"send", "--to", "a@example.org", "stray"},
			{"send", "--to", "not an address"},
			{"send", "--to", "a@example.org", "--auth-user", "alice"}, // no password source
			{"send", "--to", "a@example.org", "--pipelining", "maybe"},
			{"send", "--to", "a@example.org", "--notify", "NEVER,SUCCESS"},
			{"send", "--to", "a@example.org", "--body-file", "/no/such/file"},
			{"nosuchcommand"},
			{},
		} {
			r := smtpkit(t, nil, args...)
			if r.code != exitUsage {
				t.Errorf("smtpkit %s: exit %d, want 2\n%s", strings.Join(args, " "), r.code, r.stderr)
			}
			if len(args) > 0 && strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("smtpkit %s: stderr is not one line:\n%s", strings.Join(args, " "), r.stderr)
			}
		}
	})
}

func TestSendJSON(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Overrides: []smtptest.Override{{Verb: "RCPT", Match: "bob@", Reply: response.New(550, "5.1.1 No such user")}},
	})
	r := smtpkit(t, nil, "send", "--server", srv.Addr, "--json", "--to", "alice@example.org", "--to", "bob@example.org")
	r.want(t, exitPartial)
	v := decode(t, r.stdout)
	wantKeys(t, "the object", v, "server", "recipients", "data", "error")
	jsonErrorIsStderr(t, r, "send", "1 of 2 recipients did not take the message", "<bob@example.org> refused: 550 5.1.1 No such user")
	if v["server"] != srv.Addr {
		t.Errorf("server = %v, want %s", v["server"], srv.Addr)
	}
	rcpts, _ := v["recipients"].([]any)
	if len(rcpts) != 2 {
		t.Fatalf("recipients: %v", v["recipients"])
	}
	want := []map[string]any{
		{"address": "alice@example.org", "accepted": true, "code": 250.0, "enhanced": "2.1.5", "message": "OK"},
		{"address": "bob@example.org", "accepted": false, "code": 550.0, "enhanced": "5.1.1", "message": "No such user"},
	}
	for i, w := range want {
		got := rcpts[i].(map[string]any)
		wantKeys(t, "a recipient", got, "address", "accepted", "code", "enhanced", "message")
		for k, wv := range w {
			if got[k] != wv {
				t.Errorf("recipient %d: %s = %v, want %v", i, k, got[k], wv)
			}
		}
	}
	data := v["data"].(map[string]any)
	wantKeys(t, "data", data, "code", "enhanced", "message")
	if data["code"] != 250.0 || data["enhanced"] != "2.0.0" || data["message"] != "OK queued" {
		t.Errorf("data = %v", data)
	}

	// Success: error is null, and nothing is on standard error.
	r = smtpkit(t, nil, "send", "--server", srv.Addr, "--json", "--to", "alice@example.org")
	r.want(t, exitOK)
	v = decode(t, r.stdout)
	if e, ok := v["error"]; !ok || e != nil || r.stderr != "" {
		t.Errorf("error = %#v (present %v), stderr %q; want null and nothing", e, ok, r.stderr)
	}

	// A failure still writes the object, with what is known.
	r = smtpkit(t, nil, "send", "--server", srv.Addr, "--json", "--to", "bob@example.org")
	r.want(t, exitFailed)
	v = decode(t, r.stdout)
	if v["data"] != nil {
		t.Errorf("data = %v, want null", v["data"])
	}
	if got := v["recipients"].([]any)[0].(map[string]any); got["code"] != 550.0 || got["accepted"] != false {
		t.Errorf("recipient = %v", got)
	}
	jsonErrorIsStderr(t, r, "send", "all recipients refused", "550 5.1.1 No such user")

	// No server: every recipient has code 0, and error says why, so a
	// code of 0 cannot pass for anything else.
	addr := testfixture.RefusedAddr(t)
	r = smtpkit(t, nil, "send", "--server", addr, "--json", "--to", "alice@example.org")
	r.want(t, exitFailed)
	v = decode(t, r.stdout)
	if got := v["recipients"].([]any)[0].(map[string]any); got["code"] != 0.0 || got["accepted"] != false {
		t.Errorf("recipient = %v", got)
	}
	jsonErrorIsStderr(t, r, "send", "connect to "+addr)
}

// jsonErrorIsStderr checks that a --json run's error is a string holding
// each of parts, and that it is the one line on standard error, without
// its "smtpkit CMD: " prefix.
func jsonErrorIsStderr(t *testing.T, r result, cmd string, parts ...string) {
	t.Helper()
	r.oneErrorLine(t, parts...)
	e, ok := decode(t, r.stdout)["error"].(string)
	if !ok {
		t.Fatalf("error is not a string:\n%s", r.stdout)
	}
	if line := strings.TrimSuffix(r.stderr, "\n"); "smtpkit "+cmd+": "+e != line {
		t.Errorf("error = %q; standard error says %q", e, line)
	}
}

// TestSendJSONNotHTMLEscaped: JSON is written with one encoder setting
// everywhere, HTML escaping off, so "<", ">" and "&" in a reply come out
// as they are in SMTP and in LMTP's per-recipient data alike (LMTP's were
// \u003c before).
func TestSendJSONNotHTMLEscaped(t *testing.T) {
	const rcpt, data = "2.1.5 <alice@example.org> & co OK", "2.0.0 <alice@example.org> & co delivered"
	for _, lmtp := range []bool{false, true} {
		t.Run(map[bool]string{false: "SMTP", true: "LMTP"}[lmtp], func(t *testing.T) {
			srv := newServer(t, smtptest.Config{LMTP: lmtp, Overrides: []smtptest.Override{
				{Verb: "RCPT", Reply: response.New(250, rcpt)},
				{Verb: smtptest.EndOfData, Reply: response.New(250, data)},
			}})
			args := []string{"send", "--server", srv.Addr, "--json", "--to", "alice@example.org"}
			if lmtp {
				args = append(args, "--lmtp")
			}
			r := smtpkit(t, nil, args...)
			r.want(t, exitOK)
			for _, want := range []string{`"message": "<alice@example.org> & co OK"`, `"message": "<alice@example.org> & co delivered"`} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("the JSON lacks %s:\n%s", want, r.stdout)
				}
			}
			if strings.Contains(r.stdout, `\u00`) {
				t.Errorf("the JSON escapes HTML:\n%s", r.stdout)
			}
		})
	}
}

// A message refused at DATA, its end or BDAT: the recipients keep the
// replies to their RCPTs, and data is the refusal.
func TestSendJSONDataRefused(t *testing.T) {
	for _, tc := range []struct {
		verb string
		args []string
	}{
		{smtptest.EndOfData, nil},
		{"BDAT", nil},
		{"DATA", []string{"--chunking", "off"}},
		{"DATA", []string{"--pipelining", "off", "--chunking", "off"}},
	} {
		t.Run(tc.verb+strings.Join(tc.args, ""), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "bob@", Reply: response.New(550, "5.1.1 No such user")},
				{Verb: tc.verb, Reply: response.New(554, "5.6.0 Content rejected")},
			}})
			args := append([]string{"send", "--server", srv.Addr, "--json", "--to", "alice@example.org", "--to", "bob@example.org"}, tc.args...)
			r := smtpkit(t, nil, args...)
			r.want(t, exitFailed)
			r.oneErrorLine(t, "message refused", "554 5.6.0 Content rejected")
			v := decode(t, r.stdout)
			rcpts := v["recipients"].([]any)
			if got := rcpts[0].(map[string]any); got["accepted"] != true || got["code"] != 250.0 || got["enhanced"] != "2.1.5" {
				t.Errorf("alice@ = %v", got)
			}
			if got := rcpts[1].(map[string]any); got["accepted"] != false || got["code"] != 550.0 {
				t.Errorf("bob@ = %v", got)
			}
			if d, _ := v["data"].(map[string]any); d["code"] != 554.0 || d["message"] != "Content rejected" {
				t.Errorf("data = %v", v["data"])
			}
			// The text form says the same.
			r = smtpkit(t, nil, slices.DeleteFunc(args, func(a string) bool { return a == "--json" })...)
			r.want(t, exitFailed)
			for _, want := range []string{"<alice@example.org>: accepted (250 2.1.5 OK)", "message: refused (554 5.6.0 Content rejected)"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}
		})
	}
}

func TestSendLMTP(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		LMTP: true,
		Overrides: []smtptest.Override{
			{Verb: "RCPT", Match: "nobody@", Reply: response.New(550, "5.1.1 No such mailbox")},
			{Verb: smtptest.EndOfData, Match: "full@", Reply: response.New(452, "4.2.2 Mailbox full")},
		},
	})
	r := smtpkit(t, nil, "send", "--lmtp", "--server", srv.Addr, "--json",
		"--to", "alice@example.org", "--to", "full@example.org", "--to", "nobody@example.org")
	r.want(t, exitPartial)
	v := decode(t, r.stdout)
	rcpts := v["recipients"].([]any)
	if len(rcpts) != 3 {
		t.Fatalf("recipients: %v", rcpts)
	}
	for i, w := range []struct {
		accepted bool
		data     any // code, or nil
	}{{true, 250.0}, {true, 452.0}, {false, nil}} {
		got := rcpts[i].(map[string]any)
		wantKeys(t, "an LMTP recipient", got, "address", "accepted", "code", "enhanced", "message", "data")
		if got["accepted"] != w.accepted {
			t.Errorf("recipient %d accepted = %v", i, got["accepted"])
		}
		if w.data == nil {
			if got["data"] != nil {
				t.Errorf("recipient %d data = %v, want null", i, got["data"])
			}
			continue
		}
		d, _ := got["data"].(map[string]any)
		if d["code"] != w.data {
			t.Errorf("recipient %d data = %v, want code %v", i, got["data"], w.data)
		}
	}
	if d := rcpts[1].(map[string]any)["data"].(map[string]any); d["enhanced"] != "4.2.2" || d["message"] != "Mailbox full" {
		t.Errorf("full@'s data = %v", d)
	}
	if !strings.Contains(r.stderr, "<full@example.org> not delivered: 452 4.2.2 Mailbox full") {
		t.Errorf("stderr: %s", r.stderr)
	}

	// Everyone delivered: 0. Nobody delivered: 1.
	smtpkit(t, nil, "send", "--lmtp", "--server", srv.Addr, "--to", "alice@example.org").want(t, exitOK)
	r = smtpkit(t, nil, "send", "--lmtp", "--server", srv.Addr, "--to", "full@example.org")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "452 4.2.2 Mailbox full")
}

func TestSendTraceRedactsSecrets(t *testing.T) {
	const user, password = "alice", "correct horse battery staple"
	srv := newServer(t, smtptest.Config{
		Users:      map[string]string{user: password},
		Extensions: append(smtptest.DefaultExtensions(), "AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN"),
	})
	secrets := []string{
		password,
		base64.StdEncoding.EncodeToString([]byte(password)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password)),
	}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	for _, mech := range []string{"PLAIN", "LOGIN", "CRAM-MD5", ""} {
		t.Run("mech="+mech, func(t *testing.T) {
			// --tls none: this server has no STARTTLS, and the password
			// may go in plaintext to loopback only when asked.
			args := []string{"send", "--server", srv.Addr, "--to", "bob@example.org", "--trace", "--tls", "none", "--auth-user", user}
			if mech != "" {
				args = append(args, "--auth-mech", mech, "--auth-password-env", "SMTPKIT_TEST_PW")
			} else {
				args = append(args, "--auth-password-file", pwFile)
			}
			r := smtpkitEnv(t, []string{"SMTPKIT_TEST_PW=" + password}, nil, args...)
			r.want(t, exitOK)
			for _, want := range []string{"C: AUTH ", "S: 235 2.7.0 Authentication successful", "C: MAIL FROM:<"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("trace lacks %q:\n%s", want, r.stderr)
				}
			}
			if mech == "PLAIN" || mech == "LOGIN" {
				if !strings.Contains(r.stderr, "[redacted]") {
					t.Errorf("trace has no [redacted]:\n%s", r.stderr)
				}
			}
			for _, s := range secrets {
				if strings.Contains(r.stderr+r.stdout, s) {
					t.Errorf("the secret %q is in the output:\n%s", s, r.stderr)
				}
			}
		})
	}
	// A wrong password: 1, with the server's reply.
	r := smtpkitEnv(t, []string{"SMTPKIT_TEST_PW=wrong"}, nil, "send", "--server", srv.Addr, "--to", "bob@example.org", "--tls", "none",
		"--auth-user", user, "--auth-password-env", "SMTPKIT_TEST_PW", "--auth-mech", "PLAIN")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "AUTH PLAIN refused: 535 5.7.8")
}

func TestSendMessageSources(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	const msg = "From: <a@example.org>\r\nTo: <b@example.org>\r\nSubject: from stdin\r\n\r\nhello\r\n"
	smtpkit(t, strings.NewReader(msg), "send", "--server", srv.Addr, "--to", "b@example.org").want(t, exitOK)
	file := filepath.Join(t.TempDir(), "msg.eml")
	os.WriteFile(file, []byte(strings.ReplaceAll(msg, "stdin", "a file")), 0o600)
	smtpkit(t, nil, "send", "--server", srv.Addr, "--to", "b@example.org", "--body-file", file).want(t, exitOK)
	// An empty pipe counts as no message: one is built.
	smtpkit(t, strings.NewReader(""), "send", "--server", srv.Addr, "--to", "b@example.org", "--subject", "built").want(t, exitOK)

	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	if string(msgs[0].Data) != msg {
		t.Errorf("from stdin: %q", msgs[0].Data)
	}
	if !strings.Contains(string(msgs[1].Data), "Subject: from a file") {
		t.Errorf("from the file: %q", msgs[1].Data)
	}
	built := string(msgs[2].Data)
	for _, h := range []string{"Date: ", "From: <", "To: <b@example.org>", "Subject: built", "Message-ID: <"} {
		if !strings.Contains(built, "\r\n"+h) && !strings.HasPrefix(built, h) {
			t.Errorf("built message lacks %q:\n%s", h, built)
		}
	}
}

func TestSendDSNAndSwitches(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	r := smtpkit(t, nil, "send", "--server", srv.Addr, "--from", "a@example.org",
		"--to", "b@example.org", "--to", "c@example.org",
		"--notify", "success,failure", "--ret", "HDRS", "--envid", "env-1",
		"--orcpt", "rfc822;orig@example.org", "--pipelining", "off", "--chunking", "off", "--helo", "client.example")
	r.want(t, exitOK)
	cmds := strings.Join(srv.Commands(), "\n")
	for _, want := range []string{
		"EHLO client.example",
		"MAIL FROM:<a@example.org> SIZE=",
		" RET=HDRS ENVID=env-1",
		"RCPT TO:<b@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig@example.org",
		"RCPT TO:<c@example.org> NOTIFY=SUCCESS,FAILURE\n",
		"\nDATA",
	} {
		if !strings.Contains(cmds+"\n", want) {
			t.Errorf("commands lack %q:\n%s", want, cmds)
		}
	}
	if m := srv.Messages(); len(m) != 1 || m[0].Chunked {
		t.Errorf("messages: %+v", m)
	}
}

// TestSendAuthRequiresTLS is issue 17 item 2's CLI part: --auth-user
// without --tls means TLS required, so a server that does not offer
// STARTTLS (or an attacker who strips it) gets neither the password's
// exchange nor an envelope; --tls none is the explicit way to send it in
// plaintext, which the library allows only to this host.
func TestSendAuthRequiresTLS(t *testing.T) {
	const user, password = "alice", "correct horse battery staple"
	env := []string{"SMTPKIT_TEST_PW=" + password}
	plain := newServer(t, smtptest.Config{
		Users:      map[string]string{user: password},
		Extensions: append(smtptest.DefaultExtensions(), "AUTH PLAIN SCRAM-SHA-256"),
	})
	r := smtpkitEnv(t, env, nil, "send", "--server", plain.Addr, "--to", "bob@example.org", "--auth-user", user, "--auth-password-env", "SMTPKIT_TEST_PW")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "STARTTLS")
	for _, line := range plain.Commands() {
		if strings.HasPrefix(line, "AUTH") || strings.HasPrefix(line, "MAIL") {
			t.Errorf("the server got %q from a session that needed TLS", line)
		}
	}
	smtpkitEnv(t, env, nil, "send", "--server", plain.Addr, "--to", "bob@example.org", "--tls", "none", "--auth-user", user, "--auth-password-env", "SMTPKIT_TEST_PW").want(t, exitOK)

	secure := newServer(t, smtptest.Config{
		Users:      map[string]string{user: password},
		Extensions: append(smtptest.DefaultExtensions(), "STARTTLS", "AUTH PLAIN SCRAM-SHA-256"),
	})
	ca := writeCA(t, secure)
	smtpkitEnv(t, env, nil, "send", "--server", secure.Addr, "--to", "bob@example.org", "--ca", ca, "--auth-user", user, "--auth-password-env", "SMTPKIT_TEST_PW").want(t, exitOK)
	if m := secure.Messages(); len(m) != 1 || !m[0].TLS || m[0].AuthUser != user {
		t.Errorf("messages over TLS: %+v", m)
	}
}

func TestSendTLS(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: append(smtptest.DefaultExtensions(), "STARTTLS")})
	ca := writeCA(t, srv)
	// Verified with --ca.
	smtpkit(t, nil, "send", "--server", srv.Addr, "--to", "b@example.org", "--tls", "require", "--ca", ca).want(t, exitOK)
	// Without it the certificate does not verify: no fallback to plaintext.
	r := smtpkit(t, nil, "send", "--server", srv.Addr, "--to", "b@example.org")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "certificate")
	// --insecure goes on, and says so.
	r = smtpkit(t, nil, "send", "--server", srv.Addr, "--to", "b@example.org", "--insecure")
	r.want(t, exitOK)
	if !strings.Contains(r.stderr, "WARNING") || !strings.Contains(r.stderr, "NOT verified") {
		t.Errorf("no warning for --insecure: %q", r.stderr)
	}
	// --tls none stays in plaintext.
	smtpkit(t, nil, "send", "--server", srv.Addr, "--to", "b@example.org", "--tls", "none").want(t, exitOK)
	msgs := srv.Messages()
	if len(msgs) != 3 || !msgs[0].TLS || !msgs[1].TLS || msgs[2].TLS {
		t.Errorf("messages: %d, TLS %v", len(msgs), func() (b []bool) {
			for _, m := range msgs {
				b = append(b, m.TLS)
			}
			return
		}())
	}
	// --tls require against a server without STARTTLS fails before MAIL.
	plain := newServer(t, smtptest.Config{})
	r = smtpkit(t, nil, "send", "--server", plain.Addr, "--to", "b@example.org", "--tls", "require")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "STARTTLS")
	if len(plain.Messages()) != 0 {
		t.Error("a message went in plaintext")
	}
}

func TestHelp(t *testing.T) {
	r := smtpkit(t, nil, "help")
	r.want(t, exitOK)
	for _, c := range []string{"send", "probe", "sink", "bench"} {
		if !strings.Contains(r.stdout, "  "+c+" ") {
			t.Errorf("help lacks %s:\n%s", c, r.stdout)
		}
		h := smtpkit(t, nil, "help", c)
		h.want(t, exitOK)
		if !strings.HasPrefix(h.stdout, "usage: smtpkit "+c) || !strings.Contains(h.stdout, "\nflags:\n  --") {
			t.Errorf("help %s:\n%s", c, h.stdout)
		}
		if h2 := smtpkit(t, nil, c, "--help"); h2.code != exitOK || h2.stdout != h.stdout {
			t.Errorf("%s --help differs from help %s", c, c)
		}
	}
	smtpkit(t, nil, "help", "nosuch").want(t, exitUsage)
}

// TestSendRejectsHeaderInjection is the regression test for issue 17 item
// 4: a CR or LF in --subject added header fields and replaced the body
// ("--subject $'hi\r\nBcc: x@evil.example\r\n\r\nfake'"). CR, LF and NUL
// in any flag that goes into a header field or a command are a usage
// error, and nothing is sent.
func TestSendRejectsHeaderInjection(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	base := []string{"send", "--server", srv.Addr, "--from", "alice@example.org", "--to", "bob@example.org"}
	for _, tt := range []struct {
		flag string
		args []string
	}{
		{"--subject", []string{"--subject", "hi\r\nBcc: x@evil.example\r\n\r\nfake"}},
		{"--subject", []string{"--subject", "hi\nBcc: x@evil.example"}},
		{"--subject", []string{"--subject", "hi\rBcc: x@evil.example"}},
		{"--from", []string{"--from", "alice@example.org\r\nBcc: x@evil.example"}},
		{"--to", []string{"--to", "carol@example.org\r\nRCPT TO:<x@evil.example>"}},
		{"--helo", []string{"--helo", "client.example\r\nRSET"}},
		{"--envid", []string{"--envid", "id\r\nRSET"}},
		{"--auth-user", []string{"--auth-user", "u\r\nRSET", "--auth-password-env", "HOME"}},
	} {
		t.Run(strings.TrimPrefix(tt.flag, "--")+" "+strings.ReplaceAll(strings.ReplaceAll(tt.args[1], "\r", "CR"), "\n", "LF"), func(t *testing.T) {
			r := smtpkit(t, nil, append(slices.Clone(base), tt.args...)...)
			r.want(t, exitUsage)
			r.oneErrorLine(t, tt.flag, "CR, LF and NUL are not allowed")
			if strings.ContainsAny(r.stderr[:len(r.stderr)-1], "\r\n") {
				t.Errorf("the error line holds a raw CR or LF: %q", r.stderr)
			}
		})
	}
	// NUL cannot be passed through exec's argv: run in process.
	var out, errb strings.Builder
	code := run(stdio{out: &out, err: &errb}, append(slices.Clone(base), "--subject", "hi\x00there"))
	if code != exitUsage || !strings.Contains(errb.String(), "--subject") || !strings.Contains(errb.String(), `\x00`) {
		t.Errorf("NUL in --subject: exit %d, stderr %q", code, errb.String())
	}

	// probe and bench check the flags they send too.
	smtpkit(t, nil, "probe", "--server", srv.Addr, "--helo", "client.example\r\nRSET").want(t, exitUsage)
	smtpkit(t, nil, "bench", "--server", srv.Addr, "--helo", "client.example\nRSET").want(t, exitUsage)

	if n := srv.Conns(); n != 0 {
		t.Errorf("the server got %d connection(s); want none", n)
	}
	if m := srv.Messages(); len(m) != 0 {
		t.Errorf("the server got %d message(s); want none", len(m))
	}
}
