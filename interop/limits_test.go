package interop

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// limitOutcome is what a stream reported for one message.
type limitOutcome int

const (
	limitNotReported limitOutcome = iota // no result (yet)
	limitDelivered                       // err == nil
	limitRefused                         // a *response.Error: the server refused it, it was not delivered
	limitUnknown                         // unanswered or the connection failed: it may or may not have been delivered
	limitUnanswered                      // unanswered, but its end was never written or the server closed first: not delivered
)

func (o limitOutcome) String() string {
	return [...]string{"not reported", "delivered", "refused", "unknown", "unanswered"}[o]
}

// limitMsg is one message of TestStreamAcross421Postfix and what became
// of it.
type limitMsg struct {
	id      string // the Message-ID, angle brackets included
	body    []byte
	conn    int // the connection that took it, from 1; 0: never taken
	reports int // results the streams yielded for it
	outcome limitOutcome
	err     error
}

// TestStreamAcross421Postfix sends 2,500 messages with SendStream to the
// Postfix listener that limits a client to SMTPKIT_POSTFIX_LIMIT_MESSAGES
// messages per anvil time unit (see README: "The rate-limited listener").
// Past the limit, Postfix answers MAIL with "450 4.7.1 Error: too much
// mail from 127.0.0.1", then at once "421 4.7.0 localhost Error: too many
// errors", and closes the connection while the stream's next transactions
// are pipelined behind that MAIL. Whenever a stream ends early the test
// dials again and goes on with the messages the stream did not take.
//
// Every message taken must be reported exactly once: delivered (nil
// error), refused with the server's reply (a *response.Error: 450 or
// 421, nothing else), unanswered before its end went out or after the
// server's 421 (*session.UnansweredError without MaybeDelivered: not
// delivered), or unknown (MaybeDelivered, or another error); at least
// one error must carry the 421; and the Message-IDs in the listener's
// maildir must be the ones reported delivered plus at most some reported
// unknown, each once. The server keeps refusing until its
// time unit is over: the test does not wait for that, so every message
// after the first refusal is refused or unanswered, in a few short
// connections (each must take at least one message, and the number of
// dials is bounded).
func TestStreamAcross421Postfix(t *testing.T) {
	addr := peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_ADDR")
	rcptAddr := peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_RCPT")
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_MAILDIR")
	limit, err := strconv.Atoi(peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_MESSAGES"))
	if err != nil {
		t.Fatalf("SMTPKIT_POSTFIX_LIMIT_MESSAGES: %v", err)
	}
	tlsConfig := tlsFor(t, "SMTPKIT_POSTFIX_CA")
	rcpt, err := command.ParseMailbox(rcptAddr)
	if err != nil {
		t.Fatalf("SMTPKIT_POSTFIX_LIMIT_RCPT=%s: %v", rcptAddr, err)
	}
	const total = 2500
	if limit >= total {
		t.Fatalf("SMTPKIT_POSTFIX_LIMIT_MESSAGES=%d: the test needs a limit below its %d messages", limit, total)
	}
	if fi, err := os.Stat(filepath.Join(maildir, "new")); err != nil || !fi.IsDir() {
		t.Fatalf("SMTPKIT_POSTFIX_LIMIT_MAILDIR=%s has no new/: %v", maildir, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	stamp := time.Now().UnixNano()
	idPrefix := fmt.Sprintf("<%d.", stamp)
	msgs := make([]*limitMsg, total)
	for i := range msgs {
		id := fmt.Sprintf("<%d.%d.limit@smtpkit.test>", stamp, i)
		msgs[i] = &limitMsg{
			id: id,
			body: []byte("From: sender@example.net\r\nTo: " + rcptAddr + "\r\nMessage-ID: " + id +
				fmt.Sprintf("\r\nSubject: limit %d\r\n\r\nmessage %d of %d\r\n", i, i, total)),
		}
	}

	// Traces of the connections, for the log if the test fails: the
	// beginning and the end of each (where the 450 and the 421 are).
	type connTrace struct {
		n     int
		trace *syncBuffer
	}
	var traces []connTrace
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, ct := range traces[:min(len(traces), 4)] {
			t.Logf("trace of connection %d (start and end):\n%s", ct.n, headTail(ct.trace.String(), 25, 40))
		}
	})

	// The stream may take messages on a goroutine of its own: what the
	// input iterator shares with the loop over the results is locked.
	var mu sync.Mutex
	var (
		next      int // the first message no stream has taken
		saw421    bool
		first421  error
		dials     int
		refusals  = map[response.Code]int{}
		started   = time.Now()
		connStats []string
	)
	// Each connection takes at least one message (or the loop stops), so
	// total dials are enough; the bound stops a loop that goes wrong.
	for next < total {
		if dials >= total {
			t.Errorf("%d connections for %d messages; giving up with %d messages never taken", dials, total, total-next)
			break
		}
		dials++
		n := dials
		trace := new(syncBuffer)
		traces = append(traces, connTrace{n, trace})
		c, err := session.Dial(ctx, addr, &session.Options{
			LocalName: "client.example.org",
			TLSConfig: tlsConfig, // opportunistic STARTTLS, verified
			Trace:     trace,
			Dialer:    &transport.Dialer{Dial: new(recorder).dial}, // loopback only
		})
		if err != nil {
			t.Errorf("connection %d: dial: %v; stopping with %d messages never taken", n, err, total-next)
			break
		}
		start := next
		seq := iter.Seq[*session.Message](func(yield func(*session.Message) bool) {
			for {
				mu.Lock()
				if next >= total {
					mu.Unlock()
					return
				}
				m := msgs[next]
				m.conn = n
				next++ // taken: the stream owes it a result
				mu.Unlock()
				if !yield(&session.Message{
					Envelope: session.Envelope{
						From: command.Mailbox{Local: "sender", Domain: "example.net"},
						To:   []command.Mailbox{rcpt},
					},
					Body: bytes.NewReader(m.body),
				}) {
					return
				}
			}
		})
		results := 0
		var last error
		for _, err := range c.SendStream(ctx, seq) {
			i := start + results
			results++
			mu.Lock()
			took := next - start
			mu.Unlock()
			if i >= start+took {
				t.Errorf("connection %d: result %d (%v) for a message the stream never took (it took %d)", n, results, err, took)
				continue
			}
			m := msgs[i]
			m.reports++
			m.err = err
			last = err
			var ue *session.UnansweredError
			var re *response.Error
			switch {
			case err == nil:
				m.outcome = limitDelivered
			case errors.As(err, &ue) && ue.MaybeDelivered:
				m.outcome = limitUnknown
			case errors.As(err, &ue):
				m.outcome = limitUnanswered
			case errors.As(err, &re):
				m.outcome = limitRefused
				refusals[re.Reply.Code]++
			default:
				m.outcome = limitUnknown
			}
			if err != nil && errors.As(err, &re) && re.Reply.Code == 421 {
				if !saw421 {
					first421 = err
				}
				saw421 = true
			}
		}
		mu.Lock()
		taken := next - start
		mu.Unlock()
		if results != taken {
			t.Errorf("connection %d: the stream took %d messages and yielded %d results", n, taken, results)
		}
		connStats = append(connStats, fmt.Sprintf("conn %d: messages %d-%d, last error: %v", n, start, next-1, last))
		if last == nil && next < total {
			t.Errorf("connection %d: the stream ended without an error after %d of the remaining %d messages", n, taken, total-start)
		}
		if last == nil {
			c.Quit(ctx)
		}
		c.Close()
		if taken == 0 {
			t.Errorf("connection %d: the stream took no message; stopping with %d never taken", n, total-next)
			break
		}
	}
	elapsed := time.Since(started)

	// What each message got.
	count := map[limitOutcome]int{}
	var bad []string
	for i, m := range msgs {
		switch {
		case m.conn == 0:
			count[limitNotReported]++
		case m.reports != 1:
			bad = append(bad, fmt.Sprintf("message %d (connection %d) reported %d times, last: %v", i, m.conn, m.reports, m.err))
		default:
			count[m.outcome]++
		}
		if m.outcome == limitRefused {
			var re *response.Error
			if errors.As(m.err, &re) && re.Reply.Code != 450 && re.Reply.Code != 421 {
				bad = append(bad, fmt.Sprintf("message %d refused with %v, want 450 (too much mail) or 421", i, m.err))
			}
		}
	}
	for _, b := range bad[:min(len(bad), 20)] {
		t.Error(b)
	}
	if len(bad) > 20 {
		t.Errorf("... and %d more like these", len(bad)-20)
	}
	t.Logf("%d messages in %d connections in %v: %d delivered, %d refused %v, %d unanswered (not delivered), %d unknown, %d never taken (limit %d per time unit)",
		total, dials, elapsed.Round(time.Millisecond), count[limitDelivered], count[limitRefused], refusals, count[limitUnanswered], count[limitUnknown], count[limitNotReported], limit)
	for _, s := range connStats[:min(len(connStats), 5)] {
		t.Log(s)
	}
	if count[limitDelivered] == 0 {
		t.Logf("nothing delivered: the listener's time unit (SMTPKIT_POSTFIX_LIMIT_WINDOW=%s) was still exhausted by an earlier run", os.Getenv("SMTPKIT_POSTFIX_LIMIT_WINDOW"))
	}
	if !saw421 {
		t.Errorf("no error carried the server's 421 (errors.As *response.Error with code 421); the errors were, e.g.:\n%s", sampleErrors(msgs, 8))
	} else {
		t.Logf("first error carrying the 421: %v", first421)
	}

	// The maildir: wait until Postfix has delivered what it accepted.
	byID := make(map[string]*limitMsg, total)
	for _, m := range msgs {
		byID[m.id] = m
	}
	want := count[limitDelivered]
	found := map[string][]string{} // Message-ID -> files
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	lastCount, stableSince := -1, time.Now()
	for {
		entries, err := os.ReadDir(filepath.Join(maildir, "new"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if seen[e.Name()] {
				continue
			}
			path := filepath.Join(maildir, "new", e.Name())
			id, err := messageID(path)
			if err != nil {
				continue // vanished, or being written: next round
			}
			seen[e.Name()] = true
			if strings.HasPrefix(id, idPrefix) {
				found[id] = append(found[id], path)
			}
		}
		n := 0
		for _, files := range found {
			n += len(files)
		}
		if n != lastCount {
			lastCount, stableSince = n, time.Now()
		}
		if n >= want+count[limitUnknown] || (n >= want && time.Since(stableSince) >= 3*time.Second) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after 30 s %d of this run's messages are in %s, %d reported delivered", n, maildir, want)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var missing, extra, refusedStored, dup []string
	for _, m := range msgs {
		files := found[m.id]
		if len(files) > 1 {
			dup = append(dup, fmt.Sprintf("%s: %s", m.id, strings.Join(files, ", ")))
		}
		switch {
		case m.outcome == limitDelivered && len(files) == 0:
			missing = append(missing, m.id)
		case (m.outcome == limitRefused || m.outcome == limitUnanswered) && len(files) > 0:
			refusedStored = append(refusedStored, fmt.Sprintf("%s (%v)", m.id, m.err))
		case m.outcome == limitUnknown && len(files) > 0:
			extra = append(extra, m.id)
		case m.outcome == limitNotReported && len(files) > 0:
			refusedStored = append(refusedStored, fmt.Sprintf("%s (never reported: %d results)", m.id, m.reports))
		}
	}
	for id := range found {
		if byID[id] == nil {
			t.Errorf("a message of this run with an unknown Message-ID is in the maildir: %s", id)
		}
	}
	listErr(t, "reported delivered but not in the maildir", missing)
	listErr(t, "refused, unanswered before its end, or never reported, but in the maildir", refusedStored)
	listErr(t, "in the maildir more than once", dup)
	if len(extra) > 0 {
		t.Logf("%d messages reported unknown were delivered (allowed), e.g. %s", len(extra), extra[0])
	}

	if !t.Failed() {
		// This run's files only, so that the maildir of a long-running
		// instance does not grow with every run.
		for _, files := range found {
			for _, f := range files {
				os.Remove(f)
			}
		}
	}
}

// messageID returns the Message-ID header's value in the maildir file at
// path (in its header section).
func messageID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if line == "" {
			break
		}
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, "Message-ID") {
			return strings.TrimSpace(value), nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no Message-ID", path)
}

func listErr(t *testing.T, what string, ids []string) {
	t.Helper()
	if len(ids) == 0 {
		return
	}
	sort.Strings(ids)
	t.Errorf("%d messages %s, e.g.:\n  %s", len(ids), what, strings.Join(ids[:min(len(ids), 10)], "\n  "))
}

// sampleErrors lists up to n distinct errors the messages got, with how
// many got each.
func sampleErrors(msgs []*limitMsg, n int) string {
	counts := map[string]int{}
	var order []string
	for _, m := range msgs {
		if m.err == nil {
			continue
		}
		s := fmt.Sprintf("%T: %v", m.err, m.err)
		if counts[s] == 0 {
			order = append(order, s)
		}
		counts[s]++
	}
	var b strings.Builder
	for _, s := range order[:min(len(order), n)] {
		fmt.Fprintf(&b, "  %d× %s\n", counts[s], s)
	}
	return b.String()
}

// headTail returns the first head and the last tail lines of s.
func headTail(s string, head, tail int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) <= head+tail {
		return s
	}
	return strings.Join(lines[:head], "\n") + fmt.Sprintf("\n[... %d lines ...]\n", len(lines)-head-tail) + strings.Join(lines[len(lines)-tail:], "\n")
}
