package deliver

import (
	"bytes"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/smtpkit/smtpkit/smtptest"
)

// RFC 6698 §2.3's examples of the presentation form, which RFC 7671
// builds on, and whether an SMTP client can use each (RFC 7672 §3.1.3:
// PKIX-TA and PKIX-EE are not for SMTP).
func TestParseTLSAVectors(t *testing.T) {
	tests := []struct {
		in     string
		want   TLSA
		usable bool
	}{
		{"0 0 1 d2abde240d7cd3ee6b4b28c54df034b9 7983a1d16e8a410e4561cb106618e971",
			TLSA{0, 0, 1, mustHex("d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971")}, false},
		{"( 1 1 2 92003ba34942dc74152e2f2c408d29ec\n a5a520e7f2e06bb944f4dca346baf63c\n 1b177615d466f6c4b71c216a50292bd5\n 8c9ebdd2f74e38fe51ffd48c43326cbc )",
			TLSA{1, 1, 2, mustHex("92003ba34942dc74152e2f2c408d29eca5a520e7f2e06bb944f4dca346baf63c1b177615d466f6c4b71c216a50292bd58c9ebdd2f74e38fe51ffd48c43326cbc")}, false},
		{"3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
			TLSA{3, 1, 1, mustHex("d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971")}, true},
		{"2 0 1 D2ABDE240D7CD3EE6B4B28C54DF034B97983A1D16E8A410E4561CB106618E971",
			TLSA{2, 0, 1, mustHex("d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971")}, true},
		// RFC 7671 §4 and RFC 7672 §3.1: a digest of the wrong length, an
		// unknown selector or matching type makes a record unusable.
		{"3 1 1 d2abde24", TLSA{3, 1, 1, mustHex("d2abde24")}, false},
		{"3 2 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
			TLSA{3, 2, 1, mustHex("d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971")}, false},
		{"3 1 3 d2abde24", TLSA{3, 1, 3, mustHex("d2abde24")}, false},
		{"3 0 0 3082", TLSA{3, 0, 0, mustHex("3082")}, true},
	}
	for _, tt := range tests {
		got, err := ParseTLSA(tt.in)
		if err != nil {
			t.Errorf("ParseTLSA(%q): %v", tt.in, err)
			continue
		}
		if got.Usage != tt.want.Usage || got.Selector != tt.want.Selector || got.MatchingType != tt.want.MatchingType || !bytes.Equal(got.Data, tt.want.Data) {
			t.Errorf("ParseTLSA(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got.Usable() != tt.usable {
			t.Errorf("%v.Usable() = %v, want %v", got, got.Usable(), tt.usable)
		}
		rt, err := UnpackTLSA(append([]byte{got.Usage, got.Selector, got.MatchingType}, got.Data...))
		if err != nil || rt.String() != got.String() {
			t.Errorf("UnpackTLSA of %v = %v, %v", got, rt, err)
		}
	}
}

func TestParseTLSAErrors(t *testing.T) {
	for _, in := range []string{"", "3 1 1", "3 1 1 xyz", "256 1 1 00", "3 1 -1 00", "3 1 1 0", "a b c d"} {
		_, err := ParseTLSA(in)
		var te *TLSAError
		if !errors.As(err, &te) {
			t.Errorf("ParseTLSA(%q): err %v, want a *TLSAError", in, err)
		}
	}
	if _, err := UnpackTLSA([]byte{3, 1}); err == nil {
		t.Error("UnpackTLSA of 2 octets: no error")
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Each selector and matching type against a real certificate.
func TestTLSAMatches(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test").Leaf
	other := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test").Leaf
	s512 := sha512.Sum512(cert.Raw)
	for _, r := range []TLSA{
		{3, 0, 0, cert.Raw},
		{3, 1, 0, cert.RawSubjectPublicKeyInfo},
		{3, 1, 1, spkiSHA256(cert)},
		{3, 0, 2, s512[:]},
	} {
		if !r.matches(cert) {
			t.Errorf("%d %d %d does not match its certificate", r.Usage, r.Selector, r.MatchingType)
		}
		if r.matches(other) {
			t.Errorf("%d %d %d matches another certificate", r.Usage, r.Selector, r.MatchingType)
		}
	}
}

// daneNet is one domain with one MX host whose server offers STARTTLS
// with cert.
func daneNet(t *testing.T, cert *smtptest.Server) (*testNet, *smtptest.Server) {
	n := newTestNet(t)
	n.dns.AddMX("example.test", 10, "mx.example.test")
	n.host("mx.example.test", "127.0.0.60", cert)
	return n, cert
}

func TestDANEEEMatch(t *testing.T) {
	ca := newCA(t, "unknown ca")
	// Expired and for another name: DANE-EE ignores both (RFC 7672 §3.1.1).
	cert := ca.Issue(t, time.Now().Add(-time.Hour), "other.name.test")
	n, srv := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, spkiSHA256(cert.Leaf))
	rep := &Reporter{}
	d := n.deliverer()
	d.Reporter = rep
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyTLSA || !r.TLS.Verified || r.TLS.Version == 0 || r.TLS.Failure != "" {
		t.Fatalf("got %+v (TLS %v), want delivered under verified DANE", r, r.TLS)
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("server has %d messages", len(srv.Messages()))
	}
	got := rep.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	if len(got.Policies) != 1 || got.Policies[0].Policy.Type != PolicyTLSA || got.Policies[0].Summary.Successful != 1 {
		t.Errorf("report %+v, want one successful tlsa session", got.Policies)
	}
}

func TestDANEEEMismatch(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	wrong := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	n, srv := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, spkiSHA256(wrong.Leaf))
	rep := &Reporter{}
	d := n.deliverer()
	d.Reporter = rep
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	var pe *TLSPolicyError
	if r.Outcome != Deferred || !errors.As(r.Err, &pe) || pe.Policy != PolicyTLSA || !errors.Is(r.Err, ErrDANEMismatch) {
		t.Fatalf("got %+v, want deferred with a TLSPolicyError wrapping ErrDANEMismatch", r)
	}
	if r.TLS.Failure != ResultValidationFailure {
		t.Errorf("TLS failure %q, want validation-failure", r.TLS.Failure)
	}
	if len(srv.Messages()) != 0 {
		t.Error("the message went to a server that failed DANE")
	}
	got := rep.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	if len(got.Policies) != 1 || got.Policies[0].Summary.Failed != 1 || got.Policies[0].FailureDetails[0].ResultType != ResultValidationFailure {
		t.Errorf("report %+v, want one validation-failure", got.Policies)
	}
}

func TestDANETA(t *testing.T) {
	ca := newCA(t, "private ca")
	good := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	wrongName := ca.Issue(t, time.Now().Add(time.Hour), "elsewhere.test")
	other := newCA(t, "other ca")
	for _, tt := range []struct {
		name   string
		cert   *smtptest.Server
		anchor *x509.Certificate
		ok     bool
	}{
		{"chain to the anchor, right name", smtpServer(t, smtptest.Config{}, &good), ca.TLS.Leaf, true},
		{"chain to the anchor, wrong name", smtpServer(t, smtptest.Config{}, &wrongName), ca.TLS.Leaf, false},
		{"another anchor", smtpServer(t, smtptest.Config{}, &good), other.TLS.Leaf, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n, _ := daneNet(t, tt.cert)
			n.dns.AddTLSA("_25._tcp.mx.example.test", 2, 0, 1, sha256Of(tt.anchor.Raw))
			r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
			if (r.Outcome == Delivered) != tt.ok || r.TLS.Policy != PolicyTLSA || r.TLS.Verified != tt.ok {
				t.Fatalf("got %v (TLS %v, err %v), want delivered=%v", r.Outcome, r.TLS, r.Err, tt.ok)
			}
		})
	}
}

