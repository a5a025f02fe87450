package session

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		name     string
		lines    []string
		keywords []string
		params   map[string]string
		size     int64
		sizeOK   bool
		mechs    []string
	}{
		{
			name:     "postfix",
			lines:    []string{"mx.example.org", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"},
			keywords: []string{"PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"},
			params:   map[string]string{"SIZE": "10240000", "DSN": ""},
			size:     10240000, sizeOK: true,
		},
		{
			// Postfix's smtp-sink ends its EHLO reply with an empty line.
			name:     "smtp-sink's empty last line",
			lines:    []string{"mx", "PIPELINING", "8BITMIME", ""},
			keywords: []string{"PIPELINING", "8BITMIME"},
			params:   map[string]string{"8BITMIME": ""},
		},
		{
			name:     "lower case keywords and params",
			lines:    []string{"mx", "8bitmime", "size 100", "auth plain login"},
			keywords: []string{"8BITMIME", "SIZE", "AUTH"},
			params:   map[string]string{"size": "100", "Auth": "plain login"},
			size:     100, sizeOK: true,
			mechs: []string{"PLAIN", "LOGIN"},
		},
		{
			name:     "old AUTH= merged into AUTH without duplicates",
			lines:    []string{"mx", "AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN CRAM-MD5"},
			keywords: []string{"AUTH"},
			mechs:    []string{"LOGIN", "PLAIN", "CRAM-MD5"},
		},
		{
			name:     "only AUTH=",
			lines:    []string{"mx", "AUTH=LOGIN"},
			keywords: []string{"AUTH"},
			mechs:    []string{"LOGIN"},
		},
		{
			name:     "smtp-sink's empty last line",
			lines:    []string{"sink", "PIPELINING", ""},
			keywords: []string{"PIPELINING"},
		},
		{
			name:     "SIZE without a limit",
			lines:    []string{"mx", "SIZE"},
			keywords: []string{"SIZE"},
			size:     0, sizeOK: true,
		},
		{
			name:     "junk keywords skipped, first listing wins",
			lines:    []string{"mx", "-BAD", "X_UNDERSCORE", "SIZE 5", "SIZE 9", "  X-EXT  a  b "},
			keywords: []string{"SIZE", "X-EXT"},
			params:   map[string]string{"SIZE": "5", "x-ext": "a  b"},
			size:     5, sizeOK: true,
		},
		{
			name:  "greeting line only",
			lines: []string{"mx.example.org says hi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseExtensions(response.New(250, tt.lines...))
			if diff := cmp.Diff(tt.keywords, e.Keywords(), cmp.Comparer(func(a, b []string) bool { return strings.Join(a, " ") == strings.Join(b, " ") })); diff != "" {
				t.Errorf("Keywords (-want +got):\n%s", diff)
			}
			for _, k := range tt.keywords {
				if !e.Has(strings.ToLower(k)) || !e.Has(k) {
					t.Errorf("Has(%q) = false", k)
				}
			}
			if e.Has("NOPE") {
				t.Error("Has(NOPE) = true")
			}
			for k, want := range tt.params {
				if got, ok := e.Param(k); !ok || got != want {
					t.Errorf("Param(%q) = %q, %v; want %q", k, got, ok, want)
				}
			}
			size, ok := e.MaxSize()
			if size != tt.size || ok != tt.sizeOK {
				t.Errorf("MaxSize() = %d, %v; want %d, %v", size, ok, tt.size, tt.sizeOK)
			}
			if diff := cmp.Diff(tt.mechs, e.AuthMechanisms()); diff != "" {
				t.Errorf("AuthMechanisms (-want +got):\n%s", diff)
			}
		})
	}
}

