package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"pgregory.net/rapid"
)

// This file tests the pipelined transaction (RFC 2920), BDAT (RFC 3030)
// and SendStream against smtptest: the exact octets and how they are
// grouped into writes, the replies mapped back to the commands, failures
// at every point, and the number of round trips.

const pt2Local = "client.example.org"

// pt2DataExts offers PIPELINING without CHUNKING: the pipelined DATA path.
func pt2DataExts() []string {
	return []string{"PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES"}
}

// pt2Path is one of the three ways a message can go.
type pt2Path struct {
	name string
	exts func() []string
	bdat bool
	pipe bool
}

var pt2Paths = []pt2Path{
	{"sequential", sequentialExtensions, false, false},
	{"pipelined DATA", pt2DataExts, false, true},
	{"pipelined BDAT", smtptest.DefaultExtensions, true, true},
}

// pt2Server starts a server announcing exts (nil: newServer's sequential
// default).
func pt2Server(t *testing.T, exts []string, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	cfg.Extensions = exts
	return newServer(t, cfg)
}

// pt2Dial connects with a fixed local name (so the octets are known) and
// greets the server, so that what a test measures afterwards is its own.
func pt2Dial(t *testing.T, srv *smtptest.Server, opts *session.Options) *session.Client {
	t.Helper()
	var o session.Options
	if opts != nil {
		o = *opts
	}
	if o.LocalName == "" {
		o.LocalName = pt2Local
	}
	c := dial(t, srv, &o)
	if err := c.Hello(testCtx(t)); err != nil {
		t.Fatalf("Hello: %v", err)
	}
	return c
}

// pt2Reads returns the server's reads, as strings, in order.
func pt2Reads(srv *smtptest.Server) []string {
	var out []string
	for _, r := range srv.Reads() {
		out = append(out, string(r.Data))
	}
	return out
}

// pt2Verbs returns the verbs of the command lines from the n-th on.
func pt2Verbs(srv *smtptest.Server, from int) []string {
	v := verbs(srv)
	if from > len(v) {
		return nil
	}
	return v[from:]
}

// pt2Stuff dot-stuffs normalised message data and adds the end of data.
func pt2Stuff(data []byte) string {
	var b strings.Builder
	for line := range strings.SplitAfterSeq(string(data), "\r\n") {
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line)
	}
	b.WriteString(".\r\n")
	return b.String()
}

// pt2Msg is one message to send: addresses as users write them.
type pt2Msg struct {
	from string
	to   []string
	body string
	// params, when set, are the envelope's MAIL parameters.
	params command.MailParams
}

func pt2Mailbox(s string) command.Mailbox {
	if s == "" {
		return command.Mailbox{}
	}
	m, err := command.ParseMailbox(s)
	if err != nil {
		panic(fmt.Sprintf("pt2Mailbox(%q): %v", s, err))
	}
	return m
}

func (m pt2Msg) envelope() session.Envelope {
	env := session.Envelope{From: pt2Mailbox(m.from), MailParams: m.params}
	for _, to := range m.to {
		env.To = append(env.To, pt2Mailbox(to))
	}
	return env
}

func (m pt2Msg) message() *session.Message {
	return &session.Message{Envelope: m.envelope(), Body: strings.NewReader(m.body)}
}

// data is what the server must record for the message.
func (m pt2Msg) data() string { return string(ptNormalise([]byte(m.body))) }

// pt2Check checks that the server recorded m intact with exactly the
// recipients accepted.
func pt2Check(t testing.TB, what string, got smtptest.Message, m pt2Msg, accepted []string) {
	t.Helper()
	if got.From != m.from || strings.Join(got.To, ",") != strings.Join(accepted, ",") {
		t.Errorf("%s: server recorded %q -> %q, want %q -> %q", what, got.From, got.To, m.from, accepted)
	}
	if string(got.Data) != m.data() {
		t.Errorf("%s: server recorded data %q, want %q", what, got.Data, m.data())
	}
}

// pt2Yield is one result of SendStream.
type pt2Yield struct {
	res *session.Result
	err error
}

// pt2Stream runs SendStream over msgs, calling each (when not nil) after
// every result with the results so far; each returning false breaks the
// loop. It returns the results and how many messages were taken.
func pt2Stream(ctx context.Context, c *session.Client, msgs []pt2Msg, each func([]pt2Yield) bool) (ys []pt2Yield, pulled int) {
	seq := func(yield func(*session.Message) bool) {
		for _, m := range msgs {
			pulled++
			if !yield(m.message()) {
				return
			}
		}
	}
	for res, err := range c.SendStream(ctx, iter.Seq[*session.Message](seq)) {
		ys = append(ys, pt2Yield{res, err})
		if each != nil && !each(ys) {
			break
		}
	}
	return ys, pulled
}

// pt2Many returns n messages, each to two recipients of its own, with
// bodies that need dot-stuffing and line-ending normalisation.
func pt2Many(n int) []pt2Msg {
	out := make([]pt2Msg, n)
	for i := range out {
		out[i] = pt2Msg{
			from: fmt.Sprintf("sender%d@example.org", i),
			to:   []string{fmt.Sprintf("r%da@example.net", i), fmt.Sprintf("r%db@example.net", i)},
			body: fmt.Sprintf("Subject: message %d\r\n\r\n.line %d starts with a dot\nbare LF\r\n..\r\nend %d\r\n", i, i, i),
		}
	}
	return out
}

// pt2Body has lines that start with a dot, a bare LF, a lone "." line and
// a marker that must never show in a trace.
const pt2Body = "Subject: pipelined\r\n\r\n.leading dot\nbare LF\r\n.\r\n..two\r\nSECRET-BODY-MARKER\r\nlast"

// ---- 1. Exact octets and write boundaries ----

func TestPipelineWireDATA(t *testing.T) {
	srv := pt2Server(t, pt2DataExts(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	readsBefore := len(srv.Reads())
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	data := ptNormalise([]byte(pt2Body))
	reads := pt2Reads(srv)[readsBefore:]
	want := []string{
		"MAIL FROM:<alice@example.org> SIZE=" + strconv.Itoa(len(data)) + "\r\n" +
			"RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n",
		pt2Stuff(data),
	}
	if !slices.Equal(reads, want) {
		t.Errorf("server reads:\n%q\nwant (the commands in one read, the message after the 354 in another):\n%q", reads, want)
	}
	m := srv.Messages()
	if len(m) != 1 {
		t.Fatalf("server recorded %d messages", len(m))
	}
	if string(m[0].Data) != string(data) || string(m[0].Raw) != pt2Stuff(data) || m[0].Chunked {
		t.Errorf("recorded data %q raw %q chunked %v", m[0].Data, m[0].Raw, m[0].Chunked)
	}
	if !strings.Contains(string(m[0].Raw), "\r\n..leading dot\r\n") || !strings.Contains(string(m[0].Raw), "\r\n..\r\n...two\r\n") {
		t.Errorf("raw data not dot-stuffed: %q", m[0].Raw)
	}
}

func TestPipelineWireBDAT(t *testing.T) {
	srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	readsBefore := len(srv.Reads())
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	data := string(ptNormalise([]byte(pt2Body)))
	n := strconv.Itoa(len(data))
	reads := pt2Reads(srv)[readsBefore:]
	want := []string{
		"MAIL FROM:<alice@example.org> SIZE=" + n + "\r\n" +
			"RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nBDAT " + n + " LAST\r\n" + data,
	}
	if !slices.Equal(reads, want) {
		t.Errorf("server reads:\n%q\nwant everything in one read:\n%q", reads, want)
	}
	m := srv.Messages()
	if len(m) != 1 {
		t.Fatalf("server recorded %d messages", len(m))
	}
	if string(m[0].Data) != data || string(m[0].Raw) != data || !m[0].Chunked {
		t.Errorf("recorded data %q raw %q chunked %v; want %q as is (no dot-stuffing, CRLF line endings)", m[0].Data, m[0].Raw, m[0].Chunked, data)
	}
	if !strings.Contains(data, "\r\n.leading dot\r\nbare LF\r\n.\r\n..two\r\n") || !strings.HasSuffix(data, "last\r\n") {
		t.Fatalf("test body normalised to %q", data)
	}
}

func TestPipelineBDATChunkSizes(t *testing.T) {
	for _, tt := range []struct {
		body   string
		chunks []string
	}{
		{strings.Repeat("x", 33), []string{"BDAT 10", "BDAT 10", "BDAT 10", "BDAT 5 LAST"}}, // 33 + CRLF
		{strings.Repeat("y", 28) + "\n", []string{"BDAT 10", "BDAT 10", "BDAT 10 LAST"}},    // bare LF: 28 + CRLF
		{"a\nb\nc\n", []string{"BDAT 9 LAST"}},
		{strings.Repeat("z", 8), []string{"BDAT 10 LAST"}},
		{"", []string{"BDAT 0 LAST"}},
		{strings.Repeat(".\n", 12), []string{"BDAT 10", "BDAT 10", "BDAT 10", "BDAT 6 LAST"}},
	} {
		t.Run(fmt.Sprintf("%d octets", len(tt.body)), func(t *testing.T) {
			srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
			c := pt2Dial(t, srv, &session.Options{ChunkSize: 10})
			before, readsBefore := len(srv.Commands()), len(srv.Reads())
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(tt.body)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			var bdat []string
			for _, l := range srv.Commands()[before:] {
				if strings.HasPrefix(l, "BDAT") {
					bdat = append(bdat, l)
				}
			}
			if !slices.Equal(bdat, tt.chunks) {
				t.Errorf("BDAT lines %q, want %q", bdat, tt.chunks)
			}
			data := string(ptNormalise([]byte(tt.body)))
			if reads := srv.Reads()[readsBefore:]; len(reads) != 1 {
				t.Errorf("the transaction arrived in %d reads, want 1: %q", len(reads), pt2Reads(srv)[readsBefore:])
			} else {
				// Rebuild the stream: every chunk with its size, in order.
				var want strings.Builder
				want.WriteString("MAIL FROM:<alice@example.org>")
				if len(data) > 0 {
					want.WriteString(" SIZE=" + strconv.Itoa(len(data)))
				}
				want.WriteString("\r\nRCPT TO:<bob@example.org>\r\n")
				rest := data
				for _, l := range tt.chunks {
					f := strings.Fields(l)
					size, _ := strconv.Atoi(f[1])
					want.WriteString(l + "\r\n" + rest[:size])
					rest = rest[size:]
				}
				if string(reads[0].Data) != want.String() {
					t.Errorf("read %q, want %q", reads[0].Data, want.String())
				}
			}
			if m := srv.Messages(); len(m) != 1 || string(m[0].Data) != data {
				t.Errorf("recorded %+v, want data %q", m, data)
			}
		})
	}
}

// ---- 2. Replies mapped back to their commands ----

func TestPipelineMixedRecipients(t *testing.T) {
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<bob@", Reply: response.New(550, "5.1.1 no bob")},
				{Verb: "RCPT", Match: "<dave@", Reply: response.New(451, "4.2.1 dave later")},
			}})
			c := pt2Dial(t, srv, nil)
			to := []string{"carol@example.org", "bob@example.org", "dave@example.org", "erin@example.org"}
			res, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(pt2Body))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			wantCodes := []response.Code{250, 550, 451, 250}
			if len(res.Recipients) != len(to) {
				t.Fatalf("Recipients = %+v", res.Recipients)
			}
			for i, r := range res.Recipients {
				if r.Address != to[i] || r.Reply.Code != wantCodes[i] || r.Accepted != (wantCodes[i] == 250) {
					t.Errorf("Recipients[%d] = %+v, want %s with %d", i, r, to[i], wantCodes[i])
				}
			}
			if ref := res.Refused(); len(ref) != 2 || ref[0].Address != "bob@example.org" || ref[1].Address != "dave@example.org" {
				t.Errorf("Refused() = %+v", ref)
			}
			if res.Mail.Code != 250 || res.Data.Code != 250 {
				t.Errorf("Mail %v Data %v", res.Mail, res.Data)
			}
			m := srv.Messages()
			if len(m) != 1 {
				t.Fatalf("server recorded %d messages", len(m))
			}
			pt2Check(t, "message", m[0], pt2Msg{from: "alice@example.org", body: pt2Body}, []string{"carol@example.org", "erin@example.org"})
		})
	}
}