// The domain name is a reference identifier too (RFC 7672 §3.2.2).
func TestDANETADomainName(t *testing.T) {
	ca := newCA(t, "private ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "example.test")
	n, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 2, 1, 1, spkiSHA256(ca.TLS.Leaf))
	if r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]; r.Outcome != Delivered {
		t.Fatalf("got %v %v, want delivered: the certificate names the next-hop domain", r.Outcome, r.Err)
	}
}

func TestDANEUnauthenticatedTLSAIgnored(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	n, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, make([]byte, 32)) // matches nothing
	n.dns.SetInsecure("_25._tcp.mx.example.test")
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyNotFound || r.TLS.Verified || r.TLS.Version == 0 {
		t.Fatalf("got %v TLS %v err %v, want delivered with opportunistic TLS", r.Outcome, r.TLS, r.Err)
	}
}

func TestDANEInsecureMXNotUsed(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	n, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, make([]byte, 32))
	n.dns.SetInsecure("example.test") // the MX RRset is unsigned
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyNotFound {
		t.Fatalf("got %v TLS %v, want opportunistic delivery: DANE needs a signed MX RRset", r.Outcome, r.TLS)
	}
	for _, q := range n.dns.Queries() {
		if q.Type == TypeTLSA {
			t.Errorf("asked for TLSA %s of an MX host found through an unsigned MX RRset", q.Name)
		}
	}
}

