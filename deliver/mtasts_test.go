package deliver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/smtptest"
)

// RFC 8461 §3.2's example policy.
const rfc8461Policy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n"

func TestParsePolicyRFC8461Example(t *testing.T) {
	p, err := ParsePolicy([]byte(rfc8461Policy))
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeEnforce || p.MaxAge != 604800*time.Second || !slices.Equal(p.MX, []string{"mail.example.com", "*.example.net", "backupmx.example.com"}) {
		t.Fatalf("got %+v", p)
	}
	if want := []string{"version: STSv1", "mode: enforce", "mx: mail.example.com", "mx: *.example.net", "mx: backupmx.example.com", "max_age: 604800"}; !slices.Equal(p.Text, want) {
		t.Errorf("Text %q, want %q", p.Text, want)
	}
	// RFC 8461 §4.1: a wildcard stands for exactly one leftmost label.
	for mx, want := range map[string]bool{
		"mail.example.com":     true,
		"MAIL.Example.COM.":    true,
		"mx1.example.net":      true,
		"example.net":          false,
		"a.mx1.example.net":    false,
		"backupmx.example.com": true,
		"other.example.com":    false,
		".example.net":         false,
	} {
		if got := p.Match(mx); got != want {
			t.Errorf("Match(%q) = %v, want %v", mx, got, want)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n",
		"version: STSv1\nmode: enforce\nmx: a.test\n",                            // no max_age
		"version: STSv1\nmode: enforce\nmax_age: 1\n",                            // no mx
		"version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n",                 // unknown mode
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n",         // over a year
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n",               // not a number
		"version: STSv1\nmode: enforce\nmode: testing\nmx: a.test\nmax_age: 1\n", // twice
		"version: STSv1\nmode: enforce\nmx: *.*.a.test\nmax_age: 1\n",            // bad pattern
		"version: STSv1\nmode enforce\n",
		"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n" + strings.Repeat("x: y\n", MaxPolicySize/5),
	} {
		_, err := ParsePolicy([]byte(in))
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePolicy(%.60q): err %v, want a *PolicyError", in, err)
		}
	}
	// mode none needs no mx; unknown keys are ignored.
	p, err := ParsePolicy([]byte("version: STSv1\nmode: none\nmax_age: 0\nextension: whatever\n"))
	if err != nil || p.Mode != ModeNone {
		t.Errorf("mode none: %+v %v", p, err)
	}
}

func TestParseSTSRecord(t *testing.T) {
	tests := []struct {
		in     string
		id     string
		isSTS  bool
		hasErr bool
	}{
		{"v=STSv1; id=20160831085700Z;", "20160831085700Z", true, false}, // RFC 8461 §3.1
		{"v=STSv1;id=abc", "abc", true, false},
		{"v=STSv1; id=abc; ext=1", "abc", true, false},
		{"v=spf1 -all", "", false, false},
		{"v=STSv1; id=", "", true, true},
		{"v=STSv1; id=has-dash", "", true, true},
		{"v=STSv1; id=" + strings.Repeat("a", 33), "", true, true},
		{"v=STSv1;", "", true, true},
		{"v=STSv1; id=a; id=b", "", true, true},
	}
	for _, tt := range tests {
		id, ok, err := ParseSTSRecord(tt.in)
		if id != tt.id || ok != tt.isSTS || (err != nil) != tt.hasErr {
			t.Errorf("ParseSTSRecord(%q) = %q, %v, %v; want %q, %v, error %v", tt.in, id, ok, err, tt.id, tt.isSTS, tt.hasErr)
		}
	}
}

// stsNet is a test network with an MTA-STS policy server for example.test
// and a WebPKI of its own.
type stsNet struct {
	*testNet
	ca      *testfixture.Certificate
	mu      sync.Mutex
	policy  string
	ctype   string
	fetches int
	web     *httptest.Server
	now     time.Time
}

func newSTSNet(t *testing.T, policy string) *stsNet {
	s := &stsNet{testNet: newTestNet(t), ca: newCA(t, "web ca"), policy: policy, ctype: "text/plain; charset=utf-8", now: time.Now()}
	s.web = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.example.test" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", s.ctype)
		w.Write([]byte(s.policy))
	}))
	cert := s.ca.Issue(t, time.Now().Add(time.Hour), "mta-sts.example.test")
	s.web.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.web.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests want
	s.web.StartTLS()
	t.Cleanup(s.web.Close)
	s.dns.AddTXT("_mta-sts.example.test", "v=STSv1; id=1;")
	return s
}

func (s *stsNet) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.web.Listener.Addr().String()) // loopback
		},
	}}
}

