package command

import (
	"bufio"
	"io"
	"net/textproto"
	"testing"
)

// Building the envelope lines of one message, beside net/smtp's way of
// doing it (textproto.Writer.PrintfLine, a format string per line), so the
// ratio comes from one run:
//
//	go test -run=NONE -bench=. -benchmem -count=8 ./command | tee new.txt
//	benchstat -col /impl new.txt

var (
	benchMail = Mail{
		From: Mailbox{Local: "bounces+1234", Domain: "lists.example.org"},
		Params: MailParams{
			Size: 123456, Body: Body8BitMIME, Ret: RetHeaders,
			EnvID: "QQ314159", Auth: "sender@example.org", RequireTLS: true,
		},
	}
	benchRcpt = Rcpt{
		To: Mailbox{Local: "recipient", Domain: "mx.example.com"},
		Params: RcptParams{
			Notify: NotifySuccess | NotifyFailure,
			ORCPT:  OriginalRecipient{Type: "rfc822", Address: "recipient@example.com"},
		},
	}
)

func BenchmarkBuildEnvelope(b *testing.B) {
	b.Run("impl=smtpkit", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			buf, err = benchMail.Append(buf[:0])
			if err != nil {
				b.Fatal(err)
			}
			buf, err = benchRcpt.Append(buf)
			if err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("impl=textproto", func(b *testing.B) {
		bw := bufio.NewWriterSize(io.Discard, 1024)
		w := textproto.NewWriter(bw)
		m, r := benchMail, benchRcpt
		b.ReportAllocs()
		for b.Loop() {
			// What net/smtp's Client.Mail and Client.Rcpt send, with the
			// parameters it cannot send itself added to the format.
			if err := w.PrintfLine("MAIL FROM:<%s@%s> SIZE=%d BODY=%s RET=%s ENVID=%s AUTH=%s REQUIRETLS",
				m.From.Local, m.From.Domain, m.Params.Size, m.Params.Body, m.Params.Ret,
				m.Params.EnvID, m.Params.Auth); err != nil {
				b.Fatal(err)
			}
			if err := w.PrintfLine("RCPT TO:<%s@%s> NOTIFY=SUCCESS,FAILURE ORCPT=%s;%s",
				r.To.Local, r.To.Domain, r.Params.ORCPT.Type, r.Params.ORCPT.Address); err != nil {
				b.Fatal(err)
			}
			bw.Flush()
		}
	})
}

func BenchmarkParseMail(b *testing.B) {
	line, err := benchMail.Append(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
