package testfixture

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certificate is a self-signed ECDSA P-256 certificate that is its own CA,
// and a pool that trusts it.
type Certificate struct {
	TLS  tls.Certificate // one certificate, Leaf set
	Pool *x509.CertPool  // holds TLS.Leaf
}

// DefaultNames are the names a certificate is for when none are given:
// what a client on the same machine dials.
var DefaultNames = []string{"localhost", "127.0.0.1", "::1"}

// NewCertificate makes a self-signed certificate for names, valid from an
// hour ago to a day ahead, for server authentication. A name that parses as
// an IP address goes in the IP addresses, any other as it is in the DNS
// names, so that a test can make a certificate with hostile names (IA5String
// allows control characters). With no names it is for [DefaultNames]. A
// zero subject is CommonName "smtpkit test".
//
// NewCertificate is for code that has no T (smtptest's server); tests use
// [SelfSigned].
func NewCertificate(subject pkix.Name, names ...string) (*Certificate, error) {
	if len(names) == 0 {
		names = DefaultNames
	}
	if subject.String() == "" {
		subject.CommonName = "smtpkit test"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	addNames(tmpl, names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &Certificate{
		TLS:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Pool: pool,
	}, nil
}

// SelfSigned is [NewCertificate] with a zero subject, failing t on error.
func SelfSigned(t T, names ...string) *Certificate {
	t.Helper()
	c, err := NewCertificate(pkix.Name{}, names...)
	if err != nil {
		t.Fatalf("testfixture: certificate: %v", err)
	}
	return c
}

// Issue makes a certificate for names signed by c, as a CA, valid from two
// days ago until notAfter (in the past for an expired one), for server
// authentication, with c's certificate after it in the chain, as a server
// sends an intermediate (DANE-TA, RFC 7671 §5.2.2, needs it there). Names
// are as for [NewCertificate]; the subject's CommonName is the first.
func (c *Certificate) Issue(t T, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testfixture: key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testfixture: serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(names) > 0 {
		tmpl.Subject.CommonName = names[0]
	}
	addNames(tmpl, names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.TLS.Leaf, &key.PublicKey, c.TLS.PrivateKey)
	if err != nil {
		t.Fatalf("testfixture: certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testfixture: certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, c.TLS.Leaf.Raw}, PrivateKey: key, Leaf: leaf}
}

// addNames puts each of names in tmpl's IP addresses or DNS names.
func addNames(tmpl *x509.Certificate, names []string) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
}

// ServerConfig is a server's TLS configuration presenting c, TLS 1.2 or
// later.
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
}

// ClientConfig is a client's TLS configuration that trusts c and expects
// serverName.
func (c *Certificate) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{RootCAs: c.Pool, ServerName: serverName}
}

// WritePEM writes the certificate and its key as PEM files in a new
// temporary directory, for a command's --tls-cert and --tls-key (or --ca,
// with the certificate alone).
func (c *Certificate) WritePEM(t interface {
	T
	TempDir() string
}) (certFile, keyFile string) {
	t.Helper()
	kder, err := x509.MarshalECPrivateKey(c.TLS.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatalf("testfixture: key: %v", err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: c.TLS.Certificate[0]},
		keyFile:  {Type: "EC PRIVATE KEY", Bytes: kder},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatalf("testfixture: %v", err)
		}
	}
	return certFile, keyFile
}
