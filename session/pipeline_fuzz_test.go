package session_test

import (
	"bytes"
	"context"
	"io"
	"iter"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/wire"
)

// pipelinedFuzzBody is the message of FuzzPipelinedReplies: it needs
// line-ending normalisation (bare LF) and starts a line with a dot.
const pipelinedFuzzBody = "Subject: x\r\n\r\n.body\nline\r\n"

// parseReplies parses script as the client's reader would, up to the
// first error.
func parseReplies(script string) []response.Reply {
	r := wire.NewReader(strings.NewReader(script))
	var out []response.Reply
	for {
		reply, err := r.ReadReply()
		if err != nil {
			return out
		}
		out = append(out, reply)
	}
}

// checkWrittenLines checks that what the client wrote is whole lines ending
// in CRLF, with each BDAT command followed by exactly its chunk. It returns
// a description of the first violation, or "".
func checkWrittenLines(written []byte) string {
	for pos := 0; pos < len(written); {
		i := bytes.IndexByte(written[pos:], '\n')
		if i < 0 {
			return "partial line at the end: " + strconv.Quote(string(written[pos:]))
		}
		line := written[pos : pos+i+1]
		if i == 0 || line[i-1] != '\r' {
			return "line not ending in CRLF: " + strconv.Quote(string(line))
		}
		if j := bytes.IndexByte(line[:i-1], '\r'); j >= 0 {
			return "bare CR in a line: " + strconv.Quote(string(line))
		}
		pos += i + 1
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "BDAT" {
			n, err := strconv.Atoi(f[1])
			if err != nil || pos+n > len(written) {
				return "BDAT without its chunk: " + strconv.Quote(string(line))
			}
			pos += n
		}
	}
	return ""
}

// FuzzPipelinedReplies feeds arbitrary server output to a session whose
// EHLO offers PIPELINING and CHUNKING: a Send to three recipients, then a
// SendStream of three messages. The client must not panic or hang; Send
// and each streamed message may succeed only on a 2yz reply to the BDAT
// LAST (for Send, checked against the reply at its place in the script);
// everything the client writes is lines ending in CRLF, BDAT chunks aside.
func FuzzPipelinedReplies(f *testing.F) {
	ehlo := "250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n"
	send := "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n"
	stream := "250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n" +
		"250 reset\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n" +
		"250 reset\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n"
	good := "220 mx ESMTP\r\n" + ehlo + send + stream + "221 bye\r\n"
	f.Add(good)
	f.Add(strings.Replace(good, "250 2.0.0 queued", "554 5.6.0 no", 1))
	f.Add(strings.Replace(good, "250 2.1.0 ok", "553 5.7.1 sender", 1))
	f.Add(strings.Replace(good, "250 2.0.0 queued", "354 go", 1))
	f.Add(strings.Replace(good, "250 2.1.5 ok", "421 4.3.2 bye", 1))
	f.Add(strings.Replace(good, "250 reset", "500 what", 1))
	f.Add("220 mx ESMTP\r\n" + ehlo + "250 2.1.0 ok\r\n550 a\r\n550 b\r\n550 c\r\n554 no valid recipients\r\n250 reset\r\n")
	f.Add("220 mx ESMTP\r\n" + ehlo + "250 2.1.0 ok\r\n250-ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n2")
	f.Add("220 mx ESMTP\r\n250-mx\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n")
	f.Add("220 mx ESMTP\r\n" + ehlo + send)
	f.Fuzz(func(t *testing.T, script string) {
		conn := &scriptConn{r: bytes.NewReader([]byte(script))}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := session.NewClient(ctx, conn, &session.Options{LocalName: "client.example.org", TLS: session.TLSOff})
		if err != nil {
			return
		}
		defer c.Close()
		to := []string{"b@example.org", "c@example.org", "d@example.org"}
		res, err := c.Send(ctx, "a@example.org", to, strings.NewReader(pipelinedFuzzBody))
		sendWritten := bytes.Clone(conn.written.Bytes())
		if err == nil {
			if res.Data.Code.Class() != response.ClassPositiveCompletion {
				t.Fatalf("Send succeeded with a %v reply to the end of the message", res.Data)
			}
			data := string(normalise([]byte(pipelinedFuzzBody)))
			pipelined := "EHLO client.example.org\r\nMAIL FROM:<a@example.org> SIZE=" + strconv.Itoa(len(data)) + "\r\n" +
				"RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nRCPT TO:<d@example.org>\r\n" +
				"BDAT " + strconv.Itoa(len(data)) + " LAST\r\n" + data
			if bytes.HasPrefix(sendWritten, []byte(pipelined)) {
				// Greeting, EHLO, MAIL, three RCPTs, BDAT: the reply to
				// BDAT LAST is the seventh.
				replies := parseReplies(script)
				if len(replies) < 7 {
					t.Fatalf("Send succeeded with only %d replies in the script", len(replies))
				}
				if replies[6].Class() != response.ClassPositiveCompletion || replies[6] != res.Data {
					t.Fatalf("Send succeeded: Data %v, but the reply to BDAT is %v", res.Data, replies[6])
				}
				if replies[2].Class() != response.ClassPositiveCompletion || replies[2] != res.Mail {
					t.Fatalf("Send succeeded: Mail %v, reply to MAIL %v", res.Mail, replies[2])
				}
				any := false
				for i, r := range res.Recipients {
					rr := replies[3+i]
					if r.Address != to[i] || r.Reply != rr || r.Accepted != (rr.Class() == response.ClassPositiveCompletion) {
						t.Fatalf("Recipients[%d] = %+v, reply %v", i, r, rr)
					}
					any = any || r.Accepted
				}
				if !any || len(res.Recipients) != 3 {
					t.Fatalf("Send succeeded with Recipients %+v", res.Recipients)
				}
			} else if !bytes.Contains(sendWritten, []byte("\r\n.\r\n")) && !bytes.Contains(sendWritten, []byte(" LAST\r\n")) {
				t.Fatalf("Send succeeded but no end of data was written: %q", sendWritten)
			}
		}
		msgs := []*session.Message{
			{Envelope: session.Envelope{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.org")}}},
			{Envelope: session.Envelope{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("c@example.org"), mailbox("d@example.org")}}},
			{Envelope: session.Envelope{From: mailbox(""), To: []command.Mailbox{mailbox("e@example.org")}}},
		}
		pulled := 0
		seq := iter.Seq[*session.Message](func(yield func(*session.Message) bool) {
			for _, m := range msgs {
				m.Body = strings.NewReader(pipelinedFuzzBody)
				pulled++
				if !yield(m) {
					return
				}
			}
		})
		n := 0
		for res, err := range c.SendStream(ctx, seq) {
			n++
			if err == nil && (res == nil || res.Data.Code.Class() != response.ClassPositiveCompletion) {
				t.Fatalf("streamed message %d succeeded with %+v", n, res)
			}
		}
		if pulled > 0 && n != pulled || pulled == 0 && n > 1 {
			t.Fatalf("SendStream took %d messages and gave %d results", pulled, n)
		}
		c.Quit(ctx)
		if msg := checkWrittenLines(conn.written.Bytes()); msg != "" {
			t.Fatalf("%s\nwritten: %q", msg, conn.written.Bytes())
		}
		_, _ = io.Copy(io.Discard, conn.r)
	})
}