func (s *stsNet) deliverer() *Deliverer {
	d := s.testNet.deliverer()
	d.HTTPClient = s.httpClient()
	d.TLSConfig = &tls.Config{RootCAs: s.ca.Pool}
	d.Now = func() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }
	d.PolicyCache = &MemoryPolicyCache{}
	d.Reporter = &Reporter{}
	return d
}

func (s *stsNet) fetched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func stsPolicyText(mode string, mx ...string) string {
	p := "version: STSv1\nmode: " + mode + "\n"
	for _, m := range mx {
		p += "mx: " + m + "\n"
	}
	return p + "max_age: 3600\n"
}

func TestMTASTSEnforce(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "*.example.test"))
	cert := s.ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	srv := smtpServer(t, smtptest.Config{}, &cert)
	s.dns.AddMX("example.test", 10, "mx.example.test")
	s.host("mx.example.test", "127.0.0.70", srv)
	d := s.deliverer()
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicySTS || r.TLS.Mode != ModeEnforce || !r.TLS.Verified {
		t.Fatalf("got %v TLS %v err %v, want delivered under verified MTA-STS", r.Outcome, r.TLS, r.Err)
	}
	rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	if len(rep.Policies) != 1 || rep.Policies[0].Summary.Successful != 1 || rep.Policies[0].Policy.Type != PolicySTS ||
		!slices.Equal(rep.Policies[0].Policy.MXHost, []string{"*.example.test"}) {
		t.Errorf("report %+v", rep.Policies)
	}
}

func TestMTASTSEnforceSkipsMXNotInPolicy(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "good.example.test"))
	cert := s.ca.Issue(t, time.Now().Add(time.Hour), "good.example.test")
	bad := smtpServer(t, smtptest.Config{}, &cert)
	good := smtpServer(t, smtptest.Config{}, &cert)
	s.dns.AddMX("example.test", 10, "evil.example.test")
	s.dns.AddMX("example.test", 20, "good.example.test")
	s.host("evil.example.test", "127.0.0.71", bad)
	s.host("good.example.test", "127.0.0.72", good)
	r := deliverOne(t, s.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.MX != "good.example.test" {
		t.Fatalf("got %v via %s (%v), want delivered via the MX in the policy", r.Outcome, r.MX, r.Err)
	}
	if bad.Conns() != 0 {
		t.Error("connected to an MX host the enforced policy does not list")
	}
}

func TestMTASTSEnforceOnlyMismatchingMX(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "good.example.test"))
	cert := s.ca.Issue(t, time.Now().Add(time.Hour), "evil.example.test")
	srv := smtpServer(t, smtptest.Config{}, &cert)
	s.dns.AddMX("example.test", 10, "evil.example.test")
	s.host("evil.example.test", "127.0.0.71", srv)
	d := s.deliverer()
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	var pe *TLSPolicyError
	if r.Outcome != Deferred || !errors.As(r.Err, &pe) || pe.Result != ResultValidationFailure || len(s.dialedAddrs()) != 0 {
		t.Fatalf("got %v %v, dialled %v; want deferred without connecting", r.Outcome, r.Err, s.dialedAddrs())
	}
	rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	if len(rep.Policies) != 1 || rep.Policies[0].Summary.Failed != 1 || rep.Policies[0].FailureDetails[0].ReceivingMXHostname != "evil.example.test" {
		t.Errorf("report %+v", rep.Policies)
	}
}

func TestMTASTSBadCertificate(t *testing.T) {
	other := newCA(t, "not trusted")
	for _, tt := range []struct {
		name string
		cert func(s *stsNet) tls.Certificate
		want ResultType
	}{
		{"wrong name", func(s *stsNet) tls.Certificate { return s.ca.Issue(t, time.Now().Add(time.Hour), "elsewhere.test") }, ResultCertificateHostMismatch},
		{"expired", func(s *stsNet) tls.Certificate { return s.ca.Issue(t, time.Now().Add(-time.Hour), "mx.example.test") }, ResultCertificateExpired},
		{"untrusted", func(*stsNet) tls.Certificate { return other.Issue(t, time.Now().Add(time.Hour), "mx.example.test") }, ResultCertificateNotTrusted},
	} {
		for _, mode := range []Mode{ModeEnforce, ModeTesting} {
			t.Run(tt.name+"/"+string(mode), func(t *testing.T) {
				s := newSTSNet(t, stsPolicyText(string(mode), "mx.example.test"))
				cert := tt.cert(s)
				srv := smtpServer(t, smtptest.Config{}, &cert)
				s.dns.AddMX("example.test", 10, "mx.example.test")
				s.host("mx.example.test", "127.0.0.73", srv)
				d := s.deliverer()
				r := deliverOne(t, d, "b@example.test").Recipients[0]
				if r.TLS.Failure != tt.want || r.TLS.Verified {
					t.Errorf("TLS %v, want failure %s", r.TLS, tt.want)
				}
				wantOutcome := Deferred
				if mode == ModeTesting {
					wantOutcome = Delivered // testing: deliver and report
				}
				if r.Outcome != wantOutcome || (len(srv.Messages()) == 1) != (mode == ModeTesting) {
					t.Errorf("outcome %v (%v), %d messages; want %v", r.Outcome, r.Err, len(srv.Messages()), wantOutcome)
				}
				rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
				if len(rep.Policies) != 1 || rep.Policies[0].Summary.Failed != 1 || rep.Policies[0].FailureDetails[0].ResultType != tt.want {
					t.Errorf("report %+v", rep.Policies)
				}
			})
		}
	}
}

