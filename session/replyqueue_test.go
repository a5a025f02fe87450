package session_test

// The reply queue's invariants (issue 16), one named test per bug found
// before it: each of these failed on the old engine, where every send
// path had its own idea of which reply answers which command.

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// unsizedReader hides what a body is behind a plain io.Reader: no Len, no
// Size, so the client cannot know its size beforehand.
func unsizedReader(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }

// messageSeq is msgs as a SendStream input; taken counts what was taken.
func messageSeq(msgs []*session.Message, taken *int) iter.Seq[*session.Message] {
	return func(yield func(*session.Message) bool) {
		for _, m := range msgs {
			*taken++
			if !yield(m) {
				return
			}
		}
	}
}

// distinctMessages returns n messages, each from its own sender to its own
// recipient.
func distinctMessages(n int) []*session.Message {
	var out []*session.Message
	for i := range n {
		out = append(out, &session.Message{
			Envelope: session.Envelope{
				From: mailbox(fmt.Sprintf("s%d@example.org", i)),
				To:   []command.Mailbox{mailbox(fmt.Sprintf("r%d@example.net", i))},
			},
			Body: strings.NewReader(fmt.Sprintf("Subject: %d\r\n\r\nmessage %d\r\n", i, i)),
		})
	}
	return out
}

// checkNoOwnClose fails when err reports the client's own close as the
// server's.
func checkNoOwnClose(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
		t.Errorf("%s: %v: the client's own close reported as the server's", what, err)
	}
}

// TestLMTPChunkRefusedRepliesCounted (bug 1): in LMTP with CHUNKING, a
// chunk refused for size while two recipients were accepted. The old
// client wrote every chunk, read one reply for BDAT LAST where the server
// sent one per recipient, and the next Send read that surplus reply as
// its own: a recipient the server refused with 452 was reported
// delivered. Now a chunk before the last one waits for its reply, and a
// refused one stops the message.
func TestLMTPChunkRefusedRepliesCounted(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		LMTP:           true,
		Extensions:     []string{"PIPELINING", "CHUNKING", "ENHANCEDSTATUSCODES"},
		MaxMessageSize: 100,
		Overrides:      []smtptest.Override{{Verb: "RCPT", Match: "full@", Reply: response.New(response.CodeInsufficientStorage, "4.2.2 mailbox full")}},
	})
	c := dial(t, srv, &session.Options{LMTP: true, ChunkSize: 64})
	ctx := testCtx(t)
	// 308 octets of unknown size (no SIZE= on MAIL), in chunks of 64: the
	// second chunk passes the server's limit of 100.
	body := strings.Repeat("a line of the message body\r\n", 11)
	_, err := c.Send(ctx, "alice@example.org", []string{"bob@example.net", "carol@example.net"}, unsizedReader(body))
	var de *session.DataError
	if !errors.As(err, &de) || de.Reply.Code != response.CodeExceededStorage || de.Command != "BDAT" {
		t.Fatalf("first Send: %v (%T), want a *DataError for BDAT with the 552", err, err)
	}
	bdats := 0
	for _, v := range verbs(srv) {
		if v == "BDAT" {
			bdats++
		}
	}
	if bdats != 2 {
		t.Errorf("client wrote %d BDAT commands, want 2: the refused chunk stops the message", bdats)
	}

	res, err := c.Send(ctx, "alice@example.org", []string{"ok@example.net", "full@example.net"}, strings.NewReader("Subject: two\r\n\r\nsecond\r\n"))
	if err != nil {
		t.Fatalf("second Send: %v", err)
	}
	ok, full := res.Recipients[0], res.Recipients[1]
	if !ok.Accepted || ok.Reply.Code != response.CodeOK || ok.Data.Code != response.CodeOK {
		t.Errorf("second Send: ok@ = %+v, want accepted and delivered", ok)
	}
	if full.Accepted || full.Reply.Code != response.CodeInsufficientStorage || full.Data.Code != 0 {
		t.Errorf("second Send: full@ = %+v, want refused with the 452 and no delivery reply: replies read for the wrong commands", full)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || strings.Join(msgs[0].To, ",") != "ok@example.net" {
		t.Errorf("server recorded %+v, want one message, to ok@", msgs)
	}
	if reply, err := c.Noop(ctx); err != nil || !strings.Contains(reply.Text, "OK") {
		t.Errorf("Noop after both: %v, %v", reply, err)
	}
}

