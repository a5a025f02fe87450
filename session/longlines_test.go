package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/wire"
)

// longBody has a line of n octets as its third line, after a header and
// a blank line, and a line starting with '.' after it.
func longBody(n int) string {
	return "Subject: long\r\n\r\n" + strings.Repeat("L", n) + "\r\n.dot\r\nend\r\n"
}

// streamed hides the body's type, so that the Client cannot read it
// before sending it: it is checked as it goes.
type streamed struct{ r io.Reader }

func (s streamed) Read(p []byte) (int, error) { return s.r.Read(p) }

// wantLineTooLong checks that err is a *LineTooLongError (under both
// names) for line 3, with at least 999 octets of it seen.
func wantLineTooLong(t *testing.T, err error, n int) {
	t.Helper()
	var le *session.LineTooLongError
	var we *wire.LineTooLongError
	if !errors.As(err, &le) || !errors.As(err, &we) {
		t.Fatalf("error %v (%T), want a *session.LineTooLongError", err, err)
	}
	if le.Line != 3 || le.Limit != 998 || le.Length < 999 || le.Length > n {
		t.Fatalf("%+v, want line 3, at least 999 of its %d octets, limit 998", *le, n)
	}
	if !session.Permanent(err) {
		t.Errorf("a long line is not Permanent: %v", err)
	}
}

// maxLine is the longest line of data, CRLF-separated.
func maxLine(data []byte) int {
	longest := 0
	for l := range strings.SplitSeq(string(data), "\r\n") {
		longest = max(longest, len(l))
	}
	return longest
}

// TestLongLineRefusedBeforeMail: a body read before it is sent, with a
// line of 999 to 1,001 octets, is refused by default before anything of
// the transaction is written, on every path, in SMTP and LMTP; the Client
// sends the next message.
func TestLongLineRefusedBeforeMail(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		for _, p := range sendPaths {
			for n := 997; n <= 1001; n++ {
				t.Run(fmt.Sprintf("lmtp=%v/%s/%d", lmtp, p.name, n), func(t *testing.T) {
					srv := newServerOffering(t, p.exts(), smtptest.Config{LMTP: lmtp})
					c := dialHello(t, srv, &session.Options{LMTP: lmtp})
					before := len(srv.Commands())
					for _, body := range []io.Reader{strings.NewReader(longBody(n)), bytes.NewReader([]byte(longBody(n))), bytes.NewBufferString(longBody(n))} {
						_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, body)
						if n <= 998 {
							if err != nil {
								t.Fatalf("Send (%T): %v", body, err)
							}
							continue
						}
						wantLineTooLong(t, err, n)
						if got := verbsFrom(srv, before); len(got) != 0 {
							t.Fatalf("the refused message wrote %q", got)
						}
					}
					if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(longBody(998))); err != nil {
						t.Fatalf("Send after the refusal: %v", err)
					}
					if n > 998 && len(srv.Messages()) != 1 || n <= 998 && len(srv.Messages()) != 4 {
						t.Fatalf("server recorded %d messages", len(srv.Messages()))
					}
				})
			}
		}
	}
}

