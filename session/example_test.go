package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

func ExampleClient_Send() {
	// A test server that refuses one recipient.
	srv := smtptest.NewServer(smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<nobody@", Reply: response.New(550, "5.1.1 no such user")},
	}})
	defer srv.Close()

	ctx := context.Background()
	c, err := session.Dial(ctx, srv.Addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	msg := "From: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
	res, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org", "nobody@example.org"}, strings.NewReader(msg))
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.Recipients {
		fmt.Printf("%s: accepted=%v %d %s\n", r.Address, r.Accepted, r.Reply.Code, r.Reply.Enhanced)
	}
	fmt.Printf("message: %d\n", res.Data.Code)
	fmt.Printf("server received %q\n", srv.Messages()[0].Data)
	// Output:
	// bob@example.org: accepted=true 250 2.1.5
	// nobody@example.org: accepted=false 550 5.1.1
	// message: 250
	// server received "From: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
}

func ExampleClient_Send_allRefused() {
	srv := smtptest.NewServer(smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Reply: response.New(450, "4.2.1 mailbox busy, try later")},
	}})
	defer srv.Close()

	ctx := context.Background()
	c, err := session.Dial(ctx, srv.Addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	_, err = c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader("Hello.\r\n"))
	var refused *session.RecipientsRefusedError
	if errors.As(err, &refused) {
		for _, r := range refused.Recipients {
			fmt.Println(r.Address, int(r.Reply.Code), r.Reply.Message())
		}
	}
	var re *response.Error
	if errors.As(err, &re) && re.Temporary() {
		fmt.Println("temporary: queue and retry")
	}
	// Output:
	// bob@example.org 450 mailbox busy, try later
	// temporary: queue and retry
}

func ExampleClient_Login() {
	srv := smtptest.NewServer(smtptest.Config{
		Extensions: append(smtptest.DefaultExtensions(), "STARTTLS", "AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS"),
		Users:      map[string]string{"alice": "correct horse"},
	})
	defer srv.Close()

	ctx := context.Background()
	// STARTTLS is used because it is offered; the test server's
	// certificate is trusted through its TLS config.
	c, err := session.Dial(ctx, srv.Addr, &session.Options{TLSConfig: srv.ClientTLSConfig()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	var ae *session.AuthError
	if err := c.Login(ctx, "alice", "wrong"); errors.As(err, &ae) {
		fmt.Println("refused:", ae.Mechanism, int(ae.Reply.Code))
	}
	if err := c.Login(ctx, "alice", "correct horse"); err != nil {
		log.Fatal(err)
	}
	for _, line := range srv.Commands() {
		if strings.HasPrefix(line, "AUTH") {
			fmt.Println(strings.Fields(line)[:2])
		}
	}
	// Output:
	// refused: SCRAM-SHA-256-PLUS 535
	// [AUTH SCRAM-SHA-256-PLUS]
	// [AUTH SCRAM-SHA-256-PLUS]
}