// TestStream421ReportedAsItself (bug 2): a 421 to the third MAIL of a
// stream, as Exim's per-connection message limit sends it. The old client
// closed the socket on reading the 421 while replies were pending and
// reported the next message as "use of closed network connection"
// (DATA), or as delivered (BDAT). Now the message whose MAIL got the 421
// is refused with it, the ones before it are delivered, and every message
// written after it is unanswered, with the 421 as the reason.
func TestStream421ReportedAsItself(t *testing.T) {
	for _, chunking := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunking=%v", chunking), func(t *testing.T) {
			srv := newServer(t, smtptest.Config{
				Extensions: smtptest.DefaultExtensions(),
				Overrides:  []smtptest.Override{{Verb: "MAIL", Nth: 3, Reply: response.New(response.CodeServiceNotAvailable, "4.7.0 too many messages, closing")}},
			})
			c := dial(t, srv, &session.Options{DisableChunking: !chunking})
			ctx := testCtx(t)
			msgs := distinctMessages(8)
			taken, i := 0, 0
			for res, err := range c.SendStream(ctx, messageSeq(msgs, &taken)) {
				checkNoOwnClose(t, fmt.Sprintf("message %d", i), err)
				var re *response.Error
				switch {
				case i < 2:
					if err != nil || res == nil {
						t.Errorf("message %d: %v, want delivered", i, err)
					}
				case i == 2:
					var sre *session.SenderRefusedError
					if !errors.As(err, &sre) || sre.Reply.Code != response.CodeServiceNotAvailable {
						t.Errorf("message %d: %v (%T), want a *SenderRefusedError with the 421", i, err, err)
					}
				default:
					var ue *session.UnansweredError
					switch {
					case res != nil:
						t.Errorf("message %d reported delivered after the 421", i)
					case !errors.As(err, &ue):
						t.Errorf("message %d: %v (%T), want an *UnansweredError", i, err, err)
					case ue.Command != "MAIL" || ue.MaybeDelivered:
						t.Errorf("message %d: unanswered at %q, MaybeDelivered %v; want MAIL, false (the server said it was closing)", i, ue.Command, ue.MaybeDelivered)
					}
					if !errors.As(err, &re) || re.Reply.Code != response.CodeServiceNotAvailable {
						t.Errorf("message %d: %v: errors.As does not find the 421", i, err)
					}
				}
				i++
			}
			if i != taken || i < 3 {
				t.Errorf("%d results for %d messages taken, want one each and at least 3", i, taken)
			}
			for j, m := range msgs {
				if m.Done != (j < taken) {
					t.Errorf("message %d: Done %v, taken %v", j, m.Done, j < taken)
				}
			}
			_, err := c.Noop(ctx)
			var re *response.Error
			if !errors.As(err, &re) || re.Reply.Code != response.CodeServiceNotAvailable || !errors.Is(err, session.ErrServerDisconnected) {
				t.Errorf("Noop after the 421: %v, want the 421, matching ErrServerDisconnected", err)
			}
			if got := len(srv.Messages()); got < 2 {
				t.Errorf("server recorded %d messages, want the 2 before the 421", got)
			}
		})
	}
}

