package transport

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		name string
		in   string
		def  int
		want Address
	}{
		{"host", "mail.example.org", PortSMTP, Address{"tcp", "mail.example.org", 25}},
		{"host with port", "mail.example.org:587", PortSMTP, Address{"tcp", "mail.example.org", 587}},
		{"host keeps case and trailing dot", "MX.Example.ORG.", PortSubmission, Address{"tcp", "MX.Example.ORG.", 587}},
		{"single label", "localhost", PortSMTP, Address{"tcp", "localhost", 25}},
		{"underscore and digits", "smtp_1.2go.example:2525", 0, Address{"tcp", "smtp_1.2go.example", 2525}},
		{"ipv4", "192.0.2.1", PortSubmissions, Address{"tcp", "192.0.2.1", 465}},
		{"ipv4 with port", "192.0.2.1:2525", PortSMTP, Address{"tcp", "192.0.2.1", 2525}},
		{"ipv4 in brackets", "[192.0.2.1]", PortSMTP, Address{"tcp", "192.0.2.1", 25}},
		{"ipv4 in brackets with port", "[192.0.2.1]:26", PortSMTP, Address{"tcp", "192.0.2.1", 26}},
		{"ipv6 in brackets", "[2001:db8::1]", PortSMTP, Address{"tcp", "2001:db8::1", 25}},
		{"ipv6 in brackets with port", "[2001:db8::1]:587", PortSMTP, Address{"tcp", "2001:db8::1", 587}},
		{"ipv6 canonical form", "[2001:0DB8:0:0::1]", PortSMTP, Address{"tcp", "2001:db8::1", 25}},
		{"ipv6 bare", "::1", PortSMTP, Address{"tcp", "::1", 25}},
		{"ipv6 bare takes no port", "::1:25", PortSubmission, Address{"tcp", "::1:25", 587}},
		{"ipv6 bare long", "2001:db8:85a3::8a2e:370:7334", PortSMTP, Address{"tcp", "2001:db8:85a3::8a2e:370:7334", 25}},
		{"ipv6 with zone", "[fe80::1%eth0]:25", 0, Address{"tcp", "fe80::1%eth0", 25}},
		{"ipv6 RFC 5321 literal", "[IPv6:2001:db8::1]:25", 0, Address{"tcp", "2001:db8::1", 25}},
		{"ipv6 RFC 5321 literal any case", "[ipv6:::1]", PortSMTP, Address{"tcp", "::1", 25}},
		{"v4-mapped v6", "[::ffff:192.0.2.1]", PortSMTP, Address{"tcp", "::ffff:192.0.2.1", 25}},
		{"port 1", "h:1", 0, Address{"tcp", "h", 1}},
		{"port 65535", "h:65535", 0, Address{"tcp", "h", 65535}},
		{"port leading zeros", "h:00025", 0, Address{"tcp", "h", 25}},
		{"idn host", "bücher.example:25", 0, Address{"tcp", "xn--bcher-kva.example", 25}},
		{"idn host upper case", "BÜCHER.example", PortSMTP, Address{"tcp", "xn--bcher-kva.example", 25}},
		{"a-label host", "xn--bcher-kva.example", PortSMTP, Address{"tcp", "xn--bcher-kva.example", 25}},
		{"unix", "/var/run/dovecot/lmtp", 0, Address{"unix", "/var/run/dovecot/lmtp", 0}},
		{"unix ignores default port", "/tmp/s", PortSMTP, Address{"unix", "/tmp/s", 0}},
		{"unix with space", "/tmp/my socket", 0, Address{"unix", "/tmp/my socket", 0}},
		{"unix with colon", "/tmp/a:25", 0, Address{"unix", "/tmp/a:25", 0}},
		{"63-octet label", strings.Repeat("a", 63) + ".example", 25, Address{"tcp", strings.Repeat("a", 63) + ".example", 25}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddress(tt.in, tt.def)
			if err != nil {
				t.Fatalf("ParseAddress(%q, %d): %v", tt.in, tt.def, err)
			}
			if got != tt.want {
				t.Fatalf("ParseAddress(%q, %d) = %#v, want %#v", tt.in, tt.def, got, tt.want)
			}
		})
	}
}