// ehloWithMechanisms is an EHLO reply listing n distinct SASL mechanisms
// (three-character names, lower case) perLine to an AUTH line, read
// through the wire codec with its default limits, so that it is a reply a
// client accepts: at most 64 KiB, 512 lines, 8192 octets a line.
func ehloWithMechanisms(tb testing.TB, n, perLine int) response.Reply {
	tb.Helper()
	var b strings.Builder
	b.WriteString("250-mx.example.org\r\n")
	for i := 0; i < n; i += perLine {
		b.WriteString("250-AUTH")
		for j := i; j < min(n, i+perLine); j++ {
			name := strconv.FormatInt(int64(36*36+j), 36) // "100", "101", ...
			b.WriteString(" " + name)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("250 PIPELINING\r\n")
	r, err := wire.NewReader(strings.NewReader(b.String())).ReadReply()
	if err != nil {
		tb.Fatalf("EHLO reply of %d octets with %d mechanisms: %v", b.Len(), n, err)
	}
	return r
}

// parseBytes returns the octets parseExtensions allocates for r: the
// least of a few runs, so that an allocation by another goroutine during
// one run does not count.
func parseBytes(r response.Reply) uint64 {
	var least uint64
	for i := range 5 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e := parseExtensions(r)
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		if n := after.TotalAlloc - before.TotalAlloc; i == 0 || n < least {
			least = n
		}
	}
	return least
}

// TestExtensionsLinear: parsing an EHLO reply costs in proportion to its
// size. A hostile server listed 15,000 AUTH mechanisms in a 64 KiB reply
// and each AUTH line was merged with all the lines before it, mechanism
// by mechanism: 0.55 s of CPU, quadratic in the reply. The test is not
// timed: it counts the octets allocated for N and for 4N mechanisms (over
// 4 times as many lines), which a linear parse multiplies by about 4 and
// the quadratic one by about 16.
func TestExtensionsLinear(t *testing.T) {
	const n, perLine = 1800, 30
	small := parseBytes(ehloWithMechanisms(t, n, perLine))
	large := parseBytes(ehloWithMechanisms(t, 4*n, perLine))
	if small == 0 || large > 8*small {
		t.Errorf("parsing %d mechanisms allocated %d octets, %d mechanisms %d: %.1f times as much for 4 times the input",
			n, small, 4*n, large, float64(large)/float64(small))
	}
	// The largest reply wire accepts still lists every mechanism once.
	e := parseExtensions(ehloWithMechanisms(t, 14400, perLine))
	if got := len(e.AuthMechanisms()); got != 14400 {
		t.Errorf("%d mechanisms, want 14400", got)
	}
}

// TestAuthMergeMatchesPairwise: the AUTH lines merged with a set give what
// comparing each mechanism with every earlier one (strings.EqualFold)
// gives: the first line as sent when it is the only one, otherwise each
// mechanism once, in the order first listed, compared without regard to
// case.
func TestAuthMergeMatchesPairwise(t *testing.T) {
	pairwise := func(lines []string) string {
		merged := lines[0]
		for _, l := range lines[1:] {
			have := strings.Fields(merged)
			for _, m := range strings.Fields(l) {
				if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, m) }) {
					have = append(have, m)
				}
			}
			merged = strings.Join(have, " ")
		}
		return merged
	}
	rapid.Check(t, func(t *rapid.T) {
		mech := rapid.SampledFrom([]string{"PLAIN", "plain", "Plain", "LOGIN", "login", "CRAM-MD5", "cram-md5",
			"SCRAM-SHA-256", "X-K", "X-\u212a", "X-k", "X-ſ", "X-S", "X-\xff", "X-\xfe", "X-é", "X-É"})
		line := rapid.Custom(func(t *rapid.T) string {
			return strings.Join(rapid.SliceOfN(mech, 0, 5).Draw(t, "mechs"), rapid.SampledFrom([]string{" ", "  "}).Draw(t, "sep"))
		})
		lines := rapid.SliceOfN(line, 1, 5).Draw(t, "lines")
		var ehlo []string
		for _, l := range lines {
			ehlo = append(ehlo, "AUTH "+l)
		}
		e := parseExtensions(response.New(250, append([]string{"mx"}, ehlo...)...))
		got, ok := e.Param("AUTH")
		// parseExtensions trims each line, as pairwise must see it.
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		if want := pairwise(lines); !ok || got != want {
			t.Fatalf("AUTH lines %q merged to %q, want %q", lines, got, want)
		}
	})
}