func TestPipelineAllRecipientsRefused(t *testing.T) {
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<bob@", Reply: response.New(550, "5.1.1 no bob")},
				{Verb: "RCPT", Match: "<carol@", Reply: response.New(450, "4.2.1 carol busy")},
			}})
			c := pt2Dial(t, srv, nil)
			before := len(srv.Commands())
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body))
			var re *session.RecipientsRefusedError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RecipientsRefusedError", err, err)
			}
			if len(re.Recipients) != 2 || re.Recipients[0].Address != "bob@example.org" || re.Recipients[0].Reply.Code != 550 ||
				re.Recipients[1].Address != "carol@example.org" || re.Recipients[1].Reply.Code != 450 ||
				re.Recipients[0].Accepted || re.Recipients[1].Accepted {
				t.Errorf("Recipients = %+v", re.Recipients)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server recorded %d messages", n)
			}
			got := pt2Verbs(srv, before)
			if len(got) == 0 || got[len(got)-1] != "RSET" {
				t.Errorf("commands %q: want an RSET last", srv.Commands()[before:])
			}
			for _, r := range srv.Reads() {
				if strings.Contains(string(r.Data), "SECRET-BODY-MARKER") && !p.bdat {
					t.Errorf("the message went out although every recipient was refused: %q", r.Data)
				}
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop after the refusal: %v", err)
			}
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"erin@example.org"}, strings.NewReader("x\r\n")); err != nil {
				t.Errorf("Send after the refusal: %v", err)
			}
			if m := srv.Messages(); len(m) != 1 || strings.Join(m[0].To, ",") != "erin@example.org" {
				t.Errorf("server recorded %+v", m)
			}
		})
	}
}

func TestPipelineSenderRefused(t *testing.T) {
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "MAIL", Nth: 1, Reply: response.New(553, "5.7.1 sender not allowed")},
			}})
			c := pt2Dial(t, srv, nil)
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body))
			var se *session.SenderRefusedError
			if !errors.As(err, &se) || se.Reply.Code != 553 || se.Sender != "alice@example.org" {
				t.Fatalf("err = %v (%T), want *SenderRefusedError 553", err, err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server recorded %d messages", n)
			}
			// A refused MAIL opens no transaction (RFC 5321 §4.1.1.2):
			// there is nothing for an RSET to end.
			if hasCommand(srv, "RSET") {
				t.Errorf("RSET after the refused MAIL: %q", srv.Commands())
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop: %v", err)
			}
			res, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(pt2Body))
			if err != nil {
				t.Fatalf("second Send: %v", err)
			}
			if len(res.Recipients) != 1 || !res.Recipients[0].Accepted {
				t.Errorf("Recipients %+v", res.Recipients)
			}
			if m := srv.Messages(); len(m) != 1 {
				t.Errorf("server recorded %d messages", len(m))
			} else {
				pt2Check(t, "second message", m[0], pt2Msg{from: "alice@example.org", body: pt2Body}, []string{"bob@example.org"})
			}
		})
	}
}

func TestPipelineDataRefused(t *testing.T) {
	for _, p := range pt2Paths[:2] {
		for _, code := range []response.Code{554, 451} {
			t.Run(fmt.Sprintf("%s/%d", p.name, code), func(t *testing.T) {
				srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
					{Verb: "DATA", Nth: 1, Reply: response.New(code, fmt.Sprintf("%d.3.0 not now", code/100))},
				}})
				c := pt2Dial(t, srv, nil)
				before := len(srv.Commands())
				_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body))
				var de *session.DataError
				if !errors.As(err, &de) || de.Command != "DATA" || de.Reply.Code != code {
					t.Fatalf("err = %v (%T), want *DataError at DATA with %d", err, err, code)
				}
				for _, r := range srv.Reads() {
					if strings.Contains(string(r.Data), "SECRET-BODY-MARKER") {
						t.Errorf("the message went out after DATA was refused: %q", r.Data)
					}
				}
				if got, want := strings.Join(pt2Verbs(srv, before), " "), "MAIL RCPT RCPT DATA RSET"; got != want {
					t.Errorf("commands %q, want verbs %q", srv.Commands()[before:], want)
				}
				if _, err := c.Noop(testCtx(t)); err != nil {
					t.Errorf("Noop after the refusal: %v", err)
				}
				if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(pt2Body)); err != nil {
					t.Errorf("Send after the refusal: %v", err)
				}
				if m := srv.Messages(); len(m) != 1 {
					t.Errorf("server recorded %d messages, want 1", len(m))
				}
			})
		}
	}
}

func TestPipelineBDATRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		chunk int
		ov    smtptest.Override
	}{
		{"the only chunk", 0, smtptest.Override{Verb: "BDAT", Nth: 1, Reply: response.New(554, "5.6.0 content refused")}},
		{"the LAST chunk of several", 10, smtptest.Override{Verb: "BDAT", Match: "LAST", Nth: 4, Reply: response.New(451, "4.3.0 try later")}},
		{"the first chunk of several", 10, smtptest.Override{Verb: "BDAT", Nth: 1, Reply: response.New(452, "4.3.1 no room")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{Overrides: []smtptest.Override{tt.ov}})
			c := pt2Dial(t, srv, &session.Options{ChunkSize: tt.chunk})
			before := len(srv.Commands())
			body := strings.Repeat("0123456789", 3) + "x\r\n" // 33 octets: 4 chunks of 10
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body))
			var de *session.DataError
			if !errors.As(err, &de) || de.Command != "BDAT" || de.Reply.Code != tt.ov.Reply.Code {
				t.Fatalf("err = %v (%T), want *DataError at BDAT with %d", err, err, tt.ov.Reply.Code)
			}
			got := pt2Verbs(srv, before)
			if len(got) == 0 || got[len(got)-1] != "RSET" {
				t.Errorf("commands %q: want an RSET after the refused BDAT", srv.Commands()[before:])
			}
			if tt.ov.Nth == 1 && tt.chunk == 0 || tt.ov.Match == "LAST" {
				if m := srv.Messages(); len(m) != 0 {
					t.Errorf("server recorded %d messages", len(m))
				}
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop after the refusal: %v", err)
			}
			n := len(srv.Messages())
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"carol@example.org"}, strings.NewReader(pt2Body)); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if m := srv.Messages(); len(m) != n+1 {
				t.Errorf("server recorded %d messages, want %d", len(m), n+1)
			} else {
				pt2Check(t, "next message", m[n], pt2Msg{from: "alice@example.org", body: pt2Body}, []string{"carol@example.org"})
			}
		})
	}
}

func TestPipelineEndOfDataRefused(t *testing.T) {
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: smtptest.EndOfData, Match: "SECRET-BODY-MARKER", Reply: response.New(554, "5.7.1 spam")},
			}})
			c := pt2Dial(t, srv, nil)
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(pt2Body))
			want := "end of data"
			if p.bdat {
				want = "BDAT"
			}
			var de *session.DataError
			if !errors.As(err, &de) || de.Command != want || de.Reply.Code != 554 {
				t.Fatalf("err = %v (%T), want *DataError at %s with 554", err, err, want)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server recorded %d messages", n)
			}
			if _, err := c.Noop(testCtx(t)); err != nil {
				t.Errorf("Noop: %v", err)
			}
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader("fine\r\n")); err != nil {
				t.Errorf("Send after the refusal: %v", err)
			}
			if n := len(srv.Messages()); n != 1 {
				t.Errorf("server recorded %d messages, want 1", n)
			}
		})
	}
}

