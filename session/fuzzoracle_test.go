package session_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"pgregory.net/rapid"
)

// TestPropertyFuzzOracle is package fuzz's cross-path oracle run over the
// session: a scripted server answers from a fuzz.ServerScript (any reply
// at any place of a transaction: 2yz, 4yz, 5yz, a 421 and a close, a close
// without a reply, a line that is no reply, a reply nobody asked for), the client sends to
// addresses fuzz.Mailbox draws, sequentially, pipelined, with BDAT, as a
// SendStream of several messages, with the low-level calls, or over LMTP,
// and each message's outcome must be the one fuzz.Implied reads from the
// server's log (fuzz.Outcome.Diff). The same rule for every path is what
// catches a reply taken for the wrong command.
func TestPropertyFuzzOracle(t *testing.T) {
	for _, p := range foPaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			rapid.Check(t, func(rt *rapid.T) { foCase(rt, p) })
		})
	}
}

// foPath is one way of sending; the extensions offered are drawn from
// exts.
type foPath struct {
	name   string
	lmtp   bool
	exts   [][]string
	binary bool // a body with a NUL: BODY=BINARYMIME, so BDAT
	stream bool // SendStream, several messages
	low    bool // Mail, Rcpt, Data and DataWriter.Close
}

var foPaths = []foPath{
	{name: "sequential", exts: [][]string{{"8BITMIME"}}},
	{name: "pipelined", exts: [][]string{{"PIPELINING", "8BITMIME"}}},
	{name: "pipelined BDAT", exts: [][]string{{"PIPELINING", "CHUNKING", "8BITMIME"}}},
	{name: "BINARYMIME", exts: [][]string{{"CHUNKING", "BINARYMIME", "8BITMIME"}}, binary: true},
	{name: "stream", stream: true, exts: [][]string{{"8BITMIME"}, {"PIPELINING", "8BITMIME"}, {"PIPELINING", "CHUNKING", "8BITMIME"}}},
	{name: "low-level", low: true, exts: [][]string{{"8BITMIME"}, {"PIPELINING", "CHUNKING", "8BITMIME"}}},
	{name: "LMTP", lmtp: true, exts: [][]string{{}, {"PIPELINING"}, {"PIPELINING", "CHUNKING"}}},
}

// foChunk is the client's BDAT chunk size: a body of n chunks is
// 32*(n-1)+24 octets, so that how it splits is known.
const foChunk = 32

// foBody is message i, chunks chunks long as sent, with a NUL when
// binary.
func foBody(i, chunks int, binary bool) string {
	head := fmt.Sprintf("Subject: m%d\r\n\r\n", i)
	fill := []byte(strings.Repeat("x", foChunk*(chunks-1)+24-len(head)-2))
	if binary {
		fill[0] = 0
	}
	return head + string(fill) + "\r\n"
}

// foEnvelope draws message i's envelope for t: distinct recipients, as
// many as the script expects.
func foEnvelope(rt *rapid.T, i int, t fuzz.Transaction) session.Envelope {
	env := session.Envelope{From: fuzz.Mailbox(false).Draw(rt, fmt.Sprintf("m%d from", i))}
	env.To = rapid.SliceOfNDistinct(fuzz.Mailbox(false), t.Rcpts, t.Rcpts, command.Mailbox.String).Draw(rt, fmt.Sprintf("m%d to", i))
	return env
}

