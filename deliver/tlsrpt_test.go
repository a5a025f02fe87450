package deliver

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

// The example JSON report of RFC 8460 (its Appendix B), with "mx-host" as the list that
// the schema of §4.4 asks for (the example itself shows a string).
const rfc8460Example = `{
     "organization-name": "Company-X",
     "date-range": {
       "start-datetime": "2016-04-01T00:00:00Z",
       "end-datetime": "2016-04-01T23:59:59Z"
     },
     "contact-info": "sts-reporting@company-x.example",
     "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
     "policies": [{
       "policy": {
         "policy-type": "sts",
         "policy-string": ["version: STSv1","mode: testing",
               "mx: *.mail.company-y.example","max_age: 86400"],
         "policy-domain": "company-y.example",
         "mx-host": ["*.mail.company-y.example"]
       },
       "summary": {
         "total-successful-session-count": 5326,
         "total-failure-session-count": 303
       },
       "failure-details": [{
         "result-type": "certificate-expired",
         "sending-mta-ip": "2001:db8:abcd:0012::1",
         "receiving-mx-hostname": "mx1.mail.company-y.example",
         "failed-session-count": 100
       }, {
         "result-type": "starttls-not-supported",
         "sending-mta-ip": "2001:db8:abcd:0013::1",
         "receiving-mx-hostname": "mx2.mail.company-y.example",
         "receiving-ip": "203.0.113.56",
         "failed-session-count": 200,
         "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"
       }, {
         "result-type": "validation-failure",
         "sending-mta-ip": "198.51.100.62",
         "receiving-ip": "203.0.113.58",
         "receiving-mx-hostname": "mx-backup.mail.company-y.example",
         "failed-session-count": 3,
         "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"
       }]
     }]
   }`

