package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/smtpkit/smtpkit/transport"
)

func ExampleParseAddress() {
	for _, s := range []string{
		"mail.example.org",
		"mail.example.org:2525",
		"[2001:db8::1]:25",
		"2001:db8::1",
		"bücher.example",
		"/var/run/dovecot/lmtp",
		"mail.example.org:smtp",
		"mail.example.org\r\nQUIT",
	} {
		a, err := transport.ParseAddress(s, transport.PortSubmission)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-5s %s\n", a.Network, a)
	}
	// Output:
	// tcp   mail.example.org:587
	// tcp   mail.example.org:2525
	// tcp   [2001:db8::1]:25
	// tcp   [2001:db8::1]:587
	// tcp   xn--bcher-kva.example:587
	// unix  /var/run/dovecot/lmtp
	// transport: address "mail.example.org:smtp": port "smtp" is not a number from 1 to 65535
	// transport: address "mail.example.org\r\nQUIT": space or control character '\r'
}

func ExampleDialer_DialContext() {
	// A stand-in mail server on loopback that greets and hangs up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(c, "220 mx.example ESMTP ready\r\n")
		c.Close()
	}()

	addr, err := transport.ParseAddress(ln.Addr().String(), transport.PortSMTP)
	if err != nil {
		fmt.Println(err)
		return
	}
	d := transport.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(context.Background(), addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	greeting, err := bufio.NewReader(conn).ReadString('\n')
	fmt.Printf("%q %v\n", greeting, err)
	// Output:
	// "220 mx.example ESMTP ready\r\n" <nil>
}

func ExampleHTTPConnect() {
	// A stand-in proxy on loopback that wants credentials.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
	}()

	d := transport.Dialer{
		Proxy: transport.HTTPConnect(ln.Addr().String(), http.Header{"Proxy-Authorization": {"Basic d3Jvbmc6d3Jvbmc="}}, nil),
	}
	_, err = d.DialContext(context.Background(), transport.Address{Host: "mx.example.org", Port: transport.PortSMTP})
	if pe, ok := errors.AsType[*transport.ProxyError](err); ok {
		fmt.Println(pe.Protocol, pe.Target, pe.StatusCode, errors.Is(err, transport.ErrProxyRefused))
	}
	// Output:
	// HTTP CONNECT mx.example.org:25 407 true
}

// staticResolver answers every MX lookup with the same records.
type staticResolver []*net.MX

func (r staticResolver) LookupMX(context.Context, string) ([]*net.MX, error) { return r, nil }

func ExampleLookupMX() {
	r := staticResolver{
		{Host: "backup.example.org.", Pref: 20},
		{Host: "mx1.example.org.", Pref: 10},
		{Host: "mx2.example.org.", Pref: 10},
	}
	// Equal preferences come back in random order; keep this example's
	// output stable with a shuffle that does nothing. Pass nil in real use.
	keep := func(int, func(i, j int)) {}
	mxs, err := transport.LookupMX(context.Background(), r, "example.org", keep)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mx := range mxs {
		fmt.Println(mx.Preference, mx.Host, mx.Address(transport.PortSMTP))
	}

	// A domain that publishes "0 ." accepts no mail (RFC 7505).
	_, err = transport.LookupMX(context.Background(), staticResolver{{Host: ".", Pref: 0}}, "no-mail.example", nil)
	fmt.Println(errors.Is(err, transport.ErrNullMX))
	fmt.Println(err)
	// Output:
	// 10 mx1.example.org mx1.example.org:25
	// 10 mx2.example.org mx2.example.org:25
	// 20 backup.example.org backup.example.org:25
	// true
	// transport: MX lookup for "no-mail.example": domain accepts no mail (null MX, RFC 7505)
}

func ExampleClientTLSConfig() {
	base := &tls.Config{MinVersion: tls.VersionTLS10} // RootCAs would go here
	cfg := transport.ClientTLSConfig(base, "mx.example.org")
	fmt.Println(cfg.ServerName, cfg.MinVersion == tls.VersionTLS12, cfg.InsecureSkipVerify)
	fmt.Println(base.ServerName == "", base.MinVersion == tls.VersionTLS10)
	// Output:
	// mx.example.org true false
	// true true
}

func ExampleStartTLS() {
	client, server := net.Pipe()
	defer server.Close()
	// A config without ServerName has nothing to check the certificate
	// against: StartTLS refuses it, and closes the connection.
	_, err := transport.StartTLS(context.Background(), client, &tls.Config{})
	fmt.Println(err)
	fmt.Println(errors.Is(err, transport.ErrNoServerName))
	// Output:
	// transport: TLS handshake: no tls.Config.ServerName to verify the certificate against
	// true
}

func ExampleSOCKS5() {
	// Find a loopback port with nothing listening, to stand for a proxy
	// that is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	proxyAddr := ln.Addr().String()
	ln.Close()

	d := transport.Dialer{
		Proxy:   transport.SOCKS5(proxyAddr, nil, nil), // or &proxy.Auth{User: ..., Password: ...}
		Timeout: 10 * time.Second,
	}
	_, err = d.DialContext(context.Background(), transport.Address{Host: "mx.example.org", Port: transport.PortSMTP})
	if pe, ok := errors.AsType[*transport.ProxyError](err); ok {
		fmt.Println(pe.Protocol, pe.Target, pe.Proxy == proxyAddr)
	}
	// Output:
	// SOCKS5 mx.example.org:25 true
}
