package fuzz_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/wire"
)

// Generated sessions against smtptest's server: each is drawn from a
// fixed seed, so the run is the same every time; a Driver plays it and
// holds the server to the oracles, including that every message accepted
// is stored as fuzz.Normalise of its body.
func ExampleDriver() {
	srv := smtptest.NewServer(smtptest.Config{})
	defer srv.Close()
	d := &fuzz.Driver{
		Dial: func(ctx context.Context) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "tcp", srv.Addr)
		},
		Stored: func(_ context.Context, token string) ([]byte, error) {
			for _, m := range srv.Messages() {
				if bytes.Contains(m.Data, []byte(fuzz.TokenField+": "+token+"\r\n")) {
					return m.Data, nil
				}
			}
			return nil, os.ErrNotExist
		},
	}
	gen := fuzz.Session(fuzz.Features{Pipelining: true, Chunking: true, RawData: true})
	findings := 0
	for seed := range 20 {
		if err := d.Run(context.Background(), gen.Example(seed)); err != nil {
			fmt.Println(err)
			findings++
		}
	}
	fmt.Printf("20 sessions, %d findings, %d messages stored\n", findings, len(srv.Messages()))
	// Output:
	// 20 sessions, 0 findings, 28 messages stored
}

// corpus is a fuzz.Corpus that runs each input through a check at once,
// as a native fuzz target would run its seeds.
type corpus struct {
	inputs, failed int
	check          func([]byte) bool
}

func (c *corpus) Add(args ...any) {
	c.inputs++
	if !c.check(args[0].([]byte)) {
		c.failed++
	}
}

// SeedBodies gives a native fuzz target a corpus that reaches every corner
// of a DATA encoder. In a test file:
//
//	func FuzzDotWriter(f *testing.F) {
//		fuzz.SeedBodies(f)
//		f.Fuzz(func(t *testing.T, body []byte) {
//			// encode, decode, compare with fuzz.Normalise(body)
//		})
//	}
//
// Here the same seeds go through the check directly.
func ExampleSeedBodies() {
	roundTrip := func(body []byte) bool {
		var enc bytes.Buffer
		dw := wire.NewDotWriter(&enc)
		dw.Write(body)
		dw.Close()
		dec, err := io.ReadAll(wire.NewDotReader(bufio.NewReader(&enc)))
		return err == nil && bytes.Equal(dec, fuzz.Normalise(body))
	}
	c := &corpus{check: roundTrip}
	fuzz.SeedBodies(c)
	fmt.Printf("%d bodies, %d do not come back as fuzz.Normalise has them\n", c.inputs, c.failed)
	// Output:
	// 64 bodies, 0 do not come back as fuzz.Normalise has them
}

// CheckReplies holds a server's reply stream to the letter of RFC 5321.
func ExampleCheckReplies() {
	for _, stream := range []string{
		"250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n",
		"250-mx.example.org\r\n251 oops\r\n",
		"250 ok\n",
	} {
		replies, err := fuzz.CheckReplies([]byte(stream))
		fmt.Println(len(replies), err)
	}
	// Output:
	// 1 <nil>
	// 0 fuzz: bad-reply: at octet 20: code 251 within a reply that began with 250
	// 0 fuzz: bad-reply: at octet 0: a line without CRLF: "250 ok\n"
}

// Implied reads a message's outcome from what a scripted server received
// and answered; Diff compares a client's report with it. Here the server
// closed the connection after the message, without answering it: a
// client that calls the message delivered has taken some other reply for
// the end of data's.
func ExampleImplied() {
	log := []fuzz.Exchange{
		{Query: fuzz.Query{Verb: "MAIL"}, Reply: "250 2.1.0 ok"},
		{Query: fuzz.Query{Verb: "RCPT", Open: true}, Reply: "250 2.1.5 ok"},
		{Query: fuzz.Query{Verb: "DATA", Open: true, Accepted: 1}, Reply: "354 go ahead"},
		{Query: fuzz.Query{Verb: "END", Open: true, Accepted: 1}, Close: true},
	}
	want := fuzz.Implied(log, 0, fuzz.Transaction{Rcpts: 1, Chunks: 1}, fuzz.Path{})
	fmt.Println(want)
	fmt.Println(want.Diff(fuzz.Outcome{Kind: fuzz.Delivered}, fuzz.Path{}))
	// Output:
	// unanswered at end of data (MaybeDelivered true)
	// outcome delivered, want unanswered at end of data (MaybeDelivered true)
}