// TestPipelineDATA354WithNoRecipient: a server that answers DATA with 354
// although it refused every recipient gets an empty message (only the end
// of data: RFC 2920 §3.1), and the error is still the refusal.
func TestPipelineDATA354WithNoRecipient(t *testing.T) {
	srv := pt2Server(t, pt2DataExts(), smtptest.Config{Handler: func(c *smtptest.ConnState, line string, cmd command.Command) (response.Reply, bool) {
		switch cmd.(type) {
		case command.Rcpt:
			return response.New(550, "5.1.1 nobody"), true
		case command.Data:
			return response.New(354, "go ahead anyway"), true
		}
		return response.Reply{}, false
	}})
	c := pt2Dial(t, srv, nil)
	readsBefore := len(srv.Reads())
	_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(pt2Body))
	var re *session.RecipientsRefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *RecipientsRefusedError", err, err)
	}
	reads := pt2Reads(srv)[readsBefore:]
	if len(reads) < 2 || reads[1] != ".\r\n" {
		t.Errorf("reads %q: want the end of data alone after the 354", reads)
	}
	for _, r := range reads {
		if strings.Contains(r, "SECRET-BODY-MARKER") {
			t.Errorf("the message went out with no recipient accepted: %q", r)
		}
	}
}

// ---- 3. The server closing in the middle of the pipeline ----

// pt2WantDisconnected checks err is a disconnection.
func pt2WantDisconnected(t testing.TB, what string, err error) {
	t.Helper()
	var de *session.DisconnectedError
	if !errors.As(err, &de) || !errors.Is(err, session.ErrServerDisconnected) {
		t.Errorf("%s: err = %v (%T), want a *DisconnectedError", what, err, err)
	}
}

func TestPipelineServerCloses(t *testing.T) {
	ftNoLeaks(t)
	ehlo := int64(len("EHLO " + pt2Local + "\r\n"))
	data := string(ptNormalise([]byte(pt2Body)))
	mail := int64(len("MAIL FROM:<alice@example.org> SIZE=" + strconv.Itoa(len(data)) + "\r\n"))
	rcpt1 := int64(len("RCPT TO:<bob@example.org>\r\n"))
	rcpt2 := int64(len("RCPT TO:<carol@example.org>\r\n"))
	afterRcpts := ehlo + mail + rcpt1 + rcpt2
	type fcase struct {
		name  string
		fault smtptest.Fault
	}
	common := []fcase{
		{"CloseAt(MAIL)", smtptest.CloseAt("MAIL")},
		{"CloseAt(RCPT)", smtptest.CloseAt("RCPT")},
		{"CloseAt(end of data)", smtptest.CloseAt(smtptest.EndOfData)},
		{"CloseAfterRead(mid MAIL)", smtptest.CloseAfterRead(ehlo + 10)},
		{"CloseAfterRead(end of MAIL)", smtptest.CloseAfterRead(ehlo + mail)},
		{"CloseAfterRead(mid 2nd RCPT)", smtptest.CloseAfterRead(ehlo + mail + rcpt1 + 5)},
		{"CloseAfterRead(end of 2nd RCPT)", smtptest.CloseAfterRead(afterRcpts)},
		{"CloseAfterRead(a little later)", smtptest.CloseAfterRead(afterRcpts + 8)},
		{"CloseAfterRead(later)", smtptest.CloseAfterRead(afterRcpts + 40)},
	}
	for _, p := range pt2Paths[1:] {
		cases := slices.Clone(common)
		if p.bdat {
			cases = append(cases, fcase{"CloseAt(BDAT)", smtptest.CloseAt("BDAT")})
		} else {
			cases = append(cases, fcase{"CloseAt(DATA)", smtptest.CloseAt("DATA")})
		}
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				srv := pt2Server(t, p.exts(), smtptest.Config{Faults: []smtptest.Fault{tc.fault}})
				ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
				defer cancel()
				c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: pt2Local, Timeouts: ftTimeouts("", 0, ftLong)})
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer c.Close()
				start := time.Now()
				res, err := c.Send(ctx, "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body))
				if err == nil {
					t.Fatalf("Send succeeded: %+v", res)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("Send took %v", d)
				}
				pt2WantDisconnected(t, "Send", err)
				if _, err := c.Noop(ctx); err == nil {
					t.Error("Noop on the broken client succeeded")
				}
				srv.Close()
				if m := srv.Messages(); len(m) != 0 {
					t.Errorf("server recorded %d messages: %+v", len(m), m)
				}
			})
		}
	}
}

// ---- 3b. Kill at every offset (the pipelined DATA and BDAT paths, one
// Send and a three-message stream) ----

// pt2KillMsgs are the messages of the kill tests: dots, bare line ends,
// the null sender.
var pt2KillMsgs = []pt2Msg{
	{from: "alice@example.org", to: []string{"bob@example.org", "carol@example.org"}, body: ftBody},
	{from: "alice@example.org", to: []string{"dave@example.org"}, body: "Subject: two\n\n.\n..\nend"},
	{from: "", to: []string{"erin@example.org", "frank@example.org"}, body: "x\n"},
}

// pt2Transcript is what a clean run puts on the wire.
type pt2Transcript struct {
	client int64   // octets the client sent
	server int64   // octets the server sent
	eod    []int64 // per message, the client's octets through its end of data
}

// pt2KillSetup is one kind of run of the kill tests.
type pt2KillSetup struct {
	exts   []string
	stream bool     // SendStream over msgs, else Send of msgs[0]
	msgs   []pt2Msg // what is sent
}

func (s pt2KillSetup) opts(trace io.Writer) *session.Options {
	return &session.Options{LocalName: pt2Local, Timeouts: ftTimeouts("", 0, 2*time.Second), Trace: trace}
}

// count is the number of messages sent.
func (s pt2KillSetup) count() int {
	if s.stream {
		return len(s.msgs)
	}
	return 1
}

// run sends on c and returns the results and how many messages were
// taken.
func (s pt2KillSetup) run(ctx context.Context, c *session.Client) ([]pt2Yield, int) {
	if s.stream {
		return pt2Stream(ctx, c, s.msgs, nil)
	}
	m := s.msgs[0]
	env := m.envelope()
	res, err := c.SendEnvelope(ctx, &env, strings.NewReader(m.body))
	return []pt2Yield{{res, err}}, 1
}

