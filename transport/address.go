package transport

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// The well-known SMTP ports.
const (
	PortSMTP        = 25  // relay, server to server (RFC 5321 §4.5.4.2)
	PortSubmission  = 587 // message submission, STARTTLS (RFC 6409 §3.1)
	PortSubmissions = 465 // message submission over implicit TLS (RFC 8314 §3.3)
)

// Address is where to connect: a TCP host and port, or a Unix socket path.
// The zero Network means "tcp". [Dialer.DialContext] refuses, with an
// [*AddressError], an Address without a host, with a port out of range or
// with control characters in Host.
type Address struct {
	Network string // "tcp" or "unix" ("tcp4" and "tcp6" are dialed as given)
	Host    string // host name, or IP literal without brackets; for "unix", the socket path
	Port    int    // 1 to 65535 for TCP; 0 for "unix"
}

// String returns the address as net.Dial takes it: "host:port", with an
// IPv6 host in brackets ("[2001:db8::1]:25"), or the socket path.
func (a Address) String() string {
	if a.Network == "unix" {
		return a.Host
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// network is the network to dial.
func (a Address) network() string {
	if a.Network == "" {
		return "tcp"
	}
	return a.Network
}

// check reports an Address that cannot be dialed, as an [*AddressError].
func (a Address) check() error {
	for _, r := range a.Host {
		if unicode.IsControl(r) {
			input := a.String()
			if a.network() == "unix" {
				input = a.Host
			}
			return &AddressError{Input: input, Reason: fmt.Sprintf("control character %q in the host", r)}
		}
	}
	switch a.network() {
	case "tcp", "tcp4", "tcp6":
		if a.Host == "" {
			return &AddressError{Input: a.String(), Reason: "no host"}
		}
		if a.Port < 1 || a.Port > 65535 {
			return &AddressError{Input: a.String(), Reason: "port is not from 1 to 65535"}
		}
	case "unix":
		if a.Host == "" {
			return &AddressError{Input: a.Host, Reason: "no socket path"}
		}
	default:
		return &AddressError{Input: a.String(), Reason: "unknown network " + quote(a.Network)}
	}
	return nil
}

// ParseAddress parses an address the way users write it, in smtplib's
// connect() or on a command line:
//
//	mail.example.org              host; defaultPort
//	mail.example.org:587          host and port
//	192.0.2.1, 192.0.2.1:25       IPv4 literal
//	[2001:db8::1], [2001:db8::1]:25
//	2001:db8::1                   bare IPv6 literal, never with a port
//	[IPv6:2001:db8::1]:25         RFC 5321 §4.1.3 address-literal forms,
//	[192.0.2.1]                   as in an SMTP address
//	/var/run/dovecot/lmtp         Unix socket (LMTP's usual home)
//
// A string with two or more colons and no brackets is a bare IPv6 address
// and takes defaultPort: "::1:25" is the address ::1:25, not ::1 port 25.
// IP literals come back in canonical form (netip). A host name in UTF-8 is
// converted to A-labels (IDNA, RFC 5891), since DNS and certificates know
// only those; ASCII names are kept as written, trailing dot included.
//
// The port is 1 to 65535 in decimal; service names are not looked up.
// defaultPort ([PortSMTP], [PortSubmission], [PortSubmissions] or another)
// is used when the string has none; it is not needed for a Unix path.
// Spaces are allowed in a Unix path, but control characters are not.
//
// Refused, with an [*AddressError]: the empty string, spaces and control
// characters, an unclosed bracket, brackets around something other than an
// IP address, an empty host before a port, a missing, non-numeric or
// out-of-range port, and host names that break RFC 1035 syntax (labels of
// letters, digits, '-' and '_', 63 octets each, 253 in all) or look like
// an IP address without being one: a name whose last label is a number,
// all decimal digits or "0x" and hexadecimal digits ("1.2.3", "256.0.0.1",
// "0x7f000001", "127.0.0.0x1"), which inet_aton, and so libc resolvers and
// URL parsers, may read as an IPv4 address (the WHATWG URL Standard's
// "ends in a number").
func ParseAddress(s string, defaultPort int) (Address, error) {
	fail := func(format string, args ...any) (Address, error) {
		return Address{}, &AddressError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail("empty")
	}
	if !utf8.ValidString(s) {
		return fail("not valid UTF-8")
	}
	if s[0] == '/' {
		for _, r := range s {
			if unicode.IsControl(r) {
				return fail("control character %q in a socket path", r)
			}
		}
		return Address{Network: "unix", Host: s}, nil
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fail("space or control character %q", r)
		}
	}

	if strings.Contains(s, "://") {
		return fail("a URL, not an address: write host or host:port")
	}

	var host, port string
	hasPort := false
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return fail("'[' without ']'")
		}
		lit, rest := s[1:end], s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return fail("%q after ']' (want \":port\" or nothing)", rest)
			}
			port, hasPort = rest[1:], true
		}
		ip, ok := parseLiteral(lit)
		if !ok {
			return fail("brackets must hold an IP address, not %q", lit)
		}
		host = ip.String()
	} else {
		if strings.ContainsAny(s, "[]") {
			return fail("brackets must enclose the whole host, as in [2001:db8::1]:25")
		}
		if strings.Count(s, ":") > 1 {
			ip, err := netip.ParseAddr(s)
			if err != nil || !ip.Is6() {
				return fail("not an IPv6 address; an IPv6 address with a port needs brackets, as in [2001:db8::1]:25")
			}
			host = ip.String()
		} else {
			host, port, hasPort = strings.Cut(s, ":")
			if host == "" {
				return fail("no host before the port")
			}
			// With at most one colon, host is IPv4 or a name.
			if ip, err := netip.ParseAddr(host); err == nil {
				host = ip.String()
			} else {
				h, reason := checkHostName(host)
				if reason != "" {
					return fail("%s", reason)
				}
				host = h
			}
		}
	}

	p := defaultPort
	if hasPort {
		var ok bool
		if p, ok = parsePort(port); !ok {
			if port == "" {
				return fail("empty port after ':'")
			}
			return fail("port %q is not a number from 1 to 65535", port)
		}
	} else if p == 0 {
		return fail("no port given, and there is no default port: write host:port")
	} else if p < 1 || p > 65535 {
		return fail("no port given, and the default port %d is not from 1 to 65535", defaultPort)
	}
	return Address{Network: "tcp", Host: host, Port: p}, nil
}

