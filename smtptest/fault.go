package smtptest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/response"
)

// Fault is a deliberate failure of the server, listed in Config.Faults.
// Faults apply to every connection on their own: "the first command with
// this verb" is the first on each connection, and byte counts start from
// zero on each. Verbs are matched without regard to case and may be the
// pseudo-verbs Greeting and EndOfData. When several verb faults match one
// reply, the first listed wins.
//
// Byte counts are of SMTP octets as the server reads and writes them: over
// TLS, the plaintext, not the TLS records.
type Fault interface {
	fault() *fault
}

type faultKind int

const (
	closeAfterRead faultKind = iota
	closeAfterWrite
	closeAt
	stallAt
	splitWrites
	garbageAt
	endlessReplyAt
	afterStartTLS
	latency
)

type fault struct {
	kind faultKind
	n    int64
	verb string
	d    time.Duration
	data []byte
}

func (f *fault) fault() *fault { return f }

func (f *fault) String() string {
	names := [...]string{"CloseAfterRead", "CloseAfterWrite", "CloseAt", "StallAt", "SplitWrites", "GarbageAt", "EndlessReplyAt", "AfterStartTLS", "Latency"}
	switch f.kind {
	case closeAfterRead, closeAfterWrite, splitWrites:
		return fmt.Sprintf("%s(%d)", names[f.kind], f.n)
	case stallAt:
		return fmt.Sprintf("%s(%q, %v)", names[f.kind], f.verb, f.d)
	case latency:
		return fmt.Sprintf("%s(%v)", names[f.kind], f.d)
	case garbageAt:
		return fmt.Sprintf("%s(%q, %q)", names[f.kind], f.verb, f.data)
	case afterStartTLS:
		return fmt.Sprintf("%s(%q)", names[f.kind], f.data)
	}
	return fmt.Sprintf("%s(%q)", names[f.kind], f.verb)
}

// CloseAfterRead closes the connection as soon as the server has received
// n octets on it; with 0 the server closes it right after accepting it,
// before the greeting. Anything the client sends past the n-th octet is
// never read: the server acts only on the first n octets, and its replies
// to them find the connection closed.
func CloseAfterRead(n int64) Fault { return &fault{kind: closeAfterRead, n: max(n, 0)} }

// CloseAfterWrite lets the server send at most n octets on the connection
// and closes it right after the n-th, which may cut a reply mid-line. With 0
// the client sees the connection close with no greeting.
func CloseAfterWrite(n int64) Fault { return &fault{kind: closeAfterWrite, n: max(n, 0)} }

// CloseAt closes the connection instead of replying to the first command
// with verb (or at the pseudo-verb's reply). Replies to commands before it
// are sent first.
func CloseAt(verb string) Fault { return &fault{kind: closeAt, verb: verb} }

// StallAt waits d before replying to the first command with verb; d <= 0
// waits until the connection or the server closes, and the reply is never
// sent. During a stall of positive d the server still notices the client
// closing the connection.
func StallAt(verb string, d time.Duration) Fault { return &fault{kind: stallAt, verb: verb, d: d} }

// SplitWrites sends every write of replies in pieces of at most n octets,
// each its own Write on the connection, about a millisecond apart, so
// that the client receives them separately. n < 1 counts as 1.
func SplitWrites(n int) Fault { return &fault{kind: splitWrites, n: int64(max(n, 1))} }

// GarbageAt sends data instead of the reply to the first command with
// verb. The server then goes on as if it had refused the command: the
// state does not change.
func GarbageAt(verb string, data []byte) Fault {
	return &fault{kind: garbageAt, verb: verb, data: append([]byte(nil), data...)}
}

// EndlessReplyAt answers the first command with verb with the reply code
// that it would have sent and "-", then an endless line of "x" without a
// line ending, until the client closes the connection (or the server
// closes). The server holds only a small fixed buffer for it.
func EndlessReplyAt(verb string) Fault { return &fault{kind: endlessReplyAt, verb: verb} }

// AfterStartTLS sends data right after the "220 Ready to start TLS" reply,
// in the same Write, before the TLS handshake: the plaintext injection a
// client must reject (RFC 3207 §5).
func AfterStartTLS(data []byte) Fault {
	return &fault{kind: afterStartTLS, data: append([]byte(nil), data...)}
}

// Latency waits d before each write of replies, as a network round trip
// would. The server answers pipelined commands that arrived together in
// one write (it writes when it has read everything the client sent), so d
// is paid once per round trip: a test can count them by timing.
func Latency(d time.Duration) Fault { return &fault{kind: latency, d: d} }

