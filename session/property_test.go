package session_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"pgregory.net/rapid"
)

// ptNormalise is what the DATA encoder promises the server receives for
// body: every line ending CRLF (bare LF and bare CR become CRLF) and a
// final CRLF when the body does not end a line.
func ptNormalise(body []byte) []byte {
	var out []byte
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(body) && body[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}

// TestPropertySend sends random envelopes and bodies over one connection,
// with random recipients refused: the server must record exactly the
// accepted recipients, in order, and the body as normalised, and the
// result must say which recipients were refused.
func TestPropertySend(t *testing.T) {
	srv := newServer(t, smtptest.Config{Overrides: []smtptest.Override{
		{Verb: "RCPT", Match: "<refuse", Reply: response.New(550, "5.1.1 refused")},
	}})
	c := dial(t, srv, nil)
	sent := 0
	rapid.Check(t, func(t *rapid.T) {
		local := rapid.StringMatching(`[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,2}`)
		from := local.Draw(t, "from") + "@example.org"
		n := rapid.IntRange(1, 6).Draw(t, "rcpts")
		var to, accepted []string
		for range n {
			addr := local.Draw(t, "to") + "@example.net"
			if rapid.Bool().Draw(t, "refuse") {
				addr = "refuse" + addr
			} else {
				accepted = append(accepted, addr)
			}
			to = append(to, addr)
		}
		// Bodies rich in what the encoder must handle: dots at line
		// starts, bare CR and LF, CRLF.CRLF inside the text, 8-bit octets.
		piece := rapid.SampledFrom([]string{".", "..", "\r\n", "\n", "\r", "\r\n.\r\n", "\n.\n", "x", "line of text", "é", "\x00"})
		var body bytes.Buffer
		for range rapid.IntRange(0, 40).Draw(t, "pieces") {
			body.WriteString(piece.Draw(t, "piece"))
		}
		raw := body.Bytes()

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
		if want := ptNormalise(raw); !bytes.Equal(m.Data, want) {
			t.Fatalf("server got %q, want %q", m.Data, want)
		}
		if len(res.Refused()) != len(to)-len(accepted) {
			t.Fatalf("Refused() = %+v", res.Refused())
		}
		for i, r := range res.Recipients {
			if r.Address != to[i] || r.Accepted == strings.HasPrefix(to[i], "refuse") {
				t.Fatalf("result %d = %+v for %q", i, r, to[i])
			}
		}
	})
}
