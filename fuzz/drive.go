package fuzz

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
)

// TokenField is the header field Driver puts in front of every message
// when it checks what was stored: its value tells the messages apart.
const TokenField = "X-Smtpkit-Fuzz"

// Driver plays a ClientSession against a live server, one connection per
// session, and holds the server to the oracles: every reply parses
// strictly (CheckReplies) and suits its command (Plausible); a group gets
// one reply per command and nothing comes that was not asked for
// (CheckGroup's rule); each wait for a reply ends within Timeout; the
// server closes the connection only after a 421, 221 or 521; and, with
// Stored set, every message accepted through the encoder is stored as
// Normalise of its body (CheckStored).
type Driver struct {
	// Dial opens a connection to the server under test.
	Dial func(ctx context.Context) (net.Conn, error)
	// TLSConfig is used after a 220 to STARTTLS, through
	// transport.StartTLS (so it must name the server, see
	// transport.ClientTLSConfig); with nil the session stays in plain
	// text (generate with Features.StartTLS only when it is set).
	TLSConfig *tls.Config
	// Timeout bounds each wait for a reply and each write; 5s when zero.
	Timeout time.Duration
	// LMTP: the end of a message gets one reply per accepted recipient.
	LMTP bool
	// Stored, when set, returns the stored message whose TokenField is
	// token, or an error (os.ErrNotExist when there is none).
	Stored func(ctx context.Context, token string) ([]byte, error)
	// Transcript, when set, gets every line sent and received, escaped,
	// with "C: " or "S: " in front.
	Transcript func(line string)
}

// maxReplyLines bounds the lines of one reply the driver reads.
const maxReplyLines = 1000

// tokens makes the TokenField values unique within the process.
var tokens atomic.Uint64

// run is one ClientSession on one connection.
type run struct {
	d        *Driver
	ctx      context.Context
	conn     net.Conn
	br       *bufio.Reader
	timeout  time.Duration
	last     response.Code // the last reply's code
	open     bool          // MAIL accepted, transaction not ended
	accepted int           // RCPTs accepted in the open transaction
	chunks   []byte        // the BDAT message so far
	closing  bool          // a 421, 221 or 521 was read: the server may close
}

// Run plays s on a new connection. It returns nil when the server passed,
// a *Finding when it did not, and another error when the run itself
// failed (the dial, or ctx ended).
func (d *Driver) Run(ctx context.Context, s ClientSession) error {
	conn, err := d.Dial(ctx)
	if err != nil {
		if ended(ctx) {
			return context.DeadlineExceeded
		}
		return fmt.Errorf("fuzz: dial: %w", err)
	}
	defer func() { conn.Close() }()
	r := &run{d: d, ctx: ctx, conn: conn, br: bufio.NewReaderSize(conn, 4096), timeout: d.Timeout}
	if r.timeout <= 0 {
		r.timeout = 5 * time.Second
	}
	stop := context.AfterFunc(ctx, func() { r.conn.SetDeadline(time.Now()) })
	defer stop()
	greeting, err := r.read("the greeting")
	if err != nil || r.closing || greeting.Code/100 != 2 {
		return r.result(err) // a server that refuses service has nothing to fuzz
	}
	for _, g := range s.Groups {
		if err := r.group(g); err != nil || r.closing {
			return r.result(err)
		}
	}
	return r.result(nil)
}

// result makes ctx's end the run's, not a finding.
func (r *run) result(err error) error {
	if err != nil && ended(r.ctx) {
		return context.DeadlineExceeded
	}
	return err
}

// ended reports whether ctx is done or past its deadline: a dial or a
// handshake that ran into the deadline can return before ctx says so.
func ended(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(dl)
}

func (r *run) say(prefix, s string) {
	if r.d.Transcript != nil {
		r.d.Transcript(prefix + logsafe.Escape(s))
	}
}

// verbOf names a step in a finding.
func verbOf(st Step) string {
	if st.Verb != "" {
		return st.Verb
	}
	return "the line " + quote([]byte(strings.TrimSuffix(st.Line, "\r\n")))
}

