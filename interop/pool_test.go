package interop

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
)

// poolTotal is the number of messages each pool test sends.
const poolTotal = 3000

// poolMsg is one message of a pool run and what the pool reported for it.
type poolMsg struct {
	id      string // the Message-ID, angle brackets included
	body    []byte
	reports int
	outcome pool.Outcome
	err     error
}

// poolRun is poolTotal messages through one pool to one real server, and
// the check that what the server stored is exactly what the pool reported
// delivered.
type poolRun struct {
	addr  string
	rcpt  string
	dir   string // where the server stores what it accepts
	eml   bool   // aiosmtpd's NNNNNN.eml files, else a maildir's new/
	opts  pool.Options
	local netip.Addr // the loopback address connections come from; zero: the system's choice

	// stream sends with Pool.SendStream from one goroutine; otherwise
	// senders goroutines call Pool.SendEnvelope.
	stream  bool
	senders int

	msgs  []*poolMsg
	stats pool.Stats
	peak  int // connections open at once, as the dialer saw them
}

// newPoolRun makes the run's messages, each with a Message-ID of its own.
func newPoolRun(addr, rcpt, dir string) *poolRun {
	r := &poolRun{addr: addr, rcpt: rcpt, dir: dir, senders: 32}
	stamp := time.Now().UnixNano()
	r.msgs = make([]*poolMsg, poolTotal)
	for i := range r.msgs {
		id := fmt.Sprintf("<%d.%d.pool@smtpkit.test>", stamp, i)
		r.msgs[i] = &poolMsg{id: id, body: []byte("From: sender@example.net\r\nTo: " + rcpt + "\r\nMessage-ID: " + id +
			fmt.Sprintf("\r\nSubject: pool %d\r\n\r\nmessage %d of %d\r\n", i, i, poolTotal))}
	}
	return r
}

// idPrefix is what every Message-ID of the run starts with.
func (r *poolRun) idPrefix() string {
	id := r.msgs[0].id
	return id[:strings.IndexByte(id, '.')+1]
}

// send sends every message through a new pool and records each outcome.
func (r *poolRun) send(t *testing.T) {
	t.Helper()
	rcpt, err := command.ParseMailbox(r.rcpt)
	if err != nil {
		t.Fatalf("%s: %v", r.rcpt, err)
	}
	env := session.Envelope{From: command.Mailbox{Local: "sender", Domain: "example.net"}, To: []command.Mailbox{rcpt}}

	var open, peak atomic.Int64
	opts := r.opts
	opts.Session.LocalName = "client.example.org"
	opts.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("interop: refusing to connect to %q: loopback only", address)
		}
		var d net.Dialer
		if r.local.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: r.local.AsSlice()}
		}
		c, err := d.DialContext(ctx, network, address)
		if err != nil {
			return nil, err
		}
		n := open.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		return &countedConn{Conn: c, open: &open}, nil
	}
	p, err := pool.New(r.addr, &opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	record := func(m *poolMsg, err error) {
		m.reports++
		m.err = err
		m.outcome = pool.OutcomeOf(err)
	}
	if r.stream {
		var taken []*poolMsg
		msgs := func(yield func(*session.Message) bool) {
			for _, m := range r.msgs {
				taken = append(taken, m)
				if !yield(&session.Message{Envelope: env, Body: strings.NewReader(string(m.body))}) {
					return
				}
			}
		}
		n := 0
		for _, err := range p.SendStream(ctx, msgs) {
			if n >= len(taken) {
				t.Fatalf("SendStream yielded result %d for %d messages taken", n+1, len(taken))
			}
			record(taken[n], err)
			n++
		}
	} else {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range r.senders {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= len(r.msgs) {
						return
					}
					m := r.msgs[i]
					e := env
					_, err := p.SendEnvelope(ctx, &e, strings.NewReader(string(m.body)))
					record(m, err)
				}
			})
		}
		wg.Wait()
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer ccancel()
	if err := p.Close(cctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	r.stats = p.Stats()
	r.peak = int(peak.Load())
	if n := open.Load(); n != 0 {
		t.Errorf("%d connections still open after Close", n)
	}
}