// TestCallDuringSendStreamRefused (bug 3): calls on the Client from the
// body of a SendStream loop. The old client ran them, and the stream's
// replies went to the wrong transactions (a refused recipient reported
// accepted, a delivered message "all recipients refused"). Now each is a
// *StateError, nothing is written, and the stream goes on unharmed.
func TestCallDuringSendStreamRefused(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Extensions: smtptest.DefaultExtensions(),
		Overrides:  []smtptest.Override{{Verb: "RCPT", Match: "refused@", Reply: response.New(response.CodeMailboxUnavailable, "5.1.1 no such user")}},
	})
	ctx := testCtx(t)
	c, w, err := dialWatched(ctx, srv.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var msgs []*session.Message
	for i := range 4 {
		msgs = append(msgs, &session.Message{
			Envelope: session.Envelope{From: mailbox("alice@example.org"), To: []command.Mailbox{mailbox(fmt.Sprintf("ok%d@example.net", i)), mailbox("refused@example.net")}},
			Body:     strings.NewReader("Subject: s\r\n\r\nstream\r\n"),
		})
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Send", func() error {
			_, err := c.Send(ctx, "nested@example.org", []string{"n@example.net"}, strings.NewReader("Subject: n\r\n\r\nnested\r\n"))
			return err
		}},
		{"Noop", func() error { _, err := c.Noop(ctx); return err }},
		{"Rset", func() error { _, err := c.Rset(ctx); return err }},
		{"Mail", func() error { _, err := c.Mail(ctx, command.Mail{From: mailbox("nested@example.org")}); return err }},
		{"Rcpt", func() error { _, err := c.Rcpt(ctx, command.Rcpt{To: mailbox("n@example.net")}); return err }},
		{"Data", func() error { _, err := c.Data(ctx); return err }},
		{"Vrfy", func() error { _, err := c.Vrfy(ctx, "n@example.net"); return err }},
		{"Do", func() error { _, err := c.Do(ctx, command.Noop{}); return err }},
		{"Hello", func() error { return c.Hello(ctx) }},
		{"SendStream", func() error {
			var err error
			taken := 0
			for _, e := range c.SendStream(ctx, messageSeq(distinctMessages(1), &taken)) {
				err = e
			}
			if taken > 0 {
				return fmt.Errorf("took %d messages", taken)
			}
			return err
		}},
	}
	i := 0
	for res, err := range c.SendStream(ctx, messageSeq(msgs, new(int))) {
		writes, _, _ := w.stats()
		for _, call := range calls {
			err := call.call()
			var se *session.StateError
			if !errors.As(err, &se) || !errors.Is(err, session.ErrBadSequence) || se.State != session.StateStreaming {
				t.Errorf("%s inside the SendStream loop: %v (%T), want a *StateError with StateStreaming", call.name, err, err)
			}
		}
		if after, _, _ := w.stats(); after != writes {
			t.Errorf("the calls inside the loop wrote %d times", after-writes)
		}
		if err != nil {
			t.Errorf("message %d: %v, want delivered to ok%d@", i, err, i)
		} else if r := res.Recipients; !r[0].Accepted || r[1].Accepted || r[1].Reply.Code != response.CodeMailboxUnavailable {
			t.Errorf("message %d: recipients %+v, want ok%d@ accepted, refused@ refused with the 550", i, r, i)
		}
		i++
	}
	if i != len(msgs) {
		t.Errorf("%d results, want %d", i, len(msgs))
	}
	if hasCommand(srv, "MAIL FROM:<nested@") || hasCommand(srv, "VRFY") || hasCommand(srv, "NOOP") {
		t.Errorf("a call from the loop body reached the server: %q", srv.Commands())
	}
	got := srv.Messages()
	if len(got) != len(msgs) {
		t.Fatalf("server recorded %d messages, want %d", len(got), len(msgs))
	}
	for j, m := range got {
		if want := fmt.Sprintf("ok%d@example.net", j); strings.Join(m.To, ",") != want {
			t.Errorf("message %d went to %q, want %s", j, m.To, want)
		}
	}
}

