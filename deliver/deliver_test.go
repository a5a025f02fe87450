package deliver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

func deliverOne(t *testing.T, d *Deliverer, rcpts ...string) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := d.Deliver(ctx, "a@sender.test", rcpts, testMessage)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	if len(rep.Recipients) != len(rcpts) {
		t.Fatalf("report has %d recipients, want %d", len(rep.Recipients), len(rcpts))
	}
	return rep
}

func TestMXOrderAndFallback(t *testing.T) {
	n := newTestNet(t)
	busy := smtpServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "MAIL", Reply: response.New(451, "4.3.0 try later")},
	}}, nil)
	good := smtpServer(t, smtptest.Config{}, nil)
	n.dns.AddMX("example.test", 30, "mx3.example.test")
	n.dns.AddMX("example.test", 10, "mx1.example.test")
	n.dns.AddMX("example.test", 20, "mx2.example.test")
	n.host("mx1.example.test", "127.0.0.11", nil) // refuses connections
	n.host("mx2.example.test", "127.0.0.12", busy)
	n.host("mx3.example.test", "127.0.0.13", good)

	rep := deliverOne(t, n.deliverer(), "b@example.test")
	r := rep.Recipients[0]
	if r.Outcome != Delivered || r.MX != "mx3.example.test" || r.Address != "127.0.0.13:25" || r.Err != nil {
		t.Fatalf("got %+v, want delivered through mx3", r)
	}
	if r.Reply.Code != 250 {
		t.Errorf("reply %v, want the 250 to the end of data", r.Reply)
	}
	want := []string{"127.0.0.11:25", "127.0.0.12:25", "127.0.0.13:25"}
	if got := n.dialedAddrs(); !slices.Equal(got, want) {
		t.Errorf("dialled %v, want %v (by preference)", got, want)
	}
	if len(good.Messages()) != 1 || len(busy.Messages()) != 0 {
		t.Errorf("messages: good %d, busy %d; want 1, 0", len(good.Messages()), len(busy.Messages()))
	}
}

func TestAllMXTemporaryIsDeferred(t *testing.T) {
	n := newTestNet(t)
	busy := smtpServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Reply: response.New(450, "4.2.1 mailbox busy")},
	}}, nil)
	n.dns.AddMX("example.test", 10, "mx1.example.test")
	n.dns.AddMX("example.test", 20, "mx2.example.test")
	n.host("mx1.example.test", "127.0.0.11", busy)
	n.host("mx2.example.test", "127.0.0.12", busy)
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Deferred || r.Reply.Code != 450 || r.MX != "mx2.example.test" {
		t.Fatalf("got %+v, want deferred with mx2's 450", r)
	}
	var re *response.Error
	if !errors.As(r.Err, &re) || re.Reply.Code != 450 {
		t.Errorf("Err %v, want a *response.Error with the 450", r.Err)
	}
}

func TestPerRecipientOutcomes(t *testing.T) {
	n := newTestNet(t)
	first := smtpServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "nobody@", Reply: response.New(550, "5.1.1 no such user")},
		{Verb: "RCPT", Match: "later@", Reply: response.New(452, "4.2.2 over quota")},
	}}, nil)
	second := smtpServer(t, smtptest.Config{}, nil)
	n.dns.AddMX("example.test", 10, "mx1.example.test")
	n.dns.AddMX("example.test", 20, "mx2.example.test")
	n.host("mx1.example.test", "127.0.0.11", first)
	n.host("mx2.example.test", "127.0.0.12", second)

	rep := deliverOne(t, n.deliverer(), "ok@example.test", "nobody@example.test", "later@example.test", "not an address")
	want := []struct {
		outcome Outcome
		mx      string
		code    response.Code
	}{
		{Delivered, "mx1.example.test", 250},
		{Refused, "mx1.example.test", 550},
		{Delivered, "mx2.example.test", 250}, // the 452 sends it on to the next MX
		{Refused, "", 0},
	}
	for i, w := range want {
		r := rep.Recipients[i]
		if r.Outcome != w.outcome || r.MX != w.mx || r.Reply.Code != w.code {
			t.Errorf("%s: got %v via %q reply %d (%v), want %v via %q reply %d", r.Recipient, r.Outcome, r.MX, r.Reply.Code, r.Err, w.outcome, w.mx, w.code)
		}
	}
	if msgs := second.Messages(); len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "later@example.test" {
		t.Errorf("second MX got %+v, want one message for later@ only", msgs)
	}
}

