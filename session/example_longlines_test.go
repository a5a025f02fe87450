package session_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// A message with a line of 1,500 octets (RFC 5322 allows 998): refused
// before MAIL by default, folded with LongLinesFold.
func ExampleOptions_longLines() {
	srv := smtptest.NewServer(smtptest.Config{})
	defer srv.Close()
	ctx := context.Background()
	msg := "Subject: long\r\n\r\n" + strings.Repeat("x", 1500) + "\r\n"

	c, err := session.Dial(ctx, srv.Addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(msg))
	var long *session.LineTooLongError
	if errors.As(err, &long) {
		fmt.Printf("refused: line %d is %d octets, the limit %d; the server saw %d messages\n", long.Line, long.Length, long.Limit, len(srv.Messages()))
	}
	c.Quit(ctx)

	c, err = session.Dial(ctx, srv.Addr, &session.Options{LongLines: session.LongLinesFold})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Quit(ctx)
	if _, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(msg)); err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(srv.Messages()[0].Data), "\r\n") {
		fmt.Printf("%d octets: %.4q\n", len(line), line)
	}
	// Output:
	// refused: line 3 is 1500 octets, the limit 998; the server saw 0 messages
	// 13 octets: "Subj"
	// 0 octets: ""
	// 998 octets: "xxxx"
	// 503 octets: " xxx"
	// 0 octets: ""
}
