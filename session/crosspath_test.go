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

// TestPropertyCrossPath plays random server scripts (fuzz.ServerScript:
// any reply at any place in a transaction: 2yz, 4yz, 5yz, a 421 and a
// hang-up, a hang-up without a reply; a reply nobody asked for after the
// last one) through every way a message can go, and checks each outcome
// against what the script implies, by one rule for all of them
// (fuzz.Implied; see also TestPropertyFuzzOracle). The server
// also checks that the client never writes what it could only write after
// seeing the server hang up, and the client side that it never writes
// after reading the end of the stream. Each path is one rapid.Check
// (-rapid.checks sets how many scripts).
func TestPropertyCrossPath(t *testing.T) {
	for _, p := range cpPaths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			rapid.Check(t, func(rt *rapid.T) { cpCase(rt, p) })
		})
	}
}

// cpChunk is the BDAT chunk size the client is given: message bodies are
// 1 to 3 chunks long.
const cpChunk = 32

// cpMsg is the script for one message (package fuzz's), and the
// message.
type cpMsg struct{ fuzz.Transaction }

func (m cpMsg) from(i int) string { return fmt.Sprintf("s%d@example.org", i) }

func (m cpMsg) to(i int) []string {
	var out []string
	for j := range m.Rcpts {
		out = append(out, fmt.Sprintf("r%d.%d@example.net", i, j))
	}
	return out
}

func (m cpMsg) envelope(i int) session.Envelope {
	env := session.Envelope{From: mailbox(m.from(i))}
	for _, to := range m.to(i) {
		env.To = append(env.To, mailbox(to))
	}
	return env
}

// body is message i, m.chunks chunks long: CRLF lines (with a NUL when
// binary), so that its length as sent is known and not a multiple of
// cpChunk.
func (m cpMsg) body(i int, binary bool) string {
	n := cpChunk*(m.Chunks-1) + 24
	head := fmt.Sprintf("Subject: m%d\r\n\r\n", i)
	fill := []byte(strings.Repeat("x", n-len(head)-2))
	if binary {
		fill[0] = 0
	}
	return head + string(fill) + "\r\n"
}

// cpPath is one way a message goes; the extensions offered are drawn from
// exts, and decide between DATA and BDAT and whether commands are
// pipelined.
type cpPath struct {
	name   string
	lmtp   bool
	exts   [][]string
	binary bool // the body has a NUL: BODY=BINARYMIME, BDAT
	stream bool // SendStream, several messages
	low    bool // Mail, Rcpt, Data and DataWriter.Close
}

var cpPaths = []cpPath{
	{name: "sequential", exts: [][]string{{"8BITMIME"}}},
	{name: "pipelined DATA", exts: [][]string{{"PIPELINING", "8BITMIME"}}},
	{name: "pipelined BDAT", exts: [][]string{{"PIPELINING", "CHUNKING", "8BITMIME"}}},
	{name: "BINARYMIME chunked", exts: [][]string{{"CHUNKING", "BINARYMIME", "8BITMIME"}}, binary: true},
	{name: "stream", stream: true, exts: [][]string{{"8BITMIME"}, {"PIPELINING", "8BITMIME"}, {"PIPELINING", "CHUNKING", "8BITMIME"}}},
	{name: "low-level", low: true, exts: [][]string{{"8BITMIME"}, {"PIPELINING", "CHUNKING", "8BITMIME"}}},
	{name: "LMTP", lmtp: true, exts: [][]string{{}, {"PIPELINING"}, {"PIPELINING", "CHUNKING"}}},
}

// cpOutcome is a message's outcome, as the script implies it or as the
// client reported it. Replies are lines as sent ("250 2.1.5 ...").
type cpOutcome struct {
	// kind is delivered, sender (refused at MAIL), recipients (every
	// recipient refused), data (*DataError), delivery (LMTP: no recipient
	// took it), unanswered or desync.
	kind    string
	command string // data, unanswered: the command
	reply   string // sender, data: the reply
	mail    string
	rcpts   []string // per recipient, its RCPT reply
	end     string   // SMTP, delivered: the end-of-data reply
	per     []string // LMTP: per recipient, its reply after the message
	missing []string // LMTP, unanswered: the recipients without a reply
	// maybe is MaybeDelivered, checked when checkMaybe.
	maybe, checkMaybe bool
	err               error // the client's error
}

