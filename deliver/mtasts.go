package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// MTA-STS limits (RFC 8461).
const (
	// MaxPolicySize bounds a policy body; a larger one is refused.
	MaxPolicySize = 64 << 10
	// MaxPolicyAge is the largest max_age a policy may give (§3.2), a year.
	MaxPolicyAge = 31557600 * time.Second
	// DefaultPolicyFetchTimeout bounds the whole HTTPS fetch of a policy
	// when the Deliverer sets none.
	DefaultPolicyFetchTimeout = 30 * time.Second
)

// Mode is an MTA-STS policy's mode (RFC 8461 §5).
type Mode string

const (
	ModeEnforce Mode = "enforce" // refuse MX hosts and TLS that fail the policy
	ModeTesting Mode = "testing" // deliver anyway, and report the failure
	ModeNone    Mode = "none"    // the domain withdrew its policy
)

// Policy is a parsed MTA-STS policy (RFC 8461 §3.2).
type Policy struct {
	Mode   Mode
	MX     []string // patterns: "mail.example.com" or "*.example.net"
	MaxAge time.Duration
	// Text is the policy as fetched, one line per field, for TLS reports
	// (RFC 8460 §4.4, policy-string).
	Text []string
}

// PolicyError is an MTA-STS TXT record or policy that does not parse, or a
// policy that could not be fetched.
type PolicyError struct {
	Domain string
	Reason string
	Err    error
	// Fetch is true when the policy could not be fetched (RFC 8460's
	// sts-policy-fetch-error) and false when it is invalid
	// (sts-policy-invalid).
	Fetch bool
}