// BenchmarkParseExtensions parses the EHLO reply of a hostile server: the
// most AUTH mechanisms a reply wire accepts can carry, on long lines and
// on short ones, and a real server's reply for comparison.
func BenchmarkParseExtensions(b *testing.B) {
	for _, bc := range []struct {
		name  string
		reply response.Reply
	}{
		{"postfix", response.New(250, "mx.example.org", "PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
			"AUTH PLAIN LOGIN", "AUTH=PLAIN LOGIN", "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING")},
		{"15000 mechanisms on 8 lines", ehloWithMechanisms(b, 15000, 1875)},
		{"14400 mechanisms on 480 lines", ehloWithMechanisms(b, 14400, 30)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				parseExtensions(bc.reply)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		lines []string // EHLO lines after the greeting
		want  ServerLimits
	}{
		{"not announced", []string{"PIPELINING", "SIZE 100"}, ServerLimits{}},
		{"LIMITS alone", []string{"LIMITS"}, ServerLimits{}},
		{"all three", []string{"LIMITS MAILMAX=1000 RCPTMAX=50 RCPTDOMAINMAX=10"}, ServerLimits{MailMax: 1000, RcptMax: 50, RcptDomainMax: 10}},
		{"one", []string{"LIMITS RCPTMAX=5"}, ServerLimits{RcptMax: 5}},
		{"names without regard to case", []string{"limits mailmax=3 RcptMax=4 rcptdomainMAX=2"}, ServerLimits{MailMax: 3, RcptMax: 4, RcptDomainMax: 2}},
		{"unknown limits ignored", []string{"LIMITS FOO=1 MAILMAX=7 BAR RCPT-MAX=9 X_Y=z"}, ServerLimits{MailMax: 7}},
		{"extra spaces", []string{"LIMITS   MAILMAX=7    RCPTMAX=8  "}, ServerLimits{MailMax: 7, RcptMax: 8}},
		{"zero ignored", []string{"LIMITS MAILMAX=0 RCPTMAX=00"}, ServerLimits{}},
		{"no value", []string{"LIMITS MAILMAX= RCPTMAX"}, ServerLimits{}},
		{"signs and junk ignored", []string{"LIMITS MAILMAX=+5 RCPTMAX=-5 RCPTDOMAINMAX=5x"}, ServerLimits{}},
		{"not decimal", []string{"LIMITS MAILMAX=0x10 RCPTMAX=1e3 RCPTDOMAINMAX=٣"}, ServerLimits{}},
		{"leading zeros read", []string{"LIMITS MAILMAX=007"}, ServerLimits{MailMax: 7}},
		{"nine digits", []string{"LIMITS MAILMAX=999999999"}, ServerLimits{MailMax: 999999999}},
		{"ten digits ignored", []string{"LIMITS MAILMAX=1000000000 RCPTMAX=99999999999999999999999"}, ServerLimits{}},
		{"first value that reads wins", []string{"LIMITS MAILMAX=x MAILMAX=3 MAILMAX=4"}, ServerLimits{MailMax: 3}},
		{"double equals", []string{"LIMITS MAILMAX==3 RCPTMAX=3=3"}, ServerLimits{}},
		{"first LIMITS line wins", []string{"LIMITS MAILMAX=3", "LIMITS MAILMAX=9 RCPTMAX=9"}, ServerLimits{MailMax: 3}},
		{"any white space separates", []string{"LIMITS MAILMAX=3\tRCPTMAX=4"}, ServerLimits{MailMax: 3, RcptMax: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseExtensions(response.New(250, append([]string{"mx.example.org"}, tt.lines...)...))
			if got := e.Limits(); got != tt.want {
				t.Errorf("Limits() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzLimits parses arbitrary LIMITS parameters: every field read must
// be a positive number of at most nine digits that the parameters list
// under its name, and writing the limits out again must read back the
// same.
func FuzzLimits(f *testing.F) {
	f.Add("MAILMAX=1000 RCPTMAX=50 RCPTDOMAINMAX=10")
	f.Add("mailmax=3 FOO=bar RCPTMAX")
	f.Add("MAILMAX=0 MAILMAX=5 RCPTMAX=1000000000")
	f.Add("RCPTMAX=+5 RCPTDOMAINMAX=5= MAILMAX==1")
	f.Fuzz(func(t *testing.T, params string) {
		if strings.ContainsAny(params, "\r\n") {
			return // one EHLO line
		}
		e := parseExtensions(response.New(250, "mx.example.org", "LIMITS "+params))
		l := e.Limits()
		listed := strings.Fields(strings.ToUpper(params))
		for _, f := range []struct {
			name string
			n    int
		}{{"MAILMAX", l.MailMax}, {"RCPTMAX", l.RcptMax}, {"RCPTDOMAINMAX", l.RcptDomainMax}} {
			if f.n < 0 || f.n > 999999999 {
				t.Fatalf("%s = %d out of range (params %q)", f.name, f.n, params)
			}
			if f.n == 0 {
				continue
			}
			found := false
			for _, w := range listed {
				if v, ok := strings.CutPrefix(w, f.name+"="); ok {
					if n, err := strconv.Atoi(v); err == nil && n == f.n && v[0] != '+' && v[0] != '-' {
						found = true
					}
				}
			}
			if !found {
				t.Fatalf("%s = %d, not listed so in %q", f.name, f.n, params)
			}
		}
		again := fmt.Sprintf("LIMITS MAILMAX=%d RCPTMAX=%d RCPTDOMAINMAX=%d", l.MailMax, l.RcptMax, l.RcptDomainMax)
		if got := parseExtensions(response.New(250, "mx", again)).Limits(); got != l {
			t.Fatalf("%q read back as %+v, want %+v", again, got, l)
		}
	})
}