// connFaults are a connection's faults, sorted by what they act on.
type connFaults struct {
	readLimit  int64 // -1: none
	writeLimit int64 // -1: none
	split      int
	latency    time.Duration
	afterTLS   []byte
	verbs      []*fault
}

func newConnFaults(list []Fault) connFaults {
	cf := connFaults{readLimit: -1, writeLimit: -1}
	for _, F := range list {
		if F == nil {
			continue
		}
		f := F.fault()
		switch f.kind {
		case closeAfterRead:
			if cf.readLimit < 0 || f.n < cf.readLimit {
				cf.readLimit = f.n
			}
		case closeAfterWrite:
			if cf.writeLimit < 0 || f.n < cf.writeLimit {
				cf.writeLimit = f.n
			}
		case splitWrites:
			if cf.split == 0 || int(f.n) < cf.split {
				cf.split = int(f.n)
			}
		case latency:
			cf.latency += f.d
		case afterStartTLS:
			cf.afterTLS = append(cf.afterTLS, f.data...)
		default:
			cf.verbs = append(cf.verbs, f)
		}
	}
	return cf
}

// errFaultClosed is what reads and writes return once a fault has closed
// the connection.
var errFaultClosed = errors.New("smtptest: connection closed by a fault")

// faultIO is the connection as the SMTP layer sees it: the TCP or Unix
// connection, or the TLS connection on it, with the byte-counting faults
// applied.
type faultIO struct {
	c          net.Conn // what is read and written: raw, or TLS on raw
	raw        net.Conn
	readLimit  int64
	writeLimit int64
	nread      int64
	nwritten   int64
	dead       bool
}

func (f *faultIO) kill() {
	f.dead = true
	f.raw.Close()
}

func (f *faultIO) Read(p []byte) (int, error) {
	if f.dead {
		return 0, errFaultClosed
	}
	if f.readLimit >= 0 {
		left := f.readLimit - f.nread
		if left <= 0 {
			f.kill()
			return 0, errFaultClosed
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := f.c.Read(p)
	f.nread += int64(n)
	if f.readLimit >= 0 && f.nread >= f.readLimit {
		f.kill()
	}
	return n, err
}

func (f *faultIO) Write(p []byte) (int, error) {
	if f.dead {
		return 0, errFaultClosed
	}
	cut := false
	if f.writeLimit >= 0 {
		left := f.writeLimit - f.nwritten
		if left <= 0 {
			f.kill()
			return 0, errFaultClosed
		}
		if int64(len(p)) > left {
			p, cut = p[:left], true
		}
	}
	n, err := f.c.Write(p)
	f.nwritten += int64(n)
	if f.writeLimit >= 0 && f.nwritten >= f.writeLimit {
		f.kill()
		if err == nil && cut {
			err = errFaultClosed
		}
	}
	return n, err
}

// verbFault returns the first verb fault for one of keys, whose per-connection
// counts are in seen, that fires now: at the key's first occurrence.
func (cf *connFaults) verbFault(keys []string, seen map[string]int) *fault {
	for _, f := range cf.verbs {
		for _, k := range keys {
			if strings.EqualFold(f.verb, k) && seen[k] == 1 {
				return f
			}
		}
	}
	return nil
}

// stall waits d, or with d <= 0 until the connection or the server closes,
// watching for the client closing the connection meanwhile.
func (c *conn) stall(d time.Duration) error {
	if err := c.flush(); err != nil {
		return err
	}
	// The stall is the server's: the client's timeouts do not run
	// meanwhile, and the next read starts its own.
	defer c.readWithin(c.readTimeout)
	c.readWithin(0)
	var timer <-chan time.Time
	if d > 0 {
		c.deadline = time.Now().Add(d)
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	for {
		_, err := c.br.Peek(c.br.Buffered() + 1)
		switch {
		case err == nil:
			continue // the client sent more; it waits for its turn
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		case err == bufio.ErrBufferFull:
			select {
			case <-timer:
				return nil
			case <-c.s.done:
				return net.ErrClosed
			}
		}
		return err
	}
}

// endless sends "<code>-" and then "x" until a write fails.
func (c *conn) endless(code response.Code) error {
	if err := c.flush(); err != nil {
		return err
	}
	if err := c.write([]byte(strconv.Itoa(int(code)) + "-")); err != nil {
		return err
	}
	buf := bytes.Repeat([]byte{'x'}, 4096)
	for {
		select {
		case <-c.s.done:
			return net.ErrClosed
		default:
		}
		if err := c.write(buf); err != nil {
			return err
		}
	}
}
