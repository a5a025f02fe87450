package deliver

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// PolicyType is the kind of TLS policy a delivery applied, as TLS reports
// name them (RFC 8460 §4.4).
type PolicyType string

const (
	PolicyTLSA     PolicyType = "tlsa"            // DANE (RFC 7672)
	PolicySTS      PolicyType = "sts"             // MTA-STS (RFC 8461)
	PolicyNotFound PolicyType = "no-policy-found" // neither: opportunistic TLS
)

// ResultType is why a TLS session failed, in RFC 8460's terms (§4.3).
type ResultType string

const (
	ResultSTARTTLSNotSupported    ResultType = "starttls-not-supported"
	ResultCertificateHostMismatch ResultType = "certificate-host-mismatch"
	ResultCertificateExpired      ResultType = "certificate-expired"
	ResultCertificateNotTrusted   ResultType = "certificate-not-trusted"
	ResultValidationFailure       ResultType = "validation-failure"
	ResultTLSAInvalid             ResultType = "tlsa-invalid"
	ResultDNSSECInvalid           ResultType = "dnssec-invalid"
	ResultDANERequired            ResultType = "dane-required"
	ResultSTSPolicyFetchError     ResultType = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid        ResultType = "sts-policy-invalid"
	ResultSTSWebPKIInvalid        ResultType = "sts-webpki-invalid"
)

// ReportPolicy identifies the policy a session was made under: its type,
// its domain, and its text (the MTA-STS policy lines, or the TLSA records),
// as a TLS report's "policy" object (RFC 8460 §4.4).
type ReportPolicy struct {
	Type   PolicyType `json:"policy-type"`
	String []string   `json:"policy-string,omitempty"`
	Domain string     `json:"policy-domain"`
	MXHost []string   `json:"mx-host,omitempty"`
}

// FailureDetail is one kind of failed session (RFC 8460 §4.4,
// failure-details); Count is filled in by the Reporter.
type FailureDetail struct {
	ResultType            ResultType `json:"result-type"`
	SendingMTAIP          string     `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname   string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHelo       string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP           string     `json:"receiving-ip,omitempty"`
	Count                 int64      `json:"failed-session-count"`
	AdditionalInformation string     `json:"additional-information,omitempty"`
	FailureReasonCode     string     `json:"failure-reason-code,omitempty"`
}

// TLSReport is an aggregate TLS report (RFC 8460 §4), ready for
// encoding/json.
type TLSReport struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []PolicyReport `json:"policies"`
}

// DateRange is a report's period, in UTC (RFC 3339 date-times).
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyReport is one policy's counts in a TLSReport.
type PolicyReport struct {
	Policy         ReportPolicy    `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details,omitempty"`
}

// Summary counts a policy's sessions.
type Summary struct {
	Successful int64 `json:"total-successful-session-count"`
	Failed     int64 `json:"total-failure-session-count"`
}

// Reporter counts TLS sessions per policy for TLS reports (RFC 8460): a
// Deliverer with one records every session it tries. Sending the reports
// (to the rua of the domain's _smtp._tls TXT record) is the application's
// job. The zero Reporter is ready; it is safe for concurrent use.
type Reporter struct {
	mu       sync.Mutex
	policies map[string]*PolicyReport // by domain, type and text
}

func policyKey(p ReportPolicy) string {
	return strings.ToLower(p.Domain) + "\x00" + string(p.Type) + "\x00" + strings.Join(p.String, "\n")
}

func (r *Reporter) entry(p ReportPolicy) *PolicyReport {
	if r.policies == nil {
		r.policies = map[string]*PolicyReport{}
	}
	k := policyKey(p)
	e, ok := r.policies[k]
	if !ok {
		e = &PolicyReport{Policy: p}
		r.policies[k] = e
	}
	return e
}

// Success counts a session that met policy p.
func (r *Reporter) Success(p ReportPolicy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entry(p).Summary.Successful++
}

// Failure counts a session that failed policy p, for the reason f (whose
// Count is ignored).
func (r *Reporter) Failure(p ReportPolicy, f FailureDetail) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entry(p)
	e.Summary.Failed++
	f.Count = 0
	for i := range e.FailureDetails {
		d := e.FailureDetails[i]
		d.Count = 0
		if d == f {
			e.FailureDetails[i].Count++
			return
		}
	}
	f.Count = 1
	e.FailureDetails = append(e.FailureDetails, f)
}