func TestMTASTSTestingMismatchDelivers(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("testing", "good.example.test"))
	cert := s.ca.Issue(t, time.Now().Add(time.Hour), "evil.example.test")
	srv := smtpServer(t, smtptest.Config{}, &cert)
	s.dns.AddMX("example.test", 10, "evil.example.test")
	s.host("evil.example.test", "127.0.0.74", srv)
	d := s.deliverer()
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Mode != ModeTesting || r.TLS.Failure != ResultValidationFailure {
		t.Fatalf("got %v TLS %v, want delivered with the mismatch recorded", r.Outcome, r.TLS)
	}
	rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	if len(rep.Policies) != 1 || rep.Policies[0].Summary.Failed != 1 {
		t.Fatalf("report %+v, want the mismatch counted", rep.Policies)
	}
	f := rep.Policies[0].FailureDetails[0]
	if f.ResultType != ResultValidationFailure || f.ReceivingMXHostname != "evil.example.test" || f.ReceivingIP != "127.0.0.74" || f.SendingMTAIP != "127.0.0.1" {
		t.Errorf("failure detail %+v", f)
	}
}

func TestMTASTSModeNone(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("none"))
	srv := smtpServer(t, smtptest.Config{}, nil) // no STARTTLS at all
	s.dns.AddMX("example.test", 10, "mx.example.test")
	s.host("mx.example.test", "127.0.0.75", srv)
	r := deliverOne(t, s.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyNotFound || r.TLS.Version != 0 {
		t.Fatalf("got %v TLS %v, want a plaintext delivery under no policy", r.Outcome, r.TLS)
	}
}

func TestMTASTSEnforceWithoutSTARTTLS(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "mx.example.test"))
	srv := smtpServer(t, smtptest.Config{}, nil)
	s.dns.AddMX("example.test", 10, "mx.example.test")
	s.host("mx.example.test", "127.0.0.76", srv)
	r := deliverOne(t, s.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Deferred || r.TLS.Failure != ResultSTARTTLSNotSupported || len(srv.Messages()) != 0 {
		t.Fatalf("got %v TLS %v, want deferred, starttls-not-supported", r.Outcome, r.TLS)
	}
}

// DANE overrides MTA-STS (RFC 8461 §2).
func TestDANEOverridesMTASTS(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "mx.example.test"))
	other := newCA(t, "not in the WebPKI")
	cert := other.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	srv := smtpServer(t, smtptest.Config{}, &cert)
	s.dns.AddMX("example.test", 10, "mx.example.test")
	s.host("mx.example.test", "127.0.0.77", srv)
	s.dns.AddTLSA("_25._tcp.mx.example.test", 3, 1, 1, spkiSHA256(cert.Leaf))
	r := deliverOne(t, s.deliverer(), "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyTLSA || !r.TLS.Verified {
		t.Fatalf("got %v TLS %v err %v, want delivered under DANE", r.Outcome, r.TLS, r.Err)
	}
}

