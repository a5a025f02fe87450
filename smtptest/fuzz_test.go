package smtptest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/wire"
)

// FuzzClientInput sends arbitrary client bytes to a Server (plain and
// LMTP, with CHUNKING and AUTH offered). Whatever a client sends, the
// server must not panic, must answer with well-formed replies only, and
// Close must return with every goroutine ended.
func FuzzClientInput(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3 LAST\r\nabcQUIT\r\n",
		"EHLO x\r\nAUTH PLAIN AGEAYg==\r\nAUTH LOGIN\r\nYQ==\r\nYg==\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=99999999999\r\nRCPT TO:<c@d> NOTIFY=NEVER\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n..\r\n.\n.\r\n\r\n.\r\n",
		"EHLO x\r\nBDAT 99999999999999999999\r\n",
		"\x00\xff\r\nEHLO \x1b\r\n" + strings.Repeat("A", 5000) + "\r\nNOOP\r\n",
		"LHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\nDATA\r\nx\r\n.\r\n",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, input string, lmtp bool) {
		srv := NewServer(Config{
			LMTP:       lmtp,
			Extensions: append(DefaultExtensions(), "AUTH PLAIN LOGIN CRAM-MD5"),
			Users:      map[string]string{"a": "b"},
		})
		defer srv.Close()
		conn, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			conn.Write([]byte(input))
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}()
		r := wire.NewReader(bufio.NewReader(conn))
		for {
			_, err := r.ReadReply()
			if err == io.EOF {
				break
			}
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("server neither replied nor closed within 5s")
				}
				if strings.Contains(err.Error(), "connection reset") {
					break
				}
				t.Fatalf("malformed reply from the server: %v", err)
			}
		}
	})
}