// group writes g in one write and reads its replies.
func (r *run) group(g Group) error {
	if err := r.nothingPending("before " + verbOf(g[0])); err != nil {
		return err
	}
	var out []byte
	var message []byte // BDAT LAST: the whole message as sent
	for _, st := range g {
		if st.Verb != "BDAT" {
			r.say("C: ", strings.TrimSuffix(st.Line, "\r\n"))
			out = append(out, st.Line...)
			continue
		}
		body := st.Body
		if st.First {
			r.chunks = r.chunks[:0]
			body = r.tag(body)
		}
		r.chunks = append(r.chunks, body...)
		l := "BDAT " + strconv.Itoa(len(body))
		if st.Last {
			l += " LAST"
			message = append([]byte(nil), r.chunks...)
		}
		r.say("C: ", l)
		r.say("C: ", fmt.Sprintf("<%d octets of chunk: %s>", len(body), quote(body)))
		out = append(append(append(out, l...), "\r\n"...), body...)
	}
	if err := r.write(out); err != nil {
		return err
	}
	delivered := false
	for i, st := range g {
		n := 1
		if st.Verb == "BDAT" && st.Last && r.d.LMTP {
			n = max(r.accepted, 1)
		}
		for k := range n {
			reply, err := r.read(verbOf(st))
			var f *Finding
			if errors.As(err, &f) && f.Kind == Hang && (i > 0 || k > 0) {
				return findingf(ReplyCount, "%d replies to a group of %d commands, then nothing for %v: no reply to %s", i+k, len(g)+n-1, r.timeout, verbOf(st))
			}
			if err != nil {
				return err
			}
			if err := Plausible(st.Verb, reply); err != nil {
				if reply.Code == response.CodeStartMailInput && i < len(g)-1 && g[len(g)-1].Verb == "DATA" {
					// The group's one 354 came early: a reply is missing.
					return findingf(ReplyCount, "DATA's 354 came as reply %d of a group of %d commands: the server answered fewer commands than it was sent (none for %s?)", i+1, len(g), verbOf(st))
				}
				return err
			}
			if r.closing {
				return nil
			}
			delivered = delivered || st.Last && reply.Code/100 == 2
			if k == 0 {
				r.track(st, reply)
			}
		}
	}
	last := g[len(g)-1]
	switch {
	case last.Verb == "BDAT" && last.Last:
		r.open, r.accepted = false, 0
		if delivered {
			return r.checkStored(message)
		}
	case last.Verb == "DATA" && r.last == response.CodeStartMailInput:
		return r.data(last)
	case last.Verb == "STARTTLS" && r.last == response.CodeServiceReady && r.d.TLSConfig != nil:
		return r.startTLS()
	case last.Verb == "AUTH" && r.last == response.CodeAuthContinue:
		r.say("C: ", "*")
		if err := r.write([]byte("*\r\n")); err != nil {
			return err
		}
		_, err := r.read("the AUTH cancellation")
		return err
	case last.Verb == "QUIT":
		return r.quit()
	}
	return nil
}

// track follows the transaction, by what the line says and the reply.
func (r *run) track(st Step, reply response.Reply) {
	ok := reply.Code/100 == 2
	switch verb := strings.ToUpper(firstWord(st.Line)); {
	case st.Verb == "BDAT":
	case verb == "MAIL":
		if ok && !r.open {
			r.open, r.accepted = true, 0
		}
	case verb == "RCPT":
		if ok && r.open {
			r.accepted++
		}
	case verb == "RSET", verb == "EHLO", verb == "HELO", verb == "LHLO":
		if ok {
			r.open, r.accepted = false, 0
		}
	}
}

func firstWord(line string) string {
	w, _, _ := strings.Cut(strings.TrimSuffix(line, "\r\n"), " ")
	return w
}

// tag puts TokenField in front of a message body when stored messages
// are checked.
func (r *run) tag(body []byte) []byte {
	if r.d.Stored == nil {
		return body
	}
	field := fmt.Sprintf("%s: %d.%d\r\n", TokenField, time.Now().UnixNano(), tokens.Add(1))
	return append([]byte(field), body...)
}

// data writes a message after DATA's 354 and reads its end's replies.
func (r *run) data(st Step) error {
	var out bytes.Buffer
	body := st.Body
	if st.Raw {
		r.say("C: ", fmt.Sprintf("<%d octets of data, raw: %s>", len(body), quote(body)))
		out.Write(body)
		out.WriteString("\r\n.\r\n")
	} else {
		body = r.tag(body)
		r.say("C: ", fmt.Sprintf("<%d octets of data: %s>", len(body), quote(body)))
		dw := wire.NewDotWriter(&out)
		dw.Write(body)
		dw.Close()
	}
	r.say("C: ", ".")
	if err := r.write(out.Bytes()); err != nil {
		return err
	}
	n := 1
	if r.d.LMTP {
		n = max(r.accepted, 1)
	}
	delivered := false
	for range n {
		reply, err := r.read("the end of data")
		if err != nil {
			return err
		}
		if err := Plausible("END", reply); err != nil {
			return err
		}
		if r.closing {
			return nil
		}
		delivered = delivered || reply.Code/100 == 2
	}
	r.open, r.accepted = false, 0
	if err := r.nothingPending("after the end of data"); err != nil {
		return err
	}
	if delivered && !st.Raw {
		return r.checkStored(body)
	}
	return nil
}

