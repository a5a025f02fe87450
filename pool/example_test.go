package pool_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

func Example() {
	// A server that takes 10 messages per connection, as Exim's
	// smtp_accept_max_per_connection does, and says so with LIMITS.
	srv := smtptest.NewServer(smtptest.Config{
		Extensions:               append(smtptest.DefaultExtensions(), "LIMITS MAILMAX=10"),
		MaxMessagesPerConnection: 10,
	})
	defer srv.Close()

	p, err := pool.New(srv.Addr, &pool.Options{MaxConnections: 4})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// 8 goroutines send 50 messages in all over at most 4 connections.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < 50; i += 8 {
				body := fmt.Sprintf("Subject: message %d\r\n\r\nHello.\r\n", i)
				if _, err := p.Send(ctx, "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body)); err != nil {
					log.Printf("message %d: %v (%v)", i, err, pool.OutcomeOf(err))
				}
			}
		})
	}
	wg.Wait()
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}

	s := p.Stats()
	fmt.Println("delivered:", s.Delivered, "received:", len(srv.Messages()))
	fmt.Println("retried:", s.Retries, "unknown:", s.Unknown)
	fmt.Println("at most 10 per connection:", s.Dials >= 5)
	// Output:
	// delivered: 50 received: 50
	// retried: 0 unknown: 0
	// at most 10 per connection: true
}

func ExamplePool_SendStream() {
	srv := smtptest.NewServer(smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<nobody@", Reply: response.New(550, "5.1.1 no such user")},
	}})
	defer srv.Close()
	p, err := pool.New(srv.Addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(context.Background())

	from := command.Mailbox{Local: "news", Domain: "example.org"}
	var msgs []*session.Message
	for _, rcpt := range []string{"ann", "bob", "nobody", "cid"} {
		msgs = append(msgs, &session.Message{
			Envelope: session.Envelope{From: from, To: []command.Mailbox{{Local: rcpt, Domain: "example.net"}}},
			Body:     strings.NewReader("Subject: news\r\n\r\nHello, " + rcpt + ".\r\n"),
		})
	}
	// The outcomes come in the order of the messages, whichever
	// connection sent each.
	i := 0
	for _, err := range p.SendStream(context.Background(), slices.Values(msgs)) {
		var refused *session.RecipientsRefusedError
		switch {
		case err == nil:
			fmt.Println(msgs[i].Envelope.To[0], "delivered")
		case errors.As(err, &refused):
			fmt.Println(msgs[i].Envelope.To[0], pool.OutcomeOf(err), int(refused.Recipients[0].Reply.Code))
		default:
			fmt.Println(msgs[i].Envelope.To[0], pool.OutcomeOf(err), err)
		}
		i++
	}
	// Output:
	// ann@example.net delivered
	// bob@example.net delivered
	// nobody@example.net refused 550
	// cid@example.net delivered
}
