package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

func TestBenchJSON(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "60", "--size", "3000", "--rcpts", "2", "--connections", "3", "--json")
	r.want(t, exitOK)
	v := decode(t, r.stdout)
	wantKeys(t, "the object", v, "server", "messages", "size", "rcpts", "connections", "pipelining", "chunking",
		"sent", "accepted", "failed", "unknown", "retried", "reconnects", "seconds", "messages_per_second", "mb_per_second",
		"latency_ms", "errors", "error")
	if e, ok := v["error"]; !ok || e != nil {
		t.Errorf("error = %#v (present %v), want null", e, ok)
	}
	for k, want := range map[string]any{"messages": 60.0, "size": 3000.0, "rcpts": 2.0, "connections": 3.0,
		"pipelining": true, "chunking": true, "sent": 60.0, "accepted": 60.0, "failed": 0.0} {
		if v[k] != want {
			t.Errorf("%s = %v, want %v", k, v[k], want)
		}
	}
	for _, k := range []string{"seconds", "messages_per_second", "mb_per_second"} {
		if f, _ := v[k].(float64); f <= 0 {
			t.Errorf("%s = %v", k, v[k])
		}
	}
	lat := v["latency_ms"].(map[string]any)
	wantKeys(t, "latency_ms", lat, "p50", "p90", "p99", "max")
	p50, p90, p99, mx := lat["p50"].(float64), lat["p90"].(float64), lat["p99"].(float64), lat["max"].(float64)
	if !(0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= mx) {
		t.Errorf("latency = %v", lat)
	}
	if e := v["errors"].(map[string]any); len(e) != 0 {
		t.Errorf("errors = %v", e)
	}
	msgs := srv.Messages()
	if len(msgs) != 60 {
		t.Fatalf("the server got %d messages, want 60", len(msgs))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if len(m.Data) != 3000 || len(m.To) != 2 || m.To[1] != "rcpt+2@example.org" || !m.Chunked {
			t.Fatalf("message: %d octets to %v, chunked %v", len(m.Data), m.To, m.Chunked)
		}
		subj := subjectOf(m.Data)
		if seen[subj] {
			t.Errorf("%s sent twice", subj)
		}
		seen[subj] = true
	}
}

func TestBenchErrorsByCode(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Overrides: []smtptest.Override{{Verb: "MAIL", Nth: 5, Reply: response.New(550, "5.7.1 not this one")}},
	})
	r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "20", "--connections", "2", "--pipelining", "off")
	r.want(t, exitPartial)
	for _, want := range []string{"20 sent, 19 accepted, 1 failed", "errors:      550: 1", "no PIPELINING", "latency:     p50 "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r.oneErrorLine(t, "1 of 20 messages failed: 550: 1")
	if n := len(srv.Messages()); n != 19 {
		t.Errorf("%d messages", n)
	}
	// --json carries the same line as its error (a new server: the
	// override answers the fifth MAIL of a server's life).
	srv = newServer(t, smtptest.Config{
		Overrides: []smtptest.Override{{Verb: "MAIL", Nth: 5, Reply: response.New(550, "5.7.1 not this one")}},
	})
	r = smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "20", "--connections", "2", "--pipelining", "off", "--json")
	r.want(t, exitPartial)
	jsonErrorIsStderr(t, r, "bench", "1 of 20 messages failed: 550: 1")

	smtpkit(t, nil, "bench", "--messages", "1").want(t, exitUsage)
	smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "0").want(t, exitUsage)
	r = smtpkit(t, nil, "bench", "--server", "127.0.0.1:1", "--messages", "3", "--json")
	r.want(t, exitFailed)
	jsonErrorIsStderr(t, r, "bench", "no message accepted", "connect: ")
}

// bench against the binary's own sink: what the sink counts is what
// bench sent, once each.
func TestBenchAgainstSink(t *testing.T) {
	for _, tc := range []struct {
		name      string
		benchArgs []string
	}{
		{"pipelined", []string{"--messages", "300", "--connections", "4", "--size", "2000"}},
		{"DATA", []string{"--messages", "40", "--connections", "2", "--chunking", "off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := startSink(t)
			args := append([]string{"bench", "--server", sink.Addr, "--json"}, tc.benchArgs...)
			r := smtpkit(t, nil, args...)
			r.want(t, exitOK)
			v := decode(t, r.stdout)
			n := int(v["messages"].(float64))
			if v["accepted"] != float64(n) || v["sent"] != float64(n) || v["failed"] != 0.0 {
				t.Errorf("sent %v, accepted %v, failed %v; want %d sent and accepted", v["sent"], v["accepted"], v["failed"], n)
			}
			if v["reconnects"] != 0.0 || v["retried"] != 0.0 {
				t.Errorf("reconnects = %v, retried = %v", v["reconnects"], v["retried"])
			}
			lines := sink.waitLines(n)
			if code := sink.stop(); code != exitOK {
				t.Errorf("sink exit status %d", code)
			}
			if extra := strings.Count(sink.Stdout(), "\n") - n; extra != 0 {
				t.Errorf("the sink printed %d more message lines than bench sent", extra)
			}
			if !strings.Contains(sink.Stderr(), " and "+strconv.Itoa(n)+" message(s)") {
				t.Errorf("sink stderr:\n%s", sink.Stderr())
			}
			seen := map[string]bool{}
			for _, l := range lines {
				i := strings.Index(l, `subject="`)
				if i < 0 {
					t.Fatalf("line: %q", l)
				}
				seen[l[i:]] = true
			}
			if len(seen) != n {
				t.Errorf("%d distinct messages of %d", len(seen), n)
			}
		})
	}
}

