package main

import (
	"crypto/sha256"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/internal/dnstest"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

// mxWorld is example.test's MX on 127.0.0.1, an smtptest server, and
// remote.test's MX on an address that is not loopback.
func mxWorld(t *testing.T) (dns *dnstest.Server, srv *smtptest.Server, port string) {
	srv = newServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "nobody@", Reply: response.New(550, "5.1.1 No such user")},
	}})
	_, port, _ = net.SplitHostPort(srv.Addr)
	dns = dnstest.NewServer()
	t.Cleanup(dns.Close)
	dns.AddMX("example.test", 10, "mx.example.test")
	dns.AddAddr("mx.example.test", "127.0.0.1")
	dns.AddMX("remote.test", 10, "mx.remote.test")
	dns.AddAddr("mx.remote.test", "192.0.2.1")
	return dns, srv, port
}

func TestSendMX(t *testing.T) {
	dns, srv, port := mxWorld(t)
	r := smtpkit(t, nil, "send", "--mx", "--dns", dns.Addr, "--mx-port", port, "--from", "a@sender.test",
		"--to", "bob@example.test", "--to", "nobody@example.test", "--to", "carol@remote.test")
	r.want(t, exitPartial)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("stdout:\n%s\nwant one line per recipient", r.stdout)
	}
	for i, want := range []string{
		"bob@example.test: delivered via mx.example.test [127.0.0.1:" + port + "], no-policy-found, plaintext: 250 2.0.0",
		"nobody@example.test: refused via mx.example.test [127.0.0.1:" + port + "], no-policy-found, plaintext: 550 5.1.1 No such user",
		"carol@remote.test: deferred via mx.remote.test [192.0.2.1:" + port + "]",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d = %q, want it to start %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[2], "--allow-remote") {
		t.Errorf("%q does not say how to deliver beyond loopback", lines[2])
	}
	if msgs := srv.Messages(); len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "bob@example.test" {
		t.Errorf("server got %+v", msgs)
	}
}

func TestSendMXJSON(t *testing.T) {
	dns, _, port := mxWorld(t)
	r := smtpkit(t, nil, "send", "--mx", "--json", "--dns", dns.Addr, "--mx-port", port, "--to", "bob@example.test")
	r.want(t, exitOK)
	var out struct {
		Recipients []mxJSON `json:"recipients"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Recipients) != 1 || out.Recipients[0].Outcome != "delivered" || out.Recipients[0].Reply == nil || out.Recipients[0].Reply.Code != 250 || out.Recipients[0].Error != nil {
		t.Errorf("got %+v", out.Recipients)
	}
}

func TestSendMXUsage(t *testing.T) {
	for _, args := range [][]string{
		{"send", "--mx", "--server", "127.0.0.1:25", "--to", "a@b.test"},
		{"send", "--mx", "--lmtp", "--to", "a@b.test"},
		{"send", "--mx", "--dns", "not-an-address", "--to", "a@b.test"},
		{"send", "--mx", "--mx-port", "0", "--to", "a@b.test"},
	} {
		r := smtpkit(t, nil, args...)
		r.want(t, exitUsage)
		r.oneErrorLine(t, "--")
	}
}

func TestSendMXDANE(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: append(smtptest.DefaultExtensions(), "STARTTLS")})
	_, port, _ := net.SplitHostPort(srv.Addr)
	dns := dnstest.NewServer()
	t.Cleanup(dns.Close)
	dns.AddMX("example.test", 10, "mx.example.test")
	dns.AddAddr("mx.example.test", "127.0.0.1")
	spki := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	dns.AddTLSA("_"+port+"._tcp.mx.example.test", 3, 1, 1, spki[:])
	r := smtpkit(t, nil, "send", "--mx", "--dns", dns.Addr, "--mx-port", port, "--to", "bob@example.test")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "bob@example.test: delivered via mx.example.test [127.0.0.1:"+port+"], tlsa, TLS 1.3 verified: 250") {
		t.Errorf("stdout %q", r.stdout)
	}

	// A record for another key: not delivered, and the line says why.
	dns2 := dnstest.NewServer()
	t.Cleanup(dns2.Close)
	dns2.AddMX("example.test", 10, "mx.example.test")
	dns2.AddAddr("mx.example.test", "127.0.0.1")
	dns2.AddTLSA("_"+port+"._tcp.mx.example.test", 3, 1, 1, make([]byte, 32))
	r = smtpkit(t, nil, "send", "--mx", "--dns", dns2.Addr, "--mx-port", port, "--to", "bob@example.test")
	r.want(t, exitFailed)
	if !strings.Contains(r.stdout, "deferred") || !strings.Contains(r.stdout, "validation-failure") {
		t.Errorf("stdout %q", r.stdout)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server got %d messages, want only the first", n)
	}
}
