package pool_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// newServer starts an smtptest server that the test closes.
func newServer(t testing.TB, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// newPool makes a pool to srv, with quick retries and a dialer that
// counts connections, and closes it when the test ends.
func newPool(t testing.TB, srv *smtptest.Server, opts pool.Options) (*pool.Pool, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	if opts.Dial == nil {
		opts.Dial = cc.dial
	}
	if opts.Session.LocalName == "" {
		opts.Session.LocalName = "client.example.org"
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
		opts.MaxBackoff = 5 * time.Millisecond
	}
	p, err := pool.New(srv.Addr, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p, cc
}

// closePool closes p, failing the test if that fails.
func closePool(t testing.TB, p *pool.Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// connCounter dials TCP and counts the connections open at once, as the
// client sees them: from the dial to Close.
type connCounter struct {
	mu    sync.Mutex
	open  int
	peak  int
	total int
}

func (cc *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	cc.open++
	cc.total++
	cc.peak = max(cc.peak, cc.open)
	cc.mu.Unlock()
	return &countedConn{TCPConn: c.(*net.TCPConn), cc: cc}, nil
}

func (cc *connCounter) counts() (open, peak, total int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.open, cc.peak, cc.total
}

// countedConn is a *net.TCPConn (its SyscallConn included, for the
// pool's check of idle connections) whose Close is counted.
type countedConn struct {
	*net.TCPConn
	cc   *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(func() {
		c.cc.mu.Lock()
		c.cc.open--
		c.cc.mu.Unlock()
	})
	return err
}

// message returns a message whose Message-ID is <id@pool.test>.
func message(id string) []byte {
	return fmt.Appendf(nil, "From: sender@example.org\r\nTo: rcpt@example.net\r\nMessage-ID: <%s@pool.test>\r\nSubject: %s\r\n\r\nHello, %s.\r\n", id, id, id)
}

var messageID = regexp.MustCompile(`Message-ID: <([^@>]+)@pool\.test>`)

// received counts the messages srv recorded, by Message-ID.
func received(srv *smtptest.Server) map[string]int {
	got := make(map[string]int)
	for _, m := range srv.Messages() {
		if id := messageID.FindSubmatch(m.Data); id != nil {
			got[string(id[1])]++
		}
	}
	return got
}

// send sends message(id) to one recipient.
func send(ctx context.Context, p *pool.Pool, id string) (*session.Result, error) {
	return p.Send(ctx, "sender@example.org", []string{"rcpt@example.net"}, bytes.NewReader(message(id)))
}

// commandCount counts srv's command lines that start with verb.
func commandCount(srv *smtptest.Server, verb string) int {
	n := 0
	for _, c := range srv.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), verb) {
			n++
		}
	}
	return n
}

// envelopeMessage is message(id) from sender@example.org to
// rcpt@example.net, for SendStream.
func envelopeMessage(id string) *session.Message {
	return &session.Message{
		Envelope: session.Envelope{
			From: command.Mailbox{Local: "sender", Domain: "example.org"},
			To:   []command.Mailbox{{Local: "rcpt", Domain: "example.net"}},
		},
		Body: bytes.NewReader(message(id)),
	}
}