// TestSendStreamBreakKeepsOutcomes (bug 4): the caller breaks out of the
// loop at the third result. The old stream had taken and written 65
// messages by then, which the server accepted, with no way for the caller
// to learn it: re-queueing "the rest" sent them twice. Now SendStream
// takes a message only as it writes it, reads the replies to all it
// wrote before returning, and records each outcome in its Message.
func TestSendStreamBreakKeepsOutcomes(t *testing.T) {
	srv := newServer(t, smtptest.Config{Extensions: smtptest.DefaultExtensions()})
	c := dial(t, srv, nil)
	ctx := testCtx(t)
	msgs := distinctMessages(100)
	taken, seen := 0, 0
	for res, err := range c.SendStream(ctx, messageSeq(msgs, &taken)) {
		if err != nil || res == nil {
			t.Fatalf("message %d: %v", seen, err)
		}
		seen++
		if seen == 3 {
			break
		}
	}
	if taken < seen {
		t.Fatalf("took %d messages, yielded %d", taken, seen)
	}
	mails := 0
	for _, v := range verbs(srv) {
		if v == "MAIL" {
			mails++
		}
	}
	if mails != taken {
		t.Errorf("took %d messages from the input and wrote %d MAIL commands: a message is taken only as it is written", taken, mails)
	}
	delivered := map[string]bool{}
	for i, m := range msgs {
		switch {
		case i >= taken && m.Done:
			t.Errorf("message %d was never taken but is Done", i)
		case i < taken && !m.Done:
			t.Errorf("message %d was taken but is not Done: its outcome is lost", i)
		case m.Done && (m.Result == nil) == (m.Err == nil):
			t.Errorf("message %d: Done with Result %v and Err %v, want one of them", i, m.Result, m.Err)
		case m.Done && m.Result != nil:
			delivered[m.Envelope.From.String()] = true
		}
	}
	recorded := map[string]bool{}
	for _, m := range srv.Messages() {
		recorded[m.From] = true
		if !delivered[m.From] {
			t.Errorf("server accepted the message from %s; its Message does not say so", m.From)
		}
	}
	for from := range delivered {
		if !recorded[from] {
			t.Errorf("the message from %s is recorded as delivered; the server did not accept it", from)
		}
	}

	// Re-queueing what is not Done sends every message exactly once.
	var rest []*session.Message
	for _, m := range msgs {
		if !m.Done {
			rest = append(rest, m)
		}
	}
	for _, err := range c.SendStream(ctx, messageSeq(rest, new(int))) {
		if err != nil {
			t.Fatalf("re-queued stream: %v", err)
		}
	}
	froms := map[string]int{}
	for _, m := range srv.Messages() {
		froms[m.From]++
	}
	if len(froms) != len(msgs) {
		t.Errorf("server has %d distinct messages, want %d", len(froms), len(msgs))
	}
	for from, n := range froms {
		if n != 1 {
			t.Errorf("the message from %s was delivered %d times", from, n)
		}
	}
}

// slowConn is a connection over a slow link: a write of n octets takes
// n/rate, and fails as the kernel's would (os.ErrDeadlineExceeded) when
// its deadline comes first. Past stallAt octets, one write takes stall
// longer.
type slowConn struct {
	net.Conn
	rate    int64 // octets per second
	stallAt int64 // 0: never
	stall   time.Duration

	mu      sync.Mutex
	dl      time.Time
	written int64
}

func (c *slowConn) setDeadline(t time.Time) {
	c.mu.Lock()
	c.dl = t
	c.mu.Unlock()
}

func (c *slowConn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *slowConn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *slowConn) Write(p []byte) (int, error) {
	need := time.Duration(int64(len(p)) * int64(time.Second) / c.rate)
	c.mu.Lock()
	dl := c.dl
	if c.stallAt > 0 && c.written < c.stallAt && c.written+int64(len(p)) >= c.stallAt {
		need += c.stall
	}
	c.mu.Unlock()
	if !dl.IsZero() && time.Now().Add(need).After(dl) {
		time.Sleep(time.Until(dl))
		return 0, &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: os.ErrDeadlineExceeded}
	}
	time.Sleep(need)
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.written += int64(n)
	c.mu.Unlock()
	return n, err
}

// linesBody is a message body of CRLF lines, left octets long (a multiple
// of 64), behind a plain io.Reader that hands out at most 16 KiB a Read.
type linesBody struct{ left int }

func (r *linesBody) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	const line = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"
	n := min(len(p), r.left, 16<<10)
	for i := range n {
		p[i] = line[(r.left-n+i)%len(line)]
	}
	r.left -= n
	return n, nil
}