// parseLiteral parses what is between the brackets of an address: an IPv6
// address (optionally with a zone), an IPv4 address, or RFC 5321 §4.1.3's
// "IPv6:" form.
func parseLiteral(lit string) (netip.Addr, bool) {
	v6tag := false
	if len(lit) >= 5 && strings.EqualFold(lit[:5], "IPv6:") {
		lit, v6tag = lit[5:], true
	}
	ip, err := netip.ParseAddr(lit)
	if err != nil || (v6tag && !ip.Is6()) {
		return netip.Addr{}, false
	}
	return ip, true
}

// parsePort parses a decimal port from 1 to 65535: digits only, no sign.
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= 65535
}

// checkHostName checks a host name's syntax (RFC 1035 §2.3.1, relaxed to
// allow '_' and leading digits as RFC 1123 §2.1 and real DNS do) and turns
// a UTF-8 name into A-labels. A name whose last label is a number (see
// endsInNumber) is refused. It returns the name to use, or why not.
func checkHostName(h string) (string, string) {
	ascii := true
	for i := 0; i < len(h); i++ {
		if h[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", "not a valid internationalised host name (" + err.Error() + ")"
		}
		h = a
	}
	name := strings.TrimSuffix(h, ".")
	if name == "" {
		return "", "empty host name"
	}
	if len(name) > 253 {
		return "", "host name longer than 253 octets"
	}
	last := ""
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return "", "empty label in host name"
		}
		if len(label) > 63 {
			return "", "host name label longer than 63 octets"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			default:
				return "", fmt.Sprintf("%q is not allowed in a host name", c)
			}
		}
		last = label
	}
	if endsInNumber(last) {
		// The last label of a name is never all digits (RFC 1123 §2.1):
		// this was meant as an IPv4 address, in the dotted-decimal form or
		// in one of inet_aton's others, and is not a name.
		return "", "not a valid IPv4 address, nor a host name"
	}
	return h, ""
}

// endsInNumber reports whether label, the last label of a host name, is a
// number to inet_aton and to the WHATWG URL Standard's IPv4 parser ("ends
// in a number"): all decimal digits (octal too, with a leading 0), or "0x"
// or "0X" followed by hexadecimal digits, or by nothing. Such a name is an
// IPv4 address to them ("0x7f.0.0.0x1" and "0x7f000001" are 127.0.0.1), or
// an invalid one.
func endsInNumber(label string) bool {
	digits, isDigit := label, func(c byte) bool { return c >= '0' && c <= '9' }
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		digits = label[2:]
		isDigit = func(c byte) bool {
			return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
		}
	} else if label == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if !isDigit(digits[i]) {
			return false
		}
	}
	return true
}
