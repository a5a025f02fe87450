package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// checkStreamAllSent checks a stream in which every message went.
func checkStreamAllSent(t *testing.T, srv *smtptest.Server, msgs []testMessage, ys []streamResult, from int) {
	t.Helper()
	if len(ys) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(ys), len(msgs))
	}
	for i, y := range ys {
		if y.err != nil {
			t.Errorf("message %d: %v", i, y.err)
			continue
		}
		if len(y.res.Recipients) != len(msgs[i].to) {
			t.Errorf("message %d: Recipients %+v", i, y.res.Recipients)
			continue
		}
		for j, r := range y.res.Recipients {
			if r.Address != msgs[i].to[j] || !r.Accepted {
				t.Errorf("message %d: result for %s: %+v", i, msgs[i].to[j], r)
			}
		}
		if y.res.Data.Code != 250 || y.res.Mail.Code != 250 {
			t.Errorf("message %d: Mail %v Data %v", i, y.res.Mail, y.res.Data)
		}
	}
	m := srv.Messages()[from:]
	if len(m) != len(msgs) {
		t.Fatalf("server recorded %d messages, want %d", len(m), len(msgs))
	}
	for i := range m {
		checkRecorded(t, fmt.Sprintf("message %d", i), m[i], msgs[i], msgs[i].to)
	}
}

func TestSendStreamBDAT(t *testing.T) {
	srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	msgs := manyMessages(50)
	before := len(srv.Commands())
	var ys []streamResult
	rt := roundTrips(srv, func() { ys, _ = runStream(testCtx(t), c, msgs, nil) })
	checkStreamAllSent(t, srv, msgs, ys, 0)
	if rt > 5 {
		t.Errorf("50 messages cost %d round trips, want at most 5", rt)
	}
	t.Logf("50 messages with BDAT: %d round trips", rt)
	// Each transaction after the first starts with RSET.
	v := verbsFrom(srv, before)
	var want []string
	for i := range msgs {
		if i > 0 {
			want = append(want, "RSET")
		}
		want = append(want, "MAIL", "RCPT", "RCPT", "BDAT")
	}
	if !slices.Equal(v, want) {
		t.Errorf("verbs %q, want %q", v, want)
	}
	if _, err := c.Noop(testCtx(t)); err != nil {
		t.Errorf("Noop after the stream: %v", err)
	}
}

