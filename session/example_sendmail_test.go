package session_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

func ExampleSendMail() {
	// A submission server: STARTTLS and AUTH, both required.
	srv := smtptest.NewServer(smtptest.Config{
		Extensions:  append(smtptest.DefaultExtensions(), "STARTTLS", "AUTH PLAIN"),
		Users:       map[string]string{"alice": "correct horse"},
		RequireTLS:  true,
		RequireAuth: true,
	})
	defer srv.Close()

	// TLSConfig trusts the test server's certificate; a real client
	// leaves it nil (the system's roots), or loads a private CA with
	// transport.LoadCertPool.
	opts := &session.Options{TLS: session.TLSRequired, TLSConfig: srv.ClientTLSConfig()}
	creds := &session.Credentials{Username: "alice", Password: "correct horse"}
	msg := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
	res, err := session.SendMail(context.Background(), srv.Addr, opts, creds,
		"alice@example.org", []string{"bob@example.org"}, strings.NewReader(msg))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(int(res.Data.Code), "refused:", len(res.Refused()))
	m := srv.Messages()[0]
	fmt.Println("TLS:", m.TLS, "user:", m.AuthUser)
	// Output:
	// 250 refused: 0
	// TLS: true user: alice
}
