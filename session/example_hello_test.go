package session_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

func ExampleClient_HelloReply() {
	srv := smtptest.NewServer(smtptest.Config{Hostname: "mx.example.org", Extensions: []string{"8BITMIME", "SIZE 1000000"}})
	defer srv.Close()

	ctx := context.Background()
	c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: "client.example.org"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	// Send says EHLO on its own; its reply is kept.
	if _, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader("Hello.\r\n")); err != nil {
		log.Fatal(err)
	}
	for _, line := range c.HelloReply().Lines() {
		fmt.Println(line)
	}
	// Output:
	// mx.example.org greets client.example.org
	// 8BITMIME
	// SIZE 1000000
}

func ExampleClient_EhloAs() {
	srv := smtptest.NewServer(smtptest.Config{})
	defer srv.Close()

	ctx := context.Background()
	c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: "client.example.org"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	// How does the server answer a client that calls itself by an
	// address literal?
	reply, err := c.EhloAs(ctx, "[192.0.2.7]")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Lines()[0])
	fmt.Println(srv.Commands()[0])
	// Output:
	// smtptest.localhost greets [192.0.2.7]
	// EHLO [192.0.2.7]
}

func ExampleClient_HeloAs() {
	srv := smtptest.NewServer(smtptest.Config{})
	defer srv.Close()

	ctx := context.Background()
	c, err := session.Dial(ctx, srv.Addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	reply, err := c.HeloAs(ctx, "old-client.example.org")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply, c.ESMTP())
	// Output:
	// 250 smtptest.localhost greets old-client.example.org false
}
