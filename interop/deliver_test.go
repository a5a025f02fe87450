package interop

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/deliver"
	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/session"
)

// readCert reads the first certificate of a PEM file.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM in %s", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// postfixAsMX is an in-process DNS server that makes Postfix (on
// 127.0.0.1) the MX host of example.org, DNSSEC-authenticated, and a
// Deliverer that resolves through it and connects on Postfix's port.
func postfixAsMX(t *testing.T) (*dnstest.Server, *deliver.Deliverer, *syncBuffer) {
	addr := peerEnv(t, "SMTPKIT_POSTFIX_ADDR")
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	dns := dnstest.NewServer()
	t.Cleanup(dns.Close)
	dns.AddMX("example.org", 10, "mx.example.org")
	dns.AddAddr("mx.example.org", host)
	trace := &syncBuffer{}
	d := &deliver.Deliverer{
		Resolver:      &deliver.DNSClient{Server: dns.Addr, Timeout: 2 * time.Second},
		Port:          port,
		DisableMTASTS: true, // example.org has no _mta-sts record here anyway
		Session:       session.Options{LocalName: "client.example.org", Trace: trace},
		Reporter:      &deliver.Reporter{},
	}
	return dns, d, trace
}

// The certificate Postfix presents is interop's server.pem (interop_certs
// in interop/lib.sh), next to the CA that signed it.
func postfixCert(t *testing.T) *x509.Certificate {
	return readCert(t, filepath.Join(filepath.Dir(peerEnv(t, "SMTPKIT_POSTFIX_CA")), "server.pem"))
}

func TestDeliverDANEPostfix(t *testing.T) {
	ctx := ctxFor(t)
	cert := postfixCert(t)
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)

	t.Run("DANE-EE matches", func(t *testing.T) {
		dns, d, trace := postfixAsMX(t)
		dns.AddTLSA("_"+strconv.Itoa(d.Port)+"._tcp.mx.example.org", 3, 1, 1, spki[:])
		marker := fmt.Sprintf("deliver-dane-%d", time.Now().UnixNano())
		msg := "From: alice@client.example.org\r\nTo: bob@example.org\r\nSubject: " + marker + "\r\n\r\nDelivered under DANE-EE.\r\n"
		rep, err := d.Deliver(ctx, "alice@client.example.org", []string{"bob@example.org"}, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Recipients[0]
		if r.Outcome != deliver.Delivered || r.TLS.Policy != deliver.PolicyTLSA || !r.TLS.Verified || r.TLS.Version == 0 {
			t.Fatalf("got %v via %s TLS %v err %v\n%s", r.Outcome, r.Address, r.TLS, r.Err, trace.String())
		}
		if r.Reply.Code != 250 {
			t.Errorf("reply %v, want Postfix's 250 queued", r.Reply)
		}
		peers[0].waitDelivered(t, "bob", marker)
		got := d.Reporter.Report("example.org", "o", "c", "id", time.Now(), time.Now())
		if len(got.Policies) != 1 || got.Policies[0].Summary.Successful != 1 {
			t.Errorf("TLS report %+v, want one successful tlsa session", got.Policies)
		}
	})

	t.Run("DANE-EE mismatch is refused and reported", func(t *testing.T) {
		dns, d, trace := postfixAsMX(t)
		// The key of the interop's other CA: Postfix does not have it.
		wrong := readCert(t, filepath.Join(filepath.Dir(peerEnv(t, "SMTPKIT_POSTFIX_CA")), "wrong-ca.pem"))
		bad := sha256.Sum256(wrong.RawSubjectPublicKeyInfo)
		dns.AddTLSA("_"+strconv.Itoa(d.Port)+"._tcp.mx.example.org", 3, 1, 1, bad[:])
		rep, err := d.Deliver(ctx, "alice@client.example.org", []string{"bob@example.org"}, []byte("Subject: never\r\n\r\nnever\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Recipients[0]
		var pe *deliver.TLSPolicyError
		if r.Outcome != deliver.Deferred || !errors.As(r.Err, &pe) || !errors.Is(r.Err, deliver.ErrDANEMismatch) || r.TLS.Failure != deliver.ResultValidationFailure {
			t.Fatalf("got %v TLS %v err %v, want deferred with a DANE mismatch", r.Outcome, r.TLS, r.Err)
		}
		if strings.Contains(trace.String(), "MAIL FROM") {
			t.Errorf("the envelope went out after DANE failed:\n%s", trace.String())
		}
		got := d.Reporter.Report("example.org", "o", "c", "id", time.Now(), time.Now())
		if len(got.Policies) != 1 || got.Policies[0].Summary.Failed != 1 ||
			got.Policies[0].FailureDetails[0].ResultType != deliver.ResultValidationFailure ||
			got.Policies[0].FailureDetails[0].ReceivingMXHostname != "mx.example.org" {
			t.Errorf("TLS report %+v, want one validation-failure for mx.example.org", got.Policies)
		}
	})

	t.Run("DANE-EE on the full certificate, SHA-512", func(t *testing.T) {
		dns, d, _ := postfixAsMX(t)
		full := sha512Of(cert.Raw)
		dns.AddTLSA("_"+strconv.Itoa(d.Port)+"._tcp.mx.example.org", 3, 0, 2, full)
		rep, err := d.Deliver(ctx, "alice@client.example.org", []string{"bob@example.org"}, []byte("Subject: 3 0 2\r\n\r\nfull certificate\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if r := rep.Recipients[0]; r.Outcome != deliver.Delivered || !r.TLS.Verified {
			t.Fatalf("got %v TLS %v err %v", r.Outcome, r.TLS, r.Err)
		}
	})
}

func sha512Of(b []byte) []byte {
	s := sha512.Sum512(b)
	return s[:]
}

// policyServer serves an MTA-STS policy for example.org over HTTPS with a
// certificate of its own CA, and returns a client that reaches it (on
// loopback) and trusts that CA.
func policyServer(t *testing.T, policy string) *http.Client {
	cert := testfixture.SelfSigned(t, "mta-sts.example.org")
	web := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, policy)
	}))
	web.TLS = cert.ServerConfig()
	web.StartTLS()
	t.Cleanup(web.Close)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, web.Listener.Addr().String())
		},
	}}
}