func foCase(rt *rapid.T, p foPath) {
	exts := p.exts[rapid.IntRange(0, len(p.exts)-1).Draw(rt, "extensions")]
	pipe := slices.Contains(exts, "PIPELINING") && !p.low
	path := fuzz.Path{LMTP: p.lmtp, BDAT: slices.Contains(exts, "CHUNKING") && (pipe || p.binary)}
	n := 1
	if p.stream {
		n = rapid.IntRange(2, 4).Draw(rt, "messages")
	}
	script := fuzz.ServerScript(fuzz.ScriptOptions{Transactions: n, LMTP: p.lmtp, Surplus: !p.stream, Garbage: true}).Draw(rt, "script")
	envs := make([]session.Envelope, n)
	for i, tr := range script.Transactions {
		envs[i] = foEnvelope(rt, i, tr)
	}

	srv := startScripted(scriptedConfig{LMTP: p.lmtp, Exts: exts, Answer: func(c scriptedCmd) scriptedAnswer {
		a := script.Answer(fuzz.Query{Verb: c.Verb, Msg: c.Msg, Index: c.Index, Open: c.Open, Accepted: c.Accepted})
		// The scripted server's hang-up keeps reading, so that what the
		// client writes afterwards is seen.
		return scriptedAnswer{Reply: a.Reply, Surplus: a.Surplus, HangUp: a.Close}
	}})
	defer srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := 5 * time.Second
	c, _, err := dialWatched(ctx, srv.Addr, &session.Options{
		LMTP:      p.lmtp,
		LocalName: "client.example.org",
		ChunkSize: foChunk,
		Timeouts:  session.Timeouts{Greeting: d, Command: d, Mail: d, Rcpt: d, DataInit: d, DataBlock: d, DataEnd: d},
	})
	if err != nil {
		rt.Fatalf("connect: %v", err)
	}
	defer c.Close()
	if err := c.Hello(ctx); err != nil {
		rt.Fatalf("Hello: %v", err)
	}

	var got []foResult
	switch {
	case p.stream:
		got = foStream(ctx, c, envs, script)
	case p.low:
		got = []foResult{foLowLevel(ctx, c, &envs[0], strings.NewReader(foBody(0, script.Transactions[0].Chunks, false)))}
	default:
		res, err := c.SendEnvelope(ctx, &envs[0], strings.NewReader(foBody(0, script.Transactions[0].Chunks, p.binary)))
		got = []foResult{foObserve(res, err, &envs[0])}
	}

	// A client that saw the server close, or a reply too many, closes
	// its side: then the log is complete.
	evs := srv.events()
	ended := false
	for _, e := range evs {
		ended = ended || e.HangUp || e.Surplus
	}
	if ended && !srv.waitEnded(3*time.Second) {
		rt.Errorf("the client kept the connection open after the server closed it or sent a reply too many")
	}
	var log []fuzz.Exchange
	for _, e := range srv.events() {
		log = append(log, fuzz.Exchange{
			Query: fuzz.Query{Verb: e.Cmd.Verb, Msg: e.Cmd.Msg, Index: e.Cmd.Index, Open: e.Cmd.Open, Accepted: e.Cmd.Accepted},
			Reply: e.Reply, Surplus: e.Surplus, Close: e.HangUp, Late: e.Late,
		})
	}
	for i, g := range got {
		want := fuzz.Implied(log, i, script.Transactions[i], path)
		if msg := want.Diff(g.Outcome, path); msg != "" {
			rt.Errorf("message %d: %s\n got  %v [%T: %v]\n want %v", i, msg, g.Outcome, g.err, g.err, want)
		}
		if want.Kind == fuzz.Unanswered {
			if msg := foReason(g.err, log); msg != "" {
				rt.Errorf("message %d, unanswered: %s", i, msg)
			}
		}
	}
}

// foResult is a message's outcome as the client reported it, and the
// error it came with.
type foResult struct {
	fuzz.Outcome
	err error
}

// foLine is a reply as the server sent it ("250 2.1.5 ok"), "" for none.
func foLine(r response.Reply) string {
	if r.Code == 0 {
		return ""
	}
	return fmt.Sprintf("%03d %s", int(r.Code), r.Text)
}

// foObserve puts what SendEnvelope (or SendStream) returned in the terms
// of fuzz.Outcome.
func foObserve(res *session.Result, err error, env *session.Envelope) foResult {
	o := fuzz.Outcome{}
	var (
		sr *session.SenderRefusedError
		rr *session.RecipientsRefusedError
		de *session.DataError
		dl *session.DeliveryError
		ue *session.UnansweredError
		ds *session.DesyncError
	)
	switch {
	case err == nil && res == nil:
		o.Kind = "no result and no error"
	case err == nil:
		o.Kind, o.Mail, o.End = fuzz.Delivered, foLine(res.Mail), foLine(res.Data)
		for _, r := range res.Recipients {
			o.Rcpts = append(o.Rcpts, foLine(r.Reply))
			o.PerRcpt = append(o.PerRcpt, foLine(r.Data))
		}
	case errors.As(err, &sr):
		o.Kind, o.Reply = fuzz.SenderRefused, foLine(sr.Reply)
	case errors.As(err, &rr):
		o.Kind = fuzz.RecipientsRefused
		for _, r := range rr.Recipients {
			o.Rcpts = append(o.Rcpts, foLine(r.Reply))
		}
	case errors.As(err, &de):
		o.Kind, o.Command, o.Reply = fuzz.DataRefused, de.Command, foLine(de.Reply)
	case errors.As(err, &dl):
		o.Kind = fuzz.NotDelivered
		for _, r := range dl.Result.Recipients {
			o.PerRcpt = append(o.PerRcpt, foLine(r.Data))
		}
	case errors.As(err, &ue):
		o.Kind, o.Command, o.MaybeDelivered, o.CheckMaybe = fuzz.Unanswered, ue.Command, ue.MaybeDelivered, true
		for _, a := range ue.Recipients {
			o.Missing = append(o.Missing, slices.IndexFunc(env.To, func(m command.Mailbox) bool { return m.String() == a }))
		}
	case errors.As(err, &ds):
		o.Kind = fuzz.Desynchronised
	default:
		o.Kind = "other"
	}
	return foResult{o, err}
}

