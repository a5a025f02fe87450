package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// This file tests the pipelined transaction (RFC 2920) and BDAT (RFC 3030)
// of one message against smtptest: the exact octets and how they are
// grouped into writes, the replies mapped back to the commands, the number
// of round trips, and the ESMTP parameters. SendStream is tested in
// stream_test.go, failures at every point in fault_test.go.

// dotStuff dot-stuffs normalised message data and adds the end of data.
func dotStuff(data []byte) string {
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

// ---- Exact octets and write boundaries ----

func TestPipelineWireDATA(t *testing.T) {
	srv := newServerOffering(t, pipelinedDataExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	readsBefore := len(srv.Reads())
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	data := normalise([]byte(markedBody))
	reads := serverReads(srv)[readsBefore:]
	want := []string{
		"MAIL FROM:<alice@example.org> SIZE=" + strconv.Itoa(len(data)) + "\r\n" +
			"RCPT TO:<bob@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n",
		dotStuff(data),
	}
	if !slices.Equal(reads, want) {
		t.Errorf("server reads:\n%q\nwant (the commands in one read, the message after the 354 in another):\n%q", reads, want)
	}
	m := srv.Messages()
	if len(m) != 1 {
		t.Fatalf("server recorded %d messages", len(m))
	}
	if string(m[0].Data) != string(data) || string(m[0].Raw) != dotStuff(data) || m[0].Chunked {
		t.Errorf("recorded data %q raw %q chunked %v", m[0].Data, m[0].Raw, m[0].Chunked)
	}
	if !strings.Contains(string(m[0].Raw), "\r\n..leading dot\r\n") || !strings.Contains(string(m[0].Raw), "\r\n..\r\n...two\r\n") {
		t.Errorf("raw data not dot-stuffed: %q", m[0].Raw)
	}
}

func TestPipelineWireBDAT(t *testing.T) {
	srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
	readsBefore := len(srv.Reads())
	if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	data := string(normalise([]byte(markedBody)))
	n := strconv.Itoa(len(data))
	reads := serverReads(srv)[readsBefore:]
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
			srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
			c := dialHello(t, srv, &session.Options{ChunkSize: 10})
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
			data := string(normalise([]byte(tt.body)))
			if reads := srv.Reads()[readsBefore:]; len(reads) != 1 {
				t.Errorf("the transaction arrived in %d reads, want 1: %q", len(reads), serverReads(srv)[readsBefore:])
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

// ---- Replies mapped back to their commands ----

func TestPipelineMixedRecipients(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<bob@", Reply: response.New(550, "5.1.1 no bob")},
				{Verb: "RCPT", Match: "<dave@", Reply: response.New(451, "4.2.1 dave later")},
			}})
			c := dialHello(t, srv, nil)
			to := []string{"carol@example.org", "bob@example.org", "dave@example.org", "erin@example.org"}
			res, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(markedBody))
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
			checkRecorded(t, "message", m[0], testMessage{from: "alice@example.org", body: markedBody}, []string{"carol@example.org", "erin@example.org"})
		})
	}
}

func TestPipelineAllRecipientsRefused(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "RCPT", Match: "<bob@", Reply: response.New(550, "5.1.1 no bob")},
				{Verb: "RCPT", Match: "<carol@", Reply: response.New(450, "4.2.1 carol busy")},
			}})
			c := dialHello(t, srv, nil)
			before := len(srv.Commands())
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody))
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
			got := verbsFrom(srv, before)
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
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: "MAIL", Nth: 1, Reply: response.New(553, "5.7.1 sender not allowed")},
			}})
			c := dialHello(t, srv, nil)
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody))
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
			res, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(markedBody))
			if err != nil {
				t.Fatalf("second Send: %v", err)
			}
			if len(res.Recipients) != 1 || !res.Recipients[0].Accepted {
				t.Errorf("Recipients %+v", res.Recipients)
			}
			if m := srv.Messages(); len(m) != 1 {
				t.Errorf("server recorded %d messages", len(m))
			} else {
				checkRecorded(t, "second message", m[0], testMessage{from: "alice@example.org", body: markedBody}, []string{"bob@example.org"})
			}
		})
	}
}

