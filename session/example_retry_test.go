package session_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

func ExampleTemporary() {
	// A server that is busy for bob, and does not know carol.
	srv := smtptest.NewServer(smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<bob@", Reply: response.New(450, "4.2.1 mailbox busy")},
		{Verb: "RCPT", Match: "<carol@", Reply: response.New(550, "5.1.1 no such user")},
	}})
	defer srv.Close()

	ctx := context.Background()
	for _, to := range []string{"bob@example.org", "carol@example.org"} {
		_, err := session.SendMail(ctx, srv.Addr, nil, nil, "alice@example.org", []string{to}, strings.NewReader("Hello.\r\n"))
		switch {
		case err == nil:
			fmt.Println(to, "sent")
		case session.Temporary(err):
			fmt.Println(to, "queued for later")
		default: // session.Permanent(err)
			fmt.Println(to, "bounced")
		}
	}
	// Output:
	// bob@example.org queued for later
	// carol@example.org bounced
}

func ExamplePermanent() {
	// The server's SIZE limit is 1000 octets: the message is refused
	// before it is sent, and will be refused as often as it is tried.
	srv := smtptest.NewServer(smtptest.Config{Extensions: []string{"SIZE 1000"}})
	defer srv.Close()

	big := strings.Repeat("All work and no play makes Jack a dull boy.\r\n", 100)
	_, err := session.SendMail(context.Background(), srv.Addr, nil, nil, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(big))
	fmt.Println(session.Permanent(err), session.Temporary(err))
	fmt.Println(err)
	// Output:
	// true false
	// session: message of 4500 octets exceeds the server's SIZE limit of 1000
}
