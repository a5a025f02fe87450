package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// Bounds on the work one delivery does for one domain.
const (
	// MaxMXHosts is how many MX hosts of a domain are tried, at most.
	MaxMXHosts = 10
	// MaxAddresses is how many addresses of one MX host are tried.
	MaxAddresses = 4
	// DefaultConnectTimeout bounds a TCP connect when Deliverer sets none.
	DefaultConnectTimeout = 30 * time.Second
)

// Deliverer delivers messages straight to the MX hosts of their
// recipients' domains. Its fields must not change while it delivers; it is
// safe for concurrent use. The zero value uses the system's first
// nameserver (which must validate DNSSEC for DANE to apply), port 25,
// an in-memory policy cache and no TLS reports.
type Deliverer struct {
	// Resolver answers the DNS questions: MX, A, AAAA, TXT (MTA-STS) and
	// TLSA (DANE). Nil means SystemDNSClient().
	Resolver Resolver
	// Dial makes the TCP connections to MX hosts, given "ip:port". Nil
	// means a net.Dialer with ConnectTimeout.
	Dial transport.DialFunc
	// ConnectTimeout bounds each TCP connect; 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Port is the SMTP port of MX hosts; 0 means 25.
	Port int

	// Session holds the options of each SMTP session: LocalName, Timeouts,
	// Limits, Trace, Logger. Its TLS, TLSConfig and Dialer are set per MX
	// host from the policy that applies.
	Session session.Options
	// TLSConfig is the base of every TLS configuration: RootCAs (the
	// WebPKI roots MTA-STS verifies MX certificates against; nil means
	// the system's), Time, client certificates. ServerName and
	// verification are set per MX host.
	TLSConfig *tls.Config

	// DisableDANE skips TLSA lookups; DisableMTASTS skips MTA-STS.
	DisableDANE   bool
	DisableMTASTS bool
	// PolicyCache keeps MTA-STS policies; nil means one in memory, kept by
	// the Deliverer.
	PolicyCache PolicyCache
	// HTTPClient fetches MTA-STS policies; nil means a client of the
	// Deliverer's own that trusts TLSConfig.RootCAs (or the system's
	// roots) and reads at most 64 KiB of response header.
	// Redirects are never followed, whatever its CheckRedirect says.
	HTTPClient *http.Client
	// PolicyFetchTimeout bounds a policy fetch; 0 means
	// DefaultPolicyFetchTimeout.
	PolicyFetchTimeout time.Duration

	// Parallel is how many domains are delivered to at once; 0 or 1
	// means one after another. Session.Trace and Session.Logger then see
	// the sessions interleaved.
	Parallel int

	// Reporter, when set, counts every TLS session by policy, for TLS
	// reports (RFC 8460).
	Reporter *Reporter

	// Now is the clock for the policy cache; nil means time.Now.
	Now func() time.Time
	// Shuffle orders MX hosts of equal preference; nil means random (see
	// transport.LookupMX).
	Shuffle func(n int, swap func(i, j int))

	cacheOnce sync.Once
	cache     PolicyCache
	sysOnce   sync.Once
	sys       *DNSClient
	httpOnce  sync.Once
	http      *http.Client
}

// Message is what DeliverMessage sends.
type Message struct {
	From string   // the reverse path; "" or "<>" is the null sender
	To   []string // recipients, any domains
	Data []byte   // the message, header and body
	// RequireTLS marks the message REQUIRETLS (RFC 8689): it goes only to
	// an MX host authenticated by DANE, or by the WebPKI under an MTA-STS
	// policy or a DNSSEC-signed MX record, that offers REQUIRETLS, and is
	// refused (5.7.30) rather than sent any other way.
	RequireTLS bool
	// MailParams are sent with MAIL (SIZE, BODY and SMTPUTF8 are filled in
	// as session.Client.SendEnvelope does; RequireTLS above sets
	// REQUIRETLS).
	MailParams command.MailParams
}

// Outcome is what happened to one recipient.
type Outcome int

const (
	// Delivered: an MX host accepted the message for the recipient.
	Delivered Outcome = iota
	// Refused: a permanent failure (a 5yz reply, a null MX, a domain
	// that does not exist, REQUIRETLS that cannot be met); bounce it.
	Refused
	// Deferred: a temporary failure on every MX host tried; retry later.
	Deferred
	// Unknown: the message went out whole but the reply was lost; it may
	// have been delivered, and a retry may deliver it twice.
	Unknown
)

