package deliver

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// newCA makes a certificate authority for one test, named name: its
// Issue makes the MX hosts' certificates.
func newCA(t testing.TB, name string) *testfixture.Certificate {
	t.Helper()
	ca, err := testfixture.NewCertificate(pkix.Name{CommonName: name})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// spkiSHA256 is the data of a "3 1 1" record for cert.
func spkiSHA256(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return sum[:]
}

// testNet is an in-process DNS server and the loopback SMTP servers that
// stand for MX hosts' addresses.
type testNet struct {
	t   *testing.T
	dns *dnstest.Server
	mu  sync.Mutex
	// servers maps "ip:25" from DNS to where the smtptest server listens.
	servers map[string]string
	dialed  []string
}

func newTestNet(t *testing.T) *testNet {
	n := &testNet{t: t, dns: dnstest.NewServer(), servers: map[string]string{}}
	t.Cleanup(n.dns.Close)
	return n
}

// host gives an MX host an address in DNS and, when srv is not nil, a
// server behind it; with srv nil, connecting to it is refused.
func (n *testNet) host(name, ip string, srv *smtptest.Server) {
	n.dns.AddAddr(name, ip)
	if srv != nil {
		n.mu.Lock()
		n.servers[net.JoinHostPort(ip, "25")] = srv.Addr
		n.mu.Unlock()
	}
}

func (n *testNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	n.dialed = append(n.dialed, addr)
	to, ok := n.servers[addr]
	n.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("test network: %s: connection refused", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, to) // always 127.0.0.1: smtptest's
}

func (n *testNet) dialedAddrs() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.dialed...)
}

// deliverer returns a Deliverer on this network, with MX hosts of equal
// preference in the order DNS gave them.
func (n *testNet) deliverer() *Deliverer {
	return &Deliverer{
		Resolver: &DNSClient{Server: n.dns.Addr, Timeout: 2 * time.Second},
		Dial:     n.dial,
		Shuffle:  func(int, func(i, j int)) {},
		Session:  sessionOptions(),
	}
}

// smtpServer starts a server; with cert, it offers STARTTLS with it.
func smtpServer(t *testing.T, cfg smtptest.Config, cert *tls.Certificate) *smtptest.Server {
	t.Helper()
	if cert != nil {
		cfg.Extensions = append(smtptest.DefaultExtensions(), "STARTTLS")
		cfg.Certificate = cert
	}
	srv := smtptest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

var testMessage = []byte("From: a@sender.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nHello.\r\n")

// sessionOptions keeps a broken test from waiting RFC 5321's minutes.
func sessionOptions() session.Options {
	d := 10 * time.Second
	return session.Options{LocalName: "client.test", Timeouts: session.Timeouts{
		Connect: d, Greeting: d, Command: d, Mail: d, Rcpt: d, DataInit: d, DataBlock: d, DataEnd: d,
	}}
}
