package session_test

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// Tests of a message sent in several transactions because the server takes
// fewer recipients than it has: LIMITS RCPTMAX and RCPTDOMAINMAX (RFC 9422)
// honoured from the start, and recipients refused as too many (452, RFC
// 5321 §4.5.3.1.10) sent again in the next transaction.

// rcptPath is one way a message is sent, for the tests below to run on
// each.
type rcptPath struct {
	name   string
	ext    []string // EHLO extensions besides LIMITS
	lmtp   bool
	stream bool
}

func rcptPaths() []rcptPath {
	seq := sequentialExtensions()
	pipe := []string{"PIPELINING", "SIZE 10485760", "8BITMIME", "ENHANCEDSTATUSCODES"}
	bdat := append(slices.Clone(pipe), "CHUNKING")
	return []rcptPath{
		{name: "sequential", ext: seq},
		{name: "pipelined", ext: pipe},
		{name: "bdat", ext: bdat},
		{name: "stream-pipelined", ext: pipe, stream: true},
		{name: "stream-bdat", ext: bdat, stream: true},
		{name: "lmtp", ext: pipe, lmtp: true},
		{name: "lmtp-bdat", ext: bdat, lmtp: true},
	}
}

func recipients(n int, domains ...string) []string {
	if len(domains) == 0 {
		domains = []string{"example.net"}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%02d@%s", i, domains[i%len(domains)])
	}
	return out
}

// sendVia sends one message on p's path: SendEnvelope, or a SendStream of
// one message between two others (so that the split happens with other
// transactions in flight), whose outcomes are checked too.
func sendVia(t *testing.T, p rcptPath, srv *smtptest.Server, to []string, body io.Reader) (*session.Result, error) {
	t.Helper()
	c := dial(t, srv, &session.Options{LMTP: p.lmtp})
	if !p.stream {
		return c.Send(testCtx(t), "alice@example.org", to, body)
	}
	env := func(to ...string) session.Envelope {
		e := session.Envelope{From: mailbox("alice@example.org")}
		for _, a := range to {
			e.To = append(e.To, mailbox(a))
		}
		return e
	}
	msgs := []*session.Message{
		{Envelope: env("before@example.net"), Body: strings.NewReader(testBody)},
		{Envelope: env(to...), Body: body},
		{Envelope: env("after@example.net"), Body: strings.NewReader(testBody)},
	}
	var seq iter.Seq[*session.Message] = slices.Values(msgs)
	var res []*session.Result
	var errs []error
	for r, err := range c.SendStream(testCtx(t), seq) {
		res, errs = append(res, r), append(errs, err)
	}
	if len(res) != 3 {
		t.Fatalf("SendStream yielded %d outcomes, want 3", len(res))
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil || res[i] == nil || !res[i].Recipients[0].Delivered() {
			t.Errorf("stream message %d: %v, %v", i, res[i], errs[i])
		}
	}
	return res[1], errs[1]
}

// wantDeliveredOnce checks that every address of to is in res, delivered,
// and that the server received the message exactly once for each, in
// transactions of at most max recipients.
func wantDeliveredOnce(t *testing.T, srv *smtptest.Server, res *session.Result, to []string, max int) (transactions int) {
	t.Helper()
	if res == nil || len(res.Recipients) != len(to) {
		t.Fatalf("Result = %+v, want %d recipients", res, len(to))
	}
	for i, r := range res.Recipients {
		if r.Address != to[i] || !r.Delivered() {
			t.Errorf("recipient %d = %+v, want %s delivered", i, r, to[i])
		}
	}
	got := map[string]int{}
	for _, m := range srv.Messages() {
		if !strings.HasPrefix(m.To[0], "r") {
			continue // the stream's other messages
		}
		transactions++
		if len(m.To) > max {
			t.Errorf("a transaction had %d recipients, more than %d", len(m.To), max)
		}
		if !strings.Contains(string(m.Data), "Hello.") {
			t.Errorf("a transaction's data = %q, want the message", m.Data)
		}
		for _, a := range m.To {
			got[a]++
		}
	}
	for _, a := range to {
		if got[a] != 1 {
			t.Errorf("%s received %d times, want once", a, got[a])
		}
	}
	return transactions
}

