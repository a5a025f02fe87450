package deliver

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// TLSA usages, selectors and matching types (RFC 6698 §2.1, RFC 7218).
const (
	UsagePKIXTA uint8 = 0 // PKIX-TA: not usable for SMTP (RFC 7672 §3.1.3)
	UsagePKIXEE uint8 = 1 // PKIX-EE: likewise
	UsageDANETA uint8 = 2 // DANE-TA: a trust anchor for the server's chain
	UsageDANEEE uint8 = 3 // DANE-EE: the server's own certificate or key

	SelectorCert uint8 = 0 // the whole certificate, DER
	SelectorSPKI uint8 = 1 // its SubjectPublicKeyInfo, DER

	MatchFull   uint8 = 0 // the selected content itself
	MatchSHA256 uint8 = 1
	MatchSHA512 uint8 = 2
)

// MaxTLSAData bounds the association data of one TLSA record: a whole
// certificate fits, anything larger is refused.
const MaxTLSAData = 16 << 10

// TLSA is one TLSA record (RFC 6698 §2.1).
type TLSA struct {
	Usage        uint8
	Selector     uint8
	MatchingType uint8
	Data         []byte // the certificate association data
}

// String returns the record's presentation form, "3 1 1 <hex>".
func (t TLSA) String() string {
	return fmt.Sprintf("%d %d %d %x", t.Usage, t.Selector, t.MatchingType, t.Data)
}

// Usable reports whether an SMTP client can use t (RFC 7672 §3.1, RFC 7671
// §4): usage DANE-TA or DANE-EE, a known selector, a known matching type,
// and data of the length the matching type implies. Records that are not
// usable are ignored; when none is, DANE does not apply (RFC 7672 §2.2).
func (t TLSA) Usable() bool {
	if t.Usage != UsageDANETA && t.Usage != UsageDANEEE {
		return false
	}
	if t.Selector > SelectorSPKI {
		return false
	}
	switch t.MatchingType {
	case MatchFull:
		return len(t.Data) > 0
	case MatchSHA256:
		return len(t.Data) == sha256.Size
	case MatchSHA512:
		return len(t.Data) == sha512.Size
	}
	return false
}

// TLSAError is TLSA data that does not parse.
type TLSAError struct {
	Input  string
	Reason string
}

func (e *TLSAError) Error() string {
	return "deliver: TLSA record " + strconv.Quote(logsafe.Escape(e.Input)) + ": " + e.Reason
}

// UnpackTLSA parses a TLSA record's RDATA: three octets and the data.
func UnpackTLSA(rdata []byte) (TLSA, error) {
	if len(rdata) < 3 {
		return TLSA{}, &TLSAError{Input: hex.EncodeToString(rdata), Reason: "shorter than 3 octets"}
	}
	if len(rdata)-3 > MaxTLSAData {
		return TLSA{}, &TLSAError{Input: hex.EncodeToString(rdata[:8]) + "...", Reason: "association data too long"}
	}
	return TLSA{Usage: rdata[0], Selector: rdata[1], MatchingType: rdata[2], Data: bytes.Clone(rdata[3:])}, nil
}

// ParseTLSA parses a TLSA record's presentation form (RFC 6698 §2.2):
// usage, selector and matching type as decimal numbers, then the data in
// hexadecimal, which may be split by spaces and wrapped in parentheses as
// zone files write it:
//
//	3 1 1 ( 0C72AC70B745AC19998811B131D662C9
//	        AC69DBDBE7CB23E5B514B56664C5D3D6 )
func ParseTLSA(s string) (TLSA, error) {
	bad := func(reason string) (TLSA, error) { return TLSA{}, &TLSAError{Input: s, Reason: reason} }
	if len(s) > 4*MaxTLSAData {
		return bad("too long")
	}
	fields := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(s))
	if len(fields) < 4 {
		return bad("want usage, selector, matching type and data")
	}
	var nums [3]uint8
	for i := range nums {
		n, err := strconv.ParseUint(fields[i], 10, 8)
		if err != nil {
			return bad("field " + strconv.Itoa(i+1) + " is not a number from 0 to 255")
		}
		nums[i] = uint8(n)
	}
	data, err := hex.DecodeString(strings.Join(fields[3:], ""))
	if err != nil {
		return bad("association data is not hexadecimal")
	}
	if len(data) == 0 || len(data) > MaxTLSAData {
		return bad("association data empty or too long")
	}
	return TLSA{Usage: nums[0], Selector: nums[1], MatchingType: nums[2], Data: data}, nil
}