// countedConn counts itself out of the open connections when closed.
type countedConn struct {
	net.Conn
	open *atomic.Int64
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.open.Add(-1) })
	return c.Conn.Close()
}

// count returns how many messages got each outcome, and fails the test
// for a message reported other than once.
func (r *poolRun) count(t *testing.T) map[pool.Outcome]int {
	t.Helper()
	n := map[pool.Outcome]int{}
	for i, m := range r.msgs {
		if m.reports != 1 {
			t.Errorf("message %d reported %d times", i, m.reports)
			continue
		}
		n[m.outcome]++
	}
	if n[pool.Delivered]+n[pool.Refused]+n[pool.Unknown]+n[pool.NotSent] != poolTotal {
		t.Errorf("outcomes %v do not add up to %d", n, poolTotal)
	}
	s := r.stats
	if int(s.Delivered) != n[pool.Delivered] || int(s.Refused) != n[pool.Refused] || int(s.Unknown) != n[pool.Unknown] || int(s.NotSent) != n[pool.NotSent] {
		t.Errorf("Stats say %d delivered, %d refused, %d unknown, %d not sent; the calls returned %v", s.Delivered, s.Refused, s.Unknown, s.NotSent, n)
	}
	if most := r.opts.MaxConnections; r.peak > most {
		t.Errorf("%d connections open at once, MaxConnections %d", r.peak, most)
	}
	return n
}

// checkStored waits until the server has stored the messages reported
// delivered, then compares the Message-IDs stored with the outcomes:
// every delivered one exactly once, none refused or not sent, none
// twice; unknown ones may be there or not, and are listed. On success it
// removes the run's files.
func (r *poolRun) checkStored(t *testing.T, n map[pool.Outcome]int) {
	t.Helper()
	root := r.dir
	if !r.eml {
		root = filepath.Join(r.dir, "new")
	}
	prefix := r.idPrefix()
	found := map[string][]string{} // Message-ID -> files
	seen := map[string]bool{}
	want := n[pool.Delivered]
	deadline := time.Now().Add(90 * time.Second)
	last, stableSince := -1, time.Now()
	for {
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if seen[name] || e.IsDir() || r.eml && !strings.HasSuffix(name, ".eml") {
				continue
			}
			path := filepath.Join(root, name)
			id, err := messageID(path)
			if err != nil {
				continue // being written: next round
			}
			seen[name] = true
			if strings.HasPrefix(id, prefix) {
				found[id] = append(found[id], path)
			}
		}
		stored := 0
		for _, files := range found {
			stored += len(files)
		}
		if stored != last {
			last, stableSince = stored, time.Now()
		}
		if stored >= want+n[pool.Unknown] || stored >= want && time.Since(stableSince) >= 3*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after 90 s %d of this run's messages are in %s, %d reported delivered", stored, root, want)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	byID := make(map[string]*poolMsg, len(r.msgs))
	for _, m := range r.msgs {
		byID[m.id] = m
	}
	var missing, notDelivered, twice, unknownStored, unknownNot []string
	for _, m := range r.msgs {
		files := found[m.id]
		if len(files) > 1 {
			twice = append(twice, fmt.Sprintf("%s: %s", m.id, strings.Join(files, ", ")))
		}
		switch m.outcome {
		case pool.Delivered:
			if len(files) == 0 {
				missing = append(missing, m.id)
			}
		case pool.Unknown:
			if len(files) > 0 {
				unknownStored = append(unknownStored, fmt.Sprintf("%s (%v)", m.id, m.err))
			} else {
				unknownNot = append(unknownNot, fmt.Sprintf("%s (%v)", m.id, m.err))
			}
		default:
			if len(files) > 0 {
				notDelivered = append(notDelivered, fmt.Sprintf("%s (%v: %v)", m.id, m.outcome, m.err))
			}
		}
	}
	for id := range found {
		if byID[id] == nil {
			t.Errorf("a Message-ID this run never sent is in %s: %s", root, id)
		}
	}
	listErr(t, "reported delivered but not stored", missing)
	listErr(t, "reported refused or not sent but stored", notDelivered)
	listErr(t, "stored more than once", twice)
	if len(unknownStored)+len(unknownNot) > 0 {
		t.Logf("%d messages reported unknown: %d stored, %d not; e.g. %s", n[pool.Unknown], len(unknownStored), len(unknownNot),
			strings.Join(append(unknownStored[:min(len(unknownStored), 3)], unknownNot[:min(len(unknownNot), 3)]...), "; "))
	}
	if !t.Failed() {
		for _, files := range found {
			for _, f := range files {
				os.Remove(f)
				if r.eml {
					os.Remove(strings.TrimSuffix(f, ".eml") + ".json")
				}
			}
		}
	}
}