func (e *PolicyError) Error() string {
	s := "deliver: MTA-STS policy"
	if e.Domain != "" {
		s += " of " + logsafe.Escape(e.Domain)
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *PolicyError) Unwrap() error { return e.Err }

// ParseSTSRecord parses the TXT record at _mta-sts.<domain> (RFC 8461
// §3.1), given its strings joined, and returns its id:
//
//	v=STSv1; id=20160831085700Z;
//
// v=STSv1 comes first; id is 1 to 32 letters and digits; other fields are
// ignored. A TXT record that does not start with "v=STSv1" is not an
// MTA-STS record: ok is false, with no error.
func ParseSTSRecord(txt string) (id string, ok bool, err error) {
	bad := func(reason string) (string, bool, error) {
		return "", true, &PolicyError{Reason: "TXT record " + strconv.Quote(logsafe.Escape(txt)) + ": " + reason}
	}
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", false, nil
	}
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		k, v, found := strings.Cut(f, "=")
		if !found || k == "" {
			return bad("field without '='")
		}
		if k == "id" {
			if id != "" {
				return bad("two ids")
			}
			if len(v) < 1 || len(v) > 32 || strings.IndexFunc(v, func(r rune) bool { return !isAlnum(r) }) >= 0 {
				return bad("id must be 1 to 32 letters and digits")
			}
			id = v
		}
	}
	if id == "" {
		return bad("no id")
	}
	return id, true, nil
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// ParsePolicy parses an MTA-STS policy body (RFC 8461 §3.2): "key: value"
// lines ending in LF or CRLF; version STSv1, a mode, max_age in seconds (at
// most a year) and, unless the mode is none, at least one mx pattern.
// Unknown keys are ignored; a known key given twice (mx apart) is an error.
func ParsePolicy(body []byte) (*Policy, error) {
	bad := func(reason string) (*Policy, error) { return nil, &PolicyError{Reason: reason} }
	if len(body) > MaxPolicySize {
		return bad("larger than " + strconv.Itoa(MaxPolicySize) + " octets")
	}
	p := &Policy{}
	seen := map[string]bool{}
	version := ""
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, found := strings.Cut(line, ":")
		if !found {
			return bad("line " + strconv.Quote(logsafe.Escape(line)) + " is not key: value")
		}
		k, v = strings.TrimRight(k, " \t"), strings.Trim(v, " \t")
		if k == "" || strings.ContainsAny(k, " \t") {
			return bad("bad key " + strconv.Quote(logsafe.Escape(k)))
		}
		if k != "mx" && seen[k] && (k == "version" || k == "mode" || k == "max_age") {
			return bad(k + " given twice")
		}
		seen[k] = true
		p.Text = append(p.Text, k+": "+v)
		switch k {
		case "version":
			version = v
		case "mode":
			switch Mode(v) {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = Mode(v)
			default:
				return bad("unknown mode " + strconv.Quote(logsafe.Escape(v)))
			}
		case "max_age":
			if v == "" || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
				return bad("max_age must be a number of seconds")
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			if n > uint64(MaxPolicyAge/time.Second) {
				return bad("max_age over a year")
			}
			p.MaxAge = time.Duration(n) * time.Second
		case "mx":
			if !validMXPattern(v) {
				return bad("bad mx pattern " + strconv.Quote(logsafe.Escape(v)))
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	switch {
	case version != "STSv1":
		return bad("version is not STSv1")
	case p.Mode == "":
		return bad("no mode")
	case !seen["max_age"]:
		return bad("no max_age")
	case p.Mode != ModeNone && len(p.MX) == 0:
		return bad("no mx")
	}
	return p, nil
}

func validMXPattern(v string) bool {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "*."), ".")
	if v == "" || len(v) > 253 {
		return false
	}
	for _, label := range strings.Split(v, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !isAlnum(r) && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// Match reports whether mx, an MX host name, is allowed by the policy's mx
// patterns (RFC 8461 §4.1): a pattern matches the same name, ignoring case
// and a trailing dot, and "*.example.net" matches a name with exactly one
// more label on the left ("mail.example.net", not "a.b.example.net" nor
// "example.net").
func (p *Policy) Match(mx string) bool {
	mx = strings.ToLower(strings.TrimSuffix(mx, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			_, parent, found := strings.Cut(mx, ".")
			if found && parent == rest && !strings.HasPrefix(mx, ".") {
				return true
			}
			continue
		}
		if pat == mx {
			return true
		}
	}
	return false
}

// CachedPolicy is an MTA-STS policy as a PolicyCache keeps it.
type CachedPolicy struct {
	ID      string // the TXT record's id when it was fetched
	Policy  *Policy
	Fetched time.Time
}

// Expired reports whether the policy's max_age has run out at now.
func (c *CachedPolicy) Expired(now time.Time) bool {
	return !now.Before(c.Fetched.Add(c.Policy.MaxAge))
}

// PolicyCache keeps MTA-STS policies between deliveries, by policy domain
// (RFC 8461 §5.1: a policy is used until its max_age runs out, and fetched
// again when the TXT record's id changes). Implementations must be safe for
// concurrent use; one backed by a file or a database survives restarts,
// which the protection against downgrade on first contact needs.
type PolicyCache interface {
	Get(domain string) (*CachedPolicy, bool)
	Put(domain string, p *CachedPolicy)
}

// MemoryPolicyCache is a PolicyCache in memory, holding at most Max
// policies (0 means 10000); when full, expired ones are dropped, and then
// the oldest. The zero value is ready to use.
type MemoryPolicyCache struct {
	Max int
	mu  sync.Mutex
	m   map[string]*CachedPolicy
}

// Get implements PolicyCache.
func (c *MemoryPolicyCache) Get(domain string) (*CachedPolicy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[strings.ToLower(domain)]
	return p, ok
}

// Put implements PolicyCache.
func (c *MemoryPolicyCache) Put(domain string, p *CachedPolicy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*CachedPolicy{}
	}
	limit := c.Max
	if limit <= 0 {
		limit = 10000
	}
	domain = strings.ToLower(domain)
	if _, ok := c.m[domain]; !ok && len(c.m) >= limit {
		var oldest string
		for d, cp := range c.m {
			if cp.Expired(time.Now()) {
				delete(c.m, d)
			} else if oldest == "" || cp.Fetched.Before(c.m[oldest].Fetched) {
				oldest = d
			}
		}
		if len(c.m) >= limit {
			delete(c.m, oldest)
		}
	}
	c.m[domain] = p
}

// fetchPolicy gets https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC
// 8461 §3.3): certificate verified by client, no redirects, status 200,
// text/plain, at most MaxPolicySize octets, within timeout.
func fetchPolicy(ctx context.Context, client *http.Client, domain string, timeout time.Duration) (*Policy, error) {
	fail := func(reason string, err error) (*Policy, error) {
		return nil, &PolicyError{Domain: domain, Reason: reason, Err: err, Fetch: true}
	}
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errNoRedirects }
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return fail("bad request", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fail("fetch failed", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail("HTTP status "+strconv.Itoa(resp.StatusCode), nil)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return fail("Content-Type "+strconv.Quote(logsafe.Escape(resp.Header.Get("Content-Type")))+" is not text/plain", nil)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return fail("reading the body", err)
	}
	if len(body) > MaxPolicySize {
		return nil, &PolicyError{Domain: domain, Reason: fmt.Sprintf("larger than %d octets", MaxPolicySize)}
	}
	p, err := ParsePolicy(body)
	if err != nil {
		var pe *PolicyError
		if errors.As(err, &pe) {
			pe.Domain = domain
		}
		return nil, err
	}
	return p, nil
}

var errNoRedirects = errors.New("MTA-STS policies are not fetched through redirects (RFC 8461 §3.3)")