func TestSendStreamDATA(t *testing.T) {
	srv := newServerOffering(t, pipelinedDataExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	msgs := manyMessages(50)
	before := len(srv.Commands())
	var ys []streamResult
	rt := roundTrips(srv, func() { ys, _ = runStream(testCtx(t), c, msgs, nil) })
	checkStreamAllSent(t, srv, msgs, ys, 0)
	if rt < 50 || rt > 52 {
		t.Errorf("50 messages cost %d round trips, want 50 + at most 2", rt)
	}
	v := verbsFrom(srv, before)
	var want []string
	for range msgs {
		want = append(want, "MAIL", "RCPT", "RCPT", "DATA")
	}
	if !slices.Equal(v, want) {
		t.Errorf("verbs %q, want %q (no RSET when nothing failed)", v, want)
	}
	if _, err := c.Noop(testCtx(t)); err != nil {
		t.Errorf("Noop after the stream: %v", err)
	}
}

func TestSendStreamSequential(t *testing.T) {
	for _, tt := range []struct {
		name string
		exts []string
		opts session.Options
	}{
		{"not offered", sequentialExtensions(), session.Options{}},
		{"DisablePipelining", smtptest.DefaultExtensions(), session.Options{DisablePipelining: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServerOffering(t, tt.exts, smtptest.Config{})
			c := dialHello(t, srv, &tt.opts)
			msgs := manyMessages(5)
			before := len(srv.Commands())
			var ys []streamResult
			rt := roundTrips(srv, func() { ys, _ = runStream(testCtx(t), c, msgs, nil) })
			checkStreamAllSent(t, srv, msgs, ys, 0)
			if rt != 5*5 {
				t.Errorf("5 messages to 2 recipients cost %d round trips, want 25 (MAIL, 2 RCPT, DATA, end each)", rt)
			}
			for _, v := range verbsFrom(srv, before) {
				if v == "BDAT" || v == "RSET" {
					t.Errorf("verbs %q", verbsFrom(srv, before))
					break
				}
			}
		})
	}
}

// mixedMessages are 20 messages with failures at known places.
func mixedMessages() (msgs []testMessage, check func(i int, y streamResult) []string) {
	msgs = manyMessages(20)
	msgs[3].to = []string{"r3a@example.net", "refused3@example.net", "r3c@example.net"} // one refused
	msgs[5].to = []string{"refused5a@example.net", "refused5b@example.net"}             // all refused
	msgs[9].from = "badsender@example.org"                                              // MAIL refused
	msgs[13].to = nil                                                                   // no recipients
	msgs[16].body = "Subject: spam\r\n\r\nREJECT-ME\r\n"                                // refused after the data
	msgs[17].to = []string{"refused17@example.net", "r17@example.net"}                  // first refused
	check = func(i int, y streamResult) (accepted []string) {
		switch i {
		case 5:
			var re *session.RecipientsRefusedError
			if !errors.As(y.err, &re) || len(re.Recipients) != 2 || re.Recipients[0].Address != "refused5a@example.net" {
				return []string{fmt.Sprintf("error: err = %v (%T), want *RecipientsRefusedError", y.err, y.err)}
			}
			return nil
		case 9:
			var se *session.SenderRefusedError
			if !errors.As(y.err, &se) || se.Sender != "badsender@example.org" {
				return []string{fmt.Sprintf("error: err = %v (%T), want *SenderRefusedError", y.err, y.err)}
			}
			return nil
		case 13:
			if !errors.Is(y.err, session.ErrNoRecipients) {
				return []string{fmt.Sprintf("error: err = %v (%T), want ErrNoRecipients", y.err, y.err)}
			}
			return nil
		case 16:
			var de *session.DataError
			if !errors.As(y.err, &de) || de.Reply.Code != 554 {
				return []string{fmt.Sprintf("error: err = %v (%T), want *DataError 554", y.err, y.err)}
			}
			return nil
		}
		if y.err != nil {
			return []string{fmt.Sprintf("error: %v", y.err)}
		}
		for _, r := range y.res.Recipients {
			if r.Accepted != !strings.HasPrefix(r.Address, "refused") {
				return []string{fmt.Sprintf("error: Recipients %+v", y.res.Recipients)}
			}
			if r.Accepted {
				accepted = append(accepted, r.Address)
			}
		}
		if len(y.res.Recipients) != len(msgs[i].to) {
			return []string{fmt.Sprintf("error: Recipients %+v", y.res.Recipients)}
		}
		return accepted
	}
	return msgs, check
}

func TestSendStreamMixedFailures(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<refused", Reply: response.New(550, "5.1.1 no such user")},
				{Verb: "MAIL", Match: "<badsender@", Reply: response.New(553, "5.7.1 not you")},
				{Verb: smtptest.EndOfData, Match: "REJECT-ME", Reply: response.New(554, "5.7.1 spam")},
			}})
			c := dialHello(t, srv, nil)
			msgs, check := mixedMessages()
			ys, pulled := runStream(testCtx(t), c, msgs, nil)
			if len(ys) != len(msgs) || pulled != len(msgs) {
				t.Fatalf("%d results, %d messages taken, for %d messages", len(ys), pulled, len(msgs))
			}
			var want []int // the messages the server must have, in order
			var wantTo [][]string
			for i, y := range ys {
				acc := check(i, y)
				if len(acc) == 1 && strings.HasPrefix(acc[0], "error: ") {
					t.Errorf("message %d: %s", i, acc[0])
					continue
				}
				if y.err == nil {
					want = append(want, i)
					wantTo = append(wantTo, acc)
				}
			}
			m := srv.Messages()
			if len(m) != len(want) {
				t.Fatalf("server recorded %d messages, want %d (%v)", len(m), len(want), want)
			}
			for k, i := range want {
				// Exactly the accepted recipients of that message: none
				// from another transaction joined it.
				checkRecorded(t, fmt.Sprintf("message %d", i), m[k], msgs[i], wantTo[k])
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop after the stream: %v", err)
			}
			if _, err := c.Send(testCtx(t), "last@example.org", []string{"last@example.net"}, strings.NewReader("last\r\n")); err != nil {
				t.Errorf("Send after the stream: %v", err)
			}
			if m := srv.Messages(); len(m) != len(want)+1 || strings.Join(m[len(m)-1].To, ",") != "last@example.net" {
				t.Errorf("last message: %+v", m[len(m)-1])
			}
		})
	}
}