func TestParseAddressErrors(t *testing.T) {
	long := strings.Repeat("a.", 127) + "com" // 257 octets
	tests := []struct {
		name   string
		in     string
		def    int
		reason string // a part of the reason
	}{
		{"empty", "", 25, "empty"},
		{"port 0", "h:0", 25, "not a number from 1 to 65535"},
		{"port too large", "h:65536", 25, "not a number from 1 to 65535"},
		{"port huge", "h:99999999999999999999", 25, "not a number"},
		{"port negative", "h:-25", 25, "not a number"},
		{"port plus", "h:+25", 25, "not a number"},
		{"port name", "h:smtp", 25, "not a number"},
		{"port hex", "h:0x19", 25, "not a number"},
		{"port empty", "h:", 25, "empty port"},
		{"bracket port empty", "[::1]:", 25, "empty port"},
		{"bracket port bad", "[::1]:x", 25, "not a number"},
		{"no default port", "h", 0, "no default port"},
		{"default port too large", "h", 70000, "default port 70000"},
		{"space", "mail example.org", 25, "space"},
		{"leading space", " mail.example.org", 25, "space"},
		{"trailing newline", "mail.example.org\n", 25, "control"},
		{"tab", "h:\t25", 25, "control"},
		{"nul", "h\x00", 25, "control"},
		{"del", "h\x7f", 25, "control"},
		{"c1 control", "h\u0085", 25, "control"},
		{"nbsp", "h\u00a0", 25, "space"},
		{"control in unix path", "/tmp/a\nb", 0, "control"},
		{"nul in unix path", "/tmp/a\x00", 0, "control"},
		{"invalid utf-8", "h\xff", 25, "UTF-8"},
		{"unclosed bracket", "[::1", 25, "'[' without ']'"},
		{"unclosed bracket with port", "[::1:25", 25, "'[' without ']'"},
		{"stray close bracket", "::1]:25", 25, "brackets"},
		{"bracket in middle", "a[::1]", 25, "brackets"},
		{"text after bracket", "[::1]25", 25, "after ']'"},
		{"empty brackets", "[]:25", 25, "brackets must hold an IP"},
		{"name in brackets", "[mail.example.org]", 25, "brackets must hold an IP"},
		{"IPv6 tag with v4", "[IPv6:192.0.2.1]", 25, "brackets must hold an IP"},
		{"empty host with port", ":25", 25, "no host before the port"},
		{"colon only", ":", 25, "no host before the port"},
		{"bare ipv6 with port-like suffix but invalid", "2001:db8::1::25", 25, "needs brackets"},
		{"two colons, not ipv6", "host:25:26", 25, "needs brackets"},
		{"ipv4 two colons", "1.2.3.4::25", 25, "needs brackets"},
		{"bad ipv4", "256.1.1.1", 25, "not a valid IPv4"},
		{"short ipv4", "1.2.3", 25, "not a valid IPv4"},
		{"empty label", "a..b", 25, "empty label"},
		{"leading dot", ".example", 25, "empty label"},
		{"only dot", ".", 25, "empty host name"},
		{"label too long", strings.Repeat("a", 64) + ".example", 25, "63"},
		{"name too long", long, 25, "253"},
		{"at sign", "user@mail.example", 25, "'@'"},
		{"slash", "mail.example/x", 25, "'/'"},
		{"url", "smtp://mail.example", 25, "a URL"},
		{"url with port", "smtps://mail.example:465", 25, "a URL"},
		{"scheme one colon", "smtp:mail.example", 25, "not a number"},
		{"bad idn", "a\u200d.example", 25, "internationalised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAddress(tt.in, tt.def)
			if err == nil {
				t.Fatalf("ParseAddress(%q) = %#v, want an error", tt.in, got)
			}
			if got != (Address{}) {
				t.Errorf("ParseAddress(%q) returned %#v with its error", tt.in, got)
			}
			ae := as[*AddressError](t, err)
			if ae.Input != tt.in {
				t.Errorf("Input = %q, want %q", ae.Input, tt.in)
			}
			if !strings.Contains(ae.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", ae.Reason, tt.reason)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "transport: ") {
				t.Errorf("message %q does not start with \"transport: \"", msg)
			}
			for _, r := range msg {
				if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
					t.Errorf("message %q carries control character %U", msg, r)
				}
			}
		})
	}
}

