package response_test

import (
	"errors"
	"fmt"

	"github.com/smtpkit/smtpkit/response"
)

func ExampleReply() {
	r := response.New(response.CodeMailboxUnavailable,
		"5.1.1 <bob@example.org>: Recipient address rejected",
		"5.1.1 see https://example.org/bounce")

	fmt.Println(r.Code)
	fmt.Println(r.Class())
	fmt.Println(r.Enhanced)
	fmt.Println(r.Message())
	fmt.Println(r)
	// Output:
	// 550 (mailbox unavailable)
	// permanent negative
	// 5.1.1
	// <bob@example.org>: Recipient address rejected
	// see https://example.org/bounce
	// 550 5.1.1 <bob@example.org>: Recipient address rejected | 5.1.1 see https://example.org/bounce
}

func ExampleError() {
	r := response.New(response.CodeMailboxBusy, "4.2.1 mailbox busy, try later")
	err := fmt.Errorf("deliver to bob: %w", r.Err("RCPT"))

	var re *response.Error
	if errors.As(err, &re) && re.Temporary() {
		fmt.Println("retry later:", re.Code(), re.Reply.Enhanced)
	}
	fmt.Println(err)
	// Output:
	// retry later: 450 (mailbox busy or unavailable) 4.2.1
	// deliver to bob: response: 450 4.2.1 mailbox busy, try later (reply to RCPT)
}

func ExampleParseEnhancedCode() {
	for _, text := range []string{"5.1.1 no such user", "4.7.0", "5.1.1x", "3.0.0 go ahead"} {
		code, ok := response.ParseEnhancedCode(text)
		fmt.Printf("%q: %q %v\n", text, code, ok)
	}
	// Output:
	// "5.1.1 no such user": "5.1.1" true
	// "4.7.0": "4.7.0" true
	// "5.1.1x": "" false
	// "3.0.0 go ahead": "" false
}
