// Package dnstest runs a DNS server inside a test process, on 127.0.0.1, over
// UDP and TCP on the same port, as net/http/httptest does for HTTP. It
// answers from a table the test fills (MX, A, AAAA, TXT, TLSA, CNAME), sets
// the AD bit (RFC 4035 §3.2.3) as the test says, as a validating resolver
// would, returns the RCODE a test asks for (SERVFAIL for a broken zone), and
// truncates UDP replies past a size the test sets, so that clients must
// retry over TCP (RFC 7766).
//
// It is a test fixture, not a name server: no zones, no delegation, no
// wildcards. A name with records answers NOERROR (with no records when it
// has none of the type asked for: NODATA); a name without answers NXDOMAIN.
// CNAMEs are followed within the table, at most 8 deep.
package dnstest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// TypeTLSA is the TLSA record type (RFC 6698 §7.1), which dnsmessage does not name.
const TypeTLSA dnsmessage.Type = 52

// Query is one question the server was asked.
type Query struct {
	Network string // "udp" or "tcp"
	Name    string // as asked, with its trailing dot
	Type    dnsmessage.Type
}

// Server is a running test DNS server. Create one with NewServer; stop it
// with Close. Its methods may be called from any goroutine at any time.
type Server struct {
	// Addr is "127.0.0.1:port", where it listens for both UDP and TCP.
	Addr string

	udp net.PacketConn
	tcp net.Listener
	wg  sync.WaitGroup

	mu       sync.Mutex
	records  map[string][]dnsmessage.Resource // by canonical name
	rcodes   map[key]dnsmessage.RCode
	insecure map[string]bool
	udpLimit int
	queries  []Query
}

type key struct {
	name string
	t    dnsmessage.Type
}

// NewServer starts a server on a random port of 127.0.0.1, UDP and TCP. It
// panics when it cannot listen, as httptest.NewServer does.
func NewServer() *Server {
	for range 10 {
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic("dnstest: " + err.Error())
		}
		udp, err := net.ListenPacket("udp", tcp.Addr().String())
		if err != nil {
			tcp.Close() // the port is taken for UDP: try another
			continue
		}
		s := &Server{
			Addr:     tcp.Addr().String(),
			udp:      udp,
			tcp:      tcp,
			records:  map[string][]dnsmessage.Resource{},
			rcodes:   map[key]dnsmessage.RCode{},
			insecure: map[string]bool{},
			udpLimit: 1232,
		}
		s.wg.Add(2)
		go s.serveUDP()
		go s.serveTCP()
		return s
	}
	panic("dnstest: no port free for both UDP and TCP")
}

// Close stops the server and waits for its goroutines.
func (s *Server) Close() {
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
}

func canonical(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// Add adds a record for name with a TTL of 300 seconds.
func (s *Server) Add(name string, body dnsmessage.ResourceBody) {
	n := canonical(name)
	rr := dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(n), Type: typeOf(body), Class: dnsmessage.ClassINET, TTL: 300},
		Body:   body,
	}
	s.mu.Lock()
	s.records[n] = append(s.records[n], rr)
	s.mu.Unlock()
}

// AddMX adds an MX record; host "." is the null MX of RFC 7505.
func (s *Server) AddMX(name string, pref uint16, host string) {
	s.Add(name, &dnsmessage.MXResource{Pref: pref, MX: dnsmessage.MustNewName(canonical(host))})
}

// AddAddr adds an A or AAAA record, by the address's family.
func (s *Server) AddAddr(name, addr string) {
	ip := netip.MustParseAddr(addr)
	if ip.Is4() {
		s.Add(name, &dnsmessage.AResource{A: ip.As4()})
		return
	}
	s.Add(name, &dnsmessage.AAAAResource{AAAA: ip.As16()})
}

// AddTXT adds one TXT record made of the strings txt.
func (s *Server) AddTXT(name string, txt ...string) {
	s.Add(name, &dnsmessage.TXTResource{TXT: txt})
}

// AddCNAME adds a CNAME from name to target.
func (s *Server) AddCNAME(name, target string) {
	s.Add(name, &dnsmessage.CNAMEResource{CNAME: dnsmessage.MustNewName(canonical(target))})
}

// AddTLSA adds a TLSA record (RFC 6698 §2.1).
func (s *Server) AddTLSA(name string, usage, selector, matching uint8, data []byte) {
	s.Add(name, &dnsmessage.UnknownResource{Type: TypeTLSA, Data: append([]byte{usage, selector, matching}, data...)})
}

