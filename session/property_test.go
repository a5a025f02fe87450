package session_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"pgregory.net/rapid"
)

// TestPropertySend sends random envelopes (package fuzz's mailboxes:
// quoted local parts, address literals, lengths at the limits) and bodies
// (fuzz.Body: dot lines, bare CR and LF, NUL, 8-bit octets, every
// end-of-data lookalike; lines up to 998 octets) over one connection,
// with random recipients refused: the server must record exactly the accepted
// recipients, in order, and the body as fuzz.Normalise has it (a
// reference written apart from the encoder), and the result must say
// which recipients were refused.
func TestPropertySend(t *testing.T) {
	srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "@refuse.example>", Reply: response.New(550, "5.1.1 refused")},
	}})
	c := dial(t, srv, nil)
	sent := 0
	rapid.Check(t, func(t *rapid.T) {
		from := fuzz.Mailbox(false).Draw(t, "from").String()
		n := rapid.IntRange(1, 6).Draw(t, "rcpts")
		var to, accepted []string
		for range n {
			m := fuzz.Mailbox(false).Draw(t, "to")
			if rapid.Bool().Draw(t, "refuse") {
				m.Domain = "refuse.example"
			} else {
				accepted = append(accepted, m.String())
			}
			to = append(to, m.String())
		}
		raw := shortLineBody().Draw(t, "body")

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Send(ctx, from, to, bytes.NewReader(raw))
		if len(accepted) == 0 {
			if _, ok := err.(*session.RecipientsRefusedError); !ok {
				t.Fatalf("every recipient refused: err = %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		sent++
		msgs := srv.Messages()
		if len(msgs) != sent {
			t.Fatalf("server has %d messages, want %d", len(msgs), sent)
		}
		m := msgs[sent-1]
		if m.From != from || strings.Join(m.To, ",") != strings.Join(accepted, ",") {
			t.Fatalf("envelope %q -> %q, want %q -> %q", m.From, m.To, from, accepted)
		}
		if want := fuzz.Normalise(raw); !bytes.Equal(m.Data, want) {
			t.Fatalf("server got %q, want %q", m.Data, want)
		}
		if len(res.Refused()) != len(to)-len(accepted) {
			t.Fatalf("Refused() = %+v", res.Refused())
		}
		for i, r := range res.Recipients {
			if r.Address != to[i] || r.Accepted == strings.HasSuffix(to[i], "@refuse.example") {
				t.Fatalf("result %d = %+v for %q", i, r, to[i])
			}
		}
	})
}

// splitReader returns its data in pieces of the sizes given, in turn.
type splitReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *splitReader) Read(p []byte) (int, error) {
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
	srv := newServerOffering(t, smtptest.DefaultExtensions(), smtptest.Config{})
	c := dialHello(t, srv, &session.Options{ChunkSize: 7})
	sent := 0
	rapid.Check(t, func(t *rapid.T) {
		body := shortLineBody().Draw(t, "body")
		var r io.Reader = bytes.NewReader(body)
		if rapid.Bool().Draw(t, "split") {
			r = &splitReader{data: body, sizes: rapid.SliceOfN(rapid.IntRange(1, 9), 1, 5).Draw(t, "sizes")}
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
		if want := fuzz.Normalise(body); !bytes.Equal(got.Data, want) {
			t.Fatalf("server got %q, want %q", got.Data, want)
		}
		if sz := got.Mail.Params.Size; sz != 0 && sz != int64(len(got.Data)) {
			t.Fatalf("SIZE=%d for %d octets", sz, len(got.Data))
		}
	})
}

// shortLineBody draws fuzz.Body's bodies whose lines, as sent, fit RFC
// 5322's 998 octets: the session refuses longer ones by default (see
// Options.LongLines), which other tests cover.
func shortLineBody() *rapid.Generator[[]byte] {
	return fuzz.Body().Filter(func(b []byte) bool {
		for line := range bytes.SplitSeq(fuzz.Normalise(b), []byte("\r\n")) {
			if len(line) > 998 {
				return false
			}
		}
		return true
	})
}
