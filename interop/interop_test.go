// Package interop runs the client against real mail servers that
// interop/start installs and starts on loopback (see the README): Postfix,
// Dovecot's LMTP and aiosmtpd. TestMatrix (matrix_test.go) runs every case
// against every peer it applies to; this file has what the cases share:
// the peers, dialing them (loopback and Unix sockets only), and finding
// what they delivered.
package interop

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// peerEnv returns an environment variable interop/start sets. When it is
// absent the test fails, unless SMTPKIT_INTEROP=off says to skip the
// real-server suite: a suite that needs a server never skips silently.
func peerEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("SMTPKIT_INTEROP") == "off" {
		t.Skipf("SMTPKIT_INTEROP=off: real-server suite skipped (%s not set)", name)
	}
	t.Fatalf("%s is not set: run the tests through interop/run (see README), e.g. `interop/run go test -race ./...`, or set SMTPKIT_INTEROP=off to skip the real-server suite", name)
	return ""
}

func caPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", path)
	}
	return pool
}

// tlsFor is a TLS configuration that trusts the CA in the file named by
// the environment variable caVar, for the server name "localhost" (the
// name the interop certificate is for; a Unix socket has none of its own).
func tlsFor(t *testing.T, caVar string) *tls.Config {
	t.Helper()
	return &tls.Config{RootCAs: caPool(t, peerEnv(t, caVar)), ServerName: "localhost"}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// store says where a peer puts what it accepted.
type store int

const (
	// postfixMaildir: $SMTPKIT_POSTFIX_MAILDIR/example.org/USER/new/,
	// the message with CRLF turned into LF below headers Postfix adds.
	postfixMaildir store = iota
	// dovecotMaildir: $SMTPKIT_DOVECOT_MAILDIR/USER/new/, likewise.
	dovecotMaildir
	// aiosmtpdStore: $SMTPKIT_AIOSMTPD_MAILDIR/NNNNNN.eml, exactly the
	// octets received (CRLF, dot-stuffing undone, nothing added), and
	// NNNNNN.json, the envelope (see peers/aiosmtpd_server.py).
	aiosmtpdStore
)

// peer is one column of the matrix: a server and how to reach it.
type peer struct {
	name     string
	addrVar  string // host:port, or a Unix socket path
	caVar    string // the CA that signed its certificate
	lmtp     bool   // LHLO and one reply per recipient (package lmtp)
	implicit bool   // TLS from the first byte
	store    store
	// What its EHLO (LHLO) lists, in order, before TLS (nil for an
	// implicit-TLS port) and on TLS; and the parameters of some of them.
	ehloPlain, ehloTLS []string
	params             map[string]string
}

var (
	postfixPlainEHLO = []string{"PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"}
	postfixTLSEHLO   = []string{"PIPELINING", "SIZE", "VRFY", "ETRN", "AUTH", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"}
	postfixParams    = map[string]string{"SIZE": "10485760", "AUTH": "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256"}
	dovecotPlainLHLO = []string{"8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "PIPELINING", "STARTTLS"}
	dovecotTLSLHLO   = []string{"8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "PIPELINING"}
)

// peers are the matrix's columns, in order.
var peers = []*peer{
	{
		name: "postfix", addrVar: "SMTPKIT_POSTFIX_ADDR", caVar: "SMTPKIT_POSTFIX_CA", store: postfixMaildir,
		ehloPlain: postfixPlainEHLO, ehloTLS: postfixTLSEHLO, params: postfixParams,
	},
	{
		name: "postfix-implicit-tls", addrVar: "SMTPKIT_POSTFIX_TLS_ADDR", caVar: "SMTPKIT_POSTFIX_CA", implicit: true, store: postfixMaildir,
		ehloTLS: postfixTLSEHLO, params: postfixParams,
	},
	{
		name: "dovecot-lmtp-tcp", addrVar: "SMTPKIT_DOVECOT_LMTP_ADDR", caVar: "SMTPKIT_POSTFIX_CA", lmtp: true, store: dovecotMaildir,
		ehloPlain: dovecotPlainLHLO, ehloTLS: dovecotTLSLHLO,
	},
	{
		name: "dovecot-lmtp-unix", addrVar: "SMTPKIT_DOVECOT_LMTP_SOCKET", caVar: "SMTPKIT_POSTFIX_CA", lmtp: true, store: dovecotMaildir,
		ehloPlain: dovecotPlainLHLO, ehloTLS: dovecotTLSLHLO,
	},
	{
		name: "aiosmtpd", addrVar: "SMTPKIT_AIOSMTPD_ADDR", caVar: "SMTPKIT_AIOSMTPD_CA", store: aiosmtpdStore,
		ehloPlain: []string{"SIZE", "8BITMIME", "SMTPUTF8", "STARTTLS", "HELP"},
		ehloTLS:   []string{"SIZE", "8BITMIME", "SMTPUTF8", "AUTH", "HELP"},
		params:    map[string]string{"SIZE": "10485760", "AUTH": "LOGIN PLAIN"},
	},
}

func (p *peer) hello() string {
	if p.lmtp {
		return "LHLO"
	}
	return "EHLO"
}

func (p *peer) unix() bool { return p.addrVar == "SMTPKIT_DOVECOT_LMTP_SOCKET" }

// conn is a session with a peer, its trace and a record of its writes.
type conn struct {
	*session.Client
	p     *peer
	trace *syncBuffer
	rec   *recorder
}

// dial connects to p and reads its greeting; the client is closed when
// the test ends. o.TLSConfig defaults to trusting the peer's CA for
// "localhost"; an implicit-TLS peer always gets TLSImplicit; LocalName
// defaults to client.example.org. A trace goes to the test's log if it
// fails.
func (p *peer) dial(t *testing.T, ctx context.Context, o session.Options) *conn {
	t.Helper()
	c, err := p.tryDial(t, ctx, o)
	if err != nil {
		t.Fatalf("connecting to %s: %v", p.name, err)
	}
	return c
}

func (p *peer) tryDial(t *testing.T, ctx context.Context, o session.Options) (*conn, error) {
	t.Helper()
	addr := peerEnv(t, p.addrVar)
	if p.unix() {
		if fi, err := os.Stat(addr); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Fatalf("%s=%s is not a socket: %v", p.addrVar, addr, err)
		}
	}
	if o.TLSConfig == nil {
		o.TLSConfig = tlsFor(t, p.caVar)
	}
	if p.implicit {
		o.TLS = session.TLSImplicit
	}
	if o.LocalName == "" {
		o.LocalName = "client.example.org"
	}
	c := &conn{p: p, trace: new(syncBuffer), rec: new(recorder)}
	if o.Trace == nil {
		o.Trace = c.trace
	}
	o.Dialer = &transport.Dialer{Dial: c.rec.dial}
	var err error
	if p.lmtp {
		var lc *lmtp.Client
		if lc, err = lmtp.Dial(ctx, addr, &o); err == nil {
			c.Client = lc.Client
		}
	} else {
		c.Client, err = session.Dial(ctx, addr, &o)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("trace of the session with %s:\n%s", p.name, c.trace.String())
		}
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// probe returns what p lists in reply to EHLO (LHLO) before any TLS (at
// once on TLS for an implicit-TLS peer).
func (p *peer) probe(t *testing.T, ctx context.Context) session.Extensions {
	t.Helper()
	c := p.dial(t, ctx, session.Options{TLS: session.TLSOff})
	if err := c.Hello(ctx); err != nil {
		t.Fatalf("%s to %s: %v", p.hello(), p.name, err)
	}
	ext := c.Extensions()
	c.Quit(ctx)
	return ext
}

// need skips the test, as the matrix's "not offered" cell, when what the
// session's EHLO (LHLO) listed lacks keyword.
func (c *conn) need(t *testing.T, keyword string) {
	t.Helper()
	needIn(t, c.p, c.Extensions(), keyword)
}

func needIn(t *testing.T, p *peer, ext session.Extensions, keyword string) {
	t.Helper()
	if !ext.Has(keyword) {
		t.Skipf("not offered: %s (%s's %s lists %s)", keyword, p.name, p.hello(), strings.Join(ext.Keywords(), " "))
	}
}

// syncBuffer is a trace that the race detector has no quarrel with, and
// that can say whether it holds a line.
type syncBuffer struct{ testfixture.Buffer }

// has reports whether the trace holds a line starting with prefix.
func (s *syncBuffer) has(prefix string) bool {
	for l := range strings.SplitSeq(s.String(), "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// hasLine reports whether the trace holds the line.
func (s *syncBuffer) hasLine(line string) bool {
	for l := range strings.SplitSeq(s.String(), "\n") {
		if strings.TrimSuffix(l, "\r") == line {
			return true
		}
	}
	return false
}

// recorder dials for a session, to loopback and Unix sockets only, and
// keeps each write on the connection (the first 64 KiB of each), so that
// a test can tell what went out together: pipelining shows as commands
// in one write. Over TLS the writes are TLS records.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	if network != "unix" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("interop: refusing to connect to %q: the suite connects to loopback addresses and Unix sockets only", address)
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c, r: r}, nil
}

// mark is the number of writes so far.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes)
}

// since returns the writes after mark.
func (r *recorder) since(mark int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.writes[mark:])
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c *recConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.writes = append(c.r.writes, bytes.Clone(p[:min(len(p), 64<<10)]))
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

// wireForm is body as it goes on the wire (before dot-stuffing): every
// line ending CRLF, bare LF included, and a CRLF added at the end when
// it has none.
func wireForm(body string) string {
	s := strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

// delivered is one message a peer stored.
type delivered struct {
	path string
	data []byte
	env  *aiosmtpdEnvelope // aiosmtpd's record of the envelope
}

// aiosmtpdEnvelope is an NNNNNN.json of the aiosmtpd peer.
type aiosmtpdEnvelope struct {
	MailFrom      string   `json:"mail_from"`
	MailOptions   []string `json:"mail_options"`
	RcptTos       []string `json:"rcpt_tos"`
	RcptOptions   []string `json:"rcpt_options"`
	SMTPUTF8      bool     `json:"smtp_utf8"`
	Helo          string   `json:"helo"`
	TLS           bool     `json:"tls"`
	Authenticated bool     `json:"authenticated"`
	AuthUser      *string  `json:"auth_user"`
	Size          int      `json:"size"`
}

// mailbox is the user a recipient address at example.org delivers to:
// its local part up to a "+".
func mailbox(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || !strings.EqualFold(domain, "example.org") {
		return ""
	}
	user, _, _ := strings.Cut(local, "+")
	return user
}

// scanner reads what a peer stored for a user, remembering the files it
// read (a delivered file does not change).
type scanner struct {
	p     *peer
	user  string
	root  string
	files map[string]*delivered
}

func (p *peer) scanner(t *testing.T, user string) *scanner {
	t.Helper()
	s := &scanner{p: p, user: user, files: map[string]*delivered{}}
	switch p.store {
	case postfixMaildir:
		s.root = filepath.Join(peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR"), "example.org", user, "new")
	case dovecotMaildir:
		s.root = filepath.Join(peerEnv(t, "SMTPKIT_DOVECOT_MAILDIR"), user, "new")
	case aiosmtpdStore:
		s.root = peerEnv(t, "SMTPKIT_AIOSMTPD_MAILDIR")
	}
	return s
}

// scan reads the files that appeared since the last scan.
func (s *scanner) scan() {
	entries, _ := os.ReadDir(s.root)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || s.files[name] != nil {
			continue
		}
		path := filepath.Join(s.root, name)
		if s.p.store == aiosmtpdStore {
			if !strings.HasSuffix(name, ".eml") {
				continue
			}
			// The .json is in place before the .eml (see the server).
			j, err := os.ReadFile(strings.TrimSuffix(path, ".eml") + ".json")
			if err != nil {
				continue
			}
			var env aiosmtpdEnvelope
			if err := json.Unmarshal(j, &env); err != nil {
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			d := &delivered{path: path, data: b, env: &env}
			if !slices.ContainsFunc(env.RcptTos, func(r string) bool { return mailbox(r) == s.user }) {
				d.data = nil // not for this user: remembered, never matched
			}
			s.files[name] = d
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		s.files[name] = &delivered{path: path, data: b}
	}
}

func (s *scanner) find(marker string) *delivered {
	for _, d := range s.files {
		if d.data != nil && bytes.Contains(d.data, []byte(marker)) {
			return d
		}
	}
	return nil
}

// waitDelivered waits (30 s at most) for the message holding marker to be
// stored for user by p, and returns it.
func (p *peer) waitDelivered(t *testing.T, user, marker string) *delivered {
	t.Helper()
	return p.waitAll(t, user, []string{marker})[0]
}

// waitAll waits (30 s at most) for a message holding each marker to be
// stored for user by p, and returns them in the markers' order.
func (p *peer) waitAll(t *testing.T, user string, markers []string) []*delivered {
	t.Helper()
	s := p.scanner(t, user)
	out := make([]*delivered, len(markers))
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.scan()
		missing := 0
		for i, m := range markers {
			if out[i] == nil {
				out[i] = s.find(m)
			}
			if out[i] == nil {
				missing++
			}
		}
		if missing == 0 {
			return out
		}
		if time.Now().After(deadline) {
			var first string
			for i, m := range markers {
				if out[i] == nil {
					first = m
					break
				}
			}
			t.Fatalf("%s: %d of %d messages not stored for %s in %s within 30s, e.g. the one with %q", p.name, missing, len(markers), user, s.root, first)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkStored checks that d is body as sent: exactly its wire form for
// aiosmtpd, which stores what it received; for a maildir the wire form
// with CRLF turned into LF, below header lines the server added.
func (p *peer) checkStored(t *testing.T, d *delivered, body string) {
	t.Helper()
	wire := wireForm(body)
	got := string(d.data)
	if p.store == aiosmtpdStore {
		if got != wire {
			t.Errorf("%s stored %s:\n%q\nwant exactly what was sent:\n%q", p.name, d.path, got, wire)
		}
		return
	}
	want := strings.ReplaceAll(wire, "\r\n", "\n")
	if !strings.HasSuffix(got, want) {
		t.Errorf("%s stored %s, which does not end with the message as sent (CRLF to LF):\n%q\nwant suffix:\n%q", p.name, d.path, got, want)
		return
	}
	added := strings.TrimSuffix(got, want)
	if !strings.HasSuffix(added, "\n") || strings.Contains(added, "\n\n") || strings.Contains(got, "\r") {
		t.Errorf("%s stored %s: what precedes the message is not header lines, or CR octets remain:\n%q", p.name, d.path, added)
	}
}