func (r *poolRun) logStats(t *testing.T, n map[pool.Outcome]int, elapsed time.Duration) {
	t.Helper()
	s := r.stats
	t.Logf("%d messages in %v: %d delivered, %d refused, %d unknown, %d not sent; %d dials (%d failed), at most %d open; %d retries; retired: %d at the limit, %d lost, %d idle, %d at Close; replies by class %v",
		poolTotal, elapsed.Round(time.Millisecond), n[pool.Delivered], n[pool.Refused], n[pool.Unknown], n[pool.NotSent],
		s.Dials, s.DialErrors, r.peak, s.Retries, s.RetiredLimit, s.RetiredLost, s.RetiredIdle, s.RetiredClose, s.Replies)
}

// TestPoolPostfix sends 3,000 messages from 32 goroutines through a pool
// of 4 pipelining connections (BDAT, STARTTLS) to Postfix, each
// connection retired after 400 messages: every message is delivered, and
// the maildir holds each exactly once.
func TestPoolPostfix(t *testing.T) {
	user := peerEnv(t, "SMTPKIT_AUTH_USER")
	r := newPoolRun(peerEnv(t, "SMTPKIT_POSTFIX_ADDR"), user+"@example.org",
		filepath.Join(peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR"), "example.org", user))
	r.opts = pool.Options{MaxConnections: 4, MaxMessagesPerConnection: 400}
	r.opts.Session.TLSConfig = tlsFor(t, "SMTPKIT_POSTFIX_CA")
	start := time.Now()
	r.send(t)
	n := r.count(t)
	r.logStats(t, n, time.Since(start))
	if n[pool.Delivered] != poolTotal {
		t.Errorf("%d of %d delivered; e.g.:\n%s", n[pool.Delivered], poolTotal, r.sampleErrors(5))
	}
	// 400 a connection: at least 8 connections, each retired at the
	// limit but the last ones, which Close ends.
	if s := r.stats; s.Dials < (poolTotal+399)/400 || s.RetiredLimit+4 < s.Dials {
		t.Errorf("%d connections, %d retired at MaxMessagesPerConnection: want at least %d, all but 4 retired at the limit", s.Dials, s.RetiredLimit, (poolTotal+399)/400)
	}
	r.checkStored(t, n)
}

// TestPoolAiosmtpd sends 3,000 messages with Pool.SendStream through a pool
// of 4 connections to aiosmtpd (no PIPELINING: one command at a time on
// each connection): every message is delivered, and its store holds each
// exactly once.
func TestPoolAiosmtpd(t *testing.T) {
	user := peerEnv(t, "SMTPKIT_AUTH_USER")
	r := newPoolRun(peerEnv(t, "SMTPKIT_AIOSMTPD_ADDR"), user+"@example.org", peerEnv(t, "SMTPKIT_AIOSMTPD_MAILDIR"))
	r.eml = true
	r.stream = true
	r.opts = pool.Options{MaxConnections: 4}
	r.opts.Session.TLSConfig = tlsFor(t, "SMTPKIT_AIOSMTPD_CA")
	start := time.Now()
	r.send(t)
	n := r.count(t)
	r.logStats(t, n, time.Since(start))
	if n[pool.Delivered] != poolTotal {
		t.Errorf("%d of %d delivered; e.g.:\n%s", n[pool.Delivered], poolTotal, r.sampleErrors(5))
	}
	r.checkStored(t, n)
}

// TestPoolPostfixRateLimited sends 3,000 messages from 32 goroutines
// through a pool of 4 connections to the rate-limited Postfix listener
// (see README: "The rate-limited listener"), which takes
// SMTPKIT_POSTFIX_LIMIT_MESSAGES MAIL commands from a client address per
// time unit. Past that it answers MAIL with "450 4.7.1 Error: too much
// mail from ..." and, its hard error limit reached, "421 4.7.0 ... too
// many errors", and hangs up, on every connection until the time unit is
// over. The connections come from a loopback address of their own (a
// random one in 127.0.0.0/8), so the limit is this run's alone, whatever
// ran before. The pool redials, sends again what was pipelined behind a
// 421 and what got the 421, and reports the 450s as refusals; the maildir
// must hold exactly the messages reported delivered.
func TestPoolPostfixRateLimited(t *testing.T) {
	limit, err := strconv.Atoi(peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_MESSAGES"))
	if err != nil {
		t.Fatalf("SMTPKIT_POSTFIX_LIMIT_MESSAGES: %v", err)
	}
	if limit >= poolTotal {
		t.Fatalf("SMTPKIT_POSTFIX_LIMIT_MESSAGES=%d: the test needs a limit below its %d messages", limit, poolTotal)
	}
	r := newPoolRun(peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_ADDR"), peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_RCPT"), peerEnv(t, "SMTPKIT_POSTFIX_LIMIT_MAILDIR"))
	r.local = netip.AddrFrom4([4]byte{127, byte(10 + rand.IntN(240)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
	r.opts = pool.Options{MaxConnections: 4, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
	r.opts.Session.TLS = session.TLSOff // hundreds of short connections: no handshakes
	start := time.Now()
	r.send(t)
	n := r.count(t)
	r.logStats(t, n, time.Since(start))
	t.Logf("connections from %v", r.local)

	if n[pool.Delivered] == 0 || n[pool.Delivered] > limit {
		t.Errorf("%d delivered, want 1 to %d (the listener's limit): e.g.\n%s", n[pool.Delivered], limit, r.sampleErrors(5))
	}
	if n[pool.Refused] == 0 {
		t.Errorf("nothing refused past the listener's limit of %d", limit)
	}
	if r.stats.RetiredLost == 0 || r.stats.Retries == 0 {
		t.Errorf("no connection lost (%d) or no retry (%d): the 421 never came", r.stats.RetiredLost, r.stats.Retries)
	}
	// Refused: the 450 (too much mail), or the 421 on the last attempt.
	codes := map[response.Code]int{}
	for _, m := range r.msgs {
		var re *response.Error
		if m.outcome == pool.Refused && errors.As(m.err, &re) {
			codes[re.Reply.Code]++
			if c := re.Reply.Code; c != 450 && c != 421 {
				t.Errorf("%s refused with %v, want 450 (too much mail) or 421", m.id, m.err)
			}
		}
	}
	t.Logf("refusals by code: %v", codes)
	r.checkStored(t, n)
}

// sampleErrors lists up to k distinct errors of messages not delivered,
// with how many got each.
func (r *poolRun) sampleErrors(k int) string {
	counts := map[string]int{}
	var order []string
	for _, m := range r.msgs {
		if m.err == nil {
			continue
		}
		s := fmt.Sprintf("%v %T: %v", m.outcome, m.err, m.err)
		if counts[s] == 0 {
			order = append(order, s)
		}
		counts[s]++
	}
	var b strings.Builder
	for _, s := range order[:min(len(order), k)] {
		fmt.Fprintf(&b, "  %d× %s\n", counts[s], s)
	}
	return b.String()
}