// TestRecipientLimitSplitsTheMessage: on every path, a message with more
// recipients than the server takes goes in as many transactions as it
// takes, each recipient delivered once, whether the server announced its
// limit (LIMITS RCPTMAX: no RCPT is refused) or only refused the extra
// ones (452).
func TestRecipientLimitSplitsTheMessage(t *testing.T) {
	cases := []struct {
		name      string
		announced bool
		max, n    int
		txns      int
	}{
		{"RCPTMAX announced", true, 3, 8, 3},
		{"452 to the extra ones", false, 3, 8, 3},
		{"452 after every first one", false, 1, 4, 4},
	}
	for _, tc := range cases {
		for _, p := range rcptPaths() {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				ext := p.ext
				if tc.announced {
					ext = append(slices.Clone(ext), fmt.Sprintf("LIMITS RCPTMAX=%d", tc.max))
				}
				srv := newServer(t, smtptest.Config{LMTP: p.lmtp, MaxRecipients: tc.max, Extensions: ext})
				to := recipients(tc.n)
				res, err := sendVia(t, p, srv, to, strings.NewReader(testBody))
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if n := wantDeliveredOnce(t, srv, res, to, tc.max); n != tc.txns {
					t.Errorf("%d transactions, want %d", n, tc.txns)
				}
				for _, r := range res.Recipients {
					if tc.announced && r.Reply.Code != 250 {
						t.Errorf("%s: RCPT answered %v, want 250: nothing sent past the announced limit", r.Address, r.Reply)
					}
				}
				if len(res.Refused()) != 0 {
					t.Errorf("Refused() = %v, want none: each was sent again and accepted", res.Refused())
				}
			})
		}
	}
}

func TestRcptDomainMaxGroupsByDomain(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: append(sequentialExtensions(), "LIMITS RCPTDOMAINMAX=2")})
	to := recipients(6, "a.example", "b.example", "c.example")
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	wantDeliveredOnce(t, srv, res, to, 6)
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d transactions, want 2 (a and b, then c)", len(msgs))
	}
	for _, m := range msgs {
		domains := map[string]bool{}
		for _, a := range m.To {
			domains[a[strings.IndexByte(a, '@')+1:]] = true
		}
		if len(domains) > 2 {
			t.Errorf("a transaction went to %d domains: %v", len(domains), m.To)
		}
	}
}

// oneShotReader can be read once only: it hides every method but Read.
type oneShotReader struct{ r io.Reader }

func (o oneShotReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestTooManyRecipientsWithABodyReadOnce(t *testing.T) {
	srv := newServer(t, smtptest.Config{MaxRecipients: 3,
		Extensions: append(sequentialExtensions(), "LIMITS RCPTMAX=3")})
	to := recipients(5)
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", to, oneShotReader{strings.NewReader(testBody)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d transactions, want 1: the body cannot be read again", n)
	}
	refused := res.Refused()
	if len(refused) != 2 || refused[0].Address != to[3] || refused[1].Address != to[4] {
		t.Fatalf("Refused() = %+v, want the last two", refused)
	}
	for _, r := range refused {
		if r.Reply.Code != 452 || !session.Temporary(r.Reply.Err("RCPT")) {
			t.Errorf("%s refused with %v, want the server's 452 (temporary: the caller may send again)", r.Address, r.Reply)
		}
	}
}

func TestOther452IsNotSentAgain(t *testing.T) {
	// A 452 for another reason than the count (4.2.2 mailbox full) would
	// fare no better in another transaction.
	srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "full@", Reply: response.New(452, "4.2.2 Mailbox full")},
	}})
	to := []string{"r1@example.net", "full@example.net", "r2@example.net"}
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
	if r := res.Recipients[1]; r.Accepted || r.Reply.Code != 452 || r.Data.Code != 0 {
		t.Errorf("full@: %+v, want refused with the 452", r)
	}
}

