package deliver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/smtpkit/smtpkit/internal/dnstest"
)

func TestDNSClientAnswers(t *testing.T) {
	srv := dnstest.NewServer()
	defer srv.Close()
	srv.AddMX("example.test", 10, "mx.example.test")
	srv.AddTXT("insecure.test", "hello")
	srv.SetInsecure("insecure.test")
	c := &DNSClient{Server: srv.Addr, Timeout: time.Second}
	ctx := context.Background()

	ans, err := c.Query(ctx, "example.test", dnsmessage.TypeMX)
	if err != nil || ans.RCode != dnsmessage.RCodeSuccess || !ans.Authenticated || len(ans.Records) != 1 {
		t.Fatalf("MX: %+v, %v; want one authenticated record", ans, err)
	}
	ans, err = c.Query(ctx, "insecure.test", dnsmessage.TypeTXT)
	if err != nil || ans.Authenticated || len(ans.Records) != 1 {
		t.Fatalf("TXT: %+v, %v; want one record, not authenticated", ans, err)
	}
	ans, err = c.Query(ctx, "nowhere.test", dnsmessage.TypeA)
	if err != nil || ans.RCode != dnsmessage.RCodeNameError || !ans.Authenticated {
		t.Fatalf("nowhere: %+v, %v; want an authenticated NXDOMAIN", ans, err)
	}
	ans, err = c.Query(ctx, "example.test", dnsmessage.TypeA)
	if err != nil || ans.RCode != dnsmessage.RCodeSuccess || len(ans.Records) != 0 {
		t.Fatalf("NODATA: %+v, %v", ans, err)
	}

	srv.SetRCode("broken.test", TypeTLSA, dnsmessage.RCodeServerFailure)
	_, err = c.Query(ctx, "broken.test", TypeTLSA)
	var de *DNSError
	if !errors.As(err, &de) || de.RCode != dnsmessage.RCodeServerFailure {
		t.Fatalf("SERVFAIL: err %v, want a *DNSError with SERVFAIL", err)
	}
	if !strings.Contains(err.Error(), "broken.test") {
		t.Errorf("error %q does not name the question", err)
	}
}

func TestDNSClientTruncatedRetriesOverTCP(t *testing.T) {
	srv := dnstest.NewServer()
	defer srv.Close()
	for i := range 40 {
		srv.AddTXT("big.test", fmt.Sprintf("record %02d %s", i, strings.Repeat("x", 100)))
	}
	srv.SetUDPLimit(512)
	c := &DNSClient{Server: srv.Addr, Timeout: time.Second}
	ans, err := c.Query(context.Background(), "big.test", dnsmessage.TypeTXT)
	if err != nil || len(ans.Records) != 40 {
		t.Fatalf("got %v records, err %v; want 40 over TCP", ans, err)
	}
	qs := srv.Queries()
	if len(qs) != 2 || qs[0].Network != "udp" || qs[1].Network != "tcp" {
		t.Errorf("queries %+v, want UDP then TCP", qs)
	}
}

func TestDNSClientTimeout(t *testing.T) {
	// A UDP socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := &DNSClient{Server: pc.LocalAddr().String(), Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err = c.Query(context.Background(), "example.test", dnsmessage.TypeA)
	var de *DNSError
	if !errors.As(err, &de) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a *DNSError wrapping the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v for two 100ms attempts", d)
	}
}

// A reply with another ID is not taken for the answer (a spoofing guard).
func TestDNSClientIgnoresWrongID(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			bad := dnsmessage.Message{Header: dnsmessage.Header{ID: q.Header.ID + 1, Response: true}, Questions: q.Questions,
				Answers: []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}, Body: &dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}}}}}
			out, _ := bad.Pack()
			pc.WriteTo(out, from)
			good := dnsmessage.Message{Header: dnsmessage.Header{ID: q.Header.ID, Response: true, RCode: dnsmessage.RCodeNameError}, Questions: q.Questions}
			out, _ = good.Pack()
			pc.WriteTo(out, from)
		}
	}()
	c := &DNSClient{Server: pc.LocalAddr().String(), Timeout: time.Second}
	ans, err := c.Query(context.Background(), "example.test", dnsmessage.TypeA)
	if err != nil || ans.RCode != dnsmessage.RCodeNameError || len(ans.Records) != 0 {
		t.Fatalf("got %+v, %v; want the NXDOMAIN with the right ID", ans, err)
	}
}