func TestAddressString(t *testing.T) {
	tests := []struct {
		name string
		in   Address
		want string
	}{
		{"name", Address{"tcp", "mail.example.org", 25}, "mail.example.org:25"},
		{"zero network", Address{"", "mail.example.org", 587}, "mail.example.org:587"},
		{"ipv4", Address{"tcp", "192.0.2.1", 465}, "192.0.2.1:465"},
		{"ipv6", Address{"tcp", "2001:db8::1", 25}, "[2001:db8::1]:25"},
		{"ipv6 zone", Address{"tcp", "fe80::1%eth0", 25}, "[fe80::1%eth0]:25"},
		{"unix", Address{"unix", "/run/lmtp", 0}, "/run/lmtp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestParseAddressRoundTrip: what String gives back parses to the same
// Address, for every form ParseAddress accepts.
func TestParseAddressRoundTrip(t *testing.T) {
	for _, in := range []string{
		"mail.example.org", "mail.example.org:2525", "192.0.2.1", "[2001:db8::1]:25",
		"::1", "[fe80::1%eth0]:26", "bücher.example", "/run/lmtp", "[IPv6:::1]",
	} {
		t.Run(in, func(t *testing.T) {
			a, err := ParseAddress(in, PortSMTP)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseAddress(a.String(), 1)
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", a.String(), err)
			}
			if a != b {
				t.Fatalf("%q -> %#v -> %q -> %#v", in, a, a.String(), b)
			}
		})
	}
}

func TestAddressCheck(t *testing.T) {
	tests := []struct {
		name string
		in   Address
		ok   bool
	}{
		{"tcp", Address{"tcp", "h", 25}, true},
		{"zero network", Address{"", "h", 25}, true},
		{"tcp6", Address{"tcp6", "::1", 25}, true},
		{"unix", Address{"unix", "/s", 0}, true},
		{"no host", Address{"tcp", "", 25}, false},
		{"no port", Address{"tcp", "h", 0}, false},
		{"port too large", Address{"tcp", "h", 65536}, false},
		{"no path", Address{"unix", "", 0}, false},
		{"udp", Address{"udp", "h", 25}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.in.check()
			if (err == nil) != tt.ok {
				t.Fatalf("check(%#v) = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil {
				as[*AddressError](t, err)
			}
		})
	}
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"mail.example.org", "h:25", "[::1]:25", "::1", "/run/lmtp", "[IPv6:::1]", "bücher.example",
		"[", "]", ":", "h:", "[::1", "1.2.3", "a..b", "\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s, PortSMTP)
		if err != nil {
			if a != (Address{}) {
				t.Fatalf("value with error: %#v", a)
			}
			return
		}
		if err := a.check(); err != nil {
			t.Fatalf("ParseAddress(%q) = %#v, which check refuses: %v", s, a, err)
		}
		b, err := ParseAddress(a.String(), 1)
		if err != nil || a != b {
			t.Fatalf("%q -> %#v -> %q -> %#v, %v", s, a, a.String(), b, err)
		}
	})
}

// ParseAddress's doc refuses names that "look like an IP address without
// being one". Only an all-digit last label is caught: hex and octal forms
// that inet_aton (and so getaddrinfo, the cgo resolver, curl, browsers'
// URL parsers) read as IPv4 pass as host names, e.g. "0x7f.0x0.0x0.0x1"
// is 127.0.0.1 to libc. A name check meant to keep IP literals out can be
// bypassed this way.
func TestParseAddressRefusesInetAtonForms(t *testing.T) {
	for _, s := range []string{"0x7f.0x0.0x0.0x1", "127.0.0.0x1", "0x7f000001", "1.2.3.0X4"} {
		a, err := ParseAddress(s, 25)
		if err == nil && !strings.Contains(a.Host, ":") && a.Host != "127.0.0.1" && a.Host != "1.2.3.4" {
			t.Errorf("ParseAddress(%q) = %+v: an IPv4 address in inet_aton form accepted as a host name", s, a)
		}
	}
}
