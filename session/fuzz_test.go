package session_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
)

// FuzzServerReplies feeds arbitrary server output to a whole session
// (greeting, EHLO, MAIL, two RCPTs, DATA, QUIT). Whatever the server
// says, the client must not panic or hang, and Send must not report
// success unless the server sent a 354 and, after it, a 2yz reply for the
// end of data.
func FuzzServerReplies(f *testing.F) {
	good := "220 mx ESMTP\r\n250-mx\r\n250-SIZE 1000\r\n250 8BITMIME\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n354 go\r\n250 2.0.0 queued\r\n221 bye\r\n"
	f.Add(good)
	f.Add(strings.Replace(good, "354 go", "250 go", 1))
	f.Add(strings.Replace(good, "354 go", "354-go\r\n354 on", 1))
	f.Add("220 mx\r\n502 no ehlo\r\n250 helo\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n")
	f.Add("220 mx\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n\x16\x03\x01")
	f.Add("554 no\r\n")
	f.Add("220 mx\r\n421 bye\r\n")
	f.Add("220-mx\r\n220-\xff\r\n220 x\r\n250 mx\r\n250 ok\r\n450 later\r\n450 later\r\n")
	f.Fuzz(func(t *testing.T, script string) {
		conn := &scriptConn{r: bytes.NewReader([]byte(script))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := session.NewClient(ctx, conn, &session.Options{LocalName: "client.example.org", TLS: session.TLSOff})
		if err != nil {
			return
		}
		defer c.Close()
		res, err := c.Send(ctx, "a@example.org", []string{"b@example.org", "c@example.org"}, strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
		if err == nil {
			i := strings.Index(script, "354")
			if i < 0 || res.Data.Code/100 != 2 {
				t.Fatalf("Send succeeded without a 354 and a 2yz end-of-data reply: %+v", res)
			}
			if !bytes.Contains(conn.written.Bytes(), []byte("\r\n.\r\n")) {
				t.Fatalf("Send succeeded but no end of data was written: %q", conn.written.Bytes())
			}
		}
		c.Quit(ctx)
		_, _ = io.Copy(io.Discard, conn.r)
	})
}
