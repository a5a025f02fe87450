package deliver

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/smtptest"
)

func deliverRequireTLS(t *testing.T, d *Deliverer) RecipientReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := d.DeliverMessage(ctx, &Message{From: "a@sender.test", To: []string{"b@example.test"}, Data: testMessage, RequireTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Recipients[0]
}

func requireTLSServer(t *testing.T, cert *tls.Certificate, offer bool) *smtptest.Server {
	exts := append(smtptest.DefaultExtensions(), "STARTTLS")
	if offer {
		exts = append(exts, "REQUIRETLS")
	}
	srv := smtptest.NewServer(smtptest.Config{Extensions: exts, Certificate: cert})
	t.Cleanup(srv.Close)
	return srv
}

func TestRequireTLSRefusedWithoutAuthenticatedMX(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	n := newTestNet(t)
	srv := requireTLSServer(t, &cert, true)
	n.dns.AddMX("example.test", 10, "mx.example.test")
	n.dns.SetInsecure("example.test")
	n.host("mx.example.test", "127.0.0.90", srv)
	r := deliverRequireTLS(t, n.deliverer())
	if r.Outcome != Refused || !errors.Is(r.Err, ErrRequireTLS) || r.Reply.Enhanced.String() != "5.7.30" {
		t.Fatalf("got %v %v reply %v, want refused with 5.7.30", r.Outcome, r.Err, r.Reply)
	}
	if srv.Conns() != 0 {
		t.Error("connected to an MX host no policy authenticates")
	}
}

func TestRequireTLSUnderDANE(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	for _, offer := range []bool{true, false} {
		n := newTestNet(t)
		srv := requireTLSServer(t, &cert, offer)
		n.dns.AddMX("example.test", 10, "mx.example.test")
		n.host("mx.example.test", "127.0.0.91", srv)
		n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, spkiSHA256(cert.Leaf))
		r := deliverRequireTLS(t, n.deliverer())
		if !offer {
			if r.Outcome != Refused || !errors.Is(r.Err, ErrRequireTLS) || len(srv.Messages()) != 0 {
				t.Errorf("server without REQUIRETLS: got %v %v, want refused", r.Outcome, r.Err)
			}
			continue
		}
		if r.Outcome != Delivered || !r.TLS.Verified {
			t.Fatalf("got %v %v TLS %v, want delivered", r.Outcome, r.Err, r.TLS)
		}
		mailed := false
		for _, c := range srv.Commands() {
			mailed = mailed || strings.HasPrefix(c, "MAIL") && strings.Contains(c, "REQUIRETLS")
		}
		if !mailed {
			t.Errorf("no MAIL with REQUIRETLS in %q", srv.Commands())
		}
	}
}

// A signed MX RRset and a certificate the WebPKI verifies for the MX host
// are enough (RFC 8689 §4.2.1); a certificate that does not verify is not.
func TestRequireTLSWebPKI(t *testing.T) {
	ca := newCA(t, "web ca")
	for _, tt := range []struct {
		name string
		host string
		ok   bool
	}{{"verified", "mx.example.test", true}, {"wrong name", "elsewhere.test", false}} {
		t.Run(tt.name, func(t *testing.T) {
			cert := ca.Issue(t, time.Now().Add(time.Hour), tt.host)
			n := newTestNet(t)
			srv := requireTLSServer(t, &cert, true)
			n.dns.AddMX("example.test", 10, "mx.example.test")
			n.host("mx.example.test", "127.0.0.92", srv)
			d := n.deliverer()
			d.TLSConfig = &tls.Config{RootCAs: ca.Pool}
			r := deliverRequireTLS(t, d)
			if (r.Outcome == Delivered) != tt.ok || (len(srv.Messages()) == 1) != tt.ok {
				t.Fatalf("got %v %v TLS %v, want delivered=%v", r.Outcome, r.Err, r.TLS, tt.ok)
			}
		})
	}
}

// REQUIRETLS turns an MTA-STS policy in testing mode into enforcement: a
// certificate that fails the WebPKI stops the message.
func TestRequireTLSEnforcesTestingPolicy(t *testing.T) {
	for _, good := range []bool{true, false} {
		s := newSTSNet(t, stsPolicyText("testing", "mx.example.test"))
		name := "mx.example.test"
		if !good {
			name = "elsewhere.test"
		}
		cert := s.ca.Issue(t, time.Now().Add(time.Hour), name)
		srv := requireTLSServer(t, &cert, true)
		s.dns.AddMX("example.test", 10, "mx.example.test")
		s.dns.SetInsecure("example.test") // MTA-STS, not DNSSEC, vouches for the MX
		s.host("mx.example.test", "127.0.0.93", srv)
		r := deliverRequireTLS(t, s.deliverer())
		if (r.Outcome == Delivered) != good || (len(srv.Messages()) == 1) != good {
			t.Errorf("certificate for %s: got %v TLS %v err %v", name, r.Outcome, r.TLS, r.Err)
		}
	}
}
