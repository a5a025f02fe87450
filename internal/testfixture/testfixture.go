// Package testfixture holds what the tests of several smtpkit packages
// need alike, so that each is written once: self-signed certificates
// ([Certificate]), a loopback server that runs a handler on each
// connection ([Server]), an address where nothing listens ([RefusedAddr]),
// a buffer that concurrent writers may share ([Buffer]) and a check that a
// test leaves no goroutine behind ([CheckGoroutines]).
//
// It does not import package testing: its helpers take a [T], which
// *testing.T and *testing.B satisfy. So smtptest, a test server that
// smtpkit sink also ships, makes its STARTTLS certificate with
// [NewCertificate] without linking testing into the command.
package testfixture

import (
	"bytes"
	"net"
	"runtime"
	"sync"
	"time"
)

// T is the part of testing.TB the helpers use.
type T interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// RefusedAddr returns a "host:port" on 127.0.0.1 where nothing listens: a
// port that was just listened on and closed, so that dialing it is
// refused (unless another process takes the port in between).
func RefusedAddr(t T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testfixture: listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Buffer is a bytes.Buffer that several goroutines may write to at once,
// for a trace or log that a server or client writes while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// SettleTime is how long [WaitGoroutines] waits for the count of
// goroutines to come down: a connection's goroutine ends a moment after its
// peer closes.
const SettleTime = 2 * time.Second

// CheckGoroutines fails t if, once t and its subtests are over and every
// cleanup registered after this call has run (servers closed, clients
// closed), more goroutines run than when it was called. Call it first in a
// top-level test that is not parallel: no other test runs meanwhile, so
// the count is the test's own.
func CheckGoroutines(t T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() { WaitGoroutines(t, before, "after the test") })
}

// WaitGoroutines waits up to [SettleTime] for the number of goroutines to
// be at most limit, and fails t (Errorf) with every goroutine's stack if
// it stays above. when says at which point, for the message.
func WaitGoroutines(t T, limit int, when string) {
	t.Helper()
	deadline := time.Now().Add(SettleTime)
	for {
		n := runtime.NumGoroutine()
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d goroutine(s) left %s (%d, want at most %d):\n%s", n-limit, when, n, limit, goroutineStacks())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutineStacks returns the stacks of all goroutines.
func goroutineStacks() string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}
