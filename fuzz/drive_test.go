package fuzz_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/smtptest"
	"pgregory.net/rapid"
)

// storedIn returns a Driver.Stored that looks in srv's messages.
func storedIn(srv *smtptest.Server) func(context.Context, string) ([]byte, error) {
	return func(_ context.Context, token string) ([]byte, error) {
		for _, m := range srv.Messages() {
			if bytes.Contains(m.Data, []byte(fuzz.TokenField+": "+token+"\r\n")) {
				return m.Data, nil
			}
		}
		return nil, os.ErrNotExist
	}
}

func dialer(addr string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// smtptest is a conforming server: no session, hostile or not, pipelined
// or chunked, SMTP or LMTP, finds anything, and every message accepted
// is stored as Normalise of its body.
func TestDriverFindsNothingInSmtptest(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    fuzz.Features
	}{
		{"sequential", fuzz.Features{}},
		{"pipelined", fuzz.Features{Pipelining: true, Chunking: true, SMTPUTF8: true}},
		{"raw data", fuzz.Features{Pipelining: true, Chunking: true, RawData: true}},
		{"hostile", fuzz.Features{Pipelining: true, Chunking: true, Hostile: true}},
		{"LMTP", fuzz.Features{LMTP: true, Pipelining: true, Chunking: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.NewServer(smtptest.Config{LMTP: tc.f.LMTP})
			defer srv.Close()
			d := &fuzz.Driver{Dial: dialer(srv.Addr), Timeout: 5 * time.Second, LMTP: tc.f.LMTP, Stored: storedIn(srv)}
			rapid.Check(t, func(t *rapid.T) {
				s := fuzz.Session(tc.f).Draw(t, "session")
				d.Transcript = func(l string) { t.Log(l) }
				if err := d.Run(context.Background(), s); err != nil {
					t.Fatal(err)
				}
			})
			// The sessions got as far as delivering messages.
			if n := len(srv.Messages()); n < 20 {
				t.Errorf("%d messages stored by 100 sessions", n)
			}
		})
	}
}

// The driver found smtptest quoting a client's long bad parameter into
// its 501 reply whole, a reply line over RFC 5321's 512 octets
// (§4.5.3.1.5); smtptest now cuts such a line short. A line cut inside a
// UTF-8 rune is answered strictly too.
func TestSmtptestRepliesToHostileLinesStayStrict(t *testing.T) {
	srv := smtptest.NewServer(smtptest.Config{})
	defer srv.Close()
	d := &fuzz.Driver{Dial: dialer(srv.Addr), Timeout: 5 * time.Second}
	for _, line := range []string{
		"MAIL FROM:<> SMTPUT\xc3",
		"MAIL FROM:<> SMTP" + strings.Repeat("a", 520),
	} {
		s := fuzz.ClientSession{Groups: []fuzz.Group{
			{{Verb: "EHLO", Line: "EHLO client.example\r\n"}},
			{{Line: line + "\r\n"}},
			{{Verb: "QUIT", Line: "QUIT\r\n"}},
		}}
		if err := d.Run(context.Background(), s); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
}