// pt2Measure runs setup cleanly and returns its transcript.
func pt2Measure(t *testing.T, setup pt2KillSetup) pt2Transcript {
	t.Helper()
	srv := pt2Server(t, setup.exts, smtptest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
	defer cancel()
	var trace bytes.Buffer
	c, err := session.Dial(ctx, srv.Addr, setup.opts(&trace))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ys, _ := setup.run(ctx, c)
	for i, y := range ys {
		if y.err != nil {
			t.Fatalf("clean run: message %d: %v", i, y.err)
		}
	}
	if r, err := c.Quit(ctx); err != nil || r.Code != 221 {
		t.Fatalf("Quit = %v, %v", r, err)
	}
	srv.Close()
	var tr pt2Transcript
	var stream []byte
	for _, r := range srv.Reads() {
		stream = append(stream, r.Data...)
	}
	tr.client = int64(len(stream))
	for l := range strings.SplitSeq(trace.String(), "\n") {
		if s, ok := strings.CutPrefix(l, "S: "); ok {
			tr.server += int64(len(s)) + 2
		}
	}
	// The end of each message's data, from the octets themselves.
	for pos := 0; pos < len(stream); {
		i := bytes.IndexByte(stream[pos:], '\n')
		if i < 0 {
			t.Fatalf("client stream ends in a partial line: %q", stream[pos:])
		}
		line := string(stream[pos : pos+i+1])
		pos += i + 1
		switch {
		case strings.HasPrefix(line, "BDAT "):
			f := strings.Fields(line)
			n, _ := strconv.Atoi(f[1])
			pos += n
			if len(f) == 3 {
				tr.eod = append(tr.eod, int64(pos))
			}
		case line == "DATA\r\n":
			j := bytes.Index(stream[pos-2:], []byte("\r\n.\r\n"))
			if j < 0 {
				t.Fatalf("no end of data after DATA")
			}
			pos += j - 2 + 5
			tr.eod = append(tr.eod, int64(pos))
		}
	}
	want := 1
	if setup.stream {
		want = len(setup.msgs)
	}
	if len(tr.eod) != want || len(srv.Messages()) != want {
		t.Fatalf("clean run: %d ends of data, %d messages recorded, want %d", len(tr.eod), len(srv.Messages()), want)
	}
	if !strings.HasSuffix(string(stream), "QUIT\r\n") {
		t.Fatalf("clean run: stream ends %q", stream[max(0, len(stream)-20):])
	}
	return tr
}

// pt2KillAll runs setup against a server cut after every octet read, and
// after every octet written.
func pt2KillAll(t *testing.T, setup pt2KillSetup) {
	tr := pt2Measure(t, setup)
	t.Logf("transcript: client %d octets (ends of data at %v), server %d octets", tr.client, tr.eod, tr.server)
	for _, side := range []struct {
		name  string
		fault func(int64) smtptest.Fault
		total int64
	}{
		{"CloseAfterRead", smtptest.CloseAfterRead, tr.client},
		{"CloseAfterWrite", smtptest.CloseAfterWrite, tr.server},
	} {
		t.Run(side.name, func(t *testing.T) {
			const workers = 8
			next := make(chan int64)
			var wg sync.WaitGroup
			var mu sync.Mutex
			delivered := 0
			for range workers {
				wg.Go(func() {
					for n := range next {
						d := pt2Kill(t, setup, side.name, side.fault(n), n, tr)
						mu.Lock()
						delivered += d
						mu.Unlock()
					}
				})
			}
			for n := int64(0); n <= side.total; n++ {
				next <- n
			}
			close(next)
			wg.Wait()
			t.Logf("%d offsets: %d messages reported sent in all", side.total+1, delivered)
		})
	}
}

// pt2Kill runs one session of a kill test and checks it; it returns how
// many messages were reported sent. It uses only t.Errorf.
func pt2Kill(t *testing.T, setup pt2KillSetup, side string, fault smtptest.Fault, n int64, tr pt2Transcript) int {
	fail := func(format string, args ...any) {
		t.Errorf("%s(%d): %s", side, n, fmt.Sprintf(format, args...))
	}
	cfg := smtptest.Config{Extensions: setup.exts, Faults: []smtptest.Fault{fault}}
	srv := smtptest.NewServer(cfg)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
	defer cancel()
	start := time.Now()
	var errs []error
	var ys []pt2Yield
	pulled, quit := 0, false
	c, err := session.Dial(ctx, srv.Addr, setup.opts(nil))
	if err != nil {
		errs = append(errs, err)
	} else {
		ys, pulled = setup.run(ctx, c)
		for _, y := range ys {
			if y.err != nil {
				errs = append(errs, y.err)
			}
		}
		r, err := c.Quit(ctx)
		quit = err == nil
		if err != nil {
			errs = append(errs, err)
		} else if r.Code != 221 {
			fail("Quit reply %v", r)
		}
		c.Close()
	}
	if d := time.Since(start); d > 3*time.Second {
		fail("session took %v", d)
	}
	for _, err := range errs {
		var de *session.DisconnectedError
		if !errors.As(err, &de) || !errors.Is(err, session.ErrServerDisconnected) {
			fail("err = %v (%T), want a disconnection", err, err)
		}
	}
	srv.Close()
	recorded := srv.Messages()
	// Every message taken has its result; a stream that cannot even
	// greet the server yields that error alone.
	if len(ys) != pulled && !(setup.stream && pulled == 0 && len(ys) == 1 && ys[0].err != nil) {
		fail("%d messages taken, %d results", pulled, len(ys))
	}
	if len(recorded) > setup.count() {
		fail("server recorded %d messages", len(recorded))
		return 0
	}
	// The server works in order: what it recorded is the first messages,
	// each intact.
	for i, m := range recorded {
		want := setup.msgs[i]
		if m.From != want.from || strings.Join(m.To, ",") != strings.Join(want.to, ",") || string(m.Data) != want.data() {
			fail("server recorded a damaged message %d: %q -> %q: %q", i, m.From, m.To, m.Data)
		}
		if side == "CloseAfterRead" && n < tr.eod[i] {
			fail("server recorded message %d of which it read only %d of %d octets", i, n, tr.eod[i])
		}
	}
	sent := 0
	for i, y := range ys {
		if y.err != nil {
			continue
		}
		sent++
		if i >= sent {
			fail("message %d reported sent after an earlier one failed (a broken connection cannot recover)", i)
		}
		if i >= len(recorded) {
			fail("message %d reported sent but the server did not record it", i)
		}
		if y.res == nil || y.res.Data.Code.Class() != response.ClassPositiveCompletion {
			fail("message %d: result %+v", i, y.res)
		}
		if side == "CloseAfterRead" && n <= tr.eod[i] {
			fail("message %d reported sent although the server was cut off at or before its end of data (%d)", i, tr.eod[i])
		}
	}
	switch side {
	case "CloseAfterRead":
		if quit {
			fail("Quit succeeded although the server never read all of QUIT")
		}
	case "CloseAfterWrite":
		if quit != (n == tr.server) {
			fail("Quit succeeded: %v, with the 221 reply cut: %v", quit, n < tr.server)
		}
		if n == tr.server && (sent != len(ys) || len(recorded) != len(ys)) {
			fail("the uncut session: %d of %d sent, %d recorded", sent, len(ys), len(recorded))
		}
	}
	return sent
}

func TestPipelineKillEveryOffsetBDAT(t *testing.T) {
	ftNoLeaks(t)
	pt2KillAll(t, pt2KillSetup{exts: smtptest.DefaultExtensions(), msgs: pt2KillMsgs})
}

func TestPipelineKillEveryOffsetDATA(t *testing.T) {
	ftNoLeaks(t)
	pt2KillAll(t, pt2KillSetup{exts: pt2DataExts(), msgs: pt2KillMsgs})
}

func TestSendStreamKillEveryOffsetBDAT(t *testing.T) {
	ftNoLeaks(t)
	pt2KillAll(t, pt2KillSetup{exts: smtptest.DefaultExtensions(), stream: true, msgs: pt2KillMsgs})
}

func TestSendStreamKillEveryOffsetDATA(t *testing.T) {
	ftNoLeaks(t)
	pt2KillAll(t, pt2KillSetup{exts: pt2DataExts(), stream: true, msgs: pt2KillMsgs})
}

// ---- 4. Round trips ----

// pt2RoundTrips returns the round trips f costs on srv.
func pt2RoundTrips(srv *smtptest.Server, f func()) int {
	before := srv.RoundTrips()
	f()
	return srv.RoundTrips() - before
}

func TestPipelineRoundTrips(t *testing.T) {
	var to []string
	for i := range 10 {
		to = append(to, fmt.Sprintf("rcpt%d@example.net", i))
	}
	for _, tt := range []struct {
		name string
		exts []string
		opts session.Options
		want int
	}{
		{"PIPELINING and CHUNKING", smtptest.DefaultExtensions(), session.Options{}, 1},
		{"PIPELINING only", pt2DataExts(), session.Options{}, 2},
		{"DisableChunking", smtptest.DefaultExtensions(), session.Options{DisableChunking: true}, 2},
		{"DisablePipelining", smtptest.DefaultExtensions(), session.Options{DisablePipelining: true}, 13},
		{"neither offered", sequentialExtensions(), session.Options{}, 13},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := pt2Server(t, tt.exts, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(50 * time.Millisecond)}})
			c := pt2Dial(t, srv, &tt.opts)
			got := pt2RoundTrips(srv, func() {
				if _, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(pt2Body)); err != nil {
					t.Fatalf("Send: %v", err)
				}
			})
			if got != tt.want {
				t.Errorf("a message to 10 recipients cost %d round trips, want %d (commands %q)", got, tt.want, srv.Commands())
			}
			if m := srv.Messages(); len(m) != 1 || len(m[0].To) != 10 {
				t.Errorf("server recorded %+v", m)
			}
		})
	}
}

// ---- 5. SendStream ----

// pt2CheckStreamAllSent checks a stream in which every message went.
func pt2CheckStreamAllSent(t *testing.T, srv *smtptest.Server, msgs []pt2Msg, ys []pt2Yield, from int) {
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
		pt2Check(t, fmt.Sprintf("message %d", i), m[i], msgs[i], msgs[i].to)
	}
}

func TestSendStreamBDAT(t *testing.T) {
	srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	msgs := pt2Many(50)
	before := len(srv.Commands())
	var ys []pt2Yield
	rt := pt2RoundTrips(srv, func() { ys, _ = pt2Stream(testCtx(t), c, msgs, nil) })
	pt2CheckStreamAllSent(t, srv, msgs, ys, 0)
	if rt > 5 {
		t.Errorf("50 messages cost %d round trips, want at most 5", rt)
	}
	t.Logf("50 messages with BDAT: %d round trips", rt)
	// Each transaction after the first starts with RSET.
	v := pt2Verbs(srv, before)
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
	srv := pt2Server(t, pt2DataExts(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	msgs := pt2Many(50)
	before := len(srv.Commands())
	var ys []pt2Yield
	rt := pt2RoundTrips(srv, func() { ys, _ = pt2Stream(testCtx(t), c, msgs, nil) })
	pt2CheckStreamAllSent(t, srv, msgs, ys, 0)
	if rt < 50 || rt > 52 {
		t.Errorf("50 messages cost %d round trips, want 50 + at most 2", rt)
	}
	v := pt2Verbs(srv, before)
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
			srv := pt2Server(t, tt.exts, smtptest.Config{})
			c := pt2Dial(t, srv, &tt.opts)
			msgs := pt2Many(5)
			before := len(srv.Commands())
			var ys []pt2Yield
			rt := pt2RoundTrips(srv, func() { ys, _ = pt2Stream(testCtx(t), c, msgs, nil) })
			pt2CheckStreamAllSent(t, srv, msgs, ys, 0)
			if rt != 5*5 {
				t.Errorf("5 messages to 2 recipients cost %d round trips, want 25 (MAIL, 2 RCPT, DATA, end each)", rt)
			}
			for _, v := range pt2Verbs(srv, before) {
				if v == "BDAT" || v == "RSET" {
					t.Errorf("verbs %q", pt2Verbs(srv, before))
					break
				}
			}
		})
	}
}