// MTA-STS in enforce mode with Postfix as the MX host "localhost", the
// name its certificate is for: the WebPKI (here, the interop CA) verifies
// it; with roots that do not include that CA, nothing is sent.
func TestDeliverMTASTSPostfix(t *testing.T) {
	ctx := ctxFor(t)
	for _, tt := range []struct {
		name  string
		caVar string
		ok    bool
	}{
		{"verified", "SMTPKIT_POSTFIX_CA", true},
		{"untrusted", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := peerEnv(t, "SMTPKIT_POSTFIX_ADDR")
			_, portText, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(portText)
			dns := dnstest.NewServer()
			t.Cleanup(dns.Close)
			dns.AddMX("example.org", 10, "localhost")
			dns.AddAddr("localhost", "127.0.0.1")
			dns.AddTXT("_mta-sts.example.org", "v=STSv1; id=interop1;")
			roots := caPool(t, filepath.Join(filepath.Dir(peerEnv(t, "SMTPKIT_POSTFIX_CA")), "wrong-ca.pem"))
			if tt.caVar != "" {
				roots = caPool(t, peerEnv(t, tt.caVar))
			}
			trace := &syncBuffer{}
			d := &deliver.Deliverer{
				Resolver:    &deliver.DNSClient{Server: dns.Addr, Timeout: 2 * time.Second},
				Port:        port,
				DisableDANE: true,
				TLSConfig:   &tls.Config{RootCAs: roots},
				HTTPClient:  policyServer(t, "version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 86400\n"),
				Session:     session.Options{LocalName: "client.example.org", Trace: trace},
				Reporter:    &deliver.Reporter{},
			}
			marker := fmt.Sprintf("deliver-mta-sts-%d", time.Now().UnixNano())
			rep, err := d.Deliver(ctx, "alice@client.example.org", []string{"bob@example.org"}, []byte("Subject: "+marker+"\r\n\r\nMTA-STS enforce.\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := rep.Recipients[0]
			if r.TLS.Policy != deliver.PolicySTS || r.TLS.Mode != deliver.ModeEnforce {
				t.Fatalf("TLS %v, want sts/enforce", r.TLS)
			}
			if !tt.ok {
				if r.Outcome != deliver.Deferred || r.TLS.Failure != deliver.ResultCertificateNotTrusted || strings.Contains(trace.String(), "MAIL FROM") {
					t.Fatalf("got %v TLS %v err %v, want deferred before MAIL, certificate-not-trusted\n%s", r.Outcome, r.TLS, r.Err, trace.String())
				}
				return
			}
			if r.Outcome != deliver.Delivered || !r.TLS.Verified {
				t.Fatalf("got %v TLS %v err %v\n%s", r.Outcome, r.TLS, r.Err, trace.String())
			}
			peers[0].waitDelivered(t, "bob", marker)
		})
	}
}
