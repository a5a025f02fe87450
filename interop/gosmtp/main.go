// Command gosmtp-peer is the interop suite's fourth peer: the SMTP server of
// github.com/emersion/go-smtp (the server most Go mail software is built
// on), with a backend that stores each accepted message as NNNNNN.eml (the
// octets received: CRLF line endings, dot-stuffing undone, nothing added)
// and NNNNNN.json beside it (the envelope, renamed into place first, so an
// .eml that is there has its .json). go-smtp's own limits are kept as a
// deployment has them (lines of 2,000 octets, the default); the rest is
// bounded against a hostile client: connections, time, message size and
// recipients. It listens on loopback only. Started and stopped by
// interop/peers/gosmtp.sh; it lives in a module of its own so that the main
// module does not depend on go-smtp.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:10029", "loopback `host:port` to listen on")
	store := flag.String("store", "", "`DIR` where accepted messages go")
	maxConns := flag.Int("max-conns", 64, "connections served at once; more wait")
	flag.Parse()
	if *store == "" {
		log.Fatal("gosmtp-peer: -store is required")
	}
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().IsLoopback() {
		log.Fatalf("gosmtp-peer: -addr %q: want a loopback host:port", *addr)
	}
	st, err := newStore(*store)
	if err != nil {
		log.Fatal(err)
	}
	s := smtp.NewServer(&backend{st: st})
	s.Domain = "gosmtp.localhost"
	s.ReadTimeout = 60 * time.Second
	s.WriteTimeout = 60 * time.Second
	s.MaxMessageBytes = 10 << 20
	s.MaxRecipients = 1000
	s.EnableSMTPUTF8 = true
	s.EnableBINARYMIME = true
	s.ErrorLog = log.New(os.Stderr, "gosmtp-peer: ", log.LstdFlags)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Print(err)
		if errors.Is(err, syscall.EADDRINUSE) {
			os.Exit(98) // the launcher chooses another port
		}
		os.Exit(1)
	}
	log.Printf("gosmtp-peer: go-smtp listening on %s, storing in %s", ln.Addr(), *store)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		s.Close()
	}()
	if err := s.Serve(&limitListener{Listener: ln, sem: make(chan struct{}, *maxConns)}); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		log.Fatal(err)
	}
}

// limitListener serves at most cap(sem) connections at once: Accept waits
// for one to end.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// store numbers the messages from the highest number in the directory on.
type store struct {
	dir  string
	mu   sync.Mutex
	next int
}

func newStore(dir string) (*store, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := &store{dir: dir, next: 1}
	for _, e := range entries {
		stem, _, _ := strings.Cut(e.Name(), ".")
		if n, err := strconv.Atoi(stem); err == nil && n >= s.next {
			s.next = n + 1
		}
	}
	return s, nil
}

// envelope is NNNNNN.json: the field names are the aiosmtpd peer's.
type envelope struct {
	MailFrom string   `json:"mail_from"`
	RcptTos  []string `json:"rcpt_tos"`
	Helo     string   `json:"helo"`
	Body     string   `json:"body,omitempty"` // MAIL BODY=, as given
	Size     int      `json:"size"`
}

func (s *store) put(env envelope, data []byte) error {
	s.mu.Lock()
	n := s.next
	s.next++
	s.mu.Unlock()
	stem := fmt.Sprintf("%06d", n)
	j, err := json.MarshalIndent(env, "", " ")
	if err != nil {
		return err
	}
	if err := s.write(stem+".json", append(j, '\n')); err != nil {
		return err
	}
	return s.write(stem+".eml", data)
}

func (s *store) write(name string, data []byte) error {
	tmp := filepath.Join(s.dir, "tmp", name)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, name))
}

type backend struct{ st *store }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{st: b.st, helo: c.Hostname()}, nil
}

// session is one connection's transaction in progress.
type session struct {
	st   *store
	helo string
	env  envelope
}

func (s *session) Reset()        { s.env = envelope{} }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.env = envelope{MailFrom: from, Helo: s.helo}
	if opts != nil {
		s.env.Body = string(opts.Body)
	}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.env.RcptTos = append(s.env.RcptTos, to)
	return nil
}

// Data reads the whole message (go-smtp bounds it by MaxMessageBytes and
// its lines by MaxLineLength) and stores it.
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	env := s.env
	env.Size = len(data)
	if err := s.st.put(env, data); err != nil {
		log.Printf("gosmtp-peer: storing a message: %v", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message"}
	}
	return nil
}
