//go:build unix

package pool

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// errUnexpectedData: the server sent something to an idle connection,
// which can only be a reply nobody asked for (a 421 before closing, a TLS
// alert).
var errUnexpectedData = errors.New("pool: the server sent data on an idle connection")

// idleCheck looks at an idle connection: whether it is still open and
// quiet. It peeks at the socket without blocking and without consuming
// anything; end of file, an error or pending data all mean the
// connection must not carry another message. A connection that is not a
// socket always passes. It is made once per connection, so that a check
// allocates nothing.
type idleCheck struct {
	conn net.Conn        // the socket under any TLS
	rc   syscall.RawConn // nil: not a socket
	peek func(fd uintptr) bool
	n    int
	err  error
	buf  [1]byte
}

func newIdleCheck(c net.Conn) *idleCheck {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	k := &idleCheck{conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			k.rc = rc
		}
	}
	k.peek = func(fd uintptr) bool {
		k.n, _, k.err = syscall.Recvfrom(int(fd), k.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}
	return k
}

// run reports why the connection cannot be used, or nil.
func (k *idleCheck) run() error {
	if k.rc == nil {
		return nil
	}
	var err error
	// A read deadline left from the last reply may have passed, and the
	// raw read honours it; the session sets its own before every read.
	// A deadline can also come just after it is cleared: the session
	// sets a past one when the context of its last call ends (the
	// dial's, say), once, and clears it at its next call. So a timeout
	// is tried again.
	for range 3 {
		k.conn.SetReadDeadline(time.Time{})
		err = k.rc.Read(k.peek)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			return err
		case k.n > 0:
			return errUnexpectedData
		case k.err == nil:
			return io.EOF
		case errors.Is(k.err, syscall.EAGAIN), errors.Is(k.err, syscall.EWOULDBLOCK), errors.Is(k.err, syscall.EINTR):
			return nil
		}
		return k.err
	}
	return err
}
