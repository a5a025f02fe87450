package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestStreamAcrossMessageLimit sends 2,500 messages with SendStream to a
// server that accepts 1,000 per connection and answers the next MAIL with
// 421 and closes, as Exim's smtp_accept_max_per_connection does. The
// caller dials again for the messages a stream did not take. Every
// message must be reported exactly once, in order: delivered (and then
// recorded by the server), refused with the 421, or unanswered with the
// server's 421 as the reason and MaybeDelivered false (the server closed
// before it got there); the server records exactly the delivered ones.
func TestStreamAcrossMessageLimit(t *testing.T) {
	const total, limit = 2500, 1000
	for _, path := range []struct {
		name string
		exts []string
		opts session.Options
	}{
		{"pipelined BDAT", smtptest.DefaultExtensions(), session.Options{}},
		{"pipelined DATA", smtptest.DefaultExtensions(), session.Options{DisableChunking: true}},
		{"sequential", sequentialExtensions(), session.Options{}},
	} {
		t.Run(path.name, func(t *testing.T) {
			srv := newServer(t, smtptest.Config{Extensions: path.exts, MaxMessagesPerConnection: limit})
			msgs := make([]*session.Message, total)
			for i := range msgs {
				body := fmt.Appendf(nil, "Message-ID: <%d@example.org>\r\n\r\nbody %d\r\n", i, i)
				msgs[i] = &session.Message{
					Envelope: session.Envelope{To: []command.Mailbox{{Local: fmt.Sprint("rcpt", i), Domain: "example.net"}}},
					Body:     bytes.NewReader(body),
				}
			}
			reports := make([]int, total)
			var delivered, refused421, unanswered int
			next, dials := 0, 0
			for next < total {
				dials++
				if dials > 10 {
					t.Fatalf("%d dials and %d of %d messages taken", dials, next, total)
				}
				opts := path.opts
				c := dial(t, srv, &opts)
				start := next
				i := start
				for res, err := range c.SendStream(testCtx(t), func(yield func(*session.Message) bool) {
					for ; next < total; next++ {
						if !yield(msgs[next]) {
							return
						}
					}
				}) {
					reports[i]++
					var re *response.Error
					var ue *session.UnansweredError
					switch {
					case err == nil && res != nil && res.Recipients[0].Accepted:
						delivered++
					case errors.As(err, &ue):
						if ue.MaybeDelivered || !errors.As(err, &re) || re.Code() != response.CodeServiceNotAvailable {
							t.Fatalf("message %d: %v (MaybeDelivered %v), want unanswered after the 421", i, err, ue.MaybeDelivered)
						}
						unanswered++
					case errors.As(err, &re) && re.Code() == response.CodeServiceNotAvailable:
						refused421++
					default:
						t.Fatalf("message %d: %v, %+v", i, err, res)
					}
					if !msgs[i].Done || msgs[i].Err != err {
						t.Fatalf("message %d: Done %v, Err %v; yielded %v", i, msgs[i].Done, msgs[i].Err, err)
					}
					i++
				}
				// The stream takes a message only when it writes it, and
				// the one it was handed when the session ended counts.
				if i != next && i != next+1 {
					t.Fatalf("connection %d: %d results for messages %d to %d", dials, i-start, start, next)
				}
				t.Logf("connection %d: messages %d to %d", dials, start, i-1)
				next = i
				c.Close()
			}
			for i, n := range reports {
				if n != 1 {
					t.Fatalf("message %d reported %d times", i, n)
				}
			}
			if got := len(srv.Messages()); got != delivered {
				t.Errorf("server recorded %d messages, %d reported delivered", got, delivered)
			}
			if delivered != total-refused421-unanswered || refused421 != dials-1 {
				t.Errorf("%d delivered, %d refused with 421, %d unanswered in %d connections", delivered, refused421, unanswered, dials)
			}
			t.Logf("%d delivered, %d refused with 421, %d unanswered, %d connections", delivered, refused421, unanswered, dials)
		})
	}
}
