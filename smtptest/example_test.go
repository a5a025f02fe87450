package smtptest_test

import (
	"fmt"
	"io"
	"log"
	"net"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/wire"
)

// A test starts a server, points the client under test at srv.Addr, and
// looks at what the server received. Here the client is a bare connection.
func Example() {
	srv := smtptest.NewServer(smtptest.Config{
		Overrides: []smtptest.Override{
			{Verb: "RCPT", Match: "nobody@", Reply: response.New(550, "5.1.1 No such user")},
		},
	})
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	r := wire.NewReader(conn)
	say := func(data string) {
		io.WriteString(conn, data)
		reply, err := r.ReadReply()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(int(reply.Code), reply.Lines()[0])
	}

	say("") // the greeting
	say("EHLO client.example\r\n")
	say("MAIL FROM:<alice@example.org>\r\n")
	say("RCPT TO:<nobody@example.net>\r\n")
	say("RCPT TO:<bob@example.net>\r\n")
	say("DATA\r\n")
	say("Subject: hello\r\n\r\n..a line that starts with a dot\r\n.\r\n")
	say("QUIT\r\n")

	for _, m := range srv.Messages() {
		fmt.Printf("from %s to %v: %q\n", m.From, m.To, m.Data)
	}
	fmt.Println(srv.Commands()[2])

	// Output:
	// 220 smtptest.localhost ESMTP smtptest
	// 250 smtptest.localhost greets client.example
	// 250 2.1.0 OK
	// 550 5.1.1 No such user
	// 250 2.1.5 OK
	// 354 End data with <CR><LF>.<CR><LF>
	// 250 2.0.0 OK queued
	// 221 2.0.0 smtptest.localhost closing connection
	// from alice@example.org to [bob@example.net]: "Subject: hello\r\n\r\n.a line that starts with a dot\r\n"
	// RCPT TO:<nobody@example.net>
}

// Faults break the connection on purpose, to test how a client copes.
// Here the server dies in the middle of its reply to EHLO.
func ExampleCloseAfterWrite() {
	greeting := "220 smtptest.localhost ESMTP smtptest\r\n"
	srv := smtptest.NewServer(smtptest.Config{
		Faults: []smtptest.Fault{smtptest.CloseAfterWrite(int64(len(greeting)) + 10)},
	})
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "EHLO client.example\r\n")
	got, _ := io.ReadAll(conn)
	fmt.Printf("%q\n", got)

	// Output:
	// "220 smtptest.localhost ESMTP smtptest\r\n250-smtpte"
}