// pt2MixedMsgs are 20 messages with failures at known places.
func pt2MixedMsgs() (msgs []pt2Msg, check func(i int, y pt2Yield) []string) {
	msgs = pt2Many(20)
	msgs[3].to = []string{"r3a@example.net", "refused3@example.net", "r3c@example.net"} // one refused
	msgs[5].to = []string{"refused5a@example.net", "refused5b@example.net"}             // all refused
	msgs[9].from = "badsender@example.org"                                              // MAIL refused
	msgs[13].to = nil                                                                   // no recipients
	msgs[16].body = "Subject: spam\r\n\r\nREJECT-ME\r\n"                                // refused after the data
	msgs[17].to = []string{"refused17@example.net", "r17@example.net"}                  // first refused
	check = func(i int, y pt2Yield) (accepted []string) {
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
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<refused", Reply: response.New(550, "5.1.1 no such user")},
				{Verb: "MAIL", Match: "<badsender@", Reply: response.New(553, "5.7.1 not you")},
				{Verb: smtptest.EndOfData, Match: "REJECT-ME", Reply: response.New(554, "5.7.1 spam")},
			}})
			c := pt2Dial(t, srv, nil)
			msgs, check := pt2MixedMsgs()
			ys, pulled := pt2Stream(testCtx(t), c, msgs, nil)
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
				pt2Check(t, fmt.Sprintf("message %d", i), m[k], msgs[i], wantTo[k])
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
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			msgs := pt2Many(10)
			ys, pulled := pt2Stream(testCtx(t), c, msgs, func(ys []pt2Yield) bool { return len(ys) < 3 })
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
				pt2Check(t, fmt.Sprintf("message %d", i), m[i], msgs[i], msgs[i].to)
			}
			pt2Check(t, "message after the stream", m[len(m)-1], pt2Msg{from: "after@example.org", body: "after\r\n"}, []string{"after1@example.net", "after2@example.net"})
		})
	}
}

// TestSendStreamEarlyStopBounded stops a stream long enough that the
// client must read replies before writing on: it must stop taking
// messages, read what it wrote, and leave the Client usable.
func TestSendStreamEarlyStopBounded(t *testing.T) {
	srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	msgs := pt2Many(300)
	ys, pulled := pt2Stream(testCtx(t), c, msgs, func(ys []pt2Yield) bool { return len(ys) < 3 })
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
	pt2Check(t, "after", m[len(m)-1], pt2Msg{from: "after@example.org", body: "after\r\n"}, []string{"after@example.net"})
}

func TestSendStreamConnectionFailure(t *testing.T) {
	ftNoLeaks(t)
	msgs := pt2Many(50)
	for _, p := range pt2Paths[1:] {
		tr := pt2Measure(t, pt2KillSetup{exts: p.exts(), stream: true, msgs: msgs})
		for _, frac := range []int64{5, 25, 50, 75, 95} {
			n := tr.client * frac / 100
			t.Run(fmt.Sprintf("%s/CloseAfterRead(%d%%)", p.name, frac), func(t *testing.T) {
				srv := pt2Server(t, p.exts(), smtptest.Config{Faults: []smtptest.Fault{smtptest.CloseAfterRead(n)}})
				ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
				defer cancel()
				c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: pt2Local, Timeouts: ftTimeouts("", 0, 2*time.Second)})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				ys, pulled := pt2Stream(ctx, c, msgs, nil)
				if len(ys) != pulled {
					t.Errorf("%d messages taken, %d results", pulled, len(ys))
				}
				srv.Close()
				rec := srv.Messages()
				failed := false
				for i, y := range ys {
					if y.err != nil {
						failed = true
						pt2WantDisconnected(t, fmt.Sprintf("message %d", i), y.err)
						continue
					}
					if failed {
						t.Errorf("message %d succeeded after a connection failure", i)
					}
					if i >= len(rec) {
						t.Errorf("message %d reported sent, not recorded", i)
					}
				}
				if !failed {
					t.Errorf("the stream did not fail")
				}
				for i, m := range rec {
					pt2Check(t, fmt.Sprintf("recorded %d", i), m, msgs[i], msgs[i].to)
					if n < tr.eod[i] {
						t.Errorf("message %d recorded with %d of %d octets read", i, n, tr.eod[i])
					}
				}
				t.Logf("%d taken, %d recorded", pulled, len(rec))
			})
		}
	}
}

func TestSendStreamCancel(t *testing.T) {
	ftNoLeaks(t)
	for _, p := range pt2Paths[1:] {
		t.Run(p.name+"/in the loop", func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			msgs := pt2Many(20)
			ys, pulled := pt2Stream(ctx, c, msgs, func(ys []pt2Yield) bool {
				if len(ys) == 3 {
					cancel()
				}
				return true
			})
			pt2CheckCancelled(t, srv, msgs, ys, pulled, 3)
			if _, err := c.Noop(testCtx(t)); err == nil {
				t.Errorf("Noop after the cancel succeeded")
			}
		})
		t.Run(p.name+"/while waiting", func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(100 * time.Millisecond)}})
			c := pt2Dial(t, srv, nil)
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			msgs := pt2Many(50)
			// With BDAT the whole stream is one round trip: cancel
			// before its replies come; with DATA, a few messages in.
			after := 250 * time.Millisecond
			if p.bdat {
				after = 50 * time.Millisecond
			}
			stop := time.AfterFunc(after, cancel)
			defer stop.Stop()
			var cancelledAt time.Time
			done := make(chan struct{})
			go func() {
				<-ctx.Done()
				cancelledAt = time.Now()
				close(done)
			}()
			ys, pulled := pt2Stream(ctx, c, msgs, nil)
			end := time.Now()
			<-done
			if d := end.Sub(cancelledAt); d > time.Second {
				t.Errorf("the stream went on %v after the cancel", d)
			}
			pt2CheckCancelled(t, srv, msgs, ys, pulled, -1)
		})
	}
}

// pt2CheckCancelled checks a stream whose context was cancelled after ok
// results (-1: unknown): every result after the successes is the
// cancellation, none is a success the server did not record.
func pt2CheckCancelled(t *testing.T, srv *smtptest.Server, msgs []pt2Msg, ys []pt2Yield, pulled, ok int) {
	t.Helper()
	if len(ys) != pulled {
		t.Errorf("%d messages taken, %d results", pulled, len(ys))
	}
	srv.Close()
	rec := srv.Messages()
	failed := false
	succeeded := 0
	for i, y := range ys {
		if y.err != nil {
			failed = true
			if !errors.Is(y.err, context.Canceled) {
				t.Errorf("message %d: err = %v, want context.Canceled", i, y.err)
			}
			continue
		}
		succeeded++
		if failed {
			t.Errorf("message %d succeeded after the cancel", i)
		}
		if i >= len(rec) {
			t.Errorf("message %d reported sent, not recorded", i)
		}
	}
	if !failed {
		t.Errorf("no result reported the cancel (%d results)", len(ys))
	}
	if ok >= 0 && succeeded != ok {
		t.Errorf("%d messages succeeded, want %d", succeeded, ok)
	}
	for i, m := range rec {
		pt2Check(t, fmt.Sprintf("recorded %d", i), m, msgs[i], msgs[i].to)
	}
	t.Logf("%d taken, %d results, %d succeeded, %d recorded", pulled, len(ys), succeeded, len(rec))
}

// ---- 6. ESMTP parameters through the pipelined path ----