func TestDANEAllUnusableIsOpportunistic(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	n, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 1, 1, 1, make([]byte, 32)) // PKIX-EE: unusable
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, make([]byte, 20)) // wrong digest length
	rep := &Reporter{}
	d := n.deliverer()
	d.Reporter = rep
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyNotFound {
		t.Fatalf("got %v TLS %v err %v, want opportunistic delivery (RFC 7672 §2.2)", r.Outcome, r.TLS, r.Err)
	}
	got := rep.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	found := false
	for _, p := range got.Policies {
		for _, f := range p.FailureDetails {
			found = found || f.ResultType == ResultTLSAInvalid
		}
	}
	if !found {
		t.Errorf("report %+v has no tlsa-invalid", got.Policies)
	}
}

// RFC 7672 §2.2: a TLSA lookup that fails makes that MX host unusable; the
// next one is tried.
func TestDANETLSAServfail(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx2.example.test")
	first := smtpServer(t, smtptest.Config{}, &cert)
	second := smtpServer(t, smtptest.Config{}, &cert)
	n := newTestNet(t)
	n.dns.AddMX("example.test", 10, "mx1.example.test")
	n.dns.AddMX("example.test", 20, "mx2.example.test")
	n.host("mx1.example.test", "127.0.0.61", first)
	n.host("mx2.example.test", "127.0.0.62", second)
	n.dns.SetRCode("_25._tcp.mx1.example.test", TypeTLSA, dnsmessage.RCodeServerFailure)
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.MX != "mx2.example.test" {
		t.Fatalf("got %v via %s (%v), want delivered via mx2", r.Outcome, r.MX, r.Err)
	}
	if len(first.Messages())+first.Conns() != 0 {
		t.Error("connected to the MX host whose TLSA lookup failed")
	}

	// With only that host, the recipient is deferred.
	n2 := newTestNet(t)
	n2.dns.AddMX("example.test", 10, "mx1.example.test")
	n2.host("mx1.example.test", "127.0.0.61", first)
	n2.dns.SetRCode("_25._tcp.mx1.example.test", TypeTLSA, dnsmessage.RCodeServerFailure)
	r = deliverOne(t, n2.deliverer(), "b@example.test").Recipients[0]
	var pe *TLSPolicyError
	if r.Outcome != Deferred || !errors.As(r.Err, &pe) || pe.Result != ResultDNSSECInvalid {
		t.Fatalf("got %v %v, want deferred with dnssec-invalid", r.Outcome, r.Err)
	}
}