// TestSendStreamEarlyStop breaks out of the loop after three results: the
// replies still due must be read before SendStream returns, so that Noop
// and Send work afterwards. On the pipelined DATA path the next message's
// DATA is already written when the loop stops, so its reply (the 354)
// must be read too, and the server taken out of the data phase.
func TestSendStreamEarlyStop(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
			msgs := manyMessages(10)
			ys, pulled := runStream(testCtx(t), c, msgs, func(ys []streamResult) bool { return len(ys) < 3 })
			if len(ys) != 3 {
				t.Fatalf("%d results, want 3", len(ys))
			}
			for i, y := range ys {
				if y.err != nil {
					t.Errorf("message %d: %v", i, y.err)
				}
			}
			t.Logf("%d messages taken", pulled)
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Fatalf("Noop after stopping the stream: %v (a reply left unread?)", err)
			}
			res, err := c.Send(testCtx(t), "after@example.org", []string{"after1@example.net", "after2@example.net"}, strings.NewReader("after\r\n"))
			if err != nil {
				t.Fatalf("Send after stopping the stream: %v", err)
			}
			if len(res.Recipients) != 2 || res.Recipients[0].Address != "after1@example.net" || res.Data.Code != 250 {
				t.Errorf("Send after the stream: %+v", res)
			}
			m := srv.Messages()
			if len(m) < 4 {
				t.Fatalf("server recorded %d messages", len(m))
			}
			// What was written before the stop may have gone; if it went,
			// it went intact, and nothing beyond what was taken.
			if len(m)-1 > pulled {
				t.Errorf("server recorded %d stream messages, only %d taken", len(m)-1, pulled)
			}
			for i := range m[:len(m)-1] {
				checkRecorded(t, fmt.Sprintf("message %d", i), m[i], msgs[i], msgs[i].to)
			}
			checkRecorded(t, "message after the stream", m[len(m)-1], testMessage{from: "after@example.org", body: "after\r\n"}, []string{"after1@example.net", "after2@example.net"})
		})
	}
}

// TestSendStreamEarlyStopBounded stops a stream long enough that the
// client must read replies before writing on: it must stop taking
// messages, read what it wrote, and leave the Client usable.
func TestSendStreamEarlyStopBounded(t *testing.T) {
	srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	msgs := manyMessages(300)
	ys, pulled := runStream(testCtx(t), c, msgs, func(ys []streamResult) bool { return len(ys) < 3 })
	if len(ys) != 3 || pulled >= len(msgs) {
		t.Fatalf("%d results, %d of %d messages taken", len(ys), pulled, len(msgs))
	}
	t.Logf("%d messages taken", pulled)
	if _, err := c.Noop(testCtx(t)); err != nil {
		t.Fatalf("Noop: %v", err)
	}
	if m := srv.Messages(); len(m) != pulled {
		t.Errorf("server recorded %d messages, %d were written", len(m), pulled)
	}
	if _, err := c.Send(testCtx(t), "after@example.org", []string{"after@example.net"}, strings.NewReader("after\r\n")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := srv.Messages()
	checkRecorded(t, "after", m[len(m)-1], testMessage{from: "after@example.org", body: "after\r\n"}, []string{"after@example.net"})
}

// TestSendStream421: a 421 in the middle of a stream closes the Client.
// smtptest does not close its side after an overridden 421, so replies
// already received may still be reported: what matters is that every
// result is true (a success only for a message recorded, with exactly
// the recipients reported accepted), that the 421 is not taken for an
// acceptance, and that the Client is unusable afterwards.
func TestSendStream421(t *testing.T) {
	for _, p := range sendPaths {
		for _, verb := range []string{"MAIL", "RCPT"} {
			t.Run(p.name+"/"+verb, func(t *testing.T) {
				srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
					{Verb: verb, Match: "<sender3@", Reply: response.New(421, "4.3.2 shutting down")},
					{Verb: verb, Match: "<r3a@", Reply: response.New(421, "4.3.2 shutting down")},
				}})
				c := dialHello(t, srv, nil)
				msgs := manyMessages(8)
				ys, pulled := runStream(testCtx(t), c, msgs, nil)
				if len(ys) != pulled {
					t.Errorf("%d taken, %d results", pulled, len(ys))
				}
				if len(ys) < 4 {
					t.Fatalf("%d results", len(ys))
				}
				byFrom := map[string]smtptest.Message{}
				for _, m := range srv.Messages() {
					byFrom[m.From] = m
				}
				for i, y := range ys {
					if i < 3 && y.err != nil {
						t.Errorf("message %d: %v", i, y.err)
					}
					if y.err != nil {
						continue
					}
					var acc []string
					for _, r := range y.res.Recipients {
						if r.Accepted {
							acc = append(acc, r.Address)
						}
						if r.Reply.Code == 421 && r.Accepted {
							t.Errorf("message %d: a 421 taken for an acceptance: %+v", i, r)
						}
					}
					m, ok := byFrom[msgs[i].from]
					if !ok {
						t.Errorf("message %d reported sent, not recorded", i)
						continue
					}
					checkRecorded(t, fmt.Sprintf("message %d", i), m, msgs[i], acc)
				}
				if verb == "MAIL" && ys[3].err == nil {
					t.Errorf("message 3 succeeded although its MAIL got 421")
				}
				if _, err := c.Noop(testCtx(t)); err == nil {
					t.Errorf("Noop after a 421 succeeded")
				}
			})
		}
	}
}

