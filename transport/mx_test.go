package transport

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
)

// fakeResolver answers LookupMX from a table and records the names asked.
type fakeResolver struct {
	records map[string][]*net.MX
	errs    map[string]error
	asked   []string
}

func (r *fakeResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	r.asked = append(r.asked, name)
	return r.records[name], r.errs[name]
}

func mxs(pairs ...any) []*net.MX {
	var out []*net.MX
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, &net.MX{Host: pairs[i].(string), Pref: uint16(pairs[i+1].(int))})
	}
	return out
}

// reverse is a deterministic shuffle: it reverses the run.
func reverse(n int, swap func(i, j int)) {
	for i := 0; i < n/2; i++ {
		swap(i, n-1-i)
	}
}

// identity is a shuffle that leaves the order as it is.
func identity(int, func(i, j int)) {}

func TestLookupMX(t *testing.T) {
	notFound := &net.DNSError{Err: "no such host", Name: "example.org", IsNotFound: true}
	servfail := &net.DNSError{Err: "server misbehaving", Name: "example.org", IsTemporary: true}
	timeout := &net.DNSError{Err: "i/o timeout", Name: "example.org", IsTimeout: true, IsTemporary: true}
	malformed := &net.DNSError{Err: "DNS response contained records which contain invalid names", Name: "example.org"}
	other := errors.New("resolver on fire")

	tests := []struct {
		name    string
		domain  string
		records []*net.MX
		err     error
		shuffle func(int, func(i, j int))
		want    []MX
		wantErr error // errors.Is; errAny for any
		asked   string
	}{
		{"preference order", "example.org",
			mxs("c.example.org.", 30, "a.example.org.", 10, "b.example.org.", 20), nil, identity,
			[]MX{{"a.example.org", 10, false}, {"b.example.org", 20, false}, {"c.example.org", 30, false}}, nil, "example.org"},
		{"equal preferences shuffled", "example.org",
			mxs("a1.", 10, "a2.", 10, "a3.", 10, "b1.", 20, "c1.", 30, "c2.", 30), nil, reverse,
			[]MX{{"a3", 10, false}, {"a2", 10, false}, {"a1", 10, false}, {"b1", 20, false}, {"c2", 30, false}, {"c1", 30, false}}, nil, "example.org"},
		{"equal preferences interleaved", "example.org",
			mxs("b1.", 20, "a1.", 10, "b2.", 20, "a2.", 10), nil, identity,
			[]MX{{"a1", 10, false}, {"a2", 10, false}, {"b1", 20, false}, {"b2", 20, false}}, nil, "example.org"},
		{"trailing dots stripped", "example.org",
			mxs("mx.example.org.", 0, "mx2.example.org", 5), nil, identity,
			[]MX{{"mx.example.org", 0, false}, {"mx2.example.org", 5, false}}, nil, "example.org"},
		{"domain trailing dot", "example.org.", mxs("mx.example.org.", 10), nil, identity,
			[]MX{{"mx.example.org", 10, false}}, nil, "example.org"},
		{"idn domain", "bücher.example", mxs("mx.xn--bcher-kva.example.", 10), nil, identity,
			[]MX{{"mx.xn--bcher-kva.example", 10, false}}, nil, "xn--bcher-kva.example"},
		{"implicit on not found", "example.org", nil, notFound, identity,
			[]MX{{"example.org", 0, true}}, nil, "example.org"},
		{"implicit on empty answer", "example.org", nil, nil, identity,
			[]MX{{"example.org", 0, true}}, nil, "example.org"},
		{"implicit on nil records", "example.org", []*net.MX{nil}, nil, identity,
			[]MX{{"example.org", 0, true}}, nil, "example.org"},
		{"implicit for idn domain", "bücher.example", nil, notFound, identity,
			[]MX{{"xn--bcher-kva.example", 0, true}}, nil, "xn--bcher-kva.example"},
		{"null MX", "example.org", mxs(".", 0), nil, identity, nil, ErrNullMX, "example.org"},
		{"null MX empty host", "example.org", mxs("", 0), nil, identity, nil, ErrNullMX, "example.org"},
		{"null MX with other preference", "example.org", mxs(".", 10), nil, identity, nil, ErrNullMX, "example.org"},
		{"null MX beside a real one is dropped", "example.org", mxs(".", 0, "mx.example.org.", 10), nil, identity,
			[]MX{{"mx.example.org", 10, false}}, nil, "example.org"},
		{"temporary error passes through", "example.org", nil, servfail, identity, nil, servfail, "example.org"},
		{"timeout passes through", "example.org", nil, timeout, identity, nil, timeout, "example.org"},
		{"temporary error with records passes through", "example.org", mxs("mx.", 1), servfail, identity, nil, servfail, "example.org"},
		{"other error passes through", "example.org", nil, other, identity, nil, other, "example.org"},
		{"malformed records dropped, rest used", "example.org", mxs("mx.example.org.", 10), malformed, identity,
			[]MX{{"mx.example.org", 10, false}}, nil, "example.org"},
		{"malformed and nothing left", "example.org", nil, malformed, identity, nil, malformed, "example.org"},
		{"ipv4 literal", "[192.0.2.1]", nil, nil, identity, []MX{{"192.0.2.1", 0, true}}, nil, ""},
		{"ipv6 literal", "[IPv6:2001:DB8::1]", nil, nil, identity, []MX{{"2001:db8::1", 0, true}}, nil, ""},
		{"bare ipv6 literal", "[2001:db8::1]", nil, nil, identity, []MX{{"2001:db8::1", 0, true}}, nil, ""},
		{"bad literal", "[mx.example.org]", nil, nil, identity, nil, errAny, ""},
		{"unclosed literal", "[192.0.2.1", nil, nil, identity, nil, errAny, ""},
		{"zone in literal", "[IPv6:fe80::1%eth0]", nil, nil, identity, nil, errAny, ""},
		{"ip without brackets", "192.0.2.1", nil, nil, identity, nil, errAny, ""},
		{"empty domain", "", nil, nil, identity, nil, errAny, ""},
		{"space in domain", "exa mple.org", nil, nil, identity, nil, errAny, ""},
		{"control in domain", "example.org\r\n", nil, nil, identity, nil, errAny, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeResolver{records: map[string][]*net.MX{}, errs: map[string]error{}}
			if tt.asked != "" {
				r.records[tt.asked] = tt.records
				r.errs[tt.asked] = tt.err
			}
			got, err := LookupMX(context.Background(), r, tt.domain, tt.shuffle)
			wantAsked := []string{tt.asked}
			if tt.asked == "" {
				wantAsked = nil
			}
			if !slices.Equal(r.asked, wantAsked) {
				t.Errorf("resolver asked %q, want %q", r.asked, wantAsked)
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				t.Log(err)
				if got != nil {
					t.Errorf("results %v with the error", got)
				}
				me := as[*MXError](t, err)
				if me.Domain != tt.domain {
					t.Errorf("Domain = %q, want %q", me.Domain, tt.domain)
				}
				if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "transport: MX lookup for ") || strings.ContainsAny(err.Error(), "\r\n") {
					t.Errorf("message %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestLookupMXShuffleCalls(t *testing.T) {
	r := &fakeResolver{records: map[string][]*net.MX{
		"example.org": mxs("a.", 10, "b.", 10, "c.", 20, "d.", 30, "e.", 30, "f.", 30),
	}}
	var sizes []int
	shuffle := func(n int, swap func(i, j int)) { sizes = append(sizes, n) }
	if _, err := LookupMX(context.Background(), r, "example.org", shuffle); err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 3}; !slices.Equal(sizes, want) {
		t.Errorf("shuffle called for runs of %v, want %v (runs of one are left alone)", sizes, want)
	}
}

func TestLookupMXDefaultShuffle(t *testing.T) {
	r := &fakeResolver{records: map[string][]*net.MX{
		"example.org": mxs("a.", 10, "b.", 10, "c.", 10, "d.", 10, "z.", 20),
	}}
	firsts := map[string]bool{}
	for range 200 {
		got, err := LookupMX(context.Background(), r, "example.org", nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 || got[4].Host != "z" {
			t.Fatalf("got %v", got)
		}
		hosts := []string{got[0].Host, got[1].Host, got[2].Host, got[3].Host}
		slices.Sort(hosts)
		if !slices.Equal(hosts, []string{"a", "b", "c", "d"}) {
			t.Fatalf("got %v", got)
		}
		firsts[got[0].Host] = true
	}
	if len(firsts) < 2 {
		t.Errorf("in 200 lookups the first exchanger was always %v", firsts)
	}
}

func TestMXAddress(t *testing.T) {
	tests := []struct {
		name string
		mx   MX
		want string
	}{
		{"name", MX{Host: "mx.example.org", Preference: 10}, "mx.example.org:25"},
		{"ipv6 literal", MX{Host: "2001:db8::1", Implicit: true}, "[2001:db8::1]:25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.mx.Address(PortSMTP)
			if a.String() != tt.want || a.Network != "tcp" {
				t.Errorf("Address = %#v (%s), want %s", a, a, tt.want)
			}
		})
	}
}

func TestLookupMXNilResolver(t *testing.T) {
	// A literal needs no resolver; this checks nil r is accepted without DNS.
	got, err := LookupMX(context.Background(), nil, "[127.0.0.1]", nil)
	if err != nil || len(got) != 1 || got[0] != (MX{Host: "127.0.0.1", Implicit: true}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

// MX.Host is documented as "host name (no trailing dot) or, for an address
// literal, an IP address", and Resolver invites "callers with their own DNS
// client" to plug in; but LookupMX copies whatever the resolver returns,
// so names with CR LF, a port or brackets come out as exchangers (and
// MX.Address then makes Addresses like "[mx.example.org:2525]:25").
// *net.Resolver filters such names; a custom Resolver does not.
func TestLookupMXChecksExchangerNames(t *testing.T) {
	for _, bad := range []string{"mx\r\nevil.example.", "mx.example.org:2525.", "[192.0.2.1]", "mx example.org."} {
		r := &fakeResolver{records: map[string][]*net.MX{"example.org": {{Host: bad, Pref: 10}, {Host: "mx2.example.org.", Pref: 20}}}}
		mxs, err := LookupMX(context.Background(), r, "example.org", nil)
		if err != nil {
			continue // refusing the answer is a fix too
		}
		for _, m := range mxs {
			if m.Implicit {
				continue
			}
			if _, reason := checkHostName(m.Host); reason != "" {
				t.Errorf("resolver name %q: LookupMX returned exchanger %q (%s)", bad, m.Host, reason)
			}
		}
	}
}