func TestPipelineDataRefused(t *testing.T) {
	for _, p := range sendPaths[:2] {
		for _, code := range []response.Code{554, 451} {
			t.Run(fmt.Sprintf("%s/%d", p.name, code), func(t *testing.T) {
				srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
					{Verb: "DATA", Nth: 1, Reply: response.New(code, fmt.Sprintf("%d.3.0 not now", code/100))},
				}})
				c := dialHello(t, srv, nil)
				before := len(srv.Commands())
				_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org", "carol@example.org"}, strings.NewReader(markedBody))
				var de *session.DataError
				if !errors.As(err, &de) || de.Command != "DATA" || de.Reply.Code != code {
					t.Fatalf("err = %v (%T), want *DataError at DATA with %d", err, err, code)
				}
				for _, r := range srv.Reads() {
					if strings.Contains(string(r.Data), "SECRET-BODY-MARKER") {
						t.Errorf("the message went out after DATA was refused: %q", r.Data)
					}
				}
				if got, want := strings.Join(verbsFrom(srv, before), " "), "MAIL RCPT RCPT DATA RSET"; got != want {
					t.Errorf("commands %q, want verbs %q", srv.Commands()[before:], want)
				}
				if _, err := c.Noop(testCtx(t)); err != nil {
					t.Errorf("Noop after the refusal: %v", err)
				}
				if _, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(markedBody)); err != nil {
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
			srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{Overrides: []smtptest.Override{tt.ov}})
			c := dialHello(t, srv, &session.Options{ChunkSize: tt.chunk})
			before := len(srv.Commands())
			body := strings.Repeat("0123456789", 3) + "x\r\n" // 33 octets: 4 chunks of 10
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(body))
			var de *session.DataError
			if !errors.As(err, &de) || de.Command != "BDAT" || de.Reply.Code != tt.ov.Reply.Code {
				t.Fatalf("err = %v (%T), want *DataError at BDAT with %d", err, err, tt.ov.Reply.Code)
			}
			got := verbsFrom(srv, before)
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
			if _, err := c.Send(testCtx(t), "alice@example.org", []string{"carol@example.org"}, strings.NewReader(markedBody)); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if m := srv.Messages(); len(m) != n+1 {
				t.Errorf("server recorded %d messages, want %d", len(m), n+1)
			} else {
				checkRecorded(t, "next message", m[n], testMessage{from: "alice@example.org", body: markedBody}, []string{"carol@example.org"})
			}
		})
	}
}

func TestPipelineEndOfDataRefused(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{Overrides: []smtptest.Override{
				{Verb: smtptest.EndOfData, Match: "SECRET-BODY-MARKER", Reply: response.New(554, "5.7.1 spam")},
			}})
			c := dialHello(t, srv, nil)
			_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(markedBody))
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
	srv := newServerOffering(t, pipelinedDataExtensions(), smtptest.Config{Handler: func(c *smtptest.ConnState, line string, cmd command.Command) (response.Reply, bool) {
		switch cmd.(type) {
		case command.Rcpt:
			return response.New(550, "5.1.1 nobody"), true
		case command.Data:
			return response.New(354, "go ahead anyway"), true
		}
		return response.Reply{}, false
	}})
	c := dialHello(t, srv, nil)
	readsBefore := len(srv.Reads())
	_, err := c.Send(testCtx(t), "alice@example.org", []string{"bob@example.org"}, strings.NewReader(markedBody))
	var re *session.RecipientsRefusedError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *RecipientsRefusedError", err, err)
	}
	reads := serverReads(srv)[readsBefore:]
	if len(reads) < 2 || reads[1] != ".\r\n" {
		t.Errorf("reads %q: want the end of data alone after the 354", reads)
	}
	for _, r := range reads {
		if strings.Contains(r, "SECRET-BODY-MARKER") {
			t.Errorf("the message went out with no recipient accepted: %q", r)
		}
	}
}

