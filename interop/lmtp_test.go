package interop

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/session"
)

// Dovecot's LMTP (see the README): alice and bob exist, anyone else is
// refused at RCPT with 550 5.1.1; after the message one reply per
// accepted recipient, 250 2.0.0 "<addr> ... Saved".

// ltDialDovecot connects to Dovecot's LMTP: over TCP (where STARTTLS is
// offered, and taken in the default opportunistic mode, verified against
// the test CA for "localhost"), or over its Unix socket.
func ltDialDovecot(t *testing.T, network string, opts session.Options) *lmtp.Client {
	t.Helper()
	ctx := ctxFor(t)
	var addr string
	switch network {
	case "tcp":
		addr = peerEnv(t, "SMTPKIT_DOVECOT_LMTP_ADDR")
		opts.TLSConfig = &tls.Config{RootCAs: caPool(t, peerEnv(t, "SMTPKIT_POSTFIX_CA")), ServerName: "localhost"}
	case "unix":
		addr = peerEnv(t, "SMTPKIT_DOVECOT_LMTP_SOCKET")
		if fi, err := os.Stat(addr); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Fatalf("SMTPKIT_DOVECOT_LMTP_SOCKET=%s is not a socket: %v %v", addr, fi, err)
		}
	default:
		t.Fatalf("network %q", network)
	}
	if opts.LocalName == "" {
		opts.LocalName = "client.example.org"
	}
	c, err := lmtp.Dial(ctx, addr, &opts)
	if err != nil {
		t.Fatalf("lmtp.Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ltWaitFile waits for the file in root/user/new whose content holds
// marker and returns its path and content. Dovecot writes in tmp/ and
// renames into new/, so a file found there is complete.
func ltWaitFile(t *testing.T, root, user, marker string) (string, []byte) {
	t.Helper()
	dir := filepath.Join(root, user, "new")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(p)
			if err == nil && strings.Contains(string(b), marker) {
				return p, b
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no message with %q in %s within 30s (log: %s)", marker, dir, os.Getenv("SMTPKIT_DOVECOT_LOG"))
	return "", nil
}

// ltMaildirSizes are the S= and W= fields of a Dovecot maildir file name:
// the size as stored and the size with CRLF line endings ("virtual").
var ltMaildirSizes = regexp.MustCompile(`,S=(\d+),W=(\d+)`)

func TestDovecotLMTP(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_DOVECOT_MAILDIR")
	for _, network := range []string{"tcp", "unix"} {
		for _, mode := range []struct {
			name string
			opts session.Options
			verb string // the trace line that shows how the message went
			not  string
		}{
			{"pipelining+chunking", session.Options{}, "C: BDAT", "C: DATA"},
			{"DisableChunking", session.Options{DisableChunking: true}, "C: DATA", "C: BDAT"},
			{"DisablePipelining", session.Options{DisablePipelining: true}, "C: DATA", "C: BDAT"},
		} {
			t.Run(network+"/"+mode.name, func(t *testing.T) {
				ctx := ctxFor(t)
				var trace strings.Builder
				opts := mode.opts
				opts.Trace = &trace
				c := ltDialDovecot(t, network, opts)

				marker := fmt.Sprintf("<%d.lmtp-%s-%s@smtpkit.test>", time.Now().UnixNano(), network, strings.ReplaceAll(mode.name, "+", "-"))
				// Dots at line starts, a bare LF, 8-bit text and no final
				// line ending: what the client must encode and Dovecot
				// store back.
				body := "From: sender@example.net\r\nTo: alice@example.org, bob@example.org\r\nMessage-ID: " + marker +
					"\r\nSubject: lmtp interop\r\n\r\n" +
					"line one\r\n.starts with a dot\r\n..two dots\r\n.\r\nGrüße\r\nbare LF line\nlast line without newline"
				to := []string{"alice@example.org", "bob@example.org", "nobody@example.org"}
				res, err := c.Send(ctx, "sender@example.net", to, strings.NewReader(body))
				if err != nil {
					t.Fatalf("Send: %v\ntrace:\n%s", err, trace.String())
				}
				if !plTraceHas(trace.String(), "C: LHLO client.example.org") {
					t.Errorf("no LHLO in the trace:\n%s", trace.String())
				}
				if !plTraceHas(trace.String(), mode.verb) || plTraceHas(trace.String(), mode.not) {
					t.Errorf("trace does not show the message going with %q only:\n%s", mode.verb, trace.String())
				}
				_, onTLS := c.TLS()
				if want := network == "tcp"; onTLS != want {
					t.Errorf("TLS = %v, want %v (STARTTLS offered over TCP; never tried over the socket)", onTLS, want)
				}
				if got := plTraceHas(trace.String(), "C: STARTTLS"); got != (network == "tcp") {
					t.Errorf("STARTTLS in trace = %v over %s:\n%s", got, network, trace.String())
				}

				want := []lmtp.Outcome{lmtp.Delivered, lmtp.Delivered, lmtp.Refused}
				if got := ltOutcomesOf(res.Recipients); !slices.Equal(got, want) {
					t.Errorf("outcomes %v, want %v\n%+v", got, want, res.Recipients)
				}
				for _, r := range res.Recipients[:2] {
					if r.Data.Code != 250 || r.Data.Enhanced.String() != "2.0.0" || !strings.Contains(r.Data.Text, "<"+r.Address+">") {
						t.Errorf("%s: Data %v, want 250 2.0.0 naming it", r.Address, r.Data)
					}
				}
				nobody := res.Recipients[2]
				if nobody.Accepted || nobody.Reply.Code != 550 || nobody.Reply.Enhanced.String() != "5.1.1" || nobody.Data.Code != 0 {
					t.Errorf("nobody: %+v, want refused at RCPT with 550 5.1.1 and no Data", nobody)
				}
				if res.Data != res.Recipients[1].Data {
					t.Errorf("Result.Data = %v, want the last per-recipient reply %v", res.Data, res.Recipients[1].Data)
				}
				if _, err := c.Quit(ctx); err != nil {
					t.Errorf("Quit: %v", err)
				}

				// What Dovecot stores (see the README, and checked here
				// against the file name's S= and W= sizes): the message
				// as it went on the wire (every line ending CRLF, bare LF
				// included, and a CRLF added at the end) with the
				// dot-stuffing undone, then each CRLF turned into LF
				// (maildir files hold LF line endings; Dovecot's default
				// mail_save_crlf = no), below the Return-Path and
				// Received headers it prepends.
				wire := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n") + "\r\n"
				stored := strings.ReplaceAll(wire, "\r\n", "\n")
				var paths []string
				for _, user := range []string{"alice", "bob"} {
					path, b := ltWaitFile(t, maildir, user, marker)
					paths = append(paths, path)
					got := string(b)
					if !strings.HasSuffix(got, stored) {
						t.Errorf("%s's file %s does not end with the message as sent (CRLF to LF).\ngot:\n%q\nwant suffix:\n%q", user, path, got, stored)
						continue
					}
					added := strings.TrimSuffix(got, stored)
					if strings.Contains(got, "\r") {
						t.Errorf("%s's file has CR octets: %q", user, got)
					}
					if !strings.HasPrefix(added, "Return-Path: <sender@example.net>\n") {
						t.Errorf("%s's file does not start with Return-Path:\n%s", user, added)
					}
					if !strings.Contains(added, "\nReceived: from client.example.org") {
						t.Errorf("%s's file has no Received header for the LHLO name:\n%s", user, added)
					}
					with := "with LMTP\n"
					if network == "tcp" {
						with = "with LMTPS\n"
					}
					if !strings.Contains(added, with) {
						t.Errorf("%s's Received header does not say %q:\n%s", user, strings.TrimSpace(with), added)
					}
					if strings.Contains(added, "Delivered-To:") {
						t.Errorf("%s's file has a Delivered-To header though the message had two recipients:\n%s", user, added)
					}
					m := ltMaildirSizes.FindStringSubmatch(filepath.Base(path))
					if m == nil {
						t.Errorf("file name %s has no S= and W=", filepath.Base(path))
						continue
					}
					s, _ := strconv.Atoi(m[1])
					w, _ := strconv.Atoi(m[2])
					lines := strings.Count(got, "\n")
					if s != len(got) || w != len(got)+lines {
						t.Errorf("%s: S=%d W=%d for a file of %d octets and %d LFs: not stored with LF endings as assumed", filepath.Base(path), s, w, len(got), lines)
					}
				}
				if len(paths) == 2 {
					a, errA := os.Stat(paths[0])
					b, errB := os.Stat(paths[1])
					if errA != nil || errB != nil || !os.SameFile(a, b) {
						t.Logf("note: alice's and bob's copies are not one hard-linked file (%v, %v)", errA, errB)
					}
				}
			})
		}
	}
}

func ltOutcomesOf(rs []session.RecipientResult) []lmtp.Outcome {
	out := make([]lmtp.Outcome, len(rs))
	for i, r := range rs {
		out[i] = lmtp.OutcomeOf(r)
	}
	return out
}

// Every recipient refused at RCPT: SMTP's *RecipientsRefusedError, and
// the session goes on.
func TestDovecotLMTPAllRefused(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			ctx := ctxFor(t)
			c := ltDialDovecot(t, network, session.Options{})
			_, err := c.Send(ctx, "sender@example.net", []string{"nobody@example.org", "Alice@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
			var rr *session.RecipientsRefusedError
			if !errors.As(err, &rr) || len(rr.Recipients) != 2 {
				t.Fatalf("Send: %v; want *RecipientsRefusedError for both", err)
			}
			for _, r := range rr.Recipients {
				if r.Reply.Code != 550 {
					t.Errorf("%s: %v, want 550", r.Address, r.Reply)
				}
			}
			if _, err := c.Noop(ctx); err != nil {
				t.Errorf("NOOP after the refusal: %v", err)
			}
		})
	}
}

// SendStream over Dovecot's LMTP: results in order, per recipient.
func TestDovecotLMTPSendStream(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_DOVECOT_MAILDIR")
	for _, mode := range []struct {
		name string
		opts session.Options
	}{
		{"pipelining+chunking", session.Options{}},
		{"DisableChunking", session.Options{DisableChunking: true}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := ctxFor(t)
			c := ltDialDovecot(t, "tcp", mode.opts)
			mb := func(s string) command.Mailbox {
				m, err := command.ParseMailbox(s)
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			base := time.Now().UnixNano()
			var markers []string
			var msgs []*session.Message
			for i, to := range [][]string{
				{"alice@example.org", "nobody@example.org"},
				{"nobody@example.org"},
				{"bob@example.org", "alice@example.org"},
			} {
				marker := fmt.Sprintf("<%d.%d.lmtp-stream@smtpkit.test>", base, i)
				markers = append(markers, marker)
				env := session.Envelope{From: mb("sender@example.net")}
				for _, a := range to {
					env.To = append(env.To, mb(a))
				}
				msgs = append(msgs, &session.Message{Envelope: env, Body: strings.NewReader("Message-ID: " + marker + "\r\nSubject: stream\r\n\r\nbody\r\n")})
			}
			var results []*session.Result
			var errs []error
			for res, err := range c.SendStream(ctx, slices.Values(msgs)) {
				results = append(results, res)
				errs = append(errs, err)
			}
			if len(results) != 3 {
				t.Fatalf("%d results: %v", len(results), errs)
			}
			if errs[0] != nil || !slices.Equal(ltOutcomesOf(results[0].Recipients), []lmtp.Outcome{lmtp.Delivered, lmtp.Refused}) {
				t.Errorf("message 1: %+v, %v", results[0], errs[0])
			}
			var rr *session.RecipientsRefusedError
			if !errors.As(errs[1], &rr) {
				t.Errorf("message 2: %v, want *RecipientsRefusedError", errs[1])
			}
			if errs[2] != nil || !slices.Equal(ltOutcomesOf(results[2].Recipients), []lmtp.Outcome{lmtp.Delivered, lmtp.Delivered}) {
				t.Errorf("message 3: %+v, %v", results[2], errs[2])
			} else if d := results[2].Recipients; !strings.Contains(d[0].Data.Text, "<bob@example.org>") || !strings.Contains(d[1].Data.Text, "<alice@example.org>") {
				t.Errorf("message 3 replies not in RCPT order: %v / %v", d[0].Data, d[1].Data)
			}
			c.Quit(ctx)
			ltWaitFile(t, maildir, "alice", markers[0])
			ltWaitFile(t, maildir, "alice", markers[2])
			ltWaitFile(t, maildir, "bob", markers[2])
		})
	}
}