// TestDataBlockTimeoutPerWrite (bug 5): Timeouts.DataBlock bounds each
// write of message data (RFC 5321 §4.5.3.2.5), on every path. The old
// pipelined paths armed it once for the whole body: a 1 MiB message over
// a link that takes longer than DataBlock for it went through
// sequentially and timed out pipelined. A write that stalls for longer
// than DataBlock still times out, on every path. (The BDAT chunk size is
// 64 KiB: a chunk goes out in one write, which the link takes 100 ms for.)
func TestDataBlockTimeoutPerWrite(t *testing.T) {
	const (
		size = 1 << 20
		// Generous for a loaded machine under -race: each write of the
		// slow link takes about 100 ms, the whole body 1.5 s.
		dataBlock = time.Second
	)
	for _, p := range []struct {
		name string
		exts []string
	}{
		{"sequential", sequentialExtensions()},
		{"pipelined DATA", pipelinedDataExtensions()},
		{"pipelined BDAT", smtptest.DefaultExtensions()},
	} {
		for _, stall := range []bool{false, true} {
			name := p.name + "/slow link"
			if stall {
				name = p.name + "/stalled write"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := newServer(t, smtptest.Config{Extensions: p.exts})
				ctx := testCtx(t)
				nc, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				slow := &slowConn{Conn: nc, rate: size * 10 / 15}
				if stall {
					slow.stallAt, slow.stall = size/4, 10*dataBlock
				}
				c, err := session.NewClient(ctx, slow, &session.Options{ChunkSize: 64 << 10, Timeouts: session.Timeouts{DataBlock: dataBlock}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				start := time.Now()
				_, err = c.Send(ctx, "alice@example.org", []string{"bob@example.net"}, &linesBody{left: size})
				d := time.Since(start)
				if !stall {
					if err != nil {
						t.Fatalf("Send of 1 MiB: %v after %v; each write took about 100 ms", err, d.Round(time.Millisecond))
					}
					if d < time.Second {
						t.Errorf("Send took %v: the link was not slow", d)
					}
					if got := len(srv.Messages()); got != 1 {
						t.Errorf("server recorded %d messages", got)
					}
					return
				}
				var te *session.TimeoutError
				if !errors.As(err, &te) || te.After != dataBlock {
					t.Errorf("Send with a write stalled for %v: %v (%T), want a *TimeoutError after DataBlock", slow.stall, err, err)
				}
				if d > dataBlock+2*time.Second {
					t.Errorf("Send with a stalled write gave up after %v", d)
				}
			})
		}
	}
}

// TestWriteErrorsTyped (bug 6): the server resets the connection in the
// middle of a BDAT chunk. The old client returned the write error of the
// BDAT writer raw (a bare *net.OpError) and kept the session open; the
// next call went on as if nothing had happened. Now the error is typed,
// the connection is closed, and the next call returns the same error at
// once without writing.
func TestWriteErrorsTyped(t *testing.T) {
	srv := serveScripted(t, scriptedConfig{Exts: []string{"PIPELINING", "CHUNKING"}, ResetAfter: 4 << 10})
	ctx := testCtx(t)
	nc, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
	w := &watchedConn{Conn: nc}
	// One chunk for the whole 4 MiB: the write that fails is the one of
	// the last chunk. The body is one line, sent as it is.
	c, err := session.NewClient(ctx, w, &session.Options{ChunkSize: 8 << 20, LongLines: session.LongLinesSend})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := strings.Repeat("x", 4<<20-2) + "\r\n"
	_, err = c.Send(ctx, "alice@example.org", []string{"bob@example.net"}, strings.NewReader(body))
	if _, bare := err.(*net.OpError); bare {
		t.Errorf("Send: a bare *net.OpError: %v", err)
	}
	var de *session.DisconnectedError
	var ue *session.UnansweredError
	if !errors.As(err, &de) && !errors.As(err, &ue) {
		t.Errorf("Send: %v (%T), want a *DisconnectedError or *UnansweredError", err, err)
	}
	checkNoOwnClose(t, "Send", err)
	writes, _, _ := w.stats()
	start := time.Now()
	_, nerr := c.Noop(ctx)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Noop after the reset took %v", d)
	}
	if nerr == nil || !errors.Is(nerr, err) && !errors.Is(err, nerr) {
		t.Errorf("Noop after the reset: %v, want the error that ended the session, as Send reported it (%v)", nerr, err)
	}
	if after, _, _ := w.stats(); after != writes {
		t.Errorf("Noop wrote to a connection known broken")
	}
}

