package msghdr_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpkit/smtpkit/session/internal/msghdr"
)

func ExampleRead() {
	msg := "From: Alice <alice@example.org>\r\n" +
		"To: Bob <bob@example.org>, undisclosed:;\r\n" +
		"Bcc: carol@example.org,\r\n" +
		"\tdave@example.org\r\n" +
		"Subject: lunch\r\n" +
		"\r\n" +
		"Noon?\r\n"
	br := bufio.NewReader(strings.NewReader(msg))
	env, header, err := msghdr.Read(br, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(br)
	fmt.Printf("MAIL FROM:<%s>\n", env.From)
	for _, rcpt := range env.To {
		fmt.Printf("RCPT TO:<%s>\n", rcpt)
	}
	fmt.Printf("%q\n%q\n", header, body)
	// Output:
	// MAIL FROM:<alice@example.org>
	// RCPT TO:<bob@example.org>
	// RCPT TO:<carol@example.org>
	// RCPT TO:<dave@example.org>
	// "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>, undisclosed:;\r\nSubject: lunch\r\n\r\n"
	// "Noon?\r\n"
}

// A caller that brings its own envelope can still send a message whose
// header gives none: an *EnvelopeError comes with the whole header.
func ExampleEnvelopeError() {
	msg := "Resent-Date: Mon, 1 Jan 2024 09:00:00 +0000\n" +
		"Resent-From: carol@example.org\n" +
		"Resent-Date: Tue, 2 Jan 2024 09:00:00 +0000\n" +
		"From: alice@example.org\n" +
		"\n" +
		"Hi.\n"
	br := bufio.NewReader(strings.NewReader(msg))
	_, header, err := msghdr.Read(br, 0)
	var ee *msghdr.EnvelopeError
	if errors.As(err, &ee) {
		fmt.Println(errors.Is(err, msghdr.ErrMultipleResent), len(header) > 0)
	}
	fmt.Println(err)
	// Output:
	// true true
	// msghdr: line 3: field "Resent-Date": several Resent- blocks; give the envelope explicitly: 2 Resent-Date fields
}
