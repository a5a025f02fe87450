package transport_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/smtpkit/smtpkit/transport"
)

func ExampleLoadCertPool() {
	// A private CA's certificate in a PEM file, as a local Dovecot or a
	// company's CA hands it out. (Made up here.)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Example private CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"mail.example.org"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "ca")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		log.Fatal(err)
	}

	pool, err := transport.LoadCertPool(path)
	if err != nil {
		log.Fatal(err)
	}
	// The pool goes in tls.Config.RootCAs (session.Options.TLSConfig,
	// Dialer.TLSConfig); here it verifies the certificate directly.
	cert, _ := x509.ParseCertificate(der)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "mail.example.org"})
	fmt.Println("verified:", err == nil)

	_, err = transport.LoadCertPool(filepath.Join(dir, "missing.pem"))
	fmt.Println(err != nil)
	// Output:
	// verified: true
	// true
}
