package session_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
)

// FuzzAuthExchange feeds arbitrary server output to Login after an EHLO
// that offers every mechanism: whatever the challenges, the client must
// not panic or hang, must answer or cancel each 334 with one line, and may
// report success only after a 2yz reply.
func FuzzAuthExchange(f *testing.F) {
	ehlo := "220 mx ESMTP\r\n250-mx\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5 PLAIN LOGIN XOAUTH2\r\n"
	f.Add(ehlo + "334 cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==\r\n501 no\r\n")
	f.Add(ehlo + "334 \r\n235 ok\r\n")
	f.Add(ehlo + "235 ok\r\n")
	f.Add(ehlo + "535 5.7.8 no\r\n")
	f.Add(ehlo + "334 !!\r\n501 canceled\r\n")
	f.Add(ehlo + "334-a\r\n334 b\r\n")
	f.Add(ehlo + strings.Repeat("334 \r\n", 40))
	f.Add(ehlo + "504 no\r\n334 PDEyMzQ1QGxvY2FsaG9zdD4=\r\n235 ok\r\n")
	f.Fuzz(func(t *testing.T, script string) {
		conn := &scriptConn{r: bytes.NewReader([]byte(script))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// A connection NewClient is given never counts as loopback: without
		// AllowInsecureAuth every mechanism would be refused unsent.
		c, err := session.NewClient(ctx, conn, &session.Options{LocalName: "client.example.org", TLS: session.TLSOff, AllowInsecureAuth: true})
		if err != nil {
			return
		}
		defer c.Close()
		err = c.Login(ctx, "user", "pencil")
		// Any 2yz completes AUTH (235, or smtp-sink's 250): success needs
		// a 2yz reply line after the extension table offered AUTH.
		if i := strings.Index(script, "AUTH"); err == nil && (i < 0 || !strings.Contains(script[i:], "\n2")) {
			t.Fatalf("Login succeeded without a 2yz reply after AUTH was offered: %q", script)
		}
		// Every line the client wrote ends in CRLF and holds no bare CR
		// or LF: a challenge cannot make the client split a line.
		w := conn.written.String()
		if w != "" && !strings.HasSuffix(w, "\r\n") {
			t.Fatalf("unterminated line in %q", w)
		}
		for _, line := range strings.Split(strings.TrimSuffix(w, "\r\n"), "\r\n") {
			if strings.ContainsAny(line, "\r\n") {
				t.Fatalf("bare CR or LF in %q", line)
			}
		}
	})
}