func (o cpOutcome) String() string {
	s := o.kind
	if o.command != "" {
		s += " at " + o.command
	}
	if o.reply != "" {
		s += fmt.Sprintf(" %q", o.reply)
	}
	if o.kind == "unanswered" && o.checkMaybe {
		s += fmt.Sprintf(" (MaybeDelivered %v)", o.maybe)
	}
	if o.err != nil {
		s += fmt.Sprintf(" [%T: %v]", o.err, o.err)
	}
	return s
}

// cpRun is how a case ran: the path's flags as drawn.
type cpRun struct {
	pipe, bdat, lmtp, stream bool
	hang                     string // "421", "close" or "" (the server did not hang up)
	hangReply                string
}

// cpCase runs one script on path p.
func cpCase(t *rapid.T, p cpPath) {
	exts := p.exts[rapid.IntRange(0, len(p.exts)-1).Draw(t, "extensions")]
	run := cpRun{
		pipe:   slices.Contains(exts, "PIPELINING") && !p.low,
		lmtp:   p.lmtp,
		stream: p.stream,
	}
	run.bdat = slices.Contains(exts, "CHUNKING") && (run.pipe || p.binary)
	n := 1
	if p.stream {
		n = rapid.IntRange(2, 4).Draw(t, "messages")
	}
	script := fuzz.ServerScript(fuzz.ScriptOptions{Transactions: n, LMTP: p.lmtp, Surplus: !p.stream}).Draw(t, "script")
	msgs := make([]cpMsg, n)
	for i, tr := range script.Transactions {
		msgs[i] = cpMsg{tr}
	}
	srv := startScripted(scriptedConfig{LMTP: p.lmtp, Exts: exts, Answer: func(c scriptedCmd) scriptedAnswer {
		a := script.Answer(fuzz.Query{Verb: c.Verb, Msg: c.Msg, Index: c.Index, Open: c.Open, Accepted: c.Accepted})
		return scriptedAnswer{Reply: a.Reply, Surplus: a.Surplus, HangUp: a.Close}
	}})
	defer srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := 5 * time.Second
	opts := &session.Options{
		LMTP:      p.lmtp,
		LocalName: "client.example.org",
		ChunkSize: cpChunk,
		Timeouts:  session.Timeouts{Greeting: d, Command: d, Mail: d, Rcpt: d, DataInit: d, DataBlock: d, DataEnd: d},
	}
	c, w, err := dialWatched(ctx, srv.Addr, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close()
	if err := c.Hello(ctx); err != nil {
		t.Fatalf("Hello: %v", err)
	}

	var got []cpOutcome
	taken := 1
	switch {
	case p.stream:
		got, taken = cpStream(t, ctx, c, msgs)
	case p.low:
		env := msgs[0].envelope(0)
		got = []cpOutcome{cpLowLevel(ctx, c, &env, strings.NewReader(msgs[0].body(0, false)))}
	default:
		env := msgs[0].envelope(0)
		res, err := c.SendEnvelope(ctx, &env, strings.NewReader(msgs[0].body(0, p.binary)))
		got = []cpOutcome{cpObserve(res, err)}
	}

	hung, hungUp := srv.hungUp()
	desync := false // the server sent a reply nobody asked for
	for _, e := range srv.events() {
		desync = desync || e.Surplus
	}
	if hungUp {
		run.hangReply = hung.Reply
		run.hang = "close"
		if hung.Reply != "" {
			run.hang = "421"
		}
	}
	if hungUp || desync {
		// The client closes the connection: the server, which listens
		// on after hanging up, sees it end, with everything the client
		// wrote before.
		if !srv.waitEnded(3 * time.Second) {
			t.Errorf("the client kept the connection open after the server hung up (%s) or sent a reply too many", run.hang)
		}
	}
	evs := srv.events()
	for i := range taken {
		if msg, want := cpCompare(evs, i, msgs[i], got[i], run); msg != "" {
			t.Errorf("message %d: %s\n got  %v\n want %v", i, msg, got[i], want)
		}
	}
	surplus := false
	for _, e := range evs {
		if e.Garbage && !e.Late {
			t.Errorf("the client sent %q, no command: message data where none was due?", e.Cmd.Line)
		}
		if surplus {
			t.Errorf("the client wrote %q after the reply it did not ask for: it should have closed the connection", e.Cmd.Line)
		}
		surplus = surplus || e.Surplus
	}
	if msg := cpCheckLate(srv.late(), run); msg != "" {
		t.Errorf("after the server hung up (%s %q): %s", run.hang, run.hangReply, msg)
	}
	if _, _, late := w.stats(); late > 0 {
		t.Errorf("the client wrote %d times after reading the end of the stream", late)
	}

	// Afterwards: a session that ended stays ended, and writes nothing;
	// one that did not answers NOOP with NOOP's reply, not a stale one.
	writes, _, _ := w.stats()
	start := time.Now()
	reply, err := c.Noop(ctx)
	switch {
	case hungUp || desync:
		if err == nil {
			t.Errorf("Noop after the session ended: %v, nil error", reply)
		} else {
			cpCheckReason(t, "Noop after the session ended", err, run)
		}
		if after, _, _ := w.stats(); after != writes {
			t.Errorf("Noop after the session ended wrote %d times", after-writes)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Noop after the session ended took %v", d)
		}
	case err != nil:
		t.Errorf("Noop after the transaction: %v", err)
	case !strings.Contains(reply.Text, "noop ok"):
		t.Errorf("Noop after the transaction read %q: a reply left over", reply)
	}
}

// cpStream sends msgs with SendStream and returns the outcome of each
// message taken, checking that the Message fields agree with what was
// yielded.
func cpStream(t *rapid.T, ctx context.Context, c *session.Client, msgs []cpMsg) ([]cpOutcome, int) {
	in := make([]*session.Message, len(msgs))
	for i, m := range msgs {
		in[i] = &session.Message{Envelope: m.envelope(i), Body: strings.NewReader(m.body(i, false))}
	}
	taken := 0
	seq := func(yield func(*session.Message) bool) {
		for _, m := range in {
			taken++
			if !yield(m) {
				return
			}
		}
	}
	var got []cpOutcome
	for res, err := range c.SendStream(ctx, seq) {
		if len(got) < taken {
			if done, r, e := cpTaken(in[len(got)]); !done || r != res || e != err {
				t.Errorf("message %d: yielded (%v, %v) but recorded Done %v (%v, %v) before the yield", len(got), res, err, done, r, e)
			}
		}
		got = append(got, cpObserve(res, err))
	}
	if len(got) != taken {
		t.Fatalf("SendStream took %d messages and yielded %d results", taken, len(got))
	}
	for i := taken; i < len(in); i++ {
		if done, _, _ := cpTaken(in[i]); done {
			t.Errorf("message %d was not taken but is Done", i)
		}
	}
	return got, taken
}

// cpLowLevel sends the message with Mail, Rcpt, Data and
// DataWriter.Close, stopping where Send would, and returns the outcome
// in the terms of the Send methods.
func cpLowLevel(ctx context.Context, c *session.Client, env *session.Envelope, body io.Reader) cpOutcome {
	var o cpOutcome
	reply, err := c.Mail(ctx, command.Mail{From: env.From})
	if reply.Code == 0 {
		return cpOutcome{kind: "unanswered", command: "MAIL", err: err}
	}
	o.mail = cpLine(reply)
	if !reply.Positive() {
		if _, ok := err.(*session.SenderRefusedError); !ok {
			return cpOutcome{kind: "untyped", reply: o.mail, err: err}
		}
		return cpOutcome{kind: "sender", reply: o.mail, err: err}
	}
	accepted := 0
	for _, to := range env.To {
		reply, err := c.Rcpt(ctx, command.Rcpt{To: to})
		if reply.Code == 0 {
			return cpOutcome{kind: "unanswered", command: "RCPT", err: err}
		}
		o.rcpts = append(o.rcpts, cpLine(reply))
		if reply.Positive() {
			accepted++
		}
	}
	if accepted == 0 {
		o.kind = "recipients"
		return o
	}
	dw, err := c.Data(ctx)
	if err != nil {
		if de, ok := err.(*session.DataError); ok {
			return cpOutcome{kind: "data", command: de.Command, reply: cpLine(de.Reply), err: err}
		}
		return cpOutcome{kind: "unanswered", command: "DATA", err: err}
	}
	io.Copy(dw, body)
	switch err := dw.Close(); e := err.(type) {
	case nil:
		o.kind, o.end = "delivered", cpLine(dw.Reply())
		return o
	case *session.DataError:
		return cpOutcome{kind: "data", command: e.Command, reply: cpLine(e.Reply), err: err}
	case *session.UnansweredError:
		cmd, maybe := cpUnanswered(e)
		return cpOutcome{kind: "unanswered", command: cmd, maybe: maybe, checkMaybe: true, err: err}
	default:
		if cpIsDesync(err) {
			return cpOutcome{kind: "desync", err: err}
		}
		return cpOutcome{kind: "unanswered", command: "end of data", err: err}
	}
}

// cpLine is a reply as the server sent it, "" for none.
func cpLine(r response.Reply) string {
	if r.Code == 0 {
		return ""
	}
	return fmt.Sprintf("%03d %s", int(r.Code), r.Text)
}

// cpObserve is what the client reported, from the Send methods.
func cpObserve(res *session.Result, err error) cpOutcome {
	o := cpOutcome{err: err}
	switch e := err.(type) {
	case nil:
		if res == nil {
			o.kind = "nil result"
			return o
		}
		o.kind, o.mail, o.end = "delivered", cpLine(res.Mail), cpLine(res.Data)
		for _, r := range res.Recipients {
			o.rcpts = append(o.rcpts, cpLine(r.Reply))
			o.per = append(o.per, cpLine(r.Data))
		}
	case *session.SenderRefusedError:
		o.kind, o.reply = "sender", cpLine(e.Reply)
	case *session.RecipientsRefusedError:
		o.kind = "recipients"
		for _, r := range e.Recipients {
			o.rcpts = append(o.rcpts, cpLine(r.Reply))
		}
	case *session.DataError:
		o.kind, o.command, o.reply = "data", e.Command, cpLine(e.Reply)
	case *session.DeliveryError:
		o.kind = "delivery"
		for _, r := range e.Result.Recipients {
			o.per = append(o.per, cpLine(r.Data))
		}
	case *session.UnansweredError:
		o.kind, o.missing = "unanswered", e.Recipients
		o.command, o.maybe = cpUnanswered(e)
		o.checkMaybe = true
	default:
		o.kind = "other"
		if cpIsDesync(err) {
			o.kind = "desync"
		}
	}
	return o
}

// cpCompare holds what the client reported for message i to the outcome
// the server's log implies by package fuzz's rule, one for every path
// (see fuzz.Implied): it returns how they differ ("" when they do not)
// and the implied outcome.
func cpCompare(evs []scriptedEvent, i int, m cpMsg, got cpOutcome, run cpRun) (string, fuzz.Outcome) {
	path := fuzz.Path{BDAT: run.bdat, LMTP: run.lmtp}
	var log []fuzz.Exchange
	for _, e := range evs {
		log = append(log, fuzz.Exchange{
			Query: fuzz.Query{Verb: e.Cmd.Verb, Msg: e.Cmd.Msg, Index: e.Cmd.Index, Open: e.Cmd.Open, Accepted: e.Cmd.Accepted},
			Reply: e.Reply, Surplus: e.Surplus, Close: e.HangUp, Late: e.Late,
		})
	}
	want := fuzz.Implied(log, i, m.Transaction, path)
	if got.err != nil && strings.Contains(got.err.Error(), "use of closed network connection") {
		return "the client's own close reported as the server's", want
	}
	if msg := want.Diff(got.fuzz(m, i), path); msg != "" {
		return msg, want
	}
	if want.Kind == fuzz.Unanswered {
		if run.hang == "" {
			return "unanswered, though the server never hung up", want
		}
		if msg := cpReason(got.err, run); msg != "" {
			return msg, want
		}
	}
	return "", want
}

// fuzz is o in package fuzz's terms, for message i.
func (o cpOutcome) fuzz(m cpMsg, i int) fuzz.Outcome {
	kinds := map[string]fuzz.OutcomeKind{
		"delivered": fuzz.Delivered, "sender": fuzz.SenderRefused, "recipients": fuzz.RecipientsRefused,
		"data": fuzz.DataRefused, "delivery": fuzz.NotDelivered, "unanswered": fuzz.Unanswered, "desync": fuzz.Desynchronised,
	}
	kind, ok := kinds[o.kind]
	if !ok {
		kind = fuzz.OutcomeKind(o.kind) // "untyped", "other", "nil result": wrong whatever was due
	}
	f := fuzz.Outcome{
		Kind: kind, Command: o.command, Reply: o.reply, Mail: o.mail, Rcpts: o.rcpts, End: o.end, PerRcpt: o.per,
		MaybeDelivered: o.maybe, CheckMaybe: o.checkMaybe,
	}
	for _, a := range o.missing {
		f.Missing = append(f.Missing, slices.Index(m.to(i), a))
	}
	return f
}

// cpReason checks that err says why the session ended: the 421 itself,
// or the server's disconnection.
func cpReason(err error, run cpRun) string {
	if err == nil {
		return "no error"
	}
	var re *response.Error
	switch run.hang {
	case "421":
		if !errors.As(err, &re) || re.Reply.Code != 421 {
			return fmt.Sprintf("%v does not unwrap to the 421", err)
		}
	case "close":
		if !errors.Is(err, session.ErrServerDisconnected) {
			return fmt.Sprintf("%v does not match ErrServerDisconnected", err)
		}
	}
	if strings.Contains(err.Error(), "use of closed network connection") {
		return "the client's own close reported as the server's"
	}
	return ""
}

func cpCheckReason(t *rapid.T, what string, err error, run cpRun) {
	if msg := cpReason(err, run); msg != "" {
		t.Errorf("%s: %s", what, msg)
	}
}

// cpCheckLate checks what the client wrote after the server hung up: on a
// path that waits for each reply, nothing; with pipelining, only the rest
// of the group it had written before it could see the hang-up (the RCPTs
// and DATA after MAIL, or the chunks; in a stream, the next messages'
// commands), and never message data after a DATA that got no 354.
func cpCheckLate(late []scriptedEvent, run cpRun) string {
	if len(late) == 0 {
		return ""
	}
	var lines []string
	for _, e := range late {
		lines = append(lines, e.Cmd.Verb+" "+e.Cmd.Line)
	}
	if !run.pipe {
		return fmt.Sprintf("a client that waits for each reply wrote %q", lines)
	}
	allowed := []string{"RCPT", "DATA"}
	switch {
	case run.stream:
		allowed = []string{"MAIL", "RCPT", "DATA", "BDAT", "END", "RSET"}
	case run.bdat:
		allowed = []string{"RCPT", "BDAT", "END"}
	}
	chunks := 0
	for _, e := range late {
		if e.Garbage || !slices.Contains(allowed, e.Cmd.Verb) || e.Cmd.Verb == "END" && !e.Cmd.Last {
			return fmt.Sprintf("wrote %q, not part of what was pipelined", lines)
		}
		if e.Cmd.Verb == "BDAT" || e.Cmd.Verb == "END" {
			chunks++
		}
	}
	if run.lmtp && chunks > 1 {
		return fmt.Sprintf("an LMTP client waits for each chunk's reply, but wrote %q", lines)
	}
	return ""
}

// The engine's new fields, read in one place.

func cpUnanswered(e *session.UnansweredError) (command string, maybeDelivered bool) {
	return e.Command, e.MaybeDelivered
}

func cpIsDesync(err error) bool {
	var de *session.DesyncError
	return errors.As(err, &de)
}

func cpTaken(m *session.Message) (done bool, res *session.Result, err error) {
	return m.Done, m.Result, m.Err
}