var outcomeNames = [...]string{"delivered", "refused", "deferred", "unknown"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// TLSResult is the TLS of the session a recipient's outcome came from.
type TLSResult struct {
	// Policy is the policy applied: DANE (PolicyTLSA), MTA-STS
	// (PolicySTS, with Mode), or none (PolicyNotFound).
	Policy PolicyType
	Mode   Mode
	// Version is the TLS version (tls.VersionTLS13, ...); 0 means the
	// session was in plaintext.
	Version uint16
	// Verified is true when the server was authenticated as the policy
	// asks: by a TLSA record, or by the WebPKI for the MX host's name.
	Verified bool
	// Failure, when not empty, is why the policy was not met. Under
	// enforcement the session did not carry the message; under
	// MTA-STS's testing mode, or with no policy, it did.
	Failure ResultType
}

func (t TLSResult) String() string {
	var b strings.Builder
	b.WriteString(string(t.Policy))
	if t.Mode != "" {
		b.WriteString("/" + string(t.Mode))
	}
	switch {
	case t.Version == 0:
		b.WriteString(", plaintext")
	case t.Verified:
		b.WriteString(", " + tls.VersionName(t.Version) + " verified")
	default:
		b.WriteString(", " + tls.VersionName(t.Version) + " unverified")
	}
	if t.Failure != "" {
		b.WriteString(", failed: " + string(t.Failure))
	}
	return b.String()
}

// RecipientReport is the outcome for one recipient.
type RecipientReport struct {
	Recipient string
	Outcome   Outcome
	// MX and Address are the host and "ip:port" of the last session
	// tried for the recipient (empty when none was: a null MX, a DNS
	// failure).
	MX      string
	Address string
	TLS     TLSResult
	// Reply is the server's reply that decided the outcome: the end of
	// data for a delivery, RCPT's or MAIL's refusal; zero when no server
	// answered.
	Reply response.Reply
	// Err says why the recipient was not delivered; nil when it was.
	Err error
}

// Report is the outcome of a delivery, one entry per recipient in the
// order given.
type Report struct {
	Recipients []RecipientReport
}

// With returns the recipients whose outcome is o.
func (r *Report) With(o Outcome) []RecipientReport {
	var out []RecipientReport
	for _, rr := range r.Recipients {
		if rr.Outcome == o {
			out = append(out, rr)
		}
	}
	return out
}

// ErrNoRecipients is the error of a delivery with no recipients.
var ErrNoRecipients = errors.New("deliver: no recipients")

// ErrRequireTLS is wrapped by the error of a REQUIRETLS message refused
// because no MX host met the conditions of RFC 8689 §4.2.1.
var ErrRequireTLS = errors.New("deliver: REQUIRETLS cannot be met")

// TLSPolicyError is a session refused because TLS did not meet the policy
// that applied to the MX host (DANE, MTA-STS in enforce mode, REQUIRETLS).
type TLSPolicyError struct {
	Host   string
	Policy PolicyType
	Result ResultType
	Err    error
}

func (e *TLSPolicyError) Error() string {
	s := "deliver: " + logsafe.Escape(e.Host) + ": " + string(e.Policy) + " policy not met: " + string(e.Result)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *TLSPolicyError) Unwrap() error { return e.Err }

// Deliver delivers msg from from to rcpts, grouping them by domain; see
// DeliverMessage.
func (d *Deliverer) Deliver(ctx context.Context, from string, rcpts []string, msg []byte) (*Report, error) {
	return d.DeliverMessage(ctx, &Message{From: from, To: rcpts, Data: msg})
}

// DeliverMessage delivers m to each recipient's domain (Parallel of them at
// once) and reports each recipient's outcome. The error is only for a
// message that could not be tried at all: no recipients (ErrNoRecipients)
// or a reverse path that does not parse (*command.AddressError); what
// happened to each recipient, failures included, is in the Report.
//
// For each domain (RFC 5321 §5.1): the MX hosts in preference order, equal
// ones shuffled, or the domain itself when it has none; a null MX (RFC
// 7505) refuses the recipients. For each MX host, its addresses (IPv6
// first), the first that answers. A temporary failure (a connect error, a
// 4yz, a TLS policy failure) moves on to the next address or MX host with
// the recipients it concerns; a 5yz refuses them; a lost reply after the
// whole message makes them Unknown, and they are not tried again.
func (d *Deliverer) DeliverMessage(ctx context.Context, m *Message) (*Report, error) {
	if len(m.To) == 0 {
		return nil, ErrNoRecipients
	}
	var from command.Mailbox
	if f := strings.TrimSpace(m.From); f != "" && f != "<>" {
		var err error
		if from, err = command.ParseAddress(f); err != nil {
			return nil, err
		}
	}
	rep := &Report{Recipients: make([]RecipientReport, len(m.To))}
	type group struct {
		domain string
		idx    []int
		boxes  []command.Mailbox
	}
	var groups []*group
	byDomain := map[string]*group{}
	for i, to := range m.To {
		rep.Recipients[i].Recipient = to
		box, err := command.ParseAddress(to)
		if err == nil && box.Domain == "" {
			err = &command.AddressError{Address: to, Offset: len(to), Reason: "no domain to deliver to", Err: command.ErrMissing}
		}
		if err != nil {
			rep.Recipients[i].Outcome, rep.Recipients[i].Err = Refused, err
			continue
		}
		dom := strings.ToLower(strings.TrimSuffix(box.Domain, "."))
		g := byDomain[dom]
		if g == nil {
			g = &group{domain: dom}
			byDomain[dom] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
		g.boxes = append(g.boxes, box)
	}
	// Each domain writes its own recipients' entries, so domains can run
	// at once without a lock.
	sem := make(chan struct{}, max(d.Parallel, 1))
	var wg sync.WaitGroup
	for _, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results := d.deliverDomain(ctx, m, from, g.domain, g.boxes)
			for j, i := range g.idx {
				results[j].Recipient = m.To[i]
				rep.Recipients[i] = results[j]
			}
		})
	}
	wg.Wait()
	return rep, nil
}