// TestLongLineRefusedInStream: a body that streams is refused when its
// line goes past the limit, after part of it (and, with small BDAT
// chunks, whole chunks) went. Over BDAT no LAST goes and RSET ends the
// transaction, and the Client sends the next message; over DATA the
// connection is closed before the end of data. No message is recorded.
func TestLongLineRefusedInStream(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		for _, p := range sendPaths {
			t.Run(fmt.Sprintf("lmtp=%v/%s", lmtp, p.name), func(t *testing.T) {
				srv := newServerOffering(t, p.exts(), smtptest.Config{LMTP: lmtp})
				c := dialHello(t, srv, &session.Options{LMTP: lmtp, ChunkSize: 64})
				body := strings.Repeat("a short line\r\n", 20) + longBody(5000)
				_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, streamed{strings.NewReader(body)})
				var le *session.LineTooLongError
				if !errors.As(err, &le) || le.Line != 23 || le.Length <= 998 {
					t.Fatalf("Send: %v, want a *LineTooLongError for line 23", err)
				}
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("server recorded %d messages", n)
				}
				_, err = c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader("Subject: next\r\n\r\nok\r\n"))
				if p.bdat {
					if err != nil {
						t.Fatalf("Send after the refusal: %v", err)
					}
					if !slices.Contains(verbs(srv), "RSET") || len(srv.Messages()) != 1 {
						t.Fatalf("no RSET, or %d messages recorded: %q", len(srv.Messages()), verbs(srv))
					}
					if slices.ContainsFunc(srv.Commands(), func(l string) bool { return strings.HasSuffix(l, "LAST") && len(srv.Messages()) == 0 }) {
						t.Fatal("BDAT LAST went for the refused message")
					}
					return
				}
				if !errors.Is(err, session.ErrAborted) {
					t.Fatalf("Send on the aborted connection: %v, want ErrAborted", err)
				}
				srv.Close() // waits for the connection: nothing more arrives
				if n := len(srv.Messages()); n != 0 {
					t.Fatalf("server recorded %d messages", n)
				}
			})
		}
	}
}

// TestLongLineFolded: under LongLinesFold the message is delivered with
// each long line broken by CRLF SP, every line within 998 octets, on
// every path, whether the body was read first or streams; SIZE counts the
// folds, and the trace says how many there were.
func TestLongLineFolded(t *testing.T) {
	body := longBody(2500)
	want := "Subject: long\r\n\r\n" + strings.Repeat("L", 998) + "\r\n " + strings.Repeat("L", 997) + "\r\n " + strings.Repeat("L", 505) + "\r\n.dot\r\nend\r\n"
	for _, p := range sendPaths {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", p.name, stream), func(t *testing.T) {
				srv := newServerOffering(t, p.exts(), smtptest.Config{})
				var trace bytes.Buffer
				c := dialHello(t, srv, &session.Options{LongLines: session.LongLinesFold, Trace: &trace, ChunkSize: 700})
				var r io.Reader = strings.NewReader(body)
				if stream {
					r = streamed{r}
				}
				if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, r); err != nil {
					t.Fatalf("Send: %v", err)
				}
				m := srv.Messages()
				if len(m) != 1 || string(m[0].Data) != want {
					t.Fatalf("server recorded %d messages: %q", len(m), datas(m))
				}
				if l := maxLine(m[0].Data); l > 998 {
					t.Fatalf("a line of %d octets went", l)
				}
				if size := m[0].Mail.Params.Size; !stream && size != int64(len(want)) {
					t.Errorf("SIZE=%d, want %d", size, len(want))
				}
				if !strings.Contains(trace.String(), "C: <message folded: 2 line breaks added, lines over 998 octets>") {
					t.Errorf("the trace does not say the message was folded:\n%s", trace.String())
				}
			})
		}
	}
}

// TestLongLineSentAsIs: LongLinesSend is smtplib's way: the line goes as
// it is, and a message within the limit is never traced as folded.
func TestLongLineSentAsIs(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			var trace bytes.Buffer
			c := dialHello(t, srv, &session.Options{LongLines: session.LongLinesSend, Trace: &trace})
			for _, body := range []string{longBody(3000), longBody(998)} {
				if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body)); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			m := srv.Messages()
			if len(m) != 2 || string(m[0].Data) != longBody(3000) || string(m[1].Data) != longBody(998) {
				t.Fatalf("server recorded %q", datas(m))
			}
			if strings.Contains(trace.String(), "folded") {
				t.Errorf("trace says folded:\n%s", trace.String())
			}
		})
	}
}

