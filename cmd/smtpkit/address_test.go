package main

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/smtptest"
)

// TestAddressesAsPasted is issue 18's address item, CLI part: --from and
// --to take what users paste from a To field (a display name, angle
// brackets, a comment) and send the bare mailbox; a list or a group is a
// usage error that names the address once, with the reason, before any
// connection.
func TestAddressesAsPasted(t *testing.T) {
	srv := newServer(t, smtptest.Config{})

	t.Run("send", func(t *testing.T) {
		r := smtpkit(t, nil, "send", "--server", srv.Addr,
			"--from", `"Alice, A." <alice@example.org>`,
			"--to", "Bob <bob@example.org>", "--to", "<carol@example.org>", "--to", "dave@example.org (Dave)")
		r.want(t, exitOK)
		cmds := strings.Join(srv.Commands(), "\n") + "\n"
		for _, want := range []string{"MAIL FROM:<alice@example.org> ", "RCPT TO:<bob@example.org>\n", "RCPT TO:<carol@example.org>\n", "RCPT TO:<dave@example.org>\n"} {
			if !strings.Contains(cmds, want) {
				t.Errorf("commands lack %q:\n%s", want, cmds)
			}
		}
		msgs := srv.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d messages", len(msgs))
		}
		data := string(msgs[0].Data)
		for _, want := range []string{"From: <alice@example.org>\r\n", "To: <bob@example.org>, <carol@example.org>, <dave@example.org>\r\n"} {
			if !strings.Contains(data, want) {
				t.Errorf("the built message lacks %q:\n%s", want, data)
			}
		}
	})

	t.Run("bench", func(t *testing.T) {
		before := len(srv.Messages())
		r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "2", "--connections", "1", "--rcpts", "2",
			"--from", "Alice <alice@example.org>", "--to", "Bob <bob@example.org>")
		r.want(t, exitOK)
		msgs := srv.Messages()[before:]
		if len(msgs) != 2 {
			t.Fatalf("%d messages", len(msgs))
		}
		m := msgs[0]
		if m.From != "alice@example.org" || strings.Join(m.To, " ") != "bob+1@example.org bob+2@example.org" {
			t.Errorf("envelope: from %q to %q", m.From, m.To)
		}
		if !strings.HasPrefix(string(m.Data), "From: <alice@example.org>\r\nTo: <bob+1@example.org>, <bob+2@example.org>\r\n") {
			t.Errorf("header: %q", m.Data[:min(len(m.Data), 120)])
		}
	})

	refused := newServer(t, smtptest.Config{})
	for _, tt := range []struct {
		name   string
		args   []string
		reason string
	}{
		{"send list", []string{"send", "--to", "a@x.org, b@y.org"}, "a comma separates a list of addresses"},
		{"send group", []string{"send", "--to", "Friends: a@x.org, b@y.org;"}, "a group"},
		{"send from list", []string{"send", "--to", "bob@example.org", "--from", "a@x.org, b@y.org"}, "a comma separates a list of addresses"},
		{"bench list", []string{"bench", "--to", "a@x.org, b@y.org"}, "a comma separates a list of addresses"},
		{"bench from list", []string{"bench", "--from", "a@x.org, b@y.org"}, "a comma separates a list of addresses"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args[:1:1], append([]string{"--server", refused.Addr}, tt.args[1:]...)...)
			r := smtpkit(t, nil, args...)
			r.want(t, exitUsage)
			flag := "--to: "
			if strings.Contains(tt.name, "from") {
				flag = "--from: "
			}
			r.oneErrorLine(t, flag, tt.reason, "at offset ")
			bad := tt.args[len(tt.args)-1]
			if n := strings.Count(r.stderr, bad); n != 1 {
				t.Errorf("the address appears %d times in the error, want once: %s", n, r.stderr)
			}
			if strings.Contains(r.stderr, "command: ") {
				t.Errorf("the error carries the package name: %s", r.stderr)
			}
		})
	}
	if n := refused.Conns(); n != 0 {
		t.Errorf("a usage error connected %d time(s)", n)
	}
}