func (d *Deliverer) resolver() Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	d.sysOnce.Do(func() { d.sys = SystemDNSClient() }) // read resolv.conf once
	return d.sys
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) httpClient() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	d.httpOnce.Do(func() {
		d.http = &http.Client{Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			TLSClientConfig:        &tls.Config{RootCAs: d.baseTLS().RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:    10 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		}}
	})
	return d.http
}

// tlsNow is the clock certificates are checked by: TLSConfig.Time's.
func (d *Deliverer) tlsNow() time.Time {
	if t := d.baseTLS().Time; t != nil {
		return t()
	}
	return time.Now()
}

func (d *Deliverer) policyCache() PolicyCache {
	if d.PolicyCache != nil {
		return d.PolicyCache
	}
	d.cacheOnce.Do(func() { d.cache = &MemoryPolicyCache{} })
	return d.cache
}

// mxResolver adapts a Resolver to transport.Resolver, remembering whether
// the MX answer was authenticated.
type mxResolver struct {
	r      Resolver
	secure bool
}

func (a *mxResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	ans, err := a.r.Query(ctx, name, dnsmessage.TypeMX)
	if err != nil {
		return nil, err
	}
	a.secure = ans.Authenticated
	if ans.RCode == dnsmessage.RCodeNameError {
		return nil, &net.DNSError{Err: "no such domain", Name: name, IsNotFound: true}
	}
	var mxs []*net.MX
	for _, rr := range ans.Records {
		if mx, ok := rr.Body.(*dnsmessage.MXResource); ok {
			mxs = append(mxs, &net.MX{Host: mx.MX.String(), Pref: mx.Pref})
		}
	}
	return mxs, nil
}

// hostInfo is what the address lookups of an MX host found.
type hostInfo struct {
	addrs    []netip.Addr // IPv6 first, at most MaxAddresses
	secure   bool         // both answers authenticated
	nxdomain bool         // the name does not exist
	// canonical is the name the address records belong to: the host
	// itself, or where its CNAMEs lead (the first TLSA base domain, RFC
	// 7672 §2.2.2).
	canonical string
}

// hostAddrs looks up an MX host's addresses.
func (d *Deliverer) hostAddrs(ctx context.Context, host string) (hostInfo, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return hostInfo{addrs: []netip.Addr{ip}, canonical: host}, nil
	}
	h := hostInfo{secure: true, nxdomain: true, canonical: host}
	var firstErr error
	for _, t := range []dnsmessage.Type{dnsmessage.TypeAAAA, dnsmessage.TypeA} {
		ans, err := d.resolver().Query(ctx, host, t)
		if err != nil {
			firstErr = cmpErr(firstErr, err)
			h.secure, h.nxdomain = false, false
			continue
		}
		h.secure = h.secure && ans.Authenticated
		h.nxdomain = h.nxdomain && ans.RCode == dnsmessage.RCodeNameError
		for _, rr := range ans.Records {
			switch b := rr.Body.(type) {
			case *dnsmessage.AResource:
				h.addrs = append(h.addrs, netip.AddrFrom4(b.A))
			case *dnsmessage.AAAAResource:
				h.addrs = append(h.addrs, netip.AddrFrom16(b.AAAA).Unmap())
			default:
				continue
			}
			h.canonical = strings.ToLower(strings.TrimSuffix(rr.Header.Name.String(), "."))
		}
	}
	if len(h.addrs) == 0 && firstErr != nil {
		return hostInfo{}, firstErr
	}
	if len(h.addrs) > MaxAddresses {
		h.addrs = h.addrs[:MaxAddresses]
	}
	h.nxdomain = h.nxdomain && len(h.addrs) == 0
	return h, nil
}

