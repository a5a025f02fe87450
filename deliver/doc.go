// Package deliver delivers mail straight to the MX hosts of the recipients'
// domains, as an outbound MTA does, with the TLS policies that protect that
// hop: DANE (RFC 7672, RFC 7671), MTA-STS (RFC 8461), TLS reporting (RFC
// 8460) and REQUIRETLS (RFC 8689).
//
// # Delivering
//
// A Deliverer needs a Resolver that tells whether answers are authenticated
// by DNSSEC: a DNSClient pointed at a validating resolver the operator
// trusts, ideally on 127.0.0.1 (net.Resolver exposes neither TLSA records
// nor the AD bit). Then
//
//	d := &deliver.Deliverer{
//		Resolver: &deliver.DNSClient{Server: "127.0.0.1:53"},
//		Session:  session.Options{LocalName: "mta.example.org"},
//		Reporter: &deliver.Reporter{},
//	}
//	rep, err := d.Deliver(ctx, "alice@example.org", []string{"bob@example.net"}, msg)
//
// err is only for a message that could not be tried at all; the Report has,
// for each recipient, its Outcome (Delivered, Refused, Deferred, Unknown),
// the MX host and address of the session that decided it, the TLS that
// session had (TLSResult), the server's reply and the error.
//
// Domains are delivered to one after another, or Deliverer.Parallel at
// once. For each domain, the MX records are tried in preference order, equal ones
// shuffled (transport.LookupMX); a domain without MX records is its own MX
// (RFC 5321 §5.1); a null MX (RFC 7505) refuses its recipients at once.
// Each MX host's addresses are tried, IPv6 first, until one answers. A
// temporary failure (no connection, a 4yz reply, a TLS policy that was not
// met) moves the recipients it concerns on to the next MX host; a 5yz
// refuses them; a reply lost after the whole message was sent makes them
// Unknown, and they are not sent again, since that could deliver twice.
//
// # TLS policy
//
// The policy of an MX host is chosen in this order:
//
//   - DANE, when the MX records (or, for an implicit MX, the domain's
//     addresses) and the host's addresses are DNSSEC-authenticated and
//     _25._tcp.<host> has authenticated TLSA records (at the name its
//     CNAMEs lead to first, RFC 7672 §2.2.2) of which at least one is
//     usable (DANE-TA or DANE-EE, selector 0 or 1, matching type 0, 1
//     or 2). TLS is then required, and the server's certificate must match:
//     DANE-EE by the leaf's certificate or key alone, names and dates
//     ignored; DANE-TA by a chain to the matching certificate, which the
//     server must send (RFC 7671 §5.2.2), for the MX host's name (either
//     side of its CNAMEs) or the domain's (RFC 7672 §3.2.2). Unauthenticated TLSA
//     records are ignored; when all are unusable, TLS is opportunistic. A
//     TLSA lookup that fails (SERVFAIL) makes the host unusable (RFC 7672
//     §2.2): the next MX host is tried, and the recipients are Deferred
//     if none is left.
//   - MTA-STS, when the domain publishes a policy: its _mta-sts TXT record
//     gives an id, the policy is fetched from
//     https://mta-sts.<domain>/.well-known/mta-sts.txt (the certificate
//     verified, no redirects, text/plain, at most 64 KiB, within
//     PolicyFetchTimeout) and kept in the PolicyCache until its max_age
//     runs out or the id changes. In enforce mode, MX hosts the policy does
//     not list are skipped and TLS must verify with the WebPKI for the MX
//     host's name (Deliverer.TLSConfig.RootCAs); in testing mode the
//     message goes anyway and the failure is reported.
//   - Otherwise opportunistic TLS (RFC 7435): STARTTLS when offered,
//     certificates not checked, and plaintext when the handshake fails.
//
// A message with RequireTLS goes only under DANE, under MTA-STS (as if in
// enforce mode), or with a DNSSEC-authenticated MX record and a certificate
// the WebPKI verifies, to a server that offers REQUIRETLS; otherwise its
// recipients are Refused with 5.7.30 and ErrRequireTLS.
//
// # TLS reporting
//
// A Reporter counts every session by the policy applied, with failures in
// RFC 8460's result types. Reporter.Report ends a period for one domain and
// returns its report, which TLSReport.JSON renders; LookupTLSRPT finds
// where the domain wants it (its _smtp._tls record), and sending it there
// is the application's job.
//
// # Bounds
//
// DNS replies are read into at most MaxDNSReply octets over UDP (with a
// retry over TCP when truncated) and each question has a deadline
// (DNSClient.Timeout). A domain's MX hosts are tried up to MaxMXHosts, each
// host's addresses up to MaxAddresses. Policy bodies are limited to
// MaxPolicySize and fetched within a timeout; TLSA association data to
// MaxTLSAData. The SMTP sessions have package session's limits and
// timeouts (Deliverer.Session).
//
// # Errors
//
// Errors are typed: *DNSError, *transport.MXError (wrapping
// transport.ErrNullMX for a null MX), *TLSPolicyError (a policy not met,
// with its RFC 8460 result type), *PolicyError (an MTA-STS record or policy
// that does not parse or could not be fetched), *TLSAError, ErrRequireTLS,
// ErrNoRecipients, and package session's errors for what the server said.
package deliver