func TestNullMX(t *testing.T) {
	n := newTestNet(t)
	n.dns.AddMX("example.test", 0, ".")
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Refused || !errors.Is(r.Err, transport.ErrNullMX) {
		t.Fatalf("got %+v, want refused with ErrNullMX", r)
	}
	if len(n.dialedAddrs()) != 0 {
		t.Errorf("dialled %v for a null MX", n.dialedAddrs())
	}
}

func TestImplicitMX(t *testing.T) {
	n := newTestNet(t)
	srv := smtpServer(t, smtptest.Config{}, nil)
	n.host("example.test", "127.0.0.20", srv) // no MX records: the domain's own address
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.MX != "example.test" {
		t.Fatalf("got %+v, want delivered to the implicit MX", r)
	}
}

func TestNoSuchDomainIsRefused(t *testing.T) {
	n := newTestNet(t)
	r := deliverOne(t, n.deliverer(), "b@nowhere.test").Recipients[0]
	if r.Outcome != Refused {
		t.Fatalf("got %+v, want refused: no MX, no address", r)
	}
	var de *DNSError
	if !errors.As(r.Err, &de) || de.RCode != dnsmessage.RCodeNameError {
		t.Errorf("Err %v, want a *DNSError with NXDOMAIN", r.Err)
	}
}

func TestMXLookupFailureIsDeferred(t *testing.T) {
	n := newTestNet(t)
	n.dns.SetRCode("example.test", dnsmessage.TypeMX, dnsmessage.RCodeServerFailure)
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	var mxe *transport.MXError
	if r.Outcome != Deferred || !errors.As(r.Err, &mxe) {
		t.Fatalf("got %+v, want deferred with an *MXError", r)
	}
}

func TestDomainsGrouped(t *testing.T) {
	n := newTestNet(t)
	a := smtpServer(t, smtptest.Config{}, nil)
	b := smtpServer(t, smtptest.Config{}, nil)
	n.dns.AddMX("a.test", 10, "mx.a.test")
	n.dns.AddMX("b.test", 10, "mx.b.test")
	n.host("mx.a.test", "127.0.0.31", a)
	n.host("mx.b.test", "127.0.0.32", b)
	rep := deliverOne(t, n.deliverer(), "1@a.test", "2@b.test", "3@A.TEST")
	for _, r := range rep.Recipients {
		if r.Outcome != Delivered {
			t.Errorf("%s: %v %v", r.Recipient, r.Outcome, r.Err)
		}
	}
	if ma, mb := a.Messages(), b.Messages(); len(ma) != 1 || len(ma[0].To) != 2 || len(mb) != 1 || len(mb[0].To) != 1 {
		t.Errorf("a got %d messages, b %d; want one transaction per domain", len(ma), len(mb))
	}
	if got := len(rep.With(Delivered)); got != 3 {
		t.Errorf("With(Delivered) has %d, want 3", got)
	}
}

func TestIPv6AddressesFirst(t *testing.T) {
	n := newTestNet(t)
	srv := smtpServer(t, smtptest.Config{}, nil)
	n.dns.AddMX("example.test", 10, "mx.example.test")
	n.host("mx.example.test", "127.0.0.40", srv)
	n.dns.AddAddr("mx.example.test", "2001:db8::25") // unreachable in the test network
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered {
		t.Fatalf("got %+v", r)
	}
	if got := n.dialedAddrs(); len(got) != 2 || got[0] != "[2001:db8::25]:25" {
		t.Errorf("dialled %v, want the IPv6 address first, then the IPv4 one", got)
	}
}

func TestNoRecipients(t *testing.T) {
	var d Deliverer
	if _, err := d.Deliver(context.Background(), "a@b.test", nil, testMessage); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("err %v, want ErrNoRecipients", err)
	}
	if _, err := d.Deliver(context.Background(), "not an address", []string{"b@c.test"}, testMessage); err == nil || !strings.Contains(err.Error(), "address") {
		t.Errorf("err %v, want an address error for the sender", err)
	}
}