// uniq returns names without repeats, in order.
func uniq(names ...string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// daneState is what a TLSA lookup found for one MX host.
type daneState struct {
	records []TLSA   // usable records; empty: DANE does not apply
	all     []string // every record, for reports
	err     error    // the lookup failed: the host must not be used
	// denied is an authenticated answer that there are none (NXDOMAIN
	// or NODATA), after which a CNAME's original name may be tried.
	denied bool
}

// daneFor finds the TLSA records of an MX host whose addresses are
// authenticated: at its CNAME-expanded name first, and at the name itself
// when the expanded one securely has none (RFC 7672 §2.2.2).
func (d *Deliverer) daneFor(ctx context.Context, host string, h hostInfo, port int) daneState {
	st := d.lookupTLSA(ctx, h.canonical, port)
	if st.denied && h.canonical != host {
		st = d.lookupTLSA(ctx, host, port)
	}
	return st
}

func (d *Deliverer) lookupTLSA(ctx context.Context, host string, port int) daneState {
	name := "_" + strconv.Itoa(port) + "._tcp." + host
	ans, err := d.resolver().Query(ctx, name, TypeTLSA)
	if err != nil {
		return daneState{err: err}
	}
	if !ans.Authenticated {
		return daneState{} // insecure: DANE does not apply
	}
	var st daneState
	for _, rr := range ans.Records {
		u, ok := rr.Body.(*dnsmessage.UnknownResource)
		if !ok || u.Type != TypeTLSA {
			continue
		}
		t, err := UnpackTLSA(u.Data)
		if err != nil {
			continue
		}
		st.all = append(st.all, t.String())
		if t.Usable() {
			st.records = append(st.records, t)
		}
	}
	st.denied = len(st.all) == 0
	return st
}

// stsPolicy finds the MTA-STS policy of domain (RFC 8461 §3, §5.1): the
// TXT record's id, the cached policy when its id is the same and its
// max_age has not run out, or else a fresh fetch. A failed fetch falls
// back to an unexpired cached policy. nil means none applies; failure is
// why a policy that was announced could not be had, for reports.
func (d *Deliverer) stsPolicy(ctx context.Context, domain string) (p *Policy, failure error) {
	cache := d.policyCache()
	now := d.now()
	cached, ok := cache.Get(domain)
	valid := ok && cached != nil && cached.Policy != nil && !cached.Expired(now)
	useCached := func() *Policy {
		if valid && cached.Policy.Mode != ModeNone {
			return cached.Policy
		}
		return nil
	}

	id := ""
	ans, err := d.resolver().Query(ctx, "_mta-sts."+domain, dnsmessage.TypeTXT)
	if err != nil {
		return useCached(), nil
	}
	count := 0
	for _, rr := range ans.Records {
		txt, isTXT := rr.Body.(*dnsmessage.TXTResource)
		if !isTXT {
			continue
		}
		got, isSTS, perr := ParseSTSRecord(strings.Join(txt.TXT, ""))
		if !isSTS {
			continue
		}
		count++
		if perr != nil {
			id = ""
			failure = perr
			continue
		}
		id = got
	}
	if count != 1 || id == "" {
		return useCached(), failure
	}
	if valid && cached.ID == id {
		return useCached(), nil
	}
	timeout := d.PolicyFetchTimeout
	if timeout <= 0 {
		timeout = DefaultPolicyFetchTimeout
	}
	fetched, err := fetchPolicy(ctx, d.httpClient(), domain, timeout)
	if err != nil {
		return useCached(), err
	}
	cache.Put(domain, &CachedPolicy{ID: id, Policy: fetched, Fetched: now})
	if fetched.Mode == ModeNone {
		return nil, nil
	}
	return fetched, nil
}

// pending is a recipient not yet delivered or refused, with what its last
// attempt left.
type pending struct {
	i      int
	box    command.Mailbox
	result RecipientReport
}

func (d *Deliverer) deliverDomain(ctx context.Context, m *Message, from command.Mailbox, domain string, boxes []command.Mailbox) []RecipientReport {
	results := make([]RecipientReport, len(boxes))
	failAll := func(o Outcome, err error) []RecipientReport {
		for i := range results {
			results[i].Outcome, results[i].Err = o, err
		}
		return results
	}
	res := &mxResolver{r: d.resolver()}
	mxs, err := transport.LookupMX(ctx, res, domain, d.Shuffle)
	if err != nil {
		if errors.Is(err, transport.ErrNullMX) {
			return failAll(Refused, err)
		}
		var ae *transport.AddressError
		if errors.As(err, &ae) {
			return failAll(Refused, err)
		}
		return failAll(Deferred, err)
	}
	if len(mxs) > MaxMXHosts {
		mxs = mxs[:MaxMXHosts]
	}

	var sts *Policy
	var stsFailure error
	if !d.DisableMTASTS && !strings.HasPrefix(domain, "[") {
		sts, stsFailure = d.stsPolicy(ctx, domain)
		if stsFailure != nil && d.Reporter != nil {
			rt := ResultSTSPolicyInvalid
			var pe *PolicyError
			var ve *tls.CertificateVerificationError
			switch {
			case errors.As(stsFailure, &ve):
				rt = ResultSTSWebPKIInvalid
			case errors.As(stsFailure, &pe) && pe.Fetch:
				rt = ResultSTSPolicyFetchError
			}
			d.Reporter.Failure(ReportPolicy{Type: PolicySTS, Domain: domain}, FailureDetail{ResultType: rt, FailureReasonCode: logsafe.Escape(stsFailure.Error())})
		}
	}

	left := make([]*pending, len(boxes))
	for i, b := range boxes {
		left[i] = &pending{i: i, box: b, result: RecipientReport{Outcome: Deferred}}
	}
	port := d.Port
	if port == 0 {
		port = transport.PortSMTP
	}
	allNX := true
	for _, mx := range mxs {
		if len(left) == 0 || ctx.Err() != nil {
			break
		}
		setAll := func(r RecipientReport) {
			for _, p := range left {
				p.result = r
			}
		}
		mxInfo := RecipientReport{Outcome: Deferred, MX: mx.Host}

		hi, err := d.hostAddrs(ctx, mx.Host)
		if err != nil || len(hi.addrs) == 0 {
			allNX = allNX && hi.nxdomain
			if err == nil {
				err = &DNSError{Name: mx.Host, Type: dnsmessage.TypeA, RCode: dnsmessage.RCodeNameError}
			}
			mxInfo.Err = err
			setAll(mxInfo)
			continue
		}
		allNX = false
		pol, skip := d.policyFor(ctx, m, domain, mx, hi, sts, res.secure, port)
		if skip != nil {
			setAll(*skip)
			continue
		}

		for _, ip := range hi.addrs {
			addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
			if !d.attempt(ctx, m, from, mx.Host, addr, &pol, left) {
				continue // the address did not answer: try the next
			}
			var still []*pending
			for _, p := range left {
				if p.result.Outcome == Deferred {
					still = append(still, p)
				} else {
					results[p.i] = p.result
				}
			}
			left = still
			break
		}
	}
	for _, p := range left {
		r := p.result
		if allNX && len(mxs) == 1 && mxs[0].Implicit {
			// No MX and no address: the domain does not exist.
			r.Outcome = Refused
		}
		results[p.i] = r
	}
	return results
}

// policyFor chooses the TLS policy for one MX host (see the package
// documentation): DANE when its TLSA records are usable, else MTA-STS,
// else none, tightened for a REQUIRETLS message. skip, when not nil, is
// why the host must not be used, as the recipients' result.
func (d *Deliverer) policyFor(ctx context.Context, m *Message, domain string, mx transport.MX, hi hostInfo, sts *Policy, mxSecure bool, port int) (pol tlsPolicy, skip *RecipientReport) {
	mxInfo := RecipientReport{Outcome: Deferred, MX: mx.Host}
	pol = tlsPolicy{host: mx.Host, names: uniq(hi.canonical, mx.Host, domain), domain: domain, roots: d.baseTLS().RootCAs}
	if !d.DisableDANE && hi.secure && (mxSecure || mx.Implicit) {
		st := d.daneFor(ctx, mx.Host, hi, port)
		switch {
		case st.err != nil:
			// RFC 7672 §2.2: a TLSA lookup that fails for a host whose
			// addresses are signed makes the host unusable.
			d.report(ReportPolicy{Type: PolicyTLSA, Domain: domain, MXHost: []string{mx.Host}}, FailureDetail{ResultType: ResultDNSSECInvalid, ReceivingMXHostname: mx.Host, FailureReasonCode: logsafe.Escape(st.err.Error())}, false)
			mxInfo.Err = &TLSPolicyError{Host: mx.Host, Policy: PolicyTLSA, Result: ResultDNSSECInvalid, Err: st.err}
			mxInfo.TLS = TLSResult{Policy: PolicyTLSA, Failure: ResultDNSSECInvalid}
			return pol, &mxInfo
		case len(st.records) > 0:
			pol.kind, pol.tlsa, pol.enforce = PolicyTLSA, st.records, true
			pol.report = ReportPolicy{Type: PolicyTLSA, Domain: domain, String: st.all, MXHost: []string{mx.Host}}
		case len(st.all) > 0:
			// All records unusable: opportunistic TLS (RFC 7672 §2.2).
			d.report(ReportPolicy{Type: PolicyTLSA, Domain: domain, String: st.all, MXHost: []string{mx.Host}}, FailureDetail{ResultType: ResultTLSAInvalid, ReceivingMXHostname: mx.Host}, false)
		}
	}
	if pol.kind == "" && sts != nil {
		pol.kind, pol.mode = PolicySTS, sts.Mode
		pol.enforce = sts.Mode == ModeEnforce
		pol.report = ReportPolicy{Type: PolicySTS, Domain: domain, String: sts.Text, MXHost: sts.MX}
		if !sts.Match(mx.Host) {
			fd := FailureDetail{ResultType: ResultValidationFailure, ReceivingMXHostname: mx.Host, FailureReasonCode: errMXNotInPolicy.Error()}
			if pol.enforce {
				d.report(pol.report, fd, false)
				mxInfo.Err = &TLSPolicyError{Host: mx.Host, Policy: PolicySTS, Result: ResultValidationFailure, Err: errMXNotInPolicy}
				mxInfo.TLS = TLSResult{Policy: PolicySTS, Mode: sts.Mode, Failure: ResultValidationFailure}
				return pol, &mxInfo
			}
			pol.mxMismatch = true
		}
	}
	if pol.kind == "" {
		pol.kind = PolicyNotFound
		pol.report = ReportPolicy{Type: PolicyNotFound, Domain: domain}
	}
	if m.RequireTLS {
		// RFC 8689 §4.2.1: an authenticated MX host and verified TLS.
		switch {
		case pol.kind == PolicyTLSA:
		case pol.kind == PolicySTS && !pol.mxMismatch:
			pol.enforce = true
		case pol.kind == PolicyNotFound && mxSecure:
			pol.enforce, pol.webPKI = true, true
		default:
			mxInfo.Outcome = Refused
			mxInfo.Err = fmt.Errorf("%w: %s is authenticated neither by DNSSEC nor by an MTA-STS policy", ErrRequireTLS, logsafe.Escape(mx.Host))
			mxInfo.Reply = response.New(550, "5.7.30 REQUIRETLS support required")
			return pol, &mxInfo
		}
	}
	return pol, nil
}

// errMXNotInPolicy is why an MX host failed an MTA-STS policy's mx list.
var errMXNotInPolicy = errors.New("MX host not in the MTA-STS policy")

// reportSession counts one session with an MX host under pol: a success
// when rt is empty, else a failure of type rt (err says more).
func (d *Deliverer) reportSession(pol *tlsPolicy, addr, local string, rt ResultType, err error) {
	if rt == "" {
		d.report(pol.report, FailureDetail{}, true)
		return
	}
	fd := FailureDetail{ResultType: rt, ReceivingMXHostname: pol.host, ReceivingIP: ipOf(addr), SendingMTAIP: local}
	if err != nil {
		fd.FailureReasonCode = logsafe.Escape(err.Error())
	}
	d.report(pol.report, fd, false)
}

func (d *Deliverer) report(p ReportPolicy, fd FailureDetail, ok bool) {
	if d.Reporter == nil {
		return
	}
	if ok {
		d.Reporter.Success(p)
	} else {
		d.Reporter.Failure(p, fd)
	}
}

func (d *Deliverer) baseTLS() *tls.Config {
	if d.TLSConfig != nil {
		return d.TLSConfig
	}
	return &tls.Config{}
}

// tlsPolicy is the TLS policy for one MX host.
type tlsPolicy struct {
	kind       PolicyType
	mode       Mode
	enforce    bool // TLS required and verified, or no delivery
	webPKI     bool // verify with the WebPKI even without MTA-STS (REQUIRETLS)
	mxMismatch bool // MTA-STS testing, and the MX host is not in the policy
	tlsa       []TLSA
	host       string
	names      []string // DANE-TA reference identifiers (RFC 7672 §3.2.2)
	domain     string
	roots      *x509.CertPool
	report     ReportPolicy
}

// tlsCheck verifies one handshake under a tlsPolicy and keeps the result,
// so that a policy that is not enforced can still report it.
type tlsCheck struct {
	pol      *tlsPolicy
	now      func() time.Time
	verified bool
	err      error
}

func (c *tlsCheck) verify(cs tls.ConnectionState) error {
	opts := x509.VerifyOptions{CurrentTime: c.now()}
	switch {
	case c.pol.kind == PolicyTLSA:
		c.err = verifyDANE(c.pol.tlsa, cs.PeerCertificates, c.pol.names, opts)
	case c.pol.kind == PolicySTS || c.pol.webPKI:
		if len(cs.PeerCertificates) == 0 {
			c.err = errors.New("no certificate")
			break
		}
		opts.Roots, opts.DNSName = c.pol.roots, c.pol.host
		opts.Intermediates = x509.NewCertPool()
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		_, c.err = cs.PeerCertificates[0].Verify(opts)
	default:
		return nil // opportunistic: encryption without authentication (RFC 7435)
	}
	c.verified = c.err == nil
	if c.pol.enforce {
		return c.err
	}
	return nil
}

func resultOf(err error) ResultType {
	var he x509.HostnameError
	var ce x509.CertificateInvalidError
	var ue x509.UnknownAuthorityError
	switch {
	case errors.Is(err, ErrDANEMismatch):
		return ResultValidationFailure
	case errors.As(err, &he):
		return ResultCertificateHostMismatch
	case errors.As(err, &ce) && ce.Reason == x509.Expired:
		return ResultCertificateExpired
	case errors.As(err, &ue):
		return ResultCertificateNotTrusted
	}
	return ResultValidationFailure
}

// attempt runs one session with addr for the recipients left, and updates
// their results. It returns false when the server could not be reached or
// greeted (the next address is worth trying).
func (d *Deliverer) attempt(ctx context.Context, m *Message, from command.Mailbox, host, addr string, pol *tlsPolicy, left []*pending) bool {
	info := RecipientReport{Outcome: Deferred, MX: host, Address: addr, TLS: TLSResult{Policy: pol.kind, Mode: pol.mode}}
	setAll := func(r RecipientReport) {
		for _, p := range left {
			p.result = r
		}
	}
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	timeout := d.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	conn, err := dial(dctx, "tcp", addr)
	cancel()
	if err != nil {
		info.Err = &transport.DialError{Addr: transport.Address{Network: "tcp", Host: ipOf(addr), Port: portOf(addr)}, Err: err}
		setAll(info)
		return false
	}

	local := ipOf(conn.LocalAddr().String())
	check := &tlsCheck{pol: pol, now: d.tlsNow}
	cfg := d.baseTLS().Clone()
	cfg.ServerName = host
	cfg.InsecureSkipVerify = true // tlsCheck verifies, as the policy says
	cfg.VerifyConnection = check.verify
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	opts := d.Session
	opts.TLSConfig = cfg
	opts.TLS = session.TLSOpportunistic
	if pol.enforce {
		opts.TLS = session.TLSRequired
	}
	opts.Dialer = nil
	c, err := session.NewClient(ctx, conn, &opts)
	if err == nil {
		err = c.Hello(ctx)
	}
	if err != nil {
		if c != nil {
			c.Close()
		}
		var tlsErr *transport.TLSError
		var nse *session.NotSupportedError
		switch {
		case check.err != nil || errors.As(err, &tlsErr):
			rt := resultOf(cmpErr(check.err, err))
			info.TLS.Failure = rt
			d.reportSession(pol, addr, local, rt, cmpErr(check.err, err))
			info.Err = &TLSPolicyError{Host: host, Policy: pol.kind, Result: rt, Err: err}
			if !pol.enforce && check.err == nil {
				// A handshake that failed without a policy: RFC 7435's
				// fallback is plaintext, on a new connection.
				return d.attemptPlain(ctx, m, from, host, addr, pol, left)
			}
		case pol.enforce && errors.As(err, &nse):
			info.TLS.Failure = ResultSTARTTLSNotSupported
			d.reportSession(pol, addr, local, ResultSTARTTLSNotSupported, nil)
			info.Err = &TLSPolicyError{Host: host, Policy: pol.kind, Result: ResultSTARTTLSNotSupported, Err: err}
		default:
			info.Err = err
			var ce *session.ConnectError
			if errors.As(err, &ce) {
				setAll(info)
				return false
			}
		}
		setAll(info)
		return true
	}
	defer c.Close()
	return d.send(ctx, c, m, from, host, addr, local, pol, check, left)
}

// attemptPlain retries an opportunistic delivery without TLS after a
// failed handshake.
func (d *Deliverer) attemptPlain(ctx context.Context, m *Message, from command.Mailbox, host, addr string, pol *tlsPolicy, left []*pending) bool {
	dial := d.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	opts := d.Session
	opts.TLS, opts.TLSConfig, opts.Dialer = session.TLSOff, nil, nil
	c, err := session.NewClient(ctx, conn, &opts)
	if err == nil {
		err = c.Hello(ctx)
	}
	if err != nil {
		if c != nil {
			c.Close()
		}
		return false
	}
	defer c.Close()
	// The failed handshake was counted; this session is not.
	return d.send(ctx, c, m, from, host, addr, "", pol, nil, left)
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func ipOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// send runs the transaction on a greeted session and records each
// recipient's result. It returns true: a session ran.
//
// check is the handshake's verification, nil for a session that was
// already counted for TLS reports (the plaintext retry after a failed
// handshake).
func (d *Deliverer) send(ctx context.Context, c *session.Client, m *Message, from command.Mailbox, host, addr, local string, pol *tlsPolicy, check *tlsCheck, left []*pending) bool {
	info := RecipientReport{Outcome: Deferred, MX: host, Address: addr, TLS: TLSResult{Policy: pol.kind, Mode: pol.mode}}
	var failure error
	if cs, ok := c.TLS(); ok {
		info.TLS.Version = cs.Version
		if check != nil {
			info.TLS.Verified = check.verified
			failure = check.err
		}
		switch {
		case failure != nil:
			info.TLS.Failure = resultOf(failure)
		case pol.mxMismatch:
			info.TLS.Failure, failure = ResultValidationFailure, errMXNotInPolicy
		}
	} else {
		info.TLS.Failure, failure = ResultSTARTTLSNotSupported, errors.New("no STARTTLS")
	}
	if check != nil {
		d.reportSession(pol, addr, local, info.TLS.Failure, failure)
	}
	if pol.kind == PolicyNotFound && info.TLS.Failure == ResultSTARTTLSNotSupported {
		info.TLS.Failure = "" // no policy asked for TLS
	}
	setAll := func(r RecipientReport) {
		for _, p := range left {
			p.result = r
		}
	}
	if m.RequireTLS && !c.Extensions().Has("REQUIRETLS") {
		info.Outcome = Refused
		info.Err = fmt.Errorf("%w: %s does not offer REQUIRETLS", ErrRequireTLS, logsafe.Escape(host))
		info.Reply = response.New(550, "5.7.30 REQUIRETLS support required")
		setAll(info)
		c.Quit(ctx)
		return true
	}

	env := &session.Envelope{From: from, MailParams: m.MailParams}
	env.MailParams.RequireTLS = m.RequireTLS
	for _, p := range left {
		env.To = append(env.To, p.box)
	}
	result, err := c.SendEnvelope(ctx, env, bytes.NewReader(m.Data))
	byReply := func(p *pending, r response.Reply, err error) {
		p.result = info
		p.result.Reply = r
		p.result.Err = err
		switch r.Class() {
		case response.ClassPositiveCompletion:
			p.result.Outcome, p.result.Err = Delivered, nil
		case response.ClassPermanentNegative:
			p.result.Outcome = Refused
		default:
			p.result.Outcome = Deferred
		}
	}
	var (
		sre *session.SenderRefusedError
		rre *session.RecipientsRefusedError
		de  *session.DataError
		ue  *session.UnansweredError
	)
	switch {
	case err == nil:
		for j, p := range left {
			rr := result.Recipients[j]
			if rr.Accepted {
				byReply(p, result.Data, nil)
			} else {
				byReply(p, rr.Reply, &response.Error{Command: "RCPT", Reply: rr.Reply})
			}
		}
		c.Quit(ctx)
	case errors.As(err, &rre):
		for j, p := range left {
			byReply(p, rre.Recipients[j].Reply, err)
		}
		c.Quit(ctx)
	case errors.As(err, &sre):
		for _, p := range left {
			byReply(p, sre.Reply, err)
		}
		c.Quit(ctx)
	case errors.As(err, &de):
		for j, p := range left {
			if de.Result != nil && j < len(de.Result.Recipients) && !de.Result.Recipients[j].Accepted {
				byReply(p, de.Result.Recipients[j].Reply, err)
			} else {
				byReply(p, de.Reply, err)
			}
		}
		c.Quit(ctx)
	case errors.As(err, &ue):
		for j, p := range left {
			switch {
			case ue.Result != nil && j < len(ue.Result.Recipients) && !ue.Result.Recipients[j].Accepted && ue.Result.Recipients[j].Reply.Code != 0:
				byReply(p, ue.Result.Recipients[j].Reply, err)
			case ue.MaybeDelivered:
				p.result = info
				p.result.Outcome, p.result.Err = Unknown, err
			default:
				p.result = info
				p.result.Err = err
			}
		}
	default:
		info.Err = err
		if session.Permanent(err) {
			info.Outcome = Refused
		}
		var re *response.Error
		if errors.As(err, &re) {
			info.Reply = re.Reply
		}
		setAll(info)
	}
	return true
}