// Counting the sessions of the RFC's example renders the RFC's report.
func TestReporterRFC8460Example(t *testing.T) {
	var r Reporter
	pol := ReportPolicy{
		Type:   PolicySTS,
		String: []string{"version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"},
		Domain: "company-y.example",
		MXHost: []string{"*.mail.company-y.example"},
	}
	for range 5326 {
		r.Success(pol)
	}
	failures := []struct {
		n int
		f FailureDetail
	}{
		{100, FailureDetail{ResultType: ResultCertificateExpired, SendingMTAIP: "2001:db8:abcd:0012::1", ReceivingMXHostname: "mx1.mail.company-y.example"}},
		{200, FailureDetail{ResultType: ResultSTARTTLSNotSupported, SendingMTAIP: "2001:db8:abcd:0013::1", ReceivingMXHostname: "mx2.mail.company-y.example", ReceivingIP: "203.0.113.56", AdditionalInformation: "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"}},
		{3, FailureDetail{ResultType: ResultValidationFailure, SendingMTAIP: "198.51.100.62", ReceivingIP: "203.0.113.58", ReceivingMXHostname: "mx-backup.mail.company-y.example", FailureReasonCode: "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}},
	}
	for _, f := range failures {
		for range f.n {
			r.Failure(pol, f.f)
		}
	}
	if got := r.Domains(); len(got) != 1 || got[0] != "company-y.example" {
		t.Errorf("Domains() = %v", got)
	}
	start, _ := time.Parse(time.RFC3339, "2016-04-01T00:00:00Z")
	end, _ := time.Parse(time.RFC3339, "2016-04-01T23:59:59Z")
	rep := r.Report("Company-Y.example", "Company-X", "sts-reporting@company-x.example", "5065427c-23d3-47ca-b6e0-946ea0e8c4be", start, end)
	out, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(rfc8460Example), &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report differs from RFC 8460's (-want +got):\n%s", diff)
	}

	// The period ended: nothing is left for the domain.
	if again := r.Report("company-y.example", "", "", "", start, end); len(again.Policies) != 0 {
		t.Errorf("a second Report has %d policies, want 0", len(again.Policies))
	}
	// The RFC's report parses into TLSReport.
	var parsed TLSReport
	if err := json.Unmarshal([]byte(rfc8460Example), &parsed); err != nil || parsed.Policies[0].Summary.Failed != 303 {
		t.Errorf("parsing the RFC's example: %v, %+v", err, parsed.Policies)
	}
}

func TestReporterSeparatesPolicies(t *testing.T) {
	var r Reporter
	sts := ReportPolicy{Type: PolicySTS, Domain: "a.test", String: []string{"mode: enforce"}}
	tlsa := ReportPolicy{Type: PolicyTLSA, Domain: "a.test", String: []string{"3 1 1 00"}}
	r.Success(sts)
	r.Success(tlsa)
	r.Failure(tlsa, FailureDetail{ResultType: ResultValidationFailure, ReceivingMXHostname: "mx.a.test"})
	r.Success(ReportPolicy{Type: PolicyNotFound, Domain: "b.test"})
	rep := r.Report("a.test", "o", "c", "id", time.Unix(0, 0), time.Unix(86399, 0))
	if len(rep.Policies) != 2 || rep.Policies[0].Policy.Type != PolicySTS || rep.Policies[1].Policy.Type != PolicyTLSA ||
		rep.Policies[1].Summary != (Summary{Successful: 1, Failed: 1}) {
		t.Fatalf("got %+v", rep.Policies)
	}
	if d := r.Domains(); len(d) != 1 || d[0] != "b.test" {
		t.Errorf("Domains() after a.test's report = %v, want [b.test]", d)
	}
}

func TestParseTLSRPTRecord(t *testing.T) {
	tests := []struct {
		in     string
		rua    []string
		ok     bool
		hasErr bool
	}{
		// RFC 8460 §3.1's examples.
		{"v=TLSRPTv1;rua=mailto:reports@example.com", []string{"mailto:reports@example.com"}, true, false},
		{"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", []string{"https://reporting.example.com/v1/tlsrpt"}, true, false},
		{"v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/x; ext=1", []string{"mailto:a@example.com", "https://r.example.com/x"}, true, false},
		{"v=TLSRPTv1; rua=ftp://nope.example.com,mailto:b@example.com", []string{"mailto:b@example.com"}, true, false},
		{"v=spf1 -all", nil, false, false},
		{"v=TLSRPTv1;", nil, true, true},
		{"v=TLSRPTv1; rua=ftp://only.example.com", nil, true, true},
		{"v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", nil, true, true},
		{"v=TLSRPTv1; rua", nil, true, true},
		{"v=TLSRPTv1; rua=mailto:", nil, true, true},
	}
	for _, tt := range tests {
		rua, ok, err := ParseTLSRPTRecord(tt.in)
		if !slices.Equal(rua, tt.rua) || ok != tt.ok || (err != nil) != tt.hasErr {
			t.Errorf("ParseTLSRPTRecord(%q) = %q, %v, %v; want %q, %v, error %v", tt.in, rua, ok, err, tt.rua, tt.ok, tt.hasErr)
		}
	}
}

func TestLookupTLSRPT(t *testing.T) {
	srv := dnstest.NewServer()
	defer srv.Close()
	srv.AddTXT("_smtp._tls.example.test", "v=TLSRPTv1; ", "rua=mailto:tlsrpt@example.test")
	srv.AddTXT("_smtp._tls.two.test", "v=TLSRPTv1; rua=mailto:a@two.test")
	srv.AddTXT("_smtp._tls.two.test", "v=TLSRPTv1; rua=mailto:b@two.test")
	c := &DNSClient{Server: srv.Addr, Timeout: time.Second}
	ctx := context.Background()
	if rua, err := LookupTLSRPT(ctx, c, "example.test"); err != nil || !slices.Equal(rua, []string{"mailto:tlsrpt@example.test"}) {
		t.Errorf("example.test: %q, %v", rua, err)
	}
	if rua, err := LookupTLSRPT(ctx, c, "two.test"); err != nil || rua != nil {
		t.Errorf("two records: %q, %v; want none", rua, err)
	}
	if rua, err := LookupTLSRPT(ctx, c, "none.test"); err != nil || rua != nil {
		t.Errorf("no record: %q, %v", rua, err)
	}
}
