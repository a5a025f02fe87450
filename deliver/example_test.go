package deliver_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/smtpkit/smtpkit/deliver"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// A domain with two MX hosts: the preferred one does not answer, the other
// takes the message for one recipient and refuses the other. Here the DNS
// and the MX host run in the process; in production, Resolver is a
// DNSClient for a validating resolver on 127.0.0.1 and Dial is left nil.
func Example() {
	mx := smtptest.NewServer(smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "nobody@", Reply: response.New(550, "5.1.1 No such user")},
	}})
	defer mx.Close()

	dns := dnstest.NewServer()
	defer dns.Close()
	dns.AddMX("example.net", 10, "mx1.example.net")
	dns.AddMX("example.net", 20, "mx2.example.net")
	dns.AddAddr("mx1.example.net", "192.0.2.1")
	dns.AddAddr("mx2.example.net", "192.0.2.2")

	d := &deliver.Deliverer{
		Resolver: &deliver.DNSClient{Server: dns.Addr},
		// The test network: 192.0.2.2 is the smtptest server, 192.0.2.1
		// refuses connections.
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != "192.0.2.2:25" {
				return nil, fmt.Errorf("%s: connection refused", addr)
			}
			var nd net.Dialer
			return nd.DialContext(ctx, network, mx.Addr)
		},
		Session: session.Options{LocalName: "mta.example.org"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := d.Deliver(ctx, "alice@example.org", []string{"bob@example.net", "nobody@example.net"},
		[]byte("Subject: hello\r\n\r\nHi Bob.\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rep.Recipients {
		fmt.Printf("%s: %v via %s (%s): %d %s\n", r.Recipient, r.Outcome, r.MX, r.TLS.Policy, r.Reply.Code, r.Reply.Enhanced)
	}
	// Output:
	// bob@example.net: delivered via mx2.example.net (no-policy-found): 250 2.0.0
	// nobody@example.net: refused via mx2.example.net (no-policy-found): 550 5.1.1
}
