package testfixture

import (
	"net"
	"sync"
	"time"
)

// ConnDeadline is the deadline a [Server] sets on each connection it
// accepts, so that a handler's read cannot hang a test that went wrong. A
// handler may set another.
const ConnDeadline = 30 * time.Second

// Server is a loopback server for what smtptest cannot do: a proxy, a
// peer that breaks the protocol in one planted way, a TLS echo. It accepts
// on its listener and runs a handler on each connection, on a goroutine of
// its own, closing the connection when the handler returns. Close (which
// the test's cleanup calls) closes the listener and every connection and
// waits for the handlers.
type Server struct {
	Addr string // the listener's address: "host:port", or a Unix socket's path

	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
	wg    sync.WaitGroup
}

// Serve starts a [Server] on 127.0.0.1, on a port of the system's choice.
func Serve(t T, handle func(s *Server, c net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testfixture: listen: %v", err)
	}
	return ServeOn(t, ln, handle)
}

// ServeOn starts a [Server] on ln (::1, another loopback address, a Unix
// socket), which it closes at the end.
func ServeOn(t T, ln net.Listener, handle func(s *Server, c net.Conn)) *Server {
	t.Helper()
	s := Start(ln, handle)
	t.Cleanup(s.Close)
	return s
}

// Start starts a [Server] on ln that the caller closes: for a property
// test that starts one per case, whose T has no Cleanup.
func Start(ln net.Listener, handle func(s *Server, c net.Conn)) *Server {
	s := &Server{Addr: ln.Addr().String(), ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.Track(c) {
				return
			}
			c.SetDeadline(time.Now().Add(ConnDeadline))
			s.wg.Go(func() {
				defer c.Close()
				handle(s, c)
			})
		}
	})
	return s
}

// Track adds c (a connection a handler opened, say to a proxy's target) to
// those Close closes. It reports false, and closes c, once the server is
// closing.
func (s *Server) Track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// Port is the server's TCP port (0 on a Unix socket).
func (s *Server) Port() int {
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Close closes the listener and every connection, and waits for the
// handlers to return. It may be called more than once.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
