package smtptest_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/wire"
)

// A server that, like Postfix with smtpd_forbid_bare_newline = no, reads
// a bare LF as a line end: "\n.\n" ends the data, and the transaction
// hidden behind it is answered and recorded as a message of its own, which
// is SMTP smuggling.
func ExampleConfig_dataEndings() {
	srv := smtptest.NewServer(smtptest.Config{DataEndings: []string{"\n.\n", "\n.\r\n"}})
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"+
		"hello\n.\n"+
		"MAIL FROM:<ceo@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\nforged\r\n.\r\n"+
		"QUIT\r\n")
	r := wire.NewReader(conn)
	var codes []int
	for {
		reply, err := r.ReadReply()
		if err != nil {
			break
		}
		codes = append(codes, int(reply.Code))
	}
	fmt.Println(codes)
	for _, m := range srv.Messages() {
		fmt.Printf("from %s: %q\n", m.From, m.Data)
	}
	// Output:
	// [220 250 250 250 354 250 250 250 354 250 221]
	// from a@example.org: "hello\n"
	// from ceo@example.org: "forged\r\n"
}
