package interop

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/session"
)

// plTraceHas reports whether the trace holds a line starting with prefix.
func plTraceHas(trace, prefix string) bool {
	for l := range strings.SplitSeq(trace, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// Postfix offers PIPELINING and CHUNKING: by default a message goes as
// pipelined BDAT, with DisableChunking as pipelined DATA; both arrive
// intact, dots and all.
func TestPostfixPipelinedDataAndBDAT(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR")
	for _, tt := range []struct {
		name     string
		opts     session.Options
		verb     string // the trace line that shows how the message went
		notVerbs string
	}{
		{"bdat", session.Options{}, "C: BDAT", "C: DATA"},
		{"data", session.Options{DisableChunking: true}, "C: DATA", "C: BDAT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxFor(t)
			var trace strings.Builder
			tt.opts.Trace = &trace
			c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", tt.opts)
			marker := fmt.Sprintf("<%d.pipe-%s@smtpkit.test>", time.Now().UnixNano(), tt.name)
			body := "From: sender@example.net\r\nMessage-ID: " + marker + "\r\nSubject: pipelined\r\n\r\n" +
				".leading dot\r\n..two\r\n.\r\nbare LF line\nend"
			res, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org", "nobody@example.org", "bob@example.org"}, strings.NewReader(body))
			if err != nil {
				t.Fatalf("Send: %v\n%s", err, trace.String())
			}
			if r := res.Refused(); len(r) != 1 || r[0].Address != "nobody@example.org" || r[0].Reply.Code != 550 {
				t.Errorf("refused %+v, want only nobody@example.org (550)", r)
			}
			if !plTraceHas(trace.String(), tt.verb) || plTraceHas(trace.String(), tt.notVerbs) {
				t.Errorf("trace does not show the message going with %q only:\n%s", tt.verb, trace.String())
			}
			want := strings.ReplaceAll(body, "\r\n", "\n") + "\n"
			for _, user := range []string{"alice", "bob"} {
				got := string(waitDelivered(t, maildir, user, marker))
				if !strings.HasSuffix(got, want) {
					t.Errorf("%s got:\n%s\nwant suffix:\n%s", user, got, want)
				}
			}
		})
	}
}

// DSN parameters are accepted, and Postfix acts on them: NOTIFY=SUCCESS
// for alice sends bob (the sender, at example.org) a success notice that
// carries the ENVID.
func TestPostfixDSN(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR")
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{})
	envid := fmt.Sprintf("smtpkit-dsn-%d", time.Now().UnixNano())
	env := &session.Envelope{
		From:       command.Mailbox{Local: "bob", Domain: "example.org"},
		To:         []command.Mailbox{{Local: "alice", Domain: "example.org"}},
		MailParams: command.MailParams{Ret: command.RetHeaders, EnvID: envid},
		RcptParams: []command.RcptParams{{
			Notify: command.NotifySuccess | command.NotifyFailure,
			ORCPT:  command.OriginalRecipient{Type: "rfc822", Address: "alice@example.org"},
		}},
	}
	res, err := c.SendEnvelope(ctx, env, strings.NewReader("Subject: dsn "+envid+"\r\n\r\nnotify me\r\n"))
	if err != nil {
		t.Fatalf("SendEnvelope with DSN parameters: %v", err)
	}
	if res.Mail.Code != 250 || !res.Recipients[0].Accepted {
		t.Fatalf("result %+v", res)
	}
	waitDelivered(t, maildir, "alice", envid)
	notice := string(waitDelivered(t, maildir, "bob", "Original-Envelope-Id: "+envid))
	if !strings.Contains(notice, "Action: delivered") {
		t.Errorf("success notice without Action: delivered:\n%s", notice)
	}
}

// A message over Postfix's SIZE limit is refused before any command, so
// no byte of it goes out.
func TestPostfixOversizedBeforeBody(t *testing.T) {
	ctx := ctxFor(t)
	var trace strings.Builder
	var written int64
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{
		Trace:    &trace,
		Progress: func(n int64) { written = n },
	})
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("0123456789abcdef\r\n", 10485760/18+1)
	_, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org"}, strings.NewReader(big))
	var tooBig *session.MessageTooLargeError
	if !errors.As(err, &tooBig) || tooBig.Limit != 10485760 {
		t.Fatalf("err = %v, want *MessageTooLargeError", err)
	}
	if written != 0 || plTraceHas(trace.String(), "C: MAIL") || plTraceHas(trace.String(), "C: BDAT") {
		t.Errorf("something was sent for the oversized message (%d octets):\n%s", written, trace.String())
	}
	if _, err := c.Noop(ctx); err != nil {
		t.Errorf("session unusable after the refusal: %v", err)
	}
}

// A stream of messages over one connection, pipelined BDAT with the RSET
// that separates transactions; one message in the middle has only an
// unknown recipient and is refused alone.
func TestPostfixSendStream(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR")
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{})
	stamp := time.Now().UnixNano()
	const n = 20
	msgs := iter.Seq[*session.Message](func(yield func(*session.Message) bool) {
		for i := range n {
			to := "alice"
			if i == 7 {
				to = "nobody"
			}
			m := &session.Message{
				Envelope: session.Envelope{From: command.Mailbox{Local: "sender", Domain: "example.net"}, To: []command.Mailbox{{Local: to, Domain: "example.org"}}},
				Body:     strings.NewReader(fmt.Sprintf("Subject: stream %d-%d\r\n\r\nmessage %d\r\n", stamp, i, i)),
			}
			if !yield(m) {
				return
			}
		}
	})
	i := 0
	for res, err := range c.SendStream(ctx, msgs) {
		var rr *session.RecipientsRefusedError
		switch {
		case i == 7 && !errors.As(err, &rr):
			t.Errorf("message 7: %v, want *RecipientsRefusedError", err)
		case i != 7 && (err != nil || res.Data.Code != 250):
			t.Errorf("message %d: %v %+v", i, err, res)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d results for %d messages", i, n)
	}
	for j := range n {
		if j != 7 {
			waitDelivered(t, maildir, "alice", fmt.Sprintf("stream %d-%d", stamp, j))
		}
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}
}
