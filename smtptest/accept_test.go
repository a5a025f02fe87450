package smtptest

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// emfileListener fails every Accept with EMFILE, as a process out of
// descriptors sees, until healed; then it accepts on the real listener.
type emfileListener struct {
	net.Listener
	healed atomic.Bool
	fails  atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if !l.healed.Load() {
		l.fails.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptBackoff: out of descriptors, the accept loop waits longer and
// longer between tries (5 ms doubling to 1 s, as net/http's Server) rather
// than spinning or giving up, and serves again once descriptors are free.
func TestAcceptBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &emfileListener{Listener: ln}
	s := newServer(t, Config{Listener: fl})
	time.Sleep(700 * time.Millisecond)
	// 5+10+20+40+80+160+320 ms: 8 tries in 700 ms (140 at a fixed 5 ms).
	if n := fl.fails.Load(); n > 10 {
		t.Errorf("%d failed Accepts in 700 ms: the loop does not back off", n)
	}
	fl.healed.Store(true)
	start(t, s).cmd("NOOP", "250") // waits for the next try, at most a second
}