// A 421 ends the connection: bench connects again and sends what the
// server had not answered, so every message is accepted in the end.
func TestBenchReconnectsAfter421(t *testing.T) {
	for _, pipe := range []string{"auto", "off"} {
		t.Run("pipelining="+pipe, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{
				Overrides: []smtptest.Override{{Verb: "MAIL", Nth: 10, Reply: response.New(421, "4.7.0 closing, come back later")}},
			})
			r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "30", "--connections", "1", "--pipelining", pipe, "--json")
			r.want(t, exitOK)
			v := decode(t, r.stdout)
			if v["sent"] != 30.0 || v["accepted"] != 30.0 || v["failed"] != 0.0 {
				t.Errorf("sent %v, accepted %v, failed %v", v["sent"], v["accepted"], v["failed"])
			}
			if v["reconnects"] != 1.0 || v["retried"].(float64) < 1 {
				t.Errorf("reconnects = %v, retried = %v", v["reconnects"], v["retried"])
			}
			// The server may have taken a message pipelined after the 421
			// (a real server would have closed): at least once each.
			seen := map[string]bool{}
			for _, m := range srv.Messages() {
				seen[subjectOf(m.Data)] = true
			}
			if len(seen) != 30 {
				t.Errorf("%d distinct messages of 30", len(seen))
			}
		})
	}
}

func TestBenchDuration(t *testing.T) {
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(20 * time.Millisecond)}})
	r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "100000", "--duration", "300ms", "--connections", "2", "--pipelining", "off", "--json")
	r.want(t, exitOK)
	v := decode(t, r.stdout)
	sent := v["sent"].(float64)
	if sent < 1 || sent > 1000 || v["accepted"] != sent || v["messages"] != 100000.0 {
		t.Errorf("sent %v, accepted %v", sent, v["accepted"])
	}
	if got := len(srv.Messages()); float64(got) != sent {
		t.Errorf("the server got %d, bench sent %v", got, sent)
	}
	if s := v["seconds"].(float64); s < 0.3 || s > 10 {
		t.Errorf("seconds = %v", s)
	}
}