// Domains returns the policy domains with sessions counted, sorted.
func (r *Reporter) Domains() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ds []string
	for _, e := range r.policies {
		ds = append(ds, strings.ToLower(e.Policy.Domain))
	}
	slices.Sort(ds)
	return slices.Compact(ds)
}

// Report ends the period for domain: it returns the report of what was
// counted for it since the last Report, with the header fields given, and
// starts counting afresh. Policies come in a stable order (by type, then
// text).
func (r *Reporter) Report(domain, organization, contact, reportID string, start, end time.Time) *TLSReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &TLSReport{
		OrganizationName: organization,
		DateRange:        DateRange{Start: start.UTC(), End: end.UTC()},
		ContactInfo:      contact,
		ReportID:         reportID,
		Policies:         []PolicyReport{},
	}
	domain = strings.ToLower(domain)
	for k, e := range r.policies {
		if strings.ToLower(e.Policy.Domain) == domain {
			rep.Policies = append(rep.Policies, *e)
			delete(r.policies, k)
		}
	}
	slices.SortFunc(rep.Policies, func(a, b PolicyReport) int {
		return strings.Compare(policyKey(a.Policy), policyKey(b.Policy))
	})
	return rep
}

// JSON renders the report as RFC 8460 §4.4 has it.
func (t *TLSReport) JSON() ([]byte, error) {
	return json.MarshalIndent(t, "", "  ")
}

// TLSRPTError is a _smtp._tls TXT record that does not parse.
type TLSRPTError struct {
	Record string
	Reason string
}

func (e *TLSRPTError) Error() string {
	return "deliver: TLS-RPT record " + strconv.Quote(logsafe.Escape(e.Record)) + ": " + e.Reason
}

// ParseTLSRPTRecord parses the TXT record at _smtp._tls.<domain> (RFC 8460
// §3), given its strings joined, and returns where reports go: mailto: and
// https: URIs, in order.
//
//	v=TLSRPTv1; rua=mailto:reports@example.com,https://reporting.example.com/v1/tlsrpt
//
// A record that does not start with "v=TLSRPTv1" is not a TLS-RPT record:
// ok is false, with no error. URIs of other schemes are skipped, as §3
// allows; a record left with none is an error.
func ParseTLSRPTRecord(txt string) (rua []string, ok bool, err error) {
	bad := func(reason string) ([]string, bool, error) {
		return nil, true, &TLSRPTError{Record: txt, Reason: reason}
	}
	fields := strings.Split(txt, ";")
	if strings.Trim(fields[0], " \t") != "v=TLSRPTv1" {
		return nil, false, nil
	}
	seen := false
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		k, v, found := strings.Cut(f, "=")
		if !found {
			return bad("field without '='")
		}
		if k != "rua" {
			continue // an extension field
		}
		if seen {
			return bad("two rua fields")
		}
		seen = true
		for _, u := range strings.Split(v, ",") {
			u = strings.Trim(u, " \t")
			scheme, rest, _ := strings.Cut(u, ":")
			switch strings.ToLower(scheme) {
			case "mailto", "https":
				if rest == "" || strings.ContainsAny(rest, " \t\"<>\\^`{|}") || len(u) > 2048 {
					return bad("bad URI " + strconv.Quote(logsafe.Escape(u)))
				}
				rua = append(rua, u)
			}
		}
	}
	if len(rua) == 0 {
		return bad("no mailto: or https: rua")
	}
	return rua, true, nil
}

// LookupTLSRPT returns where domain wants its TLS reports (RFC 8460 §3):
// the rua of the one TLS-RPT record at _smtp._tls.<domain>. No record, or
// more than one, is a nil list and no error.
func LookupTLSRPT(ctx context.Context, r Resolver, domain string) ([]string, error) {
	ans, err := r.Query(ctx, "_smtp._tls."+domain, dnsmessage.TypeTXT)
	if err != nil {
		return nil, err
	}
	var found [][]string
	var firstErr error
	for _, rr := range ans.Records {
		txt, isTXT := rr.Body.(*dnsmessage.TXTResource)
		if !isTXT {
			continue
		}
		rua, ok, err := ParseTLSRPTRecord(strings.Join(txt.TXT, ""))
		switch {
		case !ok:
		case err != nil:
			firstErr = cmpErr(firstErr, err)
			found = append(found, nil)
		default:
			found = append(found, rua)
		}
	}
	if len(found) != 1 {
		return nil, nil
	}
	if found[0] == nil {
		return nil, firstErr
	}
	return found[0], nil
}