// TestSendStreamUnbuildableLine: a message whose command line cannot be
// built (an address with CRLF in it) fails alone, with nothing of it on
// the wire.
func TestSendStreamUnbuildableLine(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
			msgs := manyMessages(3)
			seq := func(yield func(*session.Message) bool) {
				for i, m := range msgs {
					sm := m.message()
					if i == 1 {
						sm.Envelope.To = append(sm.Envelope.To, command.Mailbox{Local: "x\r\nRCPT TO:<injected", Domain: "example.org"})
					}
					if !yield(sm) {
						return
					}
				}
			}
			var ys []streamResult
			for res, err := range c.SendStream(testCtx(t), seq) {
				ys = append(ys, streamResult{res, err})
			}
			if len(ys) != 3 {
				t.Fatalf("%d results", len(ys))
			}
			var ce *command.Error
			if ys[0].err != nil || !errors.As(ys[1].err, &ce) || ys[2].err != nil {
				t.Errorf("results %v, %v, %v: want the second to fail with a *command.Error", ys[0].err, ys[1].err, ys[2].err)
			}
			for _, l := range srv.Commands() {
				// Without pipelining MAIL goes before the RCPT line is
				// built, and an RSET ends it; with it, nothing goes.
				if strings.Contains(l, "injected") || p.pipe && strings.Contains(l, "sender1@") {
					t.Errorf("sent %q", l)
				}
			}
			m := srv.Messages()
			if len(m) != 2 {
				t.Fatalf("server recorded %d messages", len(m))
			}
			checkRecorded(t, "message 0", m[0], msgs[0], msgs[0].to)
			checkRecorded(t, "message 2", m[1], msgs[2], msgs[2].to)
		})
	}
}

// TestSendStreamInTransaction: a stream cannot start inside a transaction
// the caller opened.
func TestSendStreamInTransaction(t *testing.T) {
	srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	if _, err := c.Mail(testCtx(t), command.Mail{From: mailbox("a@example.org")}); err != nil {
		t.Fatal(err)
	}
	ys, pulled := runStream(testCtx(t), c, manyMessages(2), nil)
	if len(ys) != 1 || pulled != 0 || !errors.Is(ys[0].err, session.ErrBadSequence) {
		t.Errorf("results %+v, %d taken: want one ErrBadSequence and nothing taken", ys, pulled)
	}
	if got := verbs(srv); !slices.Equal(got, []string{"EHLO", "MAIL"}) {
		t.Errorf("commands %q", srv.Commands())
	}
}

// A stream whose last message leaves the server's transaction open (BDAT,
// every recipient refused) resets it before it returns, so that the next
// message is not a nested MAIL. The stream's own RSET was once refused as
// a call made during the stream, and the flag that asked for it cleared.
func TestStreamEndsOutsideTransaction(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Extensions: smtptest.DefaultExtensions(),
		Overrides:  []smtptest.Override{{Verb: "RCPT", Match: "<refused", Reply: response.New(550, "5.1.1 no such user")}},
	})
	c := dial(t, srv, nil)
	msgs := []*session.Message{
		{Envelope: session.Envelope{To: []command.Mailbox{{Local: "ok", Domain: "example.net"}}}, Body: bytes.NewReader([]byte("a\r\n"))},
		{Envelope: session.Envelope{To: []command.Mailbox{{Local: "refused", Domain: "example.net"}}}, Body: bytes.NewReader([]byte("b\r\n"))},
	}
	var errs []error
	for _, err := range c.SendStream(testCtx(t), slices.Values(msgs)) {
		errs = append(errs, err)
	}
	var rr *session.RecipientsRefusedError
	if len(errs) != 2 || errs[0] != nil || !errors.As(errs[1], &rr) {
		t.Fatalf("stream: %v", errs)
	}
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.net"}, bytes.NewReader([]byte("c\r\n"))); err != nil {
		t.Fatalf("Send after the stream: %v (commands %q)", err, srv.Commands())
	}
}
