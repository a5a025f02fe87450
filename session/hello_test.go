package session_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// This file tests how a session opens: Dial and NewClient, the greeting,
// EHLO or HELO, and the local name the client gives.

func TestGreetingRefused(t *testing.T) {
	g := response.New(554, "5.3.2 no service for you")
	srv := newServer(t, smtptest.Config{Greeting: &g})
	c, err := session.Dial(testCtx(t), srv.Addr, nil)
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded")
	}
	var ce *session.ConnectError
	if !errors.As(err, &ce) || ce.Reply.Code != 554 {
		t.Fatalf("err = %#v", err)
	}
	var re *response.Error
	if !errors.As(err, &re) || re.Code() != 554 {
		t.Errorf("errors.As response.Error = %v", re)
	}
}

func TestConnectRefused(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	addr := srv.Addr
	srv.Close()
	_, err := session.Dial(testCtx(t), addr, nil)
	var ce *session.ConnectError
	if !errors.As(err, &ce) || ce.Err == nil {
		t.Fatalf("err = %#v", err)
	}
}

func TestNewClientOverOwnConn(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := session.NewClient(testCtx(t), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Greeting().Code != 220 {
		t.Errorf("greeting %v", c.Greeting())
	}
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader("x\r\n")); err != nil {
		t.Fatal(err)
	}
	if c.Conn() != conn {
		t.Error("Conn() is not the connection given")
	}
}

// TestDialDefaultPortsAndDialer checks the address Dial asks for, through
// a caller's dial function that then connects to smtptest: port 25 by
// default, 465 with implicit TLS, the port as written otherwise.
func TestDialDefaultPortsAndDialer(t *testing.T) {
	for _, tt := range []struct {
		addr string
		mode session.TLSMode
		want string
	}{
		{"mx.example.org", session.TLSOpportunistic, "mx.example.org:25"},
		{"mx.example.org:587", session.TLSRequired, "mx.example.org:587"},
		{"[2001:db8::1]", session.TLSOff, "[2001:db8::1]:25"},
		{"localhost", session.TLSImplicit, "localhost:465"},
	} {
		t.Run(tt.addr, func(t *testing.T) {
			cfg := smtptest.Config{ImplicitTLS: tt.mode == session.TLSImplicit}
			if tt.mode == session.TLSRequired {
				cfg.Extensions = tlsExtensions
			}
			srv := newServer(t, cfg)
			var asked []string
			d := &transport.Dialer{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
				asked = append(asked, network+" "+address)
				var nd net.Dialer
				return nd.DialContext(ctx, "tcp", srv.Addr)
			}}
			tc := srv.ClientTLSConfig()
			tc.ServerName = "localhost"
			c, err := session.Dial(testCtx(t), tt.addr, &session.Options{TLS: tt.mode, TLSConfig: tc, Dialer: d})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader("x\r\n")); err != nil {
				t.Fatal(err)
			}
			if len(asked) != 1 || asked[0] != "tcp "+tt.want {
				t.Errorf("dialled %q, want %q", asked, "tcp "+tt.want)
			}
			_, isTLS := c.TLS()
			if want := tt.mode == session.TLSImplicit || tt.mode == session.TLSRequired; isTLS != want {
				t.Errorf("TLS = %v, want %v", isTLS, want)
			}
		})
	}
}

func TestHello(t *testing.T) {
	tests := []struct {
		name      string
		cfg       smtptest.Config
		wantErr   int // reply code of a *HelloError, 0 for success
		wantVerbs []string
		esmtp     bool
	}{
		{name: "EHLO", wantVerbs: []string{"EHLO"}, esmtp: true},
		{name: "HELO fallback on 502", cfg: smtptest.Config{DisableEHLO: true}, wantVerbs: []string{"EHLO", "HELO"}},
		{
			name:      "HELO fallback on 500",
			cfg:       smtptest.Config{Overrides: []smtptest.Override{{Verb: "EHLO", Reply: response.New(500, "5.5.1 what")}}},
			wantVerbs: []string{"EHLO", "HELO"},
		},
		{
			name:      "421 is reported, not hidden behind HELO",
			cfg:       smtptest.Config{Overrides: []smtptest.Override{{Verb: "EHLO", Reply: response.New(421, "4.3.2 going down")}}},
			wantErr:   421,
			wantVerbs: []string{"EHLO"},
		},
		{
			name:      "550 is reported, not hidden behind HELO",
			cfg:       smtptest.Config{Overrides: []smtptest.Override{{Verb: "EHLO", Reply: response.New(550, "5.7.1 go away")}}},
			wantErr:   550,
			wantVerbs: []string{"EHLO"},
		},
		{
			name: "HELO refused too",
			cfg: smtptest.Config{DisableEHLO: true, Overrides: []smtptest.Override{
				{Verb: "HELO", Reply: response.New(501, "5.5.4 bad name")}}},
			wantErr:   501,
			wantVerbs: []string{"EHLO", "HELO"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.cfg)
			c := dial(t, srv, &session.Options{LocalName: "client.example.org"})
			err := c.Hello(testCtx(t))
			if tt.wantErr == 0 && err != nil {
				t.Fatalf("Hello: %v", err)
			}
			if tt.wantErr != 0 {
				var he *session.HelloError
				if !errors.As(err, &he) || he.Reply.Code != response.Code(tt.wantErr) {
					t.Fatalf("Hello err = %#v, want HelloError %d", err, tt.wantErr)
				}
			}
			if got := strings.Join(verbs(srv), " "); got != strings.Join(tt.wantVerbs, " ") {
				t.Errorf("commands %q, want verbs %q", srv.Commands(), tt.wantVerbs)
			}
			if c.ESMTP() != tt.esmtp {
				t.Errorf("ESMTP() = %v", c.ESMTP())
			}
			if tt.wantErr == 0 && srv.Commands()[len(srv.Commands())-1] != tt.wantVerbs[len(tt.wantVerbs)-1]+" client.example.org" {
				t.Errorf("hello line %q", srv.Commands())
			}
		})
	}
}

func TestLocalNameDefault(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dial(t, srv, nil)
	if err := c.Hello(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	line := srv.Commands()[0]
	name := strings.TrimPrefix(line, "EHLO ")
	if name == line || name == "" {
		t.Fatalf("EHLO line %q", line)
	}
	// Either an FQDN from the host name or the loopback address literal.
	if !strings.Contains(name, ".") && name != "[127.0.0.1]" {
		t.Errorf("local name %q is neither an FQDN nor an address literal", name)
	}
}
