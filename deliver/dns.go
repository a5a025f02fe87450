package deliver

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// TypeTLSA is the DNS type of TLSA records (RFC 6698 §7.1).
const TypeTLSA dnsmessage.Type = 52

// MaxDNSReply is the largest DNS reply a DNSClient reads: over UDP the
// rest of a larger datagram is dropped (and the reply then fails to
// parse); over TCP the two-octet length prefix allows no more than 65535.
const MaxDNSReply = 4096

// Resolver answers DNS questions and says whether the answer was
// authenticated by DNSSEC. A DNSClient talking to a validating resolver the
// operator trusts (on the same host, or over a path it trusts) is one;
// net.Resolver is not, since it exposes neither TLSA records nor the AD bit.
type Resolver interface {
	// Query asks for the records of type qtype at name. The error is for a
	// question that got no answer (a timeout, a malformed reply); an
	// answer that says NXDOMAIN or SERVFAIL is an Answer with that RCode.
	Query(ctx context.Context, name string, qtype dnsmessage.Type) (*Answer, error)
}

// Answer is a DNS reply, reduced to what delivery needs.
type Answer struct {
	RCode dnsmessage.RCode
	// Authenticated is the AD bit (RFC 4035 §3.2.3): the resolver
	// validated the answer (or the denial of existence) with DNSSEC.
	Authenticated bool
	// Records is the answer section, CNAMEs included.
	Records []dnsmessage.Resource
}

// DNSError is a DNS question that got no usable answer: no reply in time,
// a malformed one, or an RCode other than NOERROR and NXDOMAIN.
type DNSError struct {
	Name  string
	Type  dnsmessage.Type
	RCode dnsmessage.RCode // when the server answered with an error code
	Err   error            // otherwise
}

func (e *DNSError) Error() string {
	what := fmt.Sprintf("deliver: DNS %s %s", strings.TrimPrefix(e.Type.String(), "Type"), logsafe.Escape(e.Name))
	if e.Err != nil {
		return what + ": " + e.Err.Error()
	}
	return what + ": " + e.RCode.String()
}

func (e *DNSError) Unwrap() error { return e.Err }

// DNSClient is a small stub resolver over UDP, with TCP when the reply is
// truncated (RFC 7766). It sets the AD and DO bits in its queries so that a
// validating resolver tells whether the answer is secure (RFC 6840 §5.7),
// and trusts that resolver's AD bit, as Postfix does: point it only at a
// resolver on a path nobody can tamper with (127.0.0.1, ideally).
type DNSClient struct {
	// Server is the resolver's address, "ip:port".
	Server string
	// Timeout bounds each attempt; 0 means 5 seconds. Two attempts are
	// made over UDP before giving up.
	Timeout time.Duration
}

// SystemDNSClient returns a DNSClient for the first nameserver in
// /etc/resolv.conf, or 127.0.0.1:53 when it names none.
func SystemDNSClient() *DNSClient {
	server := "127.0.0.1:53"
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(io.LimitReader(f, 64<<10))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "nameserver" {
				if ip, err := netip.ParseAddr(fields[1]); err == nil {
					server = netip.AddrPortFrom(ip.WithZone(""), 53).String()
					break
				}
			}
		}
	}
	return &DNSClient{Server: server}
}

// Query implements Resolver.
func (c *DNSClient) Query(ctx context.Context, name string, qtype dnsmessage.Type) (*Answer, error) {
	fail := func(err error) (*Answer, error) { return nil, &DNSError{Name: name, Type: qtype, Err: err} }
	fqdn := name
	if !strings.HasSuffix(fqdn, ".") {
		fqdn += "."
	}
	qname, err := dnsmessage.NewName(fqdn)
	if err != nil {
		return fail(err)
	}
	var idb [2]byte
	rand.Read(idb[:])
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: binary.BigEndian.Uint16(idb[:]), RecursionDesired: true, AuthenticData: true},
		Questions: []dnsmessage.Question{{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}},
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, true); err != nil {
		return fail(err)
	}
	q.Additionals = []dnsmessage.Resource{{Header: opt, Body: &dnsmessage.OPTResource{}}}
	packed, err := q.Pack()
	if err != nil {
		return fail(err)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}

	var reply *dnsmessage.Message
	for attempt := 0; ; attempt++ {
		reply, err = c.exchange(ctx, "udp", packed, q, timeout)
		if err == nil || attempt == 1 || ctx.Err() != nil {
			break
		}
	}
	if err == nil && reply.Header.Truncated {
		reply, err = c.exchange(ctx, "tcp", packed, q, timeout)
	}
	if err != nil {
		return fail(err)
	}
	switch reply.Header.RCode {
	case dnsmessage.RCodeSuccess, dnsmessage.RCodeNameError:
	default:
		return nil, &DNSError{Name: name, Type: qtype, RCode: reply.Header.RCode}
	}
	return &Answer{RCode: reply.Header.RCode, Authenticated: reply.Header.AuthenticData, Records: reply.Answers}, nil
}

var errMismatch = errors.New("reply does not match the question")

// exchange sends one query and reads its reply, within timeout.
func (c *DNSClient) exchange(ctx context.Context, network string, packed []byte, q dnsmessage.Message, timeout time.Duration) (*dnsmessage.Message, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := c.exchangeConn(ctx, network, packed, q)
	if err != nil {
		var ne net.Error
		switch {
		case parent.Err() != nil:
			return nil, parent.Err()
		case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("no reply over %s within %v: %w", network, timeout, context.DeadlineExceeded)
		}
	}
	return m, err
}

func (c *DNSClient) exchangeConn(ctx context.Context, network string, packed []byte, q dnsmessage.Message) (*dnsmessage.Message, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, c.Server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}

	buf := make([]byte, MaxDNSReply)
	if network == "tcp" {
		msg := binary.BigEndian.AppendUint16(nil, uint16(len(packed)))
		if _, err := conn.Write(append(msg, packed...)); err != nil {
			return nil, err
		}
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return nil, err
		}
		buf = make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return nil, err
		}
		return parseReply(buf, q)
	}
	if _, err := conn.Write(packed); err != nil {
		return nil, err
	}
	for {
		// A datagram that is not the reply (another ID, a stray packet)
		// is skipped: someone guessing wrong must not end the query.
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if m, err := parseReply(buf[:n], q); err == nil {
			return m, nil
		}
	}
}

func parseReply(b []byte, q dnsmessage.Message) (*dnsmessage.Message, error) {
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		return nil, err
	}
	if !m.Header.Response || m.Header.ID != q.Header.ID || len(m.Questions) != 1 ||
		m.Questions[0].Type != q.Questions[0].Type ||
		!strings.EqualFold(m.Questions[0].Name.String(), q.Questions[0].Name.String()) {
		return nil, errMismatch
	}
	return &m, nil
}