// TestBenchAuth is issue 18's bench item: bench logs in with send's
// flags and send's rules, so a submission port can be loaded. The
// password comes from the environment or a file, never a flag's value;
// with --auth-user and no --tls, TLS is required, so a server that does
// not offer STARTTLS gets neither the password's exchange nor a message.
func TestBenchAuth(t *testing.T) {
	const user, password = "alice", "correct horse battery staple"
	env := []string{"SMTPKIT_TEST_PW=" + password}
	authArgs := []string{"--auth-user", user, "--auth-password-env", "SMTPKIT_TEST_PW"}
	bench := func(env []string, server string, args ...string) result {
		t.Helper()
		return smtpkitEnv(t, env, nil, append([]string{"bench", "--server", server, "--messages", "10", "--connections", "2", "--json"}, args...)...)
	}

	secure := newServer(t, smtptest.Config{
		Users:      map[string]string{user: password},
		Extensions: append(smtptest.DefaultExtensions(), "STARTTLS", "AUTH PLAIN SCRAM-SHA-256"),
	})
	ca := writeCA(t, secure)
	r := bench(env, secure.Addr, append([]string{"--ca", ca}, authArgs...)...)
	r.want(t, exitOK)
	if v := decode(t, r.stdout); v["accepted"] != 10.0 {
		t.Errorf("accepted = %v", v["accepted"])
	}
	msgs := secure.Messages()
	if len(msgs) != 10 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if !m.TLS || m.AuthUser != user {
			t.Fatalf("a message with TLS %v, AUTH %q", m.TLS, m.AuthUser)
		}
	}
	// The certificate must verify, or --insecure say otherwise.
	r = bench(env, secure.Addr, authArgs...)
	r.want(t, exitFailed)
	jsonErrorIsStderr(t, r, "bench", "no message accepted", "certificate")
	r = bench(env, secure.Addr, append([]string{"--insecure"}, authArgs...)...)
	r.want(t, exitOK)
	if !strings.Contains(r.stderr, "WARNING: --insecure") {
		t.Errorf("no warning for --insecure: %q", r.stderr)
	}
	// A wrong password: the server's 535.
	r = bench([]string{"SMTPKIT_TEST_PW=wrong"}, secure.Addr, append([]string{"--ca", ca}, authArgs...)...)
	r.want(t, exitFailed)
	jsonErrorIsStderr(t, r, "bench", "no message accepted", "535")

	plain := newServer(t, smtptest.Config{
		Users:      map[string]string{user: password},
		Extensions: append(smtptest.DefaultExtensions(), "AUTH PLAIN SCRAM-SHA-256"),
	})
	r = bench(env, plain.Addr, authArgs...)
	r.want(t, exitFailed)
	jsonErrorIsStderr(t, r, "bench", "no message accepted", "STARTTLS")
	for _, line := range plain.Commands() {
		if strings.HasPrefix(line, "AUTH") || strings.HasPrefix(line, "MAIL") {
			t.Errorf("the server got %q from a bench that needed TLS", line)
		}
	}
	// --tls none says plaintext explicitly (allowed to this host only).
	bench(env, plain.Addr, append([]string{"--tls", "none"}, authArgs...)...).want(t, exitOK)
	if m := plain.Messages(); len(m) != 10 || m[0].AuthUser != user || m[0].TLS {
		t.Errorf("%d messages in plaintext", len(m))
	}

	// The rules on the flags are send's.
	for _, args := range [][]string{
		{"--auth-user", user},                              // no password source
		{"--auth-password-env", "SMTPKIT_TEST_PW"},         // a password but no user
		{"--auth-user", user, "--auth-password", password}, // no such flag: never a flag's value
		{"--auth-user", user, "--auth-password-env", "SMTPKIT_TEST_PW", "--auth-password-file", "/dev/null"},
		{"--auth-user", user, "--auth-password-env", "SMTPKIT_NO_SUCH_VARIABLE"},
	} {
		r := bench(env, plain.Addr, args...)
		if r.code != exitUsage || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("bench %s: exit %d, want 2 and one line:\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// TestBenchNeverResendsUnknown is a regression test: bench used to send a
// message again when its connection broke after the whole message had
// gone out, before the server's reply (an *session.UnansweredError with
// MaybeDelivered), so a server that had taken it could get it twice.
// Such a message is now reported as unknown, once, and not sent again.
func TestBenchNeverResendsUnknown(t *testing.T) {
	// Every connection is closed where the reply to its first message's
	// end of data should be.
	srv := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAt(smtptest.EndOfData)}})
	r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "3", "--connections", "1", "--chunking", "off", "--json")
	r.want(t, exitFailed)
	v := decode(t, r.stdout)
	for k, want := range map[string]any{"sent": 3.0, "accepted": 0.0, "failed": 0.0, "unknown": 3.0} {
		if v[k] != want {
			t.Errorf("%s = %v, want %v", k, v[k], want)
		}
	}
	jsonErrorIsStderr(t, r, "bench", "no message accepted", "3 unknown")
	// What the server read: each message's data once, and no message
	// twice (a retry would carry the same Subject again).
	var read []byte
	for _, rd := range srv.Reads() {
		read = append(read, rd.Data...)
	}
	for n := 1; n <= 3; n++ {
		subj := fmt.Sprintf("Subject: smtpkit bench %010d\r\n", n)
		if got := bytes.Count(read, []byte(subj)); got != 1 {
			t.Errorf("the server read message %d's data %d times, want once: a message whose outcome was unknown was sent again", n, got)
		}
	}

	r = smtpkit(t, nil, "bench", "--server", srv.Addr, "--messages", "2", "--connections", "1", "--chunking", "off")
	r.want(t, exitFailed)
	for _, want := range []string{"2 sent, 0 accepted, 0 failed, 2 unknown", "unknown:     2 (the connection was lost after the message, before its reply: the server may have it)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// bench --lmtp loads an LMTP server through the pool: LHLO, and one reply
// per recipient after each message.
func TestBenchLMTP(t *testing.T) {
	srv := newServer(t, smtptest.Config{LMTP: true})
	r := smtpkit(t, nil, "bench", "--server", srv.Addr, "--lmtp", "--messages", "20", "--rcpts", "2", "--connections", "2", "--json")
	r.want(t, exitOK)
	if v := decode(t, r.stdout); v["accepted"] != 20.0 || v["unknown"] != 0.0 {
		t.Errorf("accepted = %v, unknown = %v", v["accepted"], v["unknown"])
	}
	msgs := srv.Messages()
	if len(msgs) != 20 {
		t.Fatalf("the server recorded %d messages, want 20", len(msgs))
	}
	for _, m := range msgs {
		if len(m.To) != 2 {
			t.Fatalf("a message to %v", m.To)
		}
	}
	for _, line := range srv.Commands() {
		if strings.HasPrefix(line, "EHLO") || strings.HasPrefix(line, "HELO") {
			t.Fatalf("an LMTP bench sent %q", line)
		}
	}
}