// SetRCode makes questions for name and type t answer rcode, with no
// records (dnsmessage.RCodeServerFailure is what a validating resolver
// says for a bogus answer, RFC 4035 §5.5).
func (s *Server) SetRCode(name string, t dnsmessage.Type, rcode dnsmessage.RCode) {
	s.mu.Lock()
	s.rcodes[key{canonical(name), t}] = rcode
	s.mu.Unlock()
}

// SetInsecure marks name as not signed: answers that involve it carry no
// AD bit. Every other name is answered as secure.
func (s *Server) SetInsecure(name string) {
	s.mu.Lock()
	s.insecure[canonical(name)] = true
	s.mu.Unlock()
}

// SetUDPLimit sets the largest UDP reply; a larger one is sent with no
// records and the TC bit set. The default is 1232 octets; the client's
// EDNS0 size, when smaller, is used instead (512 without EDNS0).
func (s *Server) SetUDPLimit(n int) {
	s.mu.Lock()
	s.udpLimit = n
	s.mu.Unlock()
}

// Queries returns the questions asked so far, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		reply, ok := s.answer("udp", buf[:n])
		if ok {
			s.udp.WriteTo(reply, from)
		}
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			for {
				// A client gets 5 seconds per question, and a question
				// is at most 64 KiB by its length prefix.
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				msg := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, msg); err != nil {
					return
				}
				reply, ok := s.answer("tcp", msg)
				if !ok {
					return
				}
				out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
				if _, err := c.Write(append(out, reply...)); err != nil {
					return
				}
			}
		}()
	}
}

// answer builds the reply to one query; false means drop it.
func (s *Server) answer(network string, query []byte) ([]byte, bool) {
	var q dnsmessage.Message
	if err := q.Unpack(query); err != nil || q.Header.Response || len(q.Questions) != 1 {
		return nil, false
	}
	question := q.Questions[0]
	name := canonical(question.Name.String())
	limit := 512
	for _, rr := range q.Additionals {
		if rr.Header.Type == dnsmessage.TypeOPT {
			limit = max(int(rr.Header.Class), 512)
		}
	}

	s.mu.Lock()
	s.queries = append(s.queries, Query{Network: network, Name: question.Name.String(), Type: question.Type})
	limit = min(limit, s.udpLimit)
	reply := dnsmessage.Message{
		Header: dnsmessage.Header{
			ID: q.Header.ID, Response: true, Authoritative: false,
			RecursionDesired: q.Header.RecursionDesired, RecursionAvailable: true,
		},
		Questions: q.Questions,
	}
	secure := !s.insecure[name]
	if rc, ok := s.rcodes[key{name, question.Type}]; ok {
		reply.Header.RCode = rc
		secure = false
	} else {
		reply.Header.RCode = dnsmessage.RCodeNameError
		for range 8 {
			rrs, exists := s.records[name]
			if !exists {
				break
			}
			reply.Header.RCode = dnsmessage.RCodeSuccess
			var next string
			for _, rr := range rrs {
				switch {
				case rr.Header.Type == question.Type:
					reply.Answers = append(reply.Answers, rr)
				case rr.Header.Type == dnsmessage.TypeCNAME:
					reply.Answers = append(reply.Answers, rr)
					next = canonical(rr.Body.(*dnsmessage.CNAMEResource).CNAME.String())
				}
			}
			if next == "" {
				break
			}
			name = next
			secure = secure && !s.insecure[name]
			reply.Header.RCode = dnsmessage.RCodeNameError
		}
	}
	reply.Header.AuthenticData = secure
	s.mu.Unlock()

	out, err := reply.Pack()
	if err != nil {
		return nil, false
	}
	if network == "udp" && len(out) > limit {
		reply.Header.Truncated = true
		reply.Answers = nil
		if out, err = reply.Pack(); err != nil {
			return nil, false
		}
	}
	return out, true
}

func typeOf(body dnsmessage.ResourceBody) dnsmessage.Type {
	switch b := body.(type) {
	case *dnsmessage.AResource:
		return dnsmessage.TypeA
	case *dnsmessage.AAAAResource:
		return dnsmessage.TypeAAAA
	case *dnsmessage.MXResource:
		return dnsmessage.TypeMX
	case *dnsmessage.TXTResource:
		return dnsmessage.TypeTXT
	case *dnsmessage.CNAMEResource:
		return dnsmessage.TypeCNAME
	case *dnsmessage.NSResource:
		return dnsmessage.TypeNS
	case *dnsmessage.UnknownResource:
		return b.Type
	}
	panic("dnstest: unsupported record type")
}
