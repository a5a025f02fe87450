package command_test

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/smtpkit/smtpkit/command"
)

func Example() {
	from, err := command.ParseMailbox("bounces+42@lists.example.org")
	if err != nil {
		fmt.Println(err)
		return
	}
	to, _ := command.ParseMailbox("anna@bücher.example")

	// One buffer for a pipelined envelope: MAIL, RCPT, DATA.
	var buf []byte
	buf, err = command.Mail{
		From:   from,
		Params: command.MailParams{Size: 2048, Body: command.Body8BitMIME, Ret: command.RetHeaders, EnvID: "id 7"},
	}.Append(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	buf, err = command.Rcpt{
		To:     to, // no SMTPUTF8: the domain goes as A-labels
		Params: command.RcptParams{Notify: command.NotifyFailure | command.NotifyDelay},
	}.Append(buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	buf, _ = command.Data{}.Append(buf)
	for line := range strings.Lines(string(buf)) {
		fmt.Printf("%q\n", line)
	}

	// An argument that would inject a command is refused before anything
	// is written.
	_, err = command.Ehlo{Domain: "client.example\r\nRSET"}.Append(buf[:0])
	fmt.Println(err, errors.Is(err, command.ErrIllegalChar))
	// Output:
	// "MAIL FROM:<bounces+42@lists.example.org> SIZE=2048 BODY=8BITMIME RET=HDRS ENVID=id+207\r\n"
	// "RCPT TO:<anna@xn--bcher-kva.example> NOTIFY=FAILURE,DELAY\r\n"
	// "DATA\r\n"
	// command: EHLO domain: illegal character true
}

func ExampleParse() {
	c, err := command.Parse([]byte("mail from:<\"john smith\"@example.org> SIZE=1000 SMTPUTF8\r\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	switch c := c.(type) {
	case command.Mail:
		fmt.Printf("%s from %q, %d octets, SMTPUTF8 %v\n", c.Verb(), c.From.Local, c.Params.Size, c.Params.SMTPUTF8)
	}

	// Strict by default; lenient for the clients that put a space after
	// the colon.
	line := []byte("RCPT TO: <anna@example.org>")
	_, err = command.Parse(line)
	fmt.Println(err)
	c, _ = command.Parser{Lenient: true}.Parse(line)
	fmt.Println(c.(command.Rcpt).To)
	// Output:
	// MAIL from "john smith", 1000 octets, SMTPUTF8 true
	// command: RCPT TO: syntax error
	// anna@example.org
}

func ExampleParseAddress() {
	for _, s := range []string{
		"Bob <bob@example.org>",
		`"Smith, Bob" <bob@example.org>`,
		"bob@example.org (Bob)",
		"a@example.org, b@example.org",
		"Bob <bob@example..org>",
	} {
		m, err := command.ParseAddress(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(m)
	}

	// ParseMailbox takes the addr-spec alone, and says what to do instead.
	_, err := command.ParseMailbox("Bob <bob@example.org>")
	fmt.Println(err)
	var ae *command.AddressError
	if errors.As(err, &ae) {
		fmt.Println(ae.Offset, errors.Is(err, command.ErrSyntax))
	}
	// Output:
	// bob@example.org
	// bob@example.org
	// bob@example.org
	// command: address "a@example.org, b@example.org": at offset 13: a comma separates a list of addresses; give one address at a time
	// command: address "Bob <bob@example..org>": at offset 17: two dots in a row in the domain
	// command: address "Bob <bob@example.org>": at offset 4: a display name is not part of a mailbox; use ParseAddress or write bob@example.org
	// 4 true
}

func ExampleMailboxFromAddress() {
	a, err := mail.ParseAddress(`John Doe <"john doe"@example.org>`)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := command.MailboxFromAddress(a)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%q at %q, sent as <%s>\n", m.Local, m.Domain, m)

	// And back, for a header.
	fmt.Println(m.MailAddress("John Doe"))
	// Output:
	// "john doe" at "example.org", sent as <"john doe"@example.org>
	// "John Doe" <"john doe"@example.org>
}