// ---- Round trips ----

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
		{"PIPELINING only", pipelinedDataExtensions(), session.Options{}, 2},
		{"DisableChunking", smtptest.DefaultExtensions(), session.Options{DisableChunking: true}, 2},
		{"DisablePipelining", smtptest.DefaultExtensions(), session.Options{DisablePipelining: true}, 13},
		{"neither offered", sequentialExtensions(), session.Options{}, 13},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServerOffering(t, tt.exts, smtptest.Config{Faults: []smtptest.Fault{smtptest.Latency(50 * time.Millisecond)}})
			c := dialHello(t, srv, &tt.opts)
			got := roundTrips(srv, func() {
				if _, err := c.Send(testCtx(t), "alice@example.org", to, strings.NewReader(markedBody)); err != nil {
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

// ---- ESMTP parameters through the pipelined path ----

func TestPipelineDSN(t *testing.T) {
	for _, p := range sendPaths {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
			before := len(srv.Commands())
			env := &session.Envelope{
				From:       mailbox("alice@example.org"),
				To:         []command.Mailbox{mailbox("bob@example.org"), mailbox("carol@example.org")},
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
		srv := newServerOffering(t, []string{"PIPELINING", "CHUNKING"}, smtptest.Config{})
		c := dialHello(t, srv, nil)
		for _, env := range []*session.Envelope{
			{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, MailParams: command.MailParams{Ret: command.RetFull}},
			{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, RcptParams: []command.RcptParams{{Notify: command.NotifyDelay}}},
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
	srv := newServerOffering(t, append(smtptest.DefaultExtensions(), "REQUIRETLS"), smtptest.Config{})
	c := dialHello(t, srv, nil)
	env := &session.Envelope{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, MailParams: command.MailParams{RequireTLS: true}}
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
	for _, p := range sendPaths[1:] {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
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
				env := &session.Envelope{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, Size: tt.size}
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
		srv := newServerOffering(t, []string{"PIPELINING", "CHUNKING", "SIZE 50", "8BITMIME"}, smtptest.Config{})
		c := dialHello(t, srv, nil)
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
		srv := newServerOffering(t, exts, smtptest.Config{})
		c := dialHello(t, srv, nil)
		before := len(srv.Commands())
		env := &session.Envelope{From: mailbox("alice@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, MailParams: params}
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
			srv := newServerOffering(t, e, smtptest.Config{})
			c := dialHello(t, srv, nil)
			env := &session.Envelope{From: mailbox("alice@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, MailParams: params}
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
	for _, p := range sendPaths[1:] {
		t.Run(p.name, func(t *testing.T) {
			srv := newServerOffering(t, p.exts(), smtptest.Config{})
			c := dialHello(t, srv, nil)
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
		srv := newServerOffering(t, []string{"PIPELINING", "CHUNKING", "8BITMIME"}, smtptest.Config{})
		c := dialHello(t, srv, nil)
		_, err := c.Send(testCtx(t), "alice@example.org", []string{"josé@example.org"}, strings.NewReader("x\r\n"))
		checkNotSupported(t, srv, err, "SMTPUTF8")
	})
}

// ---- BINARYMIME ----

func TestPipelineBinaryMIME(t *testing.T) {
	srv := newServerOffering(t, binaryExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
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
	srv := newServerOffering(t, binaryExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
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
	srv := newServerOffering(t, binaryExtensions(), smtptest.Config{})
	c := dialHello(t, srv, nil)
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
	srv := newServerOffering(t, []string{"CHUNKING", "BINARYMIME", "8BITMIME", "ENHANCEDSTATUSCODES"}, smtptest.Config{})
	c := dialHello(t, srv, &session.Options{ChunkSize: 10})
	body := "0123\x00567\n9" + strings.Repeat("b", 15) // 25 octets
	before, readsBefore := len(srv.Commands()), len(srv.Reads())
	var res *session.Result
	rt := roundTrips(srv, func() {
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
	if got := serverReads(srv)[readsBefore:]; !slices.Equal(got, wantReads) {
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
	if got := verbsFrom(srv, before); !slices.Equal(got, []string{"MAIL", "RCPT", "DATA"}) {
		t.Errorf("text message: verbs %q", got)
	}
}

// TestPipelineBinaryMIMEChunkedRefusals: the unpipelined BDAT path maps
// refusals as the pipelined one does.
func TestPipelineBinaryMIMEChunkedRefusals(t *testing.T) {
	exts := []string{"CHUNKING", "BINARYMIME", "8BITMIME", "ENHANCEDSTATUSCODES"}
	body := "0123\x00567\n9" + strings.Repeat("b", 14)
	t.Run("BDAT refused", func(t *testing.T) {
		srv := newServerOffering(t, exts, smtptest.Config{Overrides: []smtptest.Override{{Verb: "BDAT", Nth: 2, Reply: response.New(554, "5.6.0 no")}}})
		c := dialHello(t, srv, &session.Options{ChunkSize: 10})
		before := len(srv.Commands())
		_, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org"}, strings.NewReader(body))
		var de *session.DataError
		if !errors.As(err, &de) || de.Command != "BDAT" || de.Reply.Code != 554 {
			t.Fatalf("err = %v (%T)", err, err)
		}
		if got := verbsFrom(srv, before); !slices.Equal(got, []string{"MAIL", "RCPT", "BDAT", "BDAT", "RSET"}) {
			t.Errorf("verbs %q: no chunk after the refused one, then RSET", got)
		}
		if _, err := c.Noop(testCtx(t)); err != nil {
			t.Errorf("Noop: %v", err)
		}
	})
	t.Run("recipients refused", func(t *testing.T) {
		srv := newServerOffering(t, exts, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: response.New(550, "5.1.1 no")}}})
		c := dialHello(t, srv, &session.Options{ChunkSize: 10})
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
		srv := newServerOffering(t, exts, smtptest.Config{Overrides: []smtptest.Override{{Verb: "MAIL", Reply: response.New(553, "5.7.1 no")}}})
		c := dialHello(t, srv, &session.Options{ChunkSize: 10})
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
		{"DisableChunking", binaryExtensions(), session.Options{DisableChunking: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServerOffering(t, tt.exts, smtptest.Config{})
			c := dialHello(t, srv, &tt.opts)
			env := &session.Envelope{From: mailbox("a@example.org"), To: []command.Mailbox{mailbox("b@example.org")}, MailParams: command.MailParams{Body: command.BodyBinaryMIME}}
			_, err := c.SendEnvelope(testCtx(t), env, strings.NewReader("x\x00y\r\n"))
			checkNotSupported(t, srv, err, "CHUNKING")
		})
	}
}

// ---- The switches ----

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
			srv := newServerOffering(t, tt.exts, smtptest.Config{})
			c := dialHello(t, srv, &tt.opts)
			before, readsBefore := len(srv.Commands()), len(srv.Reads())
			rt := roundTrips(srv, func() {
				if _, err := c.Send(testCtx(t), "a@example.org", []string{"b@example.org", "c@example.org"}, strings.NewReader(markedBody)); err != nil {
					t.Fatalf("Send: %v", err)
				}
			})
			if got := verbsFrom(srv, before); !slices.Equal(got, tt.verbs) {
				t.Errorf("verbs %q, want %q", got, tt.verbs)
			}
			if rt != tt.rt {
				t.Errorf("%d round trips, want %d", rt, tt.rt)
			}
			if n := len(srv.Reads()) - readsBefore; n != tt.reads {
				t.Errorf("%d reads, want %d: %q", n, tt.reads, serverReads(srv)[readsBefore:])
			}
			if m := srv.Messages(); len(m) != 1 || string(m[0].Data) != string(normalise([]byte(markedBody))) {
				t.Errorf("server recorded %+v", m)
			}
		})
	}
}

// checkNotSupported checks that err is a *NotSupportedError for ext and
// that no MAIL reached the server.
func checkNotSupported(t *testing.T, srv *smtptest.Server, err error, ext string) {
	t.Helper()
	var ne *session.NotSupportedError
	if !errors.As(err, &ne) || ne.Extension != ext {
		t.Errorf("err = %v (%T), want *NotSupportedError for %s", err, err, ext)
	}
	if hasCommand(srv, "MAIL") {
		t.Errorf("MAIL sent: %q", srv.Commands())
	}
}
