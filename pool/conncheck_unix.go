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

// connCheck reports whether an idle connection is still open and quiet:
// it peeks at the socket without blocking and without consuming
// anything. End of file, an error or pending data all mean the
// connection must not carry another message. A connection that is not a
// socket passes.
func connCheck(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	// A read deadline left from the last reply may have passed, and the
	// raw read honours it; the session sets its own before every read.
	// A deadline can also come just after it is cleared: the session
	// sets a past one when the context of its last call ends (the
	// dial's, say), once, and clears it at its next call. So a timeout
	// is tried again.
	for range 3 {
		c.SetReadDeadline(time.Time{})
		var n int
		var rerr error
		var buf [1]byte
		err = rc.Read(func(fd uintptr) bool {
			n, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return true
		})
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			return err
		case n > 0:
			return errUnexpectedData
		case rerr == nil:
			return io.EOF
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK), errors.Is(rerr, syscall.EINTR):
			return nil
		}
		return rerr
	}
	return err
}