func TestPipelineDSN(t *testing.T) {
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			before := len(srv.Commands())
			env := &session.Envelope{
				From:       pt2Mailbox("alice@example.org"),
				To:         []command.Mailbox{pt2Mailbox("bob@example.org"), pt2Mailbox("carol@example.org")},
				MailParams: command.MailParams{Ret: command.RetHeaders, EnvID: "id+1"},
				RcptParams: []command.RcptParams{
					{Notify: command.NotifySuccess | command.NotifyFailure, ORCPT: command.OriginalRecipient{Address: "bob@example.org"}},
					{Notify: command.NotifyNever},
				},
			}
			if _, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n")); err != nil {
				t.Fatalf("SendEnvelope: %v", err)
			}
			want := []string{
				"MAIL FROM:<alice@example.org> SIZE=3 RET=HDRS ENVID=id+2B1",
				"RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.org",
				"RCPT TO:<carol@example.org> NOTIFY=NEVER",
			}
			if p.bdat {
				want = append(want, "BDAT 3 LAST")
			} else {
				want = append(want, "DATA")
			}
			if got := srv.Commands()[before:]; !slices.Equal(got, want) {
				t.Errorf("commands:\n%q\nwant:\n%q", got, want)
			}
			m := srv.Messages()
			if len(m) != 1 || m[0].Mail.Params.Ret != command.RetHeaders || m[0].Mail.Params.EnvID != "id+1" ||
				m[0].Rcpts[0].Params.ORCPT.Address != "bob@example.org" || m[0].Rcpts[1].Params.Notify != command.NotifyNever {
				t.Errorf("server recorded %+v", m)
			}
		})
	}
	t.Run("not offered", func(t *testing.T) {
		srv := pt2Server(t, []string{"PIPELINING", "CHUNKING"}, smtptest.Config{})
		c := pt2Dial(t, srv, nil)
		for _, env := range []*session.Envelope{
			{From: pt2Mailbox("a@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, MailParams: command.MailParams{Ret: command.RetFull}},
			{From: pt2Mailbox("a@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, RcptParams: []command.RcptParams{{Notify: command.NotifyDelay}}},
		} {
			_, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n"))
			var ne *session.NotSupportedError
			if !errors.As(err, &ne) || ne.Extension != "DSN" {
				t.Errorf("err = %v (%T), want *NotSupportedError for DSN", err, err)
			}
		}
		if hasCommand(srv, "MAIL") {
			t.Errorf("MAIL sent: %q", srv.Commands())
		}
	})
}

func TestPipelineRequireTLSWithoutTLS(t *testing.T) {
	srv := pt2Server(t, append(smtptest.DefaultExtensions(), "REQUIRETLS"), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	env := &session.Envelope{From: pt2Mailbox("a@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, MailParams: command.MailParams{RequireTLS: true}}
	_, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n"))
	var ne *session.NotSupportedError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %v (%T), want *NotSupportedError", err, err)
	}
	if got := verbs(srv); !slices.Equal(got, []string{"EHLO"}) {
		t.Errorf("commands %q: want nothing after EHLO", srv.Commands())
	}
	if _, err := c.Noop(testCtx(t)); err != nil {
		t.Errorf("Noop: %v", err)
	}
}

func TestPipelineSize(t *testing.T) {
	for _, p := range pt2Paths[1:] {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			for _, tt := range []struct {
				body io.Reader
				size int64 // Envelope.Size
				want string
			}{
				{strings.NewReader("a\nb\n.c\n"), 0, " SIZE=10"},
				{strings.NewReader("no line end"), 0, " SIZE=13"},
				{bytes.NewReader([]byte("x\r\ny\rz")), 0, " SIZE=9"},
				{io.MultiReader(strings.NewReader("unknown size\n")), 0, " BODY=8BITMIME"},
				{io.MultiReader(strings.NewReader("told size\n")), 11, " SIZE=11 BODY=8BITMIME"},
			} {
				before := len(srv.Commands())
				env := &session.Envelope{From: pt2Mailbox("a@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, Size: tt.size}
				if _, err := c.SendEnvelope(testCtx(t), env, tt.body); err != nil {
					t.Fatalf("SendEnvelope: %v", err)
				}
				if got, want := srv.Commands()[before], "MAIL FROM:<a@example.org>"+tt.want; got != want {
					t.Errorf("MAIL %q, want %q", got, want)
				}
				m := srv.Messages()
				if sz := m[len(m)-1].Mail.Params.Size; sz != 0 && sz != int64(len(m[len(m)-1].Data)) {
					t.Errorf("SIZE=%d, but %d octets of data arrived", sz, len(m[len(m)-1].Data))
				}
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		srv := pt2Server(t, []string{"PIPELINING", "CHUNKING", "SIZE 50", "8BITMIME"}, smtptest.Config{})
		c := pt2Dial(t, srv, nil)
		_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(strings.Repeat("x", 60)))
		var me *session.MessageTooLargeError
		if !errors.As(err, &me) || me.Size != 62 || me.Limit != 50 {
			t.Fatalf("err = %v (%T), want *MessageTooLargeError 62 > 50", err, err)
		}
		if hasCommand(srv, "MAIL") {
			t.Errorf("MAIL sent: %q", srv.Commands())
		}
		// Unknown size: the server refuses the chunk.
		_, err = c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, io.MultiReader(strings.NewReader(strings.Repeat("x", 60))))
		var de *session.DataError
		if !errors.As(err, &de) || de.Command != "BDAT" || de.Reply.Code != 552 {
			t.Errorf("unknown size: err = %v (%T), want *DataError at BDAT 552", err, err)
		}
		if _, err := c.Noop(testCtx(t)); err != nil {
			t.Errorf("Noop: %v", err)
		}
	})
}

func TestPipelineMailParams(t *testing.T) {
	exts := []string{"PIPELINING", "CHUNKING", "MT-PRIORITY", "DELIVERBY 120", "AUTH PLAIN", "ENHANCEDSTATUSCODES"}
	prio := 3
	params := command.MailParams{Auth: "alice@example.org", MTPriority: &prio, By: &command.DeliverBy{Time: 120, Mode: command.ByReturn}}
	t.Run("offered", func(t *testing.T) {
		srv := pt2Server(t, exts, smtptest.Config{})
		c := pt2Dial(t, srv, nil)
		before := len(srv.Commands())
		env := &session.Envelope{From: pt2Mailbox("alice@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, MailParams: params}
		if _, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n")); err != nil {
			t.Fatalf("SendEnvelope: %v", err)
		}
		want := []string{"MAIL FROM:<alice@example.org> AUTH=alice@example.org MT-PRIORITY=3 BY=120;R", "RCPT TO:<b@example.org>", "BDAT 3 LAST"}
		if got := srv.Commands()[before:]; !slices.Equal(got, want) {
			t.Errorf("commands %q, want %q", got, want)
		}
	})
	for _, drop := range []string{"MT-PRIORITY", "DELIVERBY 120", "AUTH PLAIN"} {
		t.Run("without "+drop, func(t *testing.T) {
			var e []string
			for _, x := range exts {
				if x != drop {
					e = append(e, x)
				}
			}
			srv := pt2Server(t, e, smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			env := &session.Envelope{From: pt2Mailbox("alice@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, MailParams: params}
			_, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\r\n"))
			var ne *session.NotSupportedError
			if !errors.As(err, &ne) || ne.Extension != strings.Fields(drop)[0] {
				t.Errorf("err = %v (%T), want *NotSupportedError for %s", err, err, drop)
			}
			if hasCommand(srv, "MAIL") {
				t.Errorf("MAIL sent: %q", srv.Commands())
			}
		})
	}
}

func TestPipelineSMTPUTF8(t *testing.T) {
	for _, p := range pt2Paths[1:] {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			before := len(srv.Commands())
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"josé@example.org", "bob@example.org"}, strings.NewReader("x\r\n")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Commands()[before:]
			if len(got) < 3 || got[0] != "MAIL FROM:<alice@example.org> SIZE=3 SMTPUTF8" || got[1] != "RCPT TO:<josé@example.org>" || got[2] != "RCPT TO:<bob@example.org>" {
				t.Errorf("commands %q", got)
			}
			if m := srv.Messages(); len(m) != 1 || m[0].To[0] != "josé@example.org" {
				t.Errorf("server recorded %+v", m)
			}
		})
	}
	t.Run("not offered", func(t *testing.T) {
		srv := pt2Server(t, []string{"PIPELINING", "CHUNKING", "8BITMIME"}, smtptest.Config{})
		c := pt2Dial(t, srv, nil)
		_, err := c.Send(testCtx(t), "alice@example.org", []string{"josé@example.org"}, strings.NewReader("x\r\n"))
		pt2WantNotSupported(t, srv, err, "SMTPUTF8")
	})
}

// ---- BINARYMIME ----

func pt2BinaryExts() []string { return append(smtptest.DefaultExtensions(), "BINARYMIME") }

func TestPipelineBinaryMIME(t *testing.T) {
	srv := pt2Server(t, pt2BinaryExts(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	body := "bin\x00ary\nbare LF\rbare CR\r\n.dot\nno end"
	before := len(srv.Commands())
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	cmds := srv.Commands()[before:]
	if len(cmds) != 3 || !strings.Contains(cmds[0], " BODY=BINARYMIME") || cmds[2] != "BDAT "+strconv.Itoa(len(body))+" LAST" {
		t.Errorf("commands %q: want BODY=BINARYMIME and one chunk of %d octets", cmds, len(body))
	}
	m := srv.Messages()
	if len(m) != 1 || string(m[0].Data) != body {
		t.Fatalf("server recorded %q, want the body as is %q", m[0].Data, body)
	}
}

// TestPipelineBinaryMIMESizeIsRawLength: a BINARYMIME body goes as is, so
// its SIZE is its length, not the length it would have with its line
// endings made CRLF (RFC 1870 §3 counts the octets transmitted).
func TestPipelineBinaryMIMESizeIsRawLength(t *testing.T) {
	srv := pt2Server(t, pt2BinaryExts(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	body := "bin\x00ary\nbare LF\rbare CR\r\n.dot\nno end"
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := srv.Messages()
	if len(m) != 1 {
		t.Fatalf("server recorded %d messages", len(m))
	}
	if got := m[0].Mail.Params.Size; got != int64(len(m[0].Data)) {
		t.Errorf("MAIL %q: SIZE=%d, but the message sent is %d octets", srv.Commands()[1], got, len(m[0].Data))
	}
}

// TestPipelineBinaryMIMEWithEightBitOctets: binary content nearly always
// has octets above 127 as well as NULs. With 8BITMIME offered too (every
// BINARYMIME server offers it), such a body must still go as
// BODY=BINARYMIME, unchanged: 8BITMIME allows no NUL and its line endings
// would be rewritten.
func TestPipelineBinaryMIMEWithEightBitOctets(t *testing.T) {
	srv := pt2Server(t, pt2BinaryExts(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	body := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n"
	before := len(srv.Commands())
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if cmds := srv.Commands()[before:]; !strings.Contains(cmds[0], " BODY=BINARYMIME") {
		t.Errorf("MAIL %q: want BODY=BINARYMIME for a body with NULs", cmds[0])
	}
	if m := srv.Messages(); len(m) != 1 || string(m[0].Data) != body {
		t.Errorf("server recorded %q, want the body unchanged %q", m[0].Data, body)
	}
}

// TestPipelineBinaryMIMEWithoutPipelining: CHUNKING and BINARYMIME but no
// PIPELINING: each command and each chunk waits for its reply.
func TestPipelineBinaryMIMEWithoutPipelining(t *testing.T) {
	srv := pt2Server(t, []string{"CHUNKING", "BINARYMIME", "8BITMIME", "ENHANCEDSTATUSCODES"}, smtptest.Config{})
	c := pt2Dial(t, srv, &session.Options{ChunkSize: 10})
	body := "0123\x00567\n9" + strings.Repeat("b", 15) // 25 octets
	before, readsBefore := len(srv.Commands()), len(srv.Reads())
	var res *session.Result
	rt := pt2RoundTrips(srv, func() {
		var err error
		if res, err = c.Send(testCtx(t), "a@example.org", []string{"b@example.org", "c@example.org"}, strings.NewReader(body)); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
	want := []string{"MAIL FROM:<a@example.org> BODY=BINARYMIME", "RCPT TO:<b@example.org>", "RCPT TO:<c@example.org>", "BDAT 10", "BDAT 10", "BDAT 5 LAST"}
	if got := srv.Commands()[before:]; !slices.Equal(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if rt != 6 {
		t.Errorf("%d round trips, want 6 (MAIL, 2 RCPT, 3 chunks)", rt)
	}
	wantReads := []string{want[0] + "\r\n", want[1] + "\r\n", want[2] + "\r\n", "BDAT 10\r\n" + body[:10], "BDAT 10\r\n" + body[10:20], "BDAT 5 LAST\r\n" + body[20:]}
	if got := pt2Reads(srv)[readsBefore:]; !slices.Equal(got, wantReads) {
		t.Errorf("reads %q, want %q", got, wantReads)
	}
	if m := srv.Messages(); len(m) != 1 || string(m[0].Data) != body {
		t.Errorf("server recorded %+v", m)
	}
	if res == nil || len(res.Recipients) != 2 || res.Data.Code != 250 {
		t.Errorf("result %+v", res)
	}
	// A text message on the same server goes with DATA.
	before = len(srv.Commands())
	if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader("text\r\n")); err != nil {
		t.Fatal(err)
	}
	if got := pt2Verbs(srv, before); !slices.Equal(got, []string{"MAIL", "RCPT", "DATA"}) {
		t.Errorf("text message: verbs %q", got)
	}
}

// TestPipelineBinaryMIMEChunkedRefusals: the unpipelined BDAT path maps
// refusals as the pipelined one does.
func TestPipelineBinaryMIMEChunkedRefusals(t *testing.T) {
	exts := []string{"CHUNKING", "BINARYMIME", "8BITMIME", "ENHANCEDSTATUSCODES"}
	body := "0123\x00567\n9" + strings.Repeat("b", 14)
	t.Run("BDAT refused", func(t *testing.T) {
		srv := pt2Server(t, exts, smtptest.Config{Overrides: []smtptest.Override{{Verb: "BDAT", Nth: 2, Reply: response.New(554, "5.6.0 no")}}})
		c := pt2Dial(t, srv, &session.Options{ChunkSize: 10})
		before := len(srv.Commands())
		_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body))
		var de *session.DataError
		if !errors.As(err, &de) || de.Command != "BDAT" || de.Reply.Code != 554 {
			t.Fatalf("err = %v (%T)", err, err)
		}
		if got := pt2Verbs(srv, before); !slices.Equal(got, []string{"MAIL", "RCPT", "BDAT", "BDAT", "RSET"}) {
			t.Errorf("verbs %q: no chunk after the refused one, then RSET", got)
		}
		if _, err := c.Noop(testCtx(t)); err != nil {
			t.Errorf("Noop: %v", err)
		}
	})
	t.Run("recipients refused", func(t *testing.T) {
		srv := pt2Server(t, exts, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: response.New(550, "5.1.1 no")}}})
		c := pt2Dial(t, srv, &session.Options{ChunkSize: 10})
		_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org", "c@example.org"}, strings.NewReader(body))
		var re *session.RecipientsRefusedError
		if !errors.As(err, &re) || len(re.Recipients) != 2 {
			t.Fatalf("err = %v (%T)", err, err)
		}
		if hasCommand(srv, "BDAT") || !hasCommand(srv, "RSET") {
			t.Errorf("commands %q", srv.Commands())
		}
	})
	t.Run("sender refused", func(t *testing.T) {
		srv := pt2Server(t, exts, smtptest.Config{Overrides: []smtptest.Override{{Verb: "MAIL", Reply: response.New(553, "5.7.1 no")}}})
		c := pt2Dial(t, srv, &session.Options{ChunkSize: 10})
		_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body))
		var se *session.SenderRefusedError
		if !errors.As(err, &se) {
			t.Fatalf("err = %v (%T)", err, err)
		}
		if hasCommand(srv, "RCPT") || hasCommand(srv, "BDAT") {
			t.Errorf("commands %q", srv.Commands())
		}
	})
}

func TestPipelineBinaryMIMENotPossible(t *testing.T) {
	for _, tt := range []struct {
		name string
		exts []string
		opts session.Options
	}{
		{"no CHUNKING", []string{"PIPELINING", "BINARYMIME", "8BITMIME"}, session.Options{}},
		{"DisableChunking", pt2BinaryExts(), session.Options{DisableChunking: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := pt2Server(t, tt.exts, smtptest.Config{})
			c := pt2Dial(t, srv, &tt.opts)
			env := &session.Envelope{From: pt2Mailbox("a@example.org"), To: []command.Mailbox{pt2Mailbox("b@example.org")}, MailParams: command.MailParams{Body: command.BodyBinaryMIME}}
			_, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\x00y\r\n"))
			pt2WantNotSupported(t, srv, err, "CHUNKING")
		})
	}
}

// ---- 7. The switches ----

func TestPipelineSwitches(t *testing.T) {
	for _, tt := range []struct {
		name  string
		exts  []string
		opts  session.Options
		verbs []string
		rt    int
		reads int // reads of the transaction
	}{
		{"default", smtptest.DefaultExtensions(), session.Options{}, []string{"MAIL", "RCPT", "RCPT", "BDAT"}, 1, 1},
		{"DisableChunking", smtptest.DefaultExtensions(), session.Options{DisableChunking: true}, []string{"MAIL", "RCPT", "RCPT", "DATA"}, 2, 2},
		{"DisablePipelining", smtptest.DefaultExtensions(), session.Options{DisablePipelining: true}, []string{"MAIL", "RCPT", "RCPT", "DATA"}, 5, 5},
		{"both", smtptest.DefaultExtensions(), session.Options{DisablePipelining: true, DisableChunking: true}, []string{"MAIL", "RCPT", "RCPT", "DATA"}, 5, 5},
		{"CHUNKING without PIPELINING", []string{"CHUNKING", "8BITMIME", "SIZE 1000000"}, session.Options{}, []string{"MAIL", "RCPT", "RCPT", "DATA"}, 5, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := pt2Server(t, tt.exts, smtptest.Config{})
			c := pt2Dial(t, srv, &tt.opts)
			before, readsBefore := len(srv.Commands()), len(srv.Reads())
			rt := pt2RoundTrips(srv, func() {
				if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org", "c@example.org"}, strings.NewReader(pt2Body)); err != nil {
					t.Fatalf("Send: %v", err)
				}
			})
			if got := pt2Verbs(srv, before); !slices.Equal(got, tt.verbs) {
				t.Errorf("verbs %q, want %q", got, tt.verbs)
			}
			if rt != tt.rt {
				t.Errorf("%d round trips, want %d", rt, tt.rt)
			}
			if n := len(srv.Reads()) - readsBefore; n != tt.reads {
				t.Errorf("%d reads, want %d: %q", n, tt.reads, pt2Reads(srv)[readsBefore:])
			}
			if m := srv.Messages(); len(m) != 1 || string(m[0].Data) != string(ptNormalise([]byte(pt2Body))) {
				t.Errorf("server recorded %+v", m)
			}
		})
	}
}

// ---- 8. Trace ----

func TestPipelineTrace(t *testing.T) {
	data := ptNormalise([]byte(pt2Body))
	size := strconv.Itoa(len(data))
	for _, tt := range []struct {
		name string
		exts []string
		want []string
	}{
		{"BDAT", smtptest.DefaultExtensions(), []string{
			"C: MAIL FROM:<alice@example.org> SIZE=" + size,
			"C: RCPT TO:<bob@example.org>",
			"C: RCPT TO:<carol@example.org>",
			"C: BDAT " + size + " LAST",
			"C: <message data: " + size + " octets>",
			"S: 250 2.1.0 OK",
			"S: 250 2.1.5 OK",
			"S: 250 2.1.5 OK",
			"S: 250 2.0.0 OK queued",
		}},
		{"DATA", pt2DataExts(), []string{
			"C: MAIL FROM:<alice@example.org> SIZE=" + size,
			"C: RCPT TO:<bob@example.org>",
			"C: RCPT TO:<carol@example.org>",
			"C: DATA",
			"S: 250 2.1.0 OK",
			"S: 250 2.1.5 OK",
			"S: 250 2.1.5 OK",
			"S: 354 End data with <CR><LF>.<CR><LF>",
			fmt.Sprintf("C: <message data: %d octets>", len(pt2Body)),
			"C: .",
			"S: 250 2.0.0 OK queued",
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := pt2Server(t, tt.exts, smtptest.Config{})
			var trace bytes.Buffer
			c := pt2Dial(t, srv, &session.Options{Trace: &trace})
			trace.Reset()
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(pt2Body)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := strings.Split(strings.TrimSuffix(trace.String(), "\n"), "\n")
			if !slices.Equal(got, tt.want) {
				t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Contains(trace.String(), "SECRET-BODY-MARKER") {
				t.Errorf("the trace copies the message")
			}
		})
	}
	// The BDAT lines traced are those sent, chunk by chunk.
	for _, body := range []string{strings.Repeat("x", 33), "a\nb\n", "", strings.Repeat("y\n", 10), "bin\x00ary\n"} {
		t.Run(fmt.Sprintf("chunks of %q", body), func(t *testing.T) {
			srv := pt2Server(t, pt2BinaryExts(), smtptest.Config{})
			var trace bytes.Buffer
			c := pt2Dial(t, srv, &session.Options{Trace: &trace, ChunkSize: 10})
			trace.Reset()
			before := len(srv.Commands())
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			var traced []string
			for l := range strings.SplitSeq(trace.String(), "\n") {
				if s, ok := strings.CutPrefix(l, "C: "); ok {
					traced = append(traced, s)
				}
			}
			sent := srv.Commands()[before:]
			m := srv.Messages()
			if len(m) != 1 {
				t.Fatalf("server recorded %d messages", len(m))
			}
			// Each BDAT line is followed by the size of what it carried.
			var want []string
			for _, line := range sent {
				want = append(want, line)
				if size, ok := strings.CutPrefix(line, "BDAT "); ok {
					want = append(want, fmt.Sprintf("<message data: %s octets>", strings.TrimSuffix(size, " LAST")))
				}
			}
			if !slices.Equal(traced, want) {
				t.Errorf("client lines traced:\n%q\nsent:\n%q", traced, want)
			}
		})
	}
	t.Run("stream", func(t *testing.T) {
		srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
		var trace bytes.Buffer
		c := pt2Dial(t, srv, &session.Options{Trace: &trace})
		trace.Reset()
		msgs := pt2Many(2)
		msgs[1].body += "SECRET-BODY-MARKER\r\n"
		ys, _ := pt2Stream(testCtx(t), c, msgs, nil)
		for _, y := range ys {
			if y.err != nil {
				t.Fatal(y.err)
			}
		}
		var cs []string
		var replies int
		for l := range strings.SplitSeq(strings.TrimSuffix(trace.String(), "\n"), "\n") {
			if s, ok := strings.CutPrefix(l, "C: "); ok {
				cs = append(cs, strings.Fields(s)[0])
			} else if strings.HasPrefix(l, "S: ") {
				replies++
			}
		}
		want := []string{"MAIL", "RCPT", "RCPT", "BDAT", "<message", "RSET", "MAIL", "RCPT", "RCPT", "BDAT", "<message"}
		if !slices.Equal(cs, want) || replies != 9 {
			t.Errorf("trace:\n%s\nwant client lines %q and 9 replies", trace.String(), want)
		}
		if strings.Contains(trace.String(), "SECRET-BODY-MARKER") {
			t.Errorf("the trace copies the message")
		}
	})
}

// ---- 9. No goroutine left behind by failed pipelines ----

func TestPipelineFailuresLeaveNoGoroutines(t *testing.T) {
	ftNoLeaks(t)
	for _, f := range [][]smtptest.Fault{
		{smtptest.StallAt("RCPT", 0)},
		{smtptest.StallAt("BDAT", 0)},
		{smtptest.GarbageAt("RCPT", []byte("250x\r\n"))},
		{smtptest.EndlessReplyAt("BDAT")},
		{smtptest.CloseAfterWrite(230)},
	} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{Faults: f})
			ctx, cancel := context.WithTimeout(context.Background(), ftCtxLimit)
			defer cancel()
			c, err := session.Dial(ctx, srv.Addr, &session.Options{LocalName: pt2Local, Timeouts: ftTimeouts("", 0, 300*time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ys, pulled := pt2Stream(ctx, c, pt2Many(5), nil)
			if len(ys) != pulled {
				t.Errorf("%d taken, %d results", pulled, len(ys))
			}
			for i, y := range ys {
				if y.err == nil {
					t.Errorf("message %d succeeded", i)
				}
			}
		})
	}
}

// ---- More failures on the pipelined paths ----

// pt2BadReader gives n octets of text, then fails.
type pt2BadReader struct{ n int }

var pt2ErrRead = errors.New("pt2: disk on fire")

func (r *pt2BadReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, pt2ErrRead
	}
	m := min(len(p), r.n)
	for i := range p[:m] {
		p[i] = 'a' + byte(i%26)
		if i%70 == 69 {
			p[i] = '\n'
		}
	}
	r.n -= m
	return m, nil
}

// TestPipelineBodyReadError: a body that fails to read part way (after
// more than one flush of data) closes the connection before the end of
// the message, on every path: the server never records it.
func TestPipelineBodyReadError(t *testing.T) {
	ftNoLeaks(t)
	for _, p := range pt2Paths {
		t.Run(p.name+"/Send", func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, &session.Options{ChunkSize: 1000})
			_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, &pt2BadReader{n: 100 << 10})
			if !errors.Is(err, pt2ErrRead) {
				t.Errorf("err = %v, want the reader's error", err)
			}
			if _, err := c.Noop(testCtx(t)); err == nil {
				t.Error("Noop after the aborted message succeeded")
			}
			srv.Close()
			if m := srv.Messages(); len(m) != 0 {
				t.Errorf("server recorded %d messages (%d octets)", len(m), len(m[0].Data))
			}
		})
		t.Run(p.name+"/SendStream", func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, &session.Options{ChunkSize: 1000})
			ok := pt2Msg{from: "a@example.org", to: []string{"b@example.org"}, body: "fine\r\n"}
			pulled := 0
			var ys []pt2Yield
			seq := func(yield func(*session.Message) bool) {
				for i := range 3 {
					pulled++
					m := ok.message()
					if i == 1 {
						m.Body = &pt2BadReader{n: 100 << 10}
					}
					if !yield(m) {
						return
					}
				}
			}
			for res, err := range c.SendStream(testCtx(t), seq) {
				ys = append(ys, pt2Yield{res, err})
			}
			if len(ys) != pulled {
				t.Errorf("%d taken, %d results", pulled, len(ys))
			}
			if pulled == 3 && !p.pipe {
				t.Errorf("the stream went on after the connection was closed")
			}
			srv.Close()
			rec := srv.Messages()
			for i, y := range ys {
				if i == 1 && !errors.Is(y.err, pt2ErrRead) {
					t.Errorf("message 1: err = %v, want the reader's error", y.err)
				}
				if y.err == nil && i >= len(rec) {
					t.Errorf("message %d reported sent, not recorded", i)
				}
			}
			if len(rec) > 1 {
				t.Errorf("server recorded %d messages", len(rec))
			}
			for _, m := range rec {
				pt2Check(t, "recorded", m, ok, ok.to)
			}
		})
	}
}