func TestPermanentDataRefusal(t *testing.T) {
	n := newTestNet(t)
	srv := smtpServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: smtptest.EndOfData, Reply: response.New(554, "5.7.1 spam")},
	}}, nil)
	n.dns.AddMX("example.test", 10, "mx.example.test")
	n.host("mx.example.test", "127.0.0.50", srv)
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Refused || r.Reply.Code != 554 {
		t.Fatalf("got %+v, want refused with the 554", r)
	}
}

// brokenTLSServer offers STARTTLS and then sends bytes that are not TLS;
// the test dials it once, and the next connection goes to the fallback.
func brokenTLSServer(t *testing.T) *testfixture.Server {
	return testfixture.Serve(t, func(_ *testfixture.Server, c net.Conn) {
		r := bufio.NewReader(c)
		c.Write([]byte("220 broken ESMTP\r\n"))
		r.ReadString('\n') // EHLO
		c.Write([]byte("250-broken\r\n250 STARTTLS\r\n"))
		r.ReadString('\n') // STARTTLS
		c.Write([]byte("220 go ahead\r\n"))
		time.Sleep(50 * time.Millisecond) // after the reply, so it is the handshake that reads this
		c.Write([]byte("this is not a TLS record\r\n"))
		io.Copy(io.Discard, r)
	})
}

// RFC 7435: without a policy, a failed handshake falls back to plaintext,
// on a new connection.
func TestOpportunisticFallsBackToPlaintext(t *testing.T) {
	n := newTestNet(t)
	broken := brokenTLSServer(t)
	srv := smtpServer(t, smtptest.Config{}, nil)
	n.dns.AddMX("example.test", 10, "mx.example.test")
	n.host("mx.example.test", "127.0.0.95", nil)
	first := true
	d := n.deliverer()
	d.Reporter = &Reporter{}
	d.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		to := srv.Addr
		if first {
			first, to = false, broken.Addr
		}
		var nd net.Dialer
		return nd.DialContext(ctx, network, to)
	}
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Version != 0 || r.TLS.Policy != PolicyNotFound {
		t.Fatalf("got %v TLS %v err %v, want a plaintext delivery after the failed handshake", r.Outcome, r.TLS, r.Err)
	}
	rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	if len(rep.Policies) != 1 || rep.Policies[0].Summary != (Summary{Failed: 1}) {
		t.Errorf("report %+v, want the failed handshake counted once", rep.Policies)
	}
}

// With Parallel, two domains' sessions overlap: each server holds MAIL
// until the other has one too.
func TestParallelDomains(t *testing.T) {
	n := newTestNet(t)
	arrived := make(chan string, 2)
	both := make(chan struct{})
	var once sync.Once
	barrier := func(name string) func(*smtptest.ConnState, string, command.Command) (response.Reply, bool) {
		return func(_ *smtptest.ConnState, line string, _ command.Command) (response.Reply, bool) {
			if !strings.HasPrefix(line, "MAIL") {
				return response.Reply{}, false
			}
			arrived <- name
			if len(arrived) == 2 {
				once.Do(func() { close(both) })
			}
			select {
			case <-both:
				return response.Reply{}, false
			case <-time.After(5 * time.Second):
				return response.New(451, "4.3.0 the other domain never came"), true
			}
		}
	}
	a := smtpServer(t, smtptest.Config{Handler: barrier("a")}, nil)
	b := smtpServer(t, smtptest.Config{Handler: barrier("b")}, nil)
	n.dns.AddMX("a.test", 10, "mx.a.test")
	n.dns.AddMX("b.test", 10, "mx.b.test")
	n.host("mx.a.test", "127.0.0.33", a)
	n.host("mx.b.test", "127.0.0.34", b)
	d := n.deliverer()
	d.Parallel = 2
	rep := deliverOne(t, d, "1@a.test", "2@b.test")
	for _, r := range rep.Recipients {
		if r.Outcome != Delivered {
			t.Errorf("%s: %v %v (the sessions did not overlap)", r.Recipient, r.Outcome, r.Reply)
		}
	}
}