func TestDANEWithoutSTARTTLS(t *testing.T) {
	n, srv := daneNet(t, smtpServer(t, smtptest.Config{}, nil))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, make([]byte, 32))
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Deferred || r.TLS.Failure != ResultSTARTTLSNotSupported {
		t.Fatalf("got %v TLS %v err %v, want deferred, starttls-not-supported", r.Outcome, r.TLS, r.Err)
	}
	if len(srv.Messages()) != 0 {
		t.Error("sent in plaintext under DANE")
	}
}

func sha256Of(b []byte) []byte {
	c := &x509.Certificate{RawSubjectPublicKeyInfo: b}
	return spkiSHA256(c)
}

// RFC 7672 §2.2.2: for an MX host that is a CNAME, TLSA records are looked
// for at the expanded name first, then at the original name.
func TestDANECNAME(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "real.example.test")
	for _, tt := range []struct {
		name, tlsaAt string
	}{
		{"records at the expanded name", "real.example.test"},
		{"records at the original name", "mx.example.test"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := newTestNet(t)
			srv := smtpServer(t, smtptest.Config{}, &cert)
			n.dns.AddMX("example.test", 10, "mx.example.test")
			n.dns.AddCNAME("mx.example.test", "real.example.test")
			n.host("real.example.test", "127.0.0.63", srv)
			n.dns.AddTLSA("_25._tcp."+tt.tlsaAt, 3, 1, 1, make([]byte, 32)) // matches nothing
			r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
			if r.Outcome != Deferred || r.TLS.Policy != PolicyTLSA || !errors.Is(r.Err, ErrDANEMismatch) {
				t.Fatalf("got %v TLS %v err %v, want the TLSA record at %s applied (and failed)", r.Outcome, r.TLS, r.Err, tt.tlsaAt)
			}
		})
	}
	// DANE-TA: the expanded name is a reference identifier.
	n := newTestNet(t)
	srv := smtpServer(t, smtptest.Config{}, &cert)
	n.dns.AddMX("example.test", 10, "mx.example.test")
	n.dns.AddCNAME("mx.example.test", "real.example.test")
	n.host("real.example.test", "127.0.0.63", srv)
	n.dns.AddTLSA("_25._tcp.real.example.test", 2, 0, 1, sha256Of(ca.TLS.Leaf.Raw))
	if r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]; r.Outcome != Delivered || !r.TLS.Verified {
		t.Fatalf("DANE-TA for the expanded name: got %v TLS %v err %v", r.Outcome, r.TLS, r.Err)
	}
}

func TestDANEInsecureAddressNotUsed(t *testing.T) {
	ca := newCA(t, "ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	n, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, make([]byte, 32))
	n.dns.SetInsecure("mx.example.test") // its address records are unsigned
	r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyNotFound {
		t.Fatalf("got %v TLS %v, want opportunistic delivery: DANE needs signed address records", r.Outcome, r.TLS)
	}
}

// A "2 0 0" record carries the anchor itself: the server need not send it.
func TestDANETAFullCertificateNotSent(t *testing.T) {
	ca := newCA(t, "private ca")
	cert := ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	cert.Certificate = cert.Certificate[:1] // the leaf alone
	n, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n.dns.AddTLSA("_25._tcp.mx.example.test", 2, 0, 0, ca.TLS.Leaf.Raw)
	if r := deliverOne(t, n.deliverer(), "b@example.test").Recipients[0]; r.Outcome != Delivered || !r.TLS.Verified {
		t.Fatalf("got %v TLS %v err %v, want delivered with the anchor from DNS", r.Outcome, r.TLS, r.Err)
	}
	// A digest of the anchor is not enough when the server does not send it.
	n2, _ := daneNet(t, smtpServer(t, smtptest.Config{}, &cert))
	n2.dns.AddTLSA("_25._tcp.mx.example.test", 2, 0, 1, sha256Of(ca.TLS.Leaf.Raw))
	if r := deliverOne(t, n2.deliverer(), "b@example.test").Recipients[0]; r.Outcome != Deferred {
		t.Fatalf("got %v, want deferred: the anchor cannot be found", r.Outcome)
	}
}
