package pool_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/pool"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

// TestSendStreamOrder: the outcomes come in the order of the input,
// each recorded in its Message, whatever connection sent it, refusals
// and rotations included.
func TestSendStreamOrder(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		MaxMessagesPerConnection: 97,
		Overrides:                []smtptest.Override{{Verb: "RCPT", Match: "<refused@", Reply: response.New(550, "5.1.1 no")}},
	})
	p, cc := newPool(t, srv, pool.Options{MaxConnections: 4})
	const n = 1000
	msgs := make([]*session.Message, n)
	for i := range msgs {
		msgs[i] = envelopeMessage(fmt.Sprint("m", i))
		if i%7 == 3 {
			msgs[i].Envelope.To = []command.Mailbox{{Local: "refused", Domain: "example.net"}}
		}
	}
	i := 0
	for res, err := range p.SendStream(context.Background(), slices.Values(msgs)) {
		m := msgs[i]
		if !m.Done || m.Result != res || m.Err != err {
			t.Fatalf("result %d is not message %d's: %v %v, recorded %v %v %v", i, i, res, err, m.Done, m.Result, m.Err)
		}
		var rr *session.RecipientsRefusedError
		switch {
		case i%7 == 3 && !errors.As(err, &rr):
			t.Errorf("message %d: %v, want its recipient refused", i, err)
		case i%7 != 3 && err != nil:
			t.Errorf("message %d: %v", i, err)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d results for %d messages", i, n)
	}
	closePool(t, p)
	got := received(srv)
	for i := range n {
		if want := map[bool]int{true: 0, false: 1}[i%7 == 3]; got[fmt.Sprint("m", i)] != want {
			t.Errorf("m%d received %d times", i, got[fmt.Sprint("m", i)])
		}
	}
	if _, peak, _ := cc.counts(); peak > 4 {
		t.Errorf("%d connections at once", peak)
	}
}

// TestSendStreamStopsEarly: when the loop stops, no more messages are
// taken; every message taken has its outcome recorded, and the others
// keep Done false and were not sent.
func TestSendStreamStopsEarly(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, _ := newPool(t, srv, pool.Options{})
	msgs := make([]*session.Message, 2000)
	for i := range msgs {
		msgs[i] = envelopeMessage(fmt.Sprint("m", i))
	}
	seen := 0
	for _, err := range p.SendStream(context.Background(), slices.Values(msgs)) {
		if err != nil {
			t.Fatal(err)
		}
		if seen++; seen == 10 {
			break
		}
	}
	closePool(t, p)
	got := received(srv)
	done := 0
	for i, m := range msgs {
		id := fmt.Sprint("m", i)
		switch {
		case m.Done && m.Err == nil && got[id] == 1:
			done++
		case !m.Done && got[id] == 0:
		default:
			t.Errorf("%s: done %v, err %v, received %d times", id, m.Done, m.Err, got[id])
		}
	}
	if done < 10 || done == len(msgs) {
		t.Errorf("%d messages taken after stopping at 10", done)
	}
}

// TestSendStreamContext: once ctx ends the stream takes no more
// messages; those waiting for a connection are reported with ctx's
// error and not sent.
func TestSendStreamContext(t *testing.T) {
	srv := newServer(t, smtptest.Config{})
	p, _ := newPool(t, srv, pool.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := make([]*session.Message, 5000)
	for i := range msgs {
		msgs[i] = envelopeMessage(fmt.Sprint("m", i))
	}
	n := 0
	for _, err := range p.SendStream(ctx, slices.Values(msgs)) {
		if n++; n == 100 {
			cancel()
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("result %d: %v", n, err)
		}
	}
	closePool(t, p)
	got := received(srv)
	for i, m := range msgs {
		id := fmt.Sprint("m", i)
		delivered := m.Done && m.Err == nil
		if want := map[bool]int{true: 1, false: 0}[delivered]; got[id] != want {
			t.Errorf("%s: done %v, err %v, received %d times", id, m.Done, m.Err, got[id])
		}
	}
	if n == len(msgs) {
		t.Errorf("every message taken after the context ended")
	}
}