// matches reports whether cert's selected content, digested as t says,
// is t's data.
func (t TLSA) matches(cert *x509.Certificate) bool {
	var content []byte
	switch t.Selector {
	case SelectorCert:
		content = cert.Raw
	case SelectorSPKI:
		content = cert.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch t.MatchingType {
	case MatchFull:
		return bytes.Equal(content, t.Data)
	case MatchSHA256:
		sum := sha256.Sum256(content)
		return bytes.Equal(sum[:], t.Data)
	case MatchSHA512:
		sum := sha512.Sum512(content)
		return bytes.Equal(sum[:], t.Data)
	}
	return false
}

// ErrDANEMismatch is wrapped by the error of a TLS handshake whose
// certificate matched none of the usable TLSA records.
var ErrDANEMismatch = errors.New("no TLSA record matches the server's certificate")

// verifyDANE checks a server's certificate chain against usable TLSA
// records (RFC 7672 §3.1, RFC 7671 §5): a DANE-EE record matching the leaf
// authenticates it whatever its names and dates say; a DANE-TA record
// matching a certificate the server sent makes that certificate the trust
// anchor of an X.509 chain to the leaf, whose names must then include one
// of names (the MX host, then the next-hop domain, RFC 7672 §3.2.2).
func verifyDANE(records []TLSA, chain []*x509.Certificate, names []string, opts x509.VerifyOptions) error {
	if len(chain) == 0 {
		return errors.New("deliver: the server sent no certificate")
	}
	leaf := chain[0]
	var taErr error
	for _, r := range records {
		switch r.Usage {
		case UsageDANEEE:
			if r.matches(leaf) {
				return nil
			}
		case UsageDANETA:
			// The anchor is one of the certificates the server sent
			// (RFC 7671 §5.2.2 has servers include it), the ones below
			// it intermediates; or, when the record holds a whole
			// certificate (2 0 0), that certificate, which the server
			// need not send.
			for i := 1; i < len(chain); i++ {
				if !r.matches(chain[i]) {
					continue
				}
				if taErr = verifyToAnchor(leaf, chain[i], chain[1:i], names, opts); taErr == nil {
					return nil
				}
			}
			if r.Selector == SelectorCert && r.MatchingType == MatchFull {
				if anchor, err := x509.ParseCertificate(r.Data); err == nil {
					if taErr = verifyToAnchor(leaf, anchor, chain[1:], names, opts); taErr == nil {
						return nil
					}
				}
			}
		}
	}
	if taErr != nil {
		return fmt.Errorf("deliver: %w: the chain to a DANE-TA anchor does not verify: %w", ErrDANEMismatch, taErr)
	}
	return fmt.Errorf("deliver: %w", ErrDANEMismatch)
}

// verifyToAnchor checks that leaf chains to anchor through intermediates
// and names one of names.
func verifyToAnchor(leaf, anchor *x509.Certificate, intermediates []*x509.Certificate, names []string, opts x509.VerifyOptions) error {
	opts.Roots = x509.NewCertPool()
	opts.Roots.AddCert(anchor)
	opts.Intermediates = x509.NewCertPool()
	for _, c := range intermediates {
		opts.Intermediates.AddCert(c)
	}
	opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	var err error
	for _, name := range names {
		opts.DNSName = name
		if _, err = leaf.Verify(opts); err == nil {
			return nil
		}
	}
	return err
}
