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

// A Reporter counts sessions by policy; at the end of a period, Report
// gives the RFC 8460 report for one domain, to send to the address its
// _smtp._tls record names.
func ExampleReporter() {
	var r deliver.Reporter
	sts := deliver.ReportPolicy{
		Type:   deliver.PolicySTS,
		Domain: "example.net",
		String: []string{"version: STSv1", "mode: enforce", "mx: mx.example.net", "max_age: 86400"},
		MXHost: []string{"mx.example.net"},
	}
	r.Success(sts)
	r.Success(sts)
	r.Failure(sts, deliver.FailureDetail{ResultType: deliver.ResultCertificateExpired, ReceivingMXHostname: "mx.example.net", ReceivingIP: "192.0.2.2"})

	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rep := r.Report("example.net", "Example Org", "mailto:tlsrpt@example.org", "2026-12-01.example.net", start, start.Add(24*time.Hour-time.Second))
	out, _ := rep.JSON()
	fmt.Println(string(out))
	// Output:
	// {
	//   "organization-name": "Example Org",
	//   "date-range": {
	//     "start-datetime": "2026-12-01T00:00:00Z",
	//     "end-datetime": "2026-12-01T23:59:59Z"
	//   },
	//   "contact-info": "mailto:tlsrpt@example.org",
	//   "report-id": "2026-12-01.example.net",
	//   "policies": [
	//     {
	//       "policy": {
	//         "policy-type": "sts",
	//         "policy-string": [
	//           "version: STSv1",
	//           "mode: enforce",
	//           "mx: mx.example.net",
	//           "max_age: 86400"
	//         ],
	//         "policy-domain": "example.net",
	//         "mx-host": [
	//           "mx.example.net"
	//         ]
	//       },
	//       "summary": {
	//         "total-successful-session-count": 2,
	//         "total-failure-session-count": 1
	//       },
	//       "failure-details": [
	//         {
	//           "result-type": "certificate-expired",
	//           "receiving-mx-hostname": "mx.example.net",
	//           "receiving-ip": "192.0.2.2",
	//           "failed-session-count": 1
	//         }
	//       ]
	//     }
	//   ]
	// }
}