// TestLongLineBinaryMIME: a BODY=BINARYMIME message has no lines to
// limit: it goes unchanged under the default policy.
func TestLongLineBinaryMIME(t *testing.T) {
	srv := newServerOffering(t, binaryExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	body := "bin\x00" + strings.Repeat("B", 5000) + "\r\n"
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if m := srv.Messages(); len(m) != 1 || string(m[0].Data) != body {
		t.Fatalf("server recorded %q", datas(m))
	}
}

// TestLongLineInSendStream: in a SendStream the message with the long
// line is refused before its MAIL, and those around it go.
func TestLongLineInSendStream(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
			msgs := manyMessages(3)
			msgs[1].body = longBody(1200)
			ys, _ := runStream(testCtx(t), c, msgs, nil)
			if len(ys) != 3 || ys[0].err != nil || ys[2].err != nil {
				t.Fatalf("results %+v", ys)
			}
			wantLineTooLong(t, ys[1].err, 1200)
			if m := srv.Messages(); len(m) != 2 {
				t.Fatalf("server recorded %d messages", len(m))
			}
			if n := strings.Count(strings.Join(verbs(srv), " "), "MAIL"); n != 2 {
				t.Fatalf("%d MAIL commands for 2 messages", n)
			}
		})
	}
}

// TestLongLineStreamedInSendStream: in a SendStream, a streamed body is
// stopped at its long line. Over BDAT the stream goes on (RSET, then the
// next message); over DATA the connection is closed and the stream takes
// no more: the message after it is left not Done, never reported sent.
func TestLongLineStreamedInSendStream(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, &session.Options{ChunkSize: 64})
			msgs := manyMessages(3)
			long := strings.Repeat("a short line\r\n", 20) + longBody(4000)
			var sms []*session.Message
			for i, m := range msgs {
				sms = append(sms, m.message())
				if i == 1 {
					sms[i].Body = streamed{strings.NewReader(long)}
				}
			}
			seq := func(yield func(*session.Message) bool) {
				for _, sm := range sms {
					if !yield(sm) {
						return
					}
				}
			}
			var errs []error
			for _, err := range c.SendStream(testCtx(t), seq) {
				errs = append(errs, err)
			}
			if len(errs) < 2 || errs[0] != nil {
				t.Fatalf("results %v", errs)
			}
			var le *session.LineTooLongError
			if !errors.As(errs[1], &le) || le.Line != 23 {
				t.Fatalf("the long message: %v, want a *LineTooLongError for line 23", errs[1])
			}
			recorded := srv.Messages()
			if p.bdat {
				if len(errs) != 3 || errs[2] != nil || len(recorded) != 2 || recorded[1].From != msgs[2].from {
					t.Fatalf("after the refusal: %v, %d messages recorded", errs, len(recorded))
				}
				return
			}
			if !errors.Is(errs[1], session.ErrAborted) || len(errs) != 2 || sms[2].Done {
				t.Fatalf("over DATA: %v (third Done: %v); want ErrAborted and the stream ended", errs, sms[2].Done)
			}
			srv.Close()
			if len(srv.Messages()) != 1 {
				t.Fatalf("%d messages recorded, want the first only", len(srv.Messages()))
			}
		})
	}
}

// TestLongLineDataWriter: the low-level DataWriter applies the policy
// too: a refused line closes the connection (the message cannot be ended
// without the server taking it) and nothing is recorded.
func TestLongLineDataWriter(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	c := dialHello(t, srv, nil)
	ctx := testCtx(t)
	if _, err := c.Mail(ctx, command.Mail{From: mailbox("alice@example.org")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rcpt(ctx, command.Rcpt{To: mailbox("bob@example.org")}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: x\r\n\r\n")
	_, err = io.WriteString(w, strings.Repeat("W", 1500))
	wantLineTooLong(t, err, 1500)
	if err := w.Close(); err == nil {
		t.Fatal("Close after the refused line: nil")
	}
	srv.Close()
	if len(srv.Messages()) != 0 {
		t.Fatal("the server recorded the message")
	}
}

// datas is the data of each message, for a failure's message.
func datas(ms []smtptest.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Data))
	}
	return out
}
