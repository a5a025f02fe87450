package session_test

import (
	"bytes"
	"context"
	"net"
	"net/smtp"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// BenchmarkSend sends one 10 KiB message to one recipient per op over one
// connection to smtptest on loopback, beside net/smtp doing the same on
// the same server: `benchstat -col /impl` gives the ratio. The server's
// own work is in both columns, so the ratio understates the client's.
func BenchmarkSend(b *testing.B) {
	body := []byte(strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 10240/59))
	srv := smtptest.NewServer(smtptest.Config{})
	defer srv.Close()
	ctx := context.Background()

	b.Run("impl=smtpkit", func(b *testing.B) {
		c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: "bench.example.org"})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Send(ctx, "a@example.org", []string{"b@example.org"}, bytes.NewReader(body)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=net-smtp", func(b *testing.B) {
		conn, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			b.Fatal(err)
		}
		c, err := smtp.NewClient(conn, "127.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("bench.example.org"); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Mail("a@example.org"); err != nil {
				b.Fatal(err)
			}
			if err := c.Rcpt("b@example.org"); err != nil {
				b.Fatal(err)
			}
			w, err := c.Data()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.Write(body); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