func TestMTASTSCache(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "mx.example.test"))
	cert := s.ca.Issue(t, time.Now().Add(time.Hour), "mx.example.test")
	srv := smtpServer(t, smtptest.Config{}, &cert)
	s.dns.AddMX("example.test", 10, "mx.example.test")
	s.host("mx.example.test", "127.0.0.78", srv)
	d := s.deliverer()
	deliverOne(t, d, "b@example.test")
	deliverOne(t, d, "b@example.test")
	if s.fetched() != 1 {
		t.Fatalf("fetched %d times, want once: the id did not change and max_age has not run out", s.fetched())
	}
	// max_age (3600 s) runs out: fetched again.
	s.mu.Lock()
	s.now = s.now.Add(3601 * time.Second)
	s.mu.Unlock()
	deliverOne(t, d, "b@example.test")
	if s.fetched() != 2 {
		t.Fatalf("fetched %d times after max_age, want 2", s.fetched())
	}
	// A new id: fetched again, even though the cached one is fresh.
	s.dns.AddTXT("_mta-sts.example.test", "v=spf1 -all") // not an STS record, ignored
	cp, _ := d.PolicyCache.Get("example.test")
	cp.ID = "old"
	deliverOne(t, d, "b@example.test")
	if s.fetched() != 3 {
		t.Fatalf("fetched %d times after the id changed, want 3", s.fetched())
	}

	// The policy server fails: the cached policy still applies (RFC 8461
	// §5.1), so an MX host outside it is still refused.
	s.mu.Lock()
	s.policy, s.ctype = "", "text/html"
	s.mu.Unlock()
	cp, _ = d.PolicyCache.Get("example.test")
	cp.ID = "old"
	s.dns.AddMX("example.test", 5, "evil.example.test")
	s.host("evil.example.test", "127.0.0.79", srv)
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.MX != "mx.example.test" || r.TLS.Policy != PolicySTS {
		t.Fatalf("got %v via %s TLS %v, want the cached policy applied", r.Outcome, r.MX, r.TLS)
	}
	rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	found := false
	for _, p := range rep.Policies {
		for _, f := range p.FailureDetails {
			found = found || f.ResultType == ResultSTSPolicyFetchError
		}
	}
	if !found {
		t.Errorf("report %+v has no sts-policy-fetch-error", rep.Policies)
	}
}

func TestMTASTSPolicyServerUntrusted(t *testing.T) {
	s := newSTSNet(t, stsPolicyText("enforce", "nothing.test"))
	srv := smtpServer(t, smtptest.Config{}, nil)
	s.dns.AddMX("example.test", 10, "mx.example.test")
	s.host("mx.example.test", "127.0.0.80", srv)
	d := s.deliverer()
	d.HTTPClient.Transport.(*http.Transport).TLSClientConfig.RootCAs = newCA(t, "other").Pool
	r := deliverOne(t, d, "b@example.test").Recipients[0]
	if r.Outcome != Delivered || r.TLS.Policy != PolicyNotFound {
		t.Fatalf("got %v TLS %v: a policy from a server that fails the WebPKI must not apply", r.Outcome, r.TLS)
	}
	rep := d.Reporter.Report("example.test", "o", "c", "id", time.Now(), time.Now())
	found := false
	for _, p := range rep.Policies {
		for _, f := range p.FailureDetails {
			found = found || f.ResultType == ResultSTSWebPKIInvalid
		}
	}
	if !found {
		t.Errorf("report %+v has no sts-webpki-invalid", rep.Policies)
	}
}

func TestFetchPolicyBounds(t *testing.T) {
	var mu sync.Mutex
	handler := func(w http.ResponseWriter, r *http.Request) {}
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h(w, r)
	}))
	defer web.Close()
	client := web.Client()
	client.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, web.Listener.Addr().String())
	}
	// httptest's certificate is for example.com and *.example.com.
	good := stsPolicyText("enforce", "mx.example.com")
	for _, tt := range []struct {
		name string
		h    func(w http.ResponseWriter, r *http.Request)
		ok   bool
	}{
		{"ok", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(good))
		}, true},
		{"not text/plain", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(good))
		}, false},
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, false},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://example.com/other", http.StatusFound)
		}, false},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write([]byte(good + strings.Repeat("x: y\n", MaxPolicySize/5+1)))
		}, false},
		{"too slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			handler = tt.h
			mu.Unlock()
			start := time.Now()
			p, err := fetchPolicy(context.Background(), client, "example.com", 300*time.Millisecond)
			if tt.ok != (err == nil) {
				t.Fatalf("policy %+v err %v, want ok=%v", p, err, tt.ok)
			}
			var pe *PolicyError
			if err != nil && !errors.As(err, &pe) {
				t.Errorf("err %T, want a *PolicyError", err)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestMemoryPolicyCacheBound(t *testing.T) {
	c := &MemoryPolicyCache{Max: 2}
	p := &Policy{Mode: ModeEnforce, MaxAge: time.Hour}
	now := time.Now()
	c.Put("a.test", &CachedPolicy{ID: "1", Policy: p, Fetched: now.Add(-time.Minute)})
	c.Put("b.test", &CachedPolicy{ID: "1", Policy: p, Fetched: now})
	c.Put("c.test", &CachedPolicy{ID: "1", Policy: p, Fetched: now})
	if _, ok := c.Get("a.test"); ok {
		t.Error("the oldest policy was kept past Max")
	}
	if _, ok := c.Get("C.TEST"); !ok {
		t.Error("the newest policy is missing (or the domain's case matters)")
	}
}