// foStream sends the messages with SendStream and returns the outcome of
// each it took.
func foStream(ctx context.Context, c *session.Client, envs []session.Envelope, script fuzz.Script) []foResult {
	in := make([]*session.Message, len(envs))
	for i := range envs {
		in[i] = &session.Message{Envelope: envs[i], Body: strings.NewReader(foBody(i, script.Transactions[i].Chunks, false))}
	}
	seq := func(yield func(*session.Message) bool) {
		for _, m := range in {
			if !yield(m) {
				return
			}
		}
	}
	var got []foResult
	for res, err := range c.SendStream(ctx, seq) {
		got = append(got, foObserve(res, err, &envs[len(got)]))
	}
	return got
}

// foLowLevel sends with Mail, Rcpt, Data and DataWriter.Close, stopping
// where SendEnvelope would, and reports in SendEnvelope's terms.
func foLowLevel(ctx context.Context, c *session.Client, env *session.Envelope, body io.Reader) foResult {
	var o fuzz.Outcome
	reply, err := c.Mail(ctx, command.Mail{From: env.From})
	if reply.Code == 0 {
		return foResult{fuzz.Outcome{Kind: fuzz.Unanswered, Command: "MAIL"}, err}
	}
	if o.Mail = foLine(reply); !reply.Positive() {
		return foResult{fuzz.Outcome{Kind: fuzz.SenderRefused, Reply: o.Mail}, err}
	}
	accepted := 0
	for _, to := range env.To {
		reply, err := c.Rcpt(ctx, command.Rcpt{To: to})
		if reply.Code == 0 {
			return foResult{fuzz.Outcome{Kind: fuzz.Unanswered, Command: "RCPT"}, err}
		}
		o.Rcpts = append(o.Rcpts, foLine(reply))
		if reply.Positive() {
			accepted++
		}
	}
	if accepted == 0 {
		o.Kind = fuzz.RecipientsRefused
		return foResult{o, nil}
	}
	dw, err := c.Data(ctx)
	var de *session.DataError
	switch {
	case errors.As(err, &de):
		return foResult{fuzz.Outcome{Kind: fuzz.DataRefused, Command: de.Command, Reply: foLine(de.Reply)}, err}
	case err != nil:
		return foResult{fuzz.Outcome{Kind: fuzz.Unanswered, Command: "DATA"}, err}
	}
	io.Copy(dw, body)
	err = dw.Close()
	var ue *session.UnansweredError
	var ds *session.DesyncError
	switch {
	case err == nil:
		o.Kind, o.End = fuzz.Delivered, foLine(dw.Reply())
		return foResult{o, nil}
	case errors.As(err, &de):
		return foResult{fuzz.Outcome{Kind: fuzz.DataRefused, Command: de.Command, Reply: foLine(de.Reply)}, err}
	case errors.As(err, &ue):
		return foResult{fuzz.Outcome{Kind: fuzz.Unanswered, Command: ue.Command, MaybeDelivered: ue.MaybeDelivered, CheckMaybe: true}, err}
	case errors.As(err, &ds):
		return foResult{fuzz.Outcome{Kind: fuzz.Desynchronised}, err}
	}
	return foResult{fuzz.Outcome{Kind: fuzz.Unanswered, Command: "end of data"}, err}
}

// foReason checks that an unanswered message's error says why the
// session ended: the server's 421 (errors.As finds it), or its close
// (errors.Is ErrServerDisconnected).
func foReason(err error, log []fuzz.Exchange) string {
	closing, closed := "", false
	for _, e := range log {
		if e.Close && !e.Late {
			closing, closed = e.Reply, true
			break
		}
	}
	var re *response.Error
	switch {
	case err == nil:
		return "no error"
	case !closed:
		return fmt.Sprintf("%v, but the server never closed the connection", err)
	case strings.Contains(err.Error(), "use of closed network connection"):
		return "the client's own close reported as the server's"
	case strings.HasPrefix(closing, "421") && (!errors.As(err, &re) || re.Reply.Code != 421):
		return fmt.Sprintf("%v does not unwrap to the server's 421", err)
	case closing != "" && !strings.HasPrefix(closing, "4"):
		// A line that is no reply: the session ends on a protocol
		// error, whatever it unwraps to.
	case closing == "" && !errors.Is(err, session.ErrServerDisconnected):
		return fmt.Sprintf("%v does not match ErrServerDisconnected", err)
	}
	return ""
}
