package smtptest

import (
	"crypto/tls"
	"crypto/x509/pkix"

	"github.com/smtpkit/smtpkit/internal/testfixture"
)

// newCertificate makes the certificate STARTTLS presents when Config has
// none: self-signed, its own CA (so that a pool holding it verifies it),
// for localhost, 127.0.0.1 and ::1, valid from an hour ago to a day ahead.
// It is the certificate the tests of other packages make, so it comes
// from the same place.
func newCertificate() (tls.Certificate, error) {
	c, err := testfixture.NewCertificate(pkix.Name{CommonName: "smtptest", Organization: []string{"smtptest"}})
	if err != nil {
		return tls.Certificate{}, err
	}
	return c.TLS, nil
}