// Test221ClosesSession (bug 7): a 221 to RSET, as Postfix sends after too
// many errors before it closes the connection. The old client took it for
// RSET's success and the next Send failed on the dead connection ("broken
// pipe"). Now the 221 ends the session: later calls return it at once,
// and nothing more is written.
func Test221ClosesSession(t *testing.T) {
	for _, hangUp := range []string{"half-close", "close"} {
		t.Run(hangUp, func(t *testing.T) {
			srv := serveScripted(t, scriptedConfig{Exts: []string{"PIPELINING", "8BITMIME"}, Answer: func(cmd scriptedCmd) scriptedAnswer {
				if cmd.Verb == "RSET" {
					return scriptedAnswer{Reply: "221 2.7.0 Error: too many errors", HangUp: hangUp == "half-close", Close: hangUp == "close"}
				}
				return acceptEverything(cmd)
			}})
			ctx := testCtx(t)
			c, w, err := dialWatched(ctx, srv.Addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello(ctx); err != nil {
				t.Fatal(err)
			}
			var re *response.Error
			reply, err := c.Rset(ctx)
			if reply.Code != response.CodeServiceClosing && !(errors.As(err, &re) && re.Reply.Code == response.CodeServiceClosing) {
				t.Errorf("Rset: %v, %v: the 221 does not show", reply, err)
			}
			writes, _, _ := w.stats()
			calls := []struct {
				name string
				call func() error
			}{
				{"Send", func() error {
					_, err := c.Send(ctx, "alice@example.org", []string{"bob@example.net"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
					return err
				}},
				{"Noop", func() error { _, err := c.Noop(ctx); return err }},
				{"Mail", func() error { _, err := c.Mail(ctx, command.Mail{From: mailbox("alice@example.org")}); return err }},
			}
			for _, call := range calls {
				start := time.Now()
				err := call.call()
				if d := time.Since(start); d > time.Second {
					t.Errorf("%s after the 221 took %v", call.name, d)
				}
				if !errors.As(err, &re) || re.Reply.Code != response.CodeServiceClosing {
					t.Errorf("%s after a 221 to RSET: %v (%T), want an error carrying the 221", call.name, err, err)
				}
				if !errors.Is(err, session.ErrServerDisconnected) {
					t.Errorf("%s after a 221: %v does not match ErrServerDisconnected", call.name, err)
				}
				if err != nil && strings.Contains(err.Error(), "broken pipe") {
					t.Errorf("%s after a 221: %v", call.name, err)
				}
			}
			if after, _, _ := w.stats(); after != writes {
				t.Errorf("the calls after the 221 wrote %d times", after-writes)
			}
			if hangUp == "half-close" && !srv.waitEnded(time.Second) {
				t.Errorf("the client kept the connection open after the 221")
			}
			if late := srv.late(); len(late) > 0 {
				t.Errorf("the client wrote after the 221: %+v", late)
			}
		})
	}
}

// TestZeroValueClient (bug 7): the old zero Client panicked on its first
// call. Every method of a zero Client, or of one that was closed, returns
// ErrClosed.
func TestZeroValueClient(t *testing.T) {
	ctx := testCtx(t)
	check := func(t *testing.T, c *session.Client) {
		t.Helper()
		calls := []struct {
			name string
			call func() error
		}{
			{"Hello", func() error { return c.Hello(ctx) }},
			{"Ehlo", func() error { _, err := c.Ehlo(ctx); return err }},
			{"Helo", func() error { _, err := c.Helo(ctx); return err }},
			{"StartTLS", func() error { return c.StartTLS(ctx, nil) }},
			{"Login", func() error { return c.Login(ctx, "user", "password") }},
			{"Auth", func() error { return c.Auth(ctx, auth.Plain("", "user", "password")) }},
			{"Send", func() error {
				_, err := c.Send(ctx, "a@example.org", []string{"b@example.net"}, strings.NewReader("x\r\n"))
				return err
			}},
			{"SendMessage", func() error {
				_, err := c.SendMessage(ctx, strings.NewReader("From: a@example.org\r\nTo: b@example.net\r\n\r\nx\r\n"))
				return err
			}},
			{"SendEnvelope", func() error {
				env := session.Envelope{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.net")}}
				_, err := c.SendEnvelope(ctx, &env, strings.NewReader("x\r\n"))
				return err
			}},
			{"SendStream", func() error {
				msgs := distinctMessages(2)
				var errs []error
				for res, err := range c.SendStream(ctx, messageSeq(msgs, new(int))) {
					if res != nil {
						return errors.New("a result")
					}
					errs = append(errs, err)
				}
				if len(errs) == 0 {
					return errors.New("no result")
				}
				for _, m := range msgs {
					if m.Done && !errors.Is(m.Err, session.ErrClosed) {
						return fmt.Errorf("message Done with %v", m.Err)
					}
				}
				return errors.Join(errs...)
			}},
			{"Mail", func() error { _, err := c.Mail(ctx, command.Mail{From: mailbox("a@example.org")}); return err }},
			{"Rcpt", func() error { _, err := c.Rcpt(ctx, command.Rcpt{To: mailbox("b@example.net")}); return err }},
			{"Data", func() error { _, err := c.Data(ctx); return err }},
			{"Rset", func() error { _, err := c.Rset(ctx); return err }},
			{"Noop", func() error { _, err := c.Noop(ctx); return err }},
			{"Vrfy", func() error { _, err := c.Vrfy(ctx, "b@example.net"); return err }},
			{"Expn", func() error { _, err := c.Expn(ctx, "list"); return err }},
			{"Help", func() error { _, err := c.Help(ctx, ""); return err }},
			{"Do", func() error { _, err := c.Do(ctx, command.Noop{}); return err }},
			{"Quit", func() error { _, err := c.Quit(ctx); return err }},
		}
		for _, call := range calls {
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s panicked: %v", call.name, r)
					}
				}()
				if err := call.call(); !errors.Is(err, session.ErrClosed) {
					t.Errorf("%s: %v, want ErrClosed", call.name, err)
				}
			}()
		}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("an accessor panicked: %v", r)
				}
			}()
			c.Greeting()
			c.Extensions()
			c.ESMTP()
			c.TLS()
			c.Conn()
			if err := c.Close(); err != nil && !errors.Is(err, session.ErrClosed) {
				t.Errorf("Close: %v", err)
			}
		}()
	}
	t.Run("zero", func(t *testing.T) {
		var c session.Client
		check(t, &c)
	})
	t.Run("closed", func(t *testing.T) {
		srv := newServer(t, smtptest.Config{})
		c := dial(t, srv, nil)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
}

// TestSurplusReplyDesync: the server sends one reply more than was asked
// for, right after the transaction's last, in the same write. The old
// client reported the message delivered and read the extra reply as the
// next command's. Now the call fails with a *DesyncError, on every path,
// and the Client is closed: nothing read after it is trusted.
func TestSurplusReplyDesync(t *testing.T) {
	for _, p := range []struct {
		name string
		exts []string
		low  bool
	}{
		{"sequential", []string{"8BITMIME"}, false},
		{"pipelined DATA", []string{"PIPELINING", "8BITMIME"}, false},
		{"pipelined BDAT", []string{"PIPELINING", "CHUNKING", "8BITMIME"}, false},
		{"low-level", []string{"8BITMIME"}, true},
	} {
		t.Run(p.name, func(t *testing.T) {
			srv := serveScripted(t, scriptedConfig{Exts: p.exts, Answer: func(cmd scriptedCmd) scriptedAnswer {
				if cmd.Verb == "END" {
					return scriptedAnswer{Reply: "250 2.0.0 queued", Surplus: "250 2.1.5 recipient ok"}
				}
				return acceptEverything(cmd)
			}})
			ctx := testCtx(t)
			c, w, err := dialWatched(ctx, srv.Addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var res *session.Result
			if p.low {
				err = func() error {
					if _, err := c.Mail(ctx, command.Mail{From: mailbox("alice@example.org")}); err != nil {
						return err
					}
					if _, err := c.Rcpt(ctx, command.Rcpt{To: mailbox("bob@example.net")}); err != nil {
						return err
					}
					dw, err := c.Data(ctx)
					if err != nil {
						return err
					}
					io.WriteString(dw, "Subject: x\r\n\r\nx\r\n")
					return dw.Close()
				}()
			} else {
				res, err = c.Send(ctx, "alice@example.org", []string{"bob@example.net"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
			}
			var de *session.DesyncError
			if !errors.As(err, &de) || res != nil {
				t.Errorf("with a reply too many after the last: %+v, %v (%T); want a *DesyncError", res, err, err)
			}
			writes, _, _ := w.stats()
			if reply, err := c.Noop(ctx); err == nil {
				t.Errorf("Noop after the surplus reply: %v, nil error: the surplus reply read as NOOP's", reply)
			}
			if after, _, _ := w.stats(); after != writes {
				t.Errorf("Noop after the desynchronisation wrote")
			}
			if !srv.waitEnded(time.Second) {
				t.Errorf("the client kept the connection open after the desynchronisation")
			}
			surplus := false
			for _, e := range srv.events() {
				if surplus {
					t.Errorf("the client wrote %q after the reply it did not ask for", e.Cmd.Line)
				}
				surplus = surplus || e.Surplus
			}
		})
	}
}