// checkStored fetches the message tagged at the start of sent and holds
// it to CheckStored.
func (r *run) checkStored(sent []byte) error {
	if r.d.Stored == nil {
		return nil
	}
	field, _, _ := bytes.Cut(sent, []byte("\r\n"))
	token := strings.TrimPrefix(string(field), TokenField+": ")
	stored, err := r.d.Stored(r.ctx, token)
	if errors.Is(err, os.ErrNotExist) {
		return findingf(Stored, "the message %s was accepted but is not stored", token)
	}
	if err != nil {
		return fmt.Errorf("fuzz: fetching the stored message %s: %w", token, err)
	}
	return CheckStored(sent, stored)
}

func (r *run) startTLS() error {
	if err := r.nothingPending("after the 220 to STARTTLS"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	tc, err := transport.StartTLS(ctx, r.conn, r.d.TLSConfig)
	if err != nil {
		return err // the run's: a certificate that does not verify is no finding
	}
	r.conn, r.br = tc, bufio.NewReaderSize(tc, 4096)
	r.open, r.accepted = false, 0
	return nil
}

// quit checks that nothing follows the 221 but the end of the stream.
func (r *run) quit() error {
	r.conn.SetReadDeadline(time.Now().Add(r.timeout))
	rest, _ := io.ReadAll(io.LimitReader(r.br, 4096))
	if len(rest) > 0 {
		return findingf(ReplyCount, "replies nobody asked for after the 221 to QUIT: %s", quote(rest))
	}
	return nil
}

// nothingPending reports a reply nobody asked for, if one has come.
func (r *run) nothingPending(where string) error {
	if n := r.br.Buffered(); n > 0 {
		b, _ := r.br.Peek(n)
		return findingf(ReplyCount, "a reply nobody asked for %s: %s", where, quote(b))
	}
	return nil
}

func (r *run) write(b []byte) error {
	r.conn.SetWriteDeadline(time.Now().Add(r.timeout))
	if _, err := r.conn.Write(b); err != nil {
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		return findingf(Dropped, "writing %d octets: %v (the server closed the connection without a 421)", len(b), err)
	}
	return nil
}

// read reads one reply to what and holds it to CheckReplies.
func (r *run) read(what string) (response.Reply, error) {
	r.conn.SetReadDeadline(time.Now().Add(r.timeout))
	var raw []byte
	for lines := 0; ; lines++ {
		line, err := r.br.ReadSlice('\n')
		raw = append(raw, line...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return response.Reply{}, findingf(BadReply, "a reply line to %s over %d octets: %s", what, r.br.Size(), quote(raw))
		case err != nil && r.ctx.Err() != nil:
			return response.Reply{}, r.ctx.Err()
		case errors.Is(err, os.ErrDeadlineExceeded):
			return response.Reply{}, findingf(Hang, "no reply to %s within %v (got %s)", what, r.timeout, quote(raw))
		case err != nil && len(raw) == 0:
			return response.Reply{}, findingf(Dropped, "the server closed the connection instead of answering %s, without a 421 (%v)", what, err)
		case err != nil:
			return response.Reply{}, findingf(BadReply, "the connection ended inside the reply to %s: %s", what, quote(raw))
		case lines >= maxReplyLines:
			return response.Reply{}, findingf(BadReply, "a reply to %s of over %d lines", what, maxReplyLines)
		}
		if len(line) >= 4 && line[3] == '-' {
			continue
		}
		break
	}
	replies, err := CheckReplies(raw)
	if err != nil {
		var f *Finding
		if errors.As(err, &f) {
			f.Detail = "the reply to " + what + ": " + f.Detail
		}
		return response.Reply{}, err
	}
	if len(replies) != 1 {
		return response.Reply{}, findingf(BadReply, "the reply to %s is not one reply: %s", what, quote(raw))
	}
	reply := replies[0]
	lines := slices.Collect(reply.AllLines())
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		r.say("S: ", fmt.Sprintf("%03d%s%s", int(reply.Code), sep, l))
	}
	r.last = reply.Code
	switch reply.Code {
	case response.CodeServiceNotAvailable, response.CodeServiceClosing, response.CodeNoMailHere:
		r.closing = true
	}
	return reply, nil
}
