package lmtp_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

func ExampleOutcomeOf() {
	// A test LMTP server: bob's mailbox is full, nobody does not exist.
	srv := smtptest.NewServer(smtptest.Config{LMTP: true, Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<nobody@", Reply: response.New(550, "5.1.1 No such user")},
		{Verb: smtptest.EndOfData, Match: "<bob@", Reply: response.New(452, "4.2.2 Mailbox full")},
	}})
	defer srv.Close()

	ctx := context.Background()
	c, err := lmtp.Dial(ctx, srv.Addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)

	msg := "From: sender@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
	res, err := c.Send(ctx, "sender@example.net",
		[]string{"alice@example.org", "bob@example.org", "nobody@example.org"}, strings.NewReader(msg))
	if err != nil {
		log.Fatal(err) // partial delivery is not an error
	}
	for _, r := range res.Recipients {
		switch o := lmtp.OutcomeOf(r); o {
		case lmtp.Refused:
			fmt.Printf("%s: %s (%d %s)\n", r.Address, o, r.Reply.Code, r.Reply.Enhanced)
		default:
			fmt.Printf("%s: %s (%d %s)\n", r.Address, o, r.Data.Code, r.Data.Enhanced)
		}
	}
	// Output:
	// alice@example.org: delivered (250 2.1.5)
	// bob@example.org: temporary failure (452 4.2.2)
	// nobody@example.org: refused (550 5.1.1)
}
