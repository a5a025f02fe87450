package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Resolver looks up MX records. *net.Resolver satisfies it; tests and
// callers with their own DNS client supply another.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// MX is one mail exchanger to try for a domain, in the order [LookupMX]
// returns them.
type MX struct {
	Host       string // host name (no trailing dot) or, for an address literal, an IP address
	Preference uint16 // lower is tried first (RFC 5321 §5.1)
	// Implicit is true when the domain has no MX records and Host is the
	// domain itself, the "implicit MX" of RFC 5321 §5.1 (or the IP address
	// of an address-literal domain).
	Implicit bool
}

// Address returns where to connect for m: Host at port, over TCP.
func (m MX) Address(port int) Address {
	return Address{Network: "tcp", Host: m.Host, Port: port}
}

// LookupMX returns the mail exchangers to try, in order, to deliver mail
// to domain directly (RFC 5321 §5.1): by preference, lowest first, with
// exchangers of equal preference in random order to spread the load.
// shuffle does that randomising (its signature is math/rand/v2.Shuffle's,
// which nil means); tests pass a deterministic one.
//
// When the lookup finds no MX records (a *net.DNSError with IsNotFound, or
// an empty answer), the domain is its own exchanger: one MX with Host =
// domain and Implicit set; whether the domain exists at all shows when its
// addresses are looked up to connect. A domain whose only record is the
// null MX "0 ." (RFC 7505 §3) accepts no mail: the error wraps [ErrNullMX],
// and the delivery should fail permanently. Null records among real ones
// are dropped. Other resolver errors (a server failure, a timeout) come
// back wrapped in an [*MXError]: they are temporary, and the delivery
// should be retried later, not sent to the implicit MX. When a
// *net.Resolver drops malformed records it returns the others together
// with an error; those others are used.
//
// Each exchanger name is checked as [ParseAddress] checks a host name
// (RFC 1035 syntax, no IP address, no port, no brackets, spaces or control
// characters; a UTF-8 name becomes A-labels), since a Resolver other than
// *net.Resolver may return anything. Records with invalid names are
// dropped; when there were records but none is valid, the error is an
// [*MXError] wrapping [ErrBadMX], not the implicit MX.
//
// An address-literal domain ("[192.0.2.1]", "[IPv6:2001:db8::1]", RFC 5321
// §4.1.3) is not looked up: the result is its IP address, Implicit. A
// domain in UTF-8 is looked up as A-labels; a trailing dot is ignored.
// Exchanger names come back without their trailing dot. nil r means
// net.DefaultResolver.
func LookupMX(ctx context.Context, r Resolver, domain string, shuffle func(n int, swap func(i, j int))) ([]MX, error) {
	fail := func(err error) ([]MX, error) { return nil, &MXError{Domain: domain, Err: err} }

	if strings.HasPrefix(domain, "[") {
		ip, ok := netip.Addr{}, false
		if strings.HasSuffix(domain, "]") {
			ip, ok = parseLiteral(domain[1 : len(domain)-1])
		}
		if !ok || ip.Zone() != "" {
			return fail(&AddressError{Input: domain, Reason: "not an IPv4 or IPv6 address literal"})
		}
		return []MX{{Host: ip.String(), Implicit: true}}, nil
	}
	name, reason := checkHostName(domain)
	if domain == "" {
		reason = "empty domain"
	} else if _, err := netip.ParseAddr(domain); err == nil {
		reason = "an IP address as a domain must be an address literal, in brackets"
	}
	if reason != "" {
		return fail(&AddressError{Input: domain, Reason: reason})
	}
	name = strings.TrimSuffix(name, ".")
	if r == nil {
		r = net.DefaultResolver
	}
	if shuffle == nil {
		shuffle = rand.Shuffle
	}

	records, err := r.LookupMX(ctx, name)
	if err != nil {
		var dnsErr *net.DNSError
		isDNS := errors.As(err, &dnsErr)
		switch {
		case isDNS && dnsErr.IsNotFound:
			records = nil
		case len(records) > 0 && isDNS && !dnsErr.IsTemporary && !dnsErr.IsTimeout:
			// Some records were malformed and dropped; use the rest.
		default:
			return fail(err)
		}
	}

	mxs := make([]MX, 0, len(records))
	nulls, bad, badReason := 0, "", ""
	for _, rec := range records {
		if rec == nil {
			continue
		}
		if rec.Host == "" || rec.Host == "." {
			nulls++
			continue
		}
		// A Resolver other than *net.Resolver may return anything: keep
		// only what is a host name (no address, port, brackets, spaces or
		// control characters), which MX.Address can make an Address of.
		host, reason := checkHostName(rec.Host)
		if reason != "" {
			if bad == "" {
				bad, badReason = rec.Host, reason
			}
			continue
		}
		mxs = append(mxs, MX{Host: strings.TrimSuffix(host, "."), Preference: rec.Pref})
	}
	if len(mxs) == 0 {
		switch {
		case bad != "":
			return fail(fmt.Errorf("%w: %s: %s", ErrBadMX, quote(bad), badReason))
		case nulls > 0:
			return fail(ErrNullMX)
		}
		return []MX{{Host: name, Implicit: true}}, nil
	}

	slices.SortStableFunc(mxs, func(a, b MX) int { return cmp.Compare(a.Preference, b.Preference) })
	for i := 0; i < len(mxs); {
		j := i + 1
		for j < len(mxs) && mxs[j].Preference == mxs[i].Preference {
			j++
		}
		if j-i > 1 {
			run := mxs[i:j]
			shuffle(len(run), func(a, b int) { run[a], run[b] = run[b], run[a] })
		}
		i = j
	}
	return mxs, nil
}
