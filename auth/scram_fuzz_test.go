package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// scramFuzzIterations bounds the iteration count in fuzzing, where a
// server message may ask for up to scramMaxIterations on every input.
const scramFuzzIterations = 64

// scramFuzzClient is scramClientFor with the iteration counts a fuzzer
// can afford: at most scramFuzzIterations, and as few as 1, below the
// DefaultSCRAMMinIterations a real client insists on (the minimum has its
// own test, TestSCRAMRefusesLowIterations).
func scramFuzzClient(t testing.TB) *scramClient {
	c := scramClientFor(t, "SCRAM-SHA-256", "user", "pencil", "client-nonce")
	c.maxIter = scramFuzzIterations
	c.SetMinIterations(1)
	return c
}

// scramFuzzExchange makes real messages for the seeds: a SCRAM-SHA-256
// exchange with fixed nonces and salt, i=2.
func scramFuzzExchange(f *testing.F) (clientFirst, serverFirst, clientFinal, serverFinal string) {
	f.Helper()
	s := scramServerFor(f, "SCRAM-SHA-256", ServerConfig{SCRAMIterations: 2})
	s.salt, s.nonce = []byte("sixteen byte salt"), "server-nonce"
	c := scramFuzzClient(f)
	_, ir, err := c.Start()
	if err != nil {
		f.Fatal(err)
	}
	sf, _, err := s.Next(ir)
	if err != nil {
		f.Fatal(err)
	}
	cf, err := c.Next(sf)
	if err != nil {
		f.Fatal(err)
	}
	sfin, done, err := s.Next(cf)
	if err != nil || !done {
		f.Fatal(err)
	}
	return string(ir), string(sf), string(cf), string(sfin)
}

// scramCheckClientResult checks the Mechanism contract for one answer.
func scramCheckClientResult(t *testing.T, in string, resp []byte, err error) {
	if err == nil && resp == nil {
		t.Fatalf("Next(%q) returned neither a response nor an error", in)
	}
	if err != nil && resp != nil {
		t.Fatalf("Next(%q) returned both %q and %v", in, resp, err)
	}
}

func FuzzSCRAMServerFirst(f *testing.F) {
	_, serverFirst, _, serverFinal := scramFuzzExchange(f)
	for _, v := range scramVectors {
		f.Add(v.serverFirst)
	}
	f.Add(serverFirst)
	f.Add(serverFirst + ",x=ext")
	f.Add("m=x," + serverFirst)
	f.Add(serverFinal)
	f.Add("r=client-nonce,s=,i=1")
	f.Add("r=client-noncex,s=QSXCR+Q6sek8bf92,i=99999999999")
	f.Add("")
	f.Fuzz(func(t *testing.T, msg string) {
		c := scramFuzzClient(t)
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next([]byte(msg))
		scramCheckClientResult(t, msg, resp, err)
		if err != nil {
			if _, err := c.Next([]byte(serverFinal)); !errors.Is(err, ErrUnexpectedChallenge) {
				t.Fatalf("Next after a failure: %v", err)
			}
			return
		}
		// Accepted: the message was well formed and the answer is.
		if !strings.HasPrefix(msg, "r=client-nonce") || !strings.HasPrefix(string(resp), "c=biws,r=client-nonce") {
			t.Fatalf("Next(%q) = %q", msg, resp)
		}
	})
}

func FuzzSCRAMServerFinal(f *testing.F) {
	_, serverFirst, _, serverFinal := scramFuzzExchange(f)
	f.Add(serverFinal)
	f.Add(serverFinal + ",x=1")
	f.Add("e=invalid-proof")
	f.Add("e=other-error,x=y")
	f.Add("v=")
	f.Add("v=" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	f.Add(serverFirst)
	f.Add("")
	f.Fuzz(func(t *testing.T, msg string) {
		c := scramFuzzClient(t)
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Next([]byte(serverFirst)); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next([]byte(msg))
		scramCheckClientResult(t, msg, resp, err)
		if err == nil {
			// Accepted only with the real signature.
			if len(resp) != 0 || !c.ServerVerified() || !strings.HasPrefix(msg, serverFinal) {
				t.Fatalf("Next(%q) accepted: %q, verified %v", msg, resp, c.ServerVerified())
			}
		} else if c.ServerVerified() {
			t.Fatalf("Next(%q) failed (%v) but the server counts as verified", msg, err)
		}
		if _, err := c.Next([]byte(serverFinal)); !errors.Is(err, ErrUnexpectedChallenge) {
			t.Fatalf("Next after the end: %v", err)
		}
	})
}

// FuzzSCRAMClientMessages feeds the server side an arbitrary client-first
// and, when it answers, an arbitrary client-final.
func FuzzSCRAMClientMessages(f *testing.F) {
	clientFirst, _, clientFinal, _ := scramFuzzExchange(f)
	f.Add(clientFirst, clientFinal)
	f.Add(clientFirst, clientFinal+"x")
	f.Add("y,,n=user,r=client-nonce", clientFinal)
	f.Add("n,a=user,n=user,r=client-nonce,x=1", "c=bixhPXVzZXIs,r=client-nonceserver-nonce,p=AAAA")
	f.Add("p=tls-exporter,,n=user,r=client-nonce", clientFinal)
	f.Add("n,,n=us=2Cer,r=client-nonce", "")
	f.Add("", "")
	for _, v := range scramVectors {
		f.Add(v.clientFirst, v.clientFinal)
	}
	f.Fuzz(func(t *testing.T, first, final string) {
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"} {
			s := scramServerFor(t, mech, ServerConfig{
				SCRAMIterations: 2,
				ChannelBinding:  ChannelBinding{Type: "tls-exporter", Data: []byte("binding")},
			})
			s.salt, s.nonce = []byte("sixteen byte salt"), "server-nonce"
			ch, done, err := s.Next([]byte(first))
			if done {
				if err == nil || ch != nil || s.Identity() != "" {
					t.Fatalf("%s client-first %q: done with %q, %v", mech, first, ch, err)
				}
				continue
			}
			if err != nil || !strings.HasPrefix(string(ch), "r=") {
				t.Fatalf("%s client-first %q: %q, %v", mech, first, ch, err)
			}
			ch, done, err = s.Next([]byte(final))
			if !done {
				t.Fatalf("%s client-final %q: not done", mech, final)
			}
			if err == nil {
				if !strings.HasPrefix(string(ch), "v=") || s.Identity() != "user" {
					t.Fatalf("%s client-final %q: success with %q, identity %q", mech, final, ch, s.Identity())
				}
			} else if s.Identity() != "" || ch != nil && !strings.HasPrefix(string(ch), "e=") {
				t.Fatalf("%s client-final %q: %q, %v, identity %q", mech, final, ch, err, s.Identity())
			}
			if _, done, err := s.Next([]byte(final)); !done || err == nil {
				t.Fatalf("%s: response after the end accepted", mech)
			}
		}
	})
}