func TestSplitSessionEndsAfterAPartialDelivery(t *testing.T) {
	// One message per connection: the second transaction's MAIL gets 421.
	// The first two recipients have the message; the caller must not be
	// told it is safe to send it again to everyone.
	srv := newServer(t, smtptest.Config{MaxMessagesPerConnection: 1,
		Extensions: append(sequentialExtensions(), "LIMITS RCPTMAX=2")})
	to := recipients(4)
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(testBody))
	var ue *session.UnansweredError
	if !errors.As(err, &ue) || !ue.MaybeDelivered {
		t.Fatalf("Send = %v, %v; want an *UnansweredError with MaybeDelivered", res, err)
	}
	if ue.Result == nil || !ue.Result.Recipients[0].Delivered() || !ue.Result.Recipients[1].Delivered() ||
		ue.Result.Recipients[2].Delivered() || ue.Result.Recipients[3].Delivered() {
		t.Errorf("Result = %+v, want the first two delivered, not the others", ue.Result)
	}
	if !slices.Equal(ue.Recipients, to[2:]) {
		t.Errorf("Recipients = %v, want %v: those whose fate is not known", ue.Recipients, to[2:])
	}
	if len(srv.Messages()) != 1 {
		t.Errorf("server has %d messages, want 1", len(srv.Messages()))
	}
}

func TestSplitEveryGroupRefused(t *testing.T) {
	// Refused recipients do not stop the next group; a message delivered
	// to nobody is an error carrying every recipient's reply.
	srv := newServer(t, smtptest.Config{
		Extensions: append(sequentialExtensions(), "LIMITS RCPTMAX=2"),
		Overrides:  []smtptest.Override{{Verb: "RCPT", Reply: response.New(550, "5.1.1 No such user")}},
	})
	to := recipients(5)
	c := dial(t, srv, nil)
	_, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(testBody))
	var re *session.RecipientsRefusedError
	if !errors.As(err, &re) || len(re.Recipients) != 5 {
		t.Fatalf("Send = %v, want a *RecipientsRefusedError with all 5", err)
	}
	for _, r := range re.Recipients {
		if r.Reply.Code != 550 {
			t.Errorf("%s: %v, want 550", r.Address, r.Reply)
		}
	}
	if n := strings.Count(strings.Join(srv.Commands(), "\n"), "MAIL FROM"); n != 3 {
		t.Errorf("%d transactions, want 3", n)
	}
}

func TestSplitSenderRefusedStops(t *testing.T) {
	// The second MAIL refused (a per-session limit, say): the rest is not
	// sent, and each of its recipients carries that refusal.
	srv := newServer(t, smtptest.Config{
		Extensions: append(sequentialExtensions(), "LIMITS RCPTMAX=2"),
		Overrides:  []smtptest.Override{{Verb: "MAIL", Nth: 2, Reply: response.New(451, "4.7.1 Too many messages, slow down")}},
	})
	to := recipients(5)
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v (the message went to two recipients)", err)
	}
	for i, r := range res.Recipients {
		switch {
		case i < 2 && !r.Delivered():
			t.Errorf("%s: %+v, want delivered", r.Address, r)
		case i >= 2 && (r.Accepted || r.Reply.Code != 451):
			t.Errorf("%s: %+v, want refused with the MAIL's 451", r.Address, r)
		}
	}
	if n := strings.Count(strings.Join(srv.Commands(), "\n"), "MAIL FROM"); n != 2 {
		t.Errorf("%d MAIL commands, want 2", n)
	}
}

func TestSplitResultKeepsTheFirstMailReply(t *testing.T) {
	// Result.Mail of a message sent in several transactions is the first
	// MAIL's reply, as its documentation says, not the last one's.
	srv := newServer(t, smtptest.Config{
		Extensions: append(sequentialExtensions(), "LIMITS RCPTMAX=2"),
		Overrides:  []smtptest.Override{{Verb: "MAIL", Nth: 2, Reply: response.New(250, "2.1.0 second sender ok")}},
	})
	c := dial(t, srv, nil)
	res, err := c.Send(testCtx(t), "alice@example.org", recipients(3), strings.NewReader(testBody))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if strings.Contains(res.Mail.Text, "second") || res.Mail.Code != 250 {
		t.Errorf("Result.Mail = %v, want the first MAIL's reply", res.Mail)
	}
}