// TestSendStream421: a 421 in the middle of a stream closes the Client.
// smtptest does not close its side after an overridden 421, so replies
// already received may still be reported: what matters is that every
// result is true (a success only for a message recorded, with exactly
// the recipients reported accepted), that the 421 is not taken for an
// acceptance, and that the Client is unusable afterwards.
func TestSendStream421(t *testing.T) {
	for _, p := range pt2Paths {
		for _, verb := range []string{"MAIL", "RCPT"} {
			t.Run(p.name+"/"+verb, func(t *testing.T) {
				srv := pt2Server(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
					{Verb: verb, Match: "<sender3@", Reply: response.New(421, "4.3.2 shutting down")},
					{Verb: verb, Match: "<r3a@", Reply: response.New(421, "4.3.2 shutting down")},
				}})
				c := pt2Dial(t, srv, nil)
				msgs := pt2Many(8)
				ys, pulled := pt2Stream(testCtx(t), c, msgs, nil)
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
					pt2Check(t, fmt.Sprintf("message %d", i), m, msgs[i], acc)
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
	for _, p := range pt2Paths {
		t.Run(p.name, func(t *testing.T) {
			srv := pt2Server(t, p.exts(), smtptest.Config{})
			c := pt2Dial(t, srv, nil)
			msgs := pt2Many(3)
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
			var ys []pt2Yield
			for res, err := range c.SendStream(testCtx(t), seq) {
				ys = append(ys, pt2Yield{res, err})
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
			pt2Check(t, "message 0", m[0], msgs[0], msgs[0].to)
			pt2Check(t, "message 2", m[1], msgs[2], msgs[2].to)
		})
	}
}

// TestSendStreamInTransaction: a stream cannot start inside a transaction
// the caller opened.
func TestSendStreamInTransaction(t *testing.T) {
	srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := pt2Dial(t, srv, nil)
	if _, err := c.Mail(testCtx(t), command.Mail{From: pt2Mailbox("a@example.org")}); err != nil {
		t.Fatal(err)
	}
	ys, pulled := pt2Stream(testCtx(t), c, pt2Many(2), nil)
	if len(ys) != 1 || pulled != 0 || !errors.Is(ys[0].err, session.ErrBadSequence) {
		t.Errorf("results %+v, %d taken: want one ErrBadSequence and nothing taken", ys, pulled)
	}
	if got := verbs(srv); !slices.Equal(got, []string{"EHLO", "MAIL"}) {
		t.Errorf("commands %q", srv.Commands())
	}
}

// pt2SplitReader returns its data in pieces of the sizes given, in turn.
type pt2SplitReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *pt2SplitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = min(n, r.sizes[r.i%len(r.sizes)])
		r.i++
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestPipelinePropertyBDATLineEndings sends random bodies, read in random
// pieces, as small BDAT chunks over one pipelining connection: the server
// must receive each with its line endings made CRLF and nothing else
// changed, whatever the pieces and chunk boundaries, and a SIZE= sent
// must be the size received.
func TestPipelinePropertyBDATLineEndings(t *testing.T) {
	srv := pt2Server(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := pt2Dial(t, srv, &session.Options{ChunkSize: 7})
	sent := 0
	rapid.Check(t, func(t *rapid.T) {
		piece := rapid.SampledFrom([]string{"\r", "\n", "\r\n", ".", "x", "é", "\r\n.\r\n", "line"})
		var body []byte
		for range rapid.IntRange(0, 30).Draw(t, "pieces") {
			body = append(body, piece.Draw(t, "piece")...)
		}
		var r io.Reader = bytes.NewReader(body)
		if rapid.Bool().Draw(t, "split") {
			r = &pt2SplitReader{data: body, sizes: rapid.SliceOfN(rapid.IntRange(1, 9), 1, 5).Draw(t, "sizes")}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Send(ctx, "a@example.org", []string{"b@example.org"}, r); err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent++
		m := srv.Messages()
		if len(m) != sent {
			t.Fatalf("server has %d messages, want %d", len(m), sent)
		}
		got := m[sent-1]
		if want := ptNormalise(body); !bytes.Equal(got.Data, want) {
			t.Fatalf("server got %q, want %q", got.Data, want)
		}
		if sz := got.Mail.Params.Size; sz != 0 && sz != int64(len(got.Data)) {
			t.Fatalf("SIZE=%d for %d octets", sz, len(got.Data))
		}
	})
}

// pt2WantNotSupported checks that err is a *NotSupportedError for ext and
// that no MAIL reached the server.
func pt2WantNotSupported(t *testing.T, srv *smtptest.Server, err error, ext string) {
	t.Helper()
	var ne *session.NotSupportedError
	if !errors.As(err, &ne) || ne.Extension != ext {
		t.Errorf("err = %v (%T), want *NotSupportedError for %s", err, err, ext)
	}
	if hasCommand(srv, "MAIL") {
		t.Errorf("MAIL sent: %q", srv.Commands())
	}
}
