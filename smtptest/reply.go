package smtptest

import (
	"net"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// flushReader writes the pending replies before the reader waits for the
// client: so replies to pipelined commands that arrived together leave
// together (RFC 2920 §3.1), and nothing waits on a reply still buffered.
type flushReader struct{ c *conn }

func (r flushReader) Read(p []byte) (int, error) {
	if err := r.c.flush(); err != nil {
		return 0, err
	}
	n, err := r.c.io.Read(p)
	if n > 0 {
		r.c.s.recordRead(r.c.id, p[:n])
	}
	return n, err
}

func (c *conn) reply(code response.Code, enhanced, text string) response.Reply {
	if enhanced != "" && c.s.enhanced {
		text = enhanced + " " + text
	}
	return response.New(code, text)
}

func (c *conn) queue(r response.Reply) {
	start := len(c.out)
	c.out = wire.AppendReply(c.out, r)
	if c.s.cfg.Log != nil {
		for l := range strings.SplitSeq(strings.TrimSuffix(string(c.out[start:]), "\r\n"), "\r\n") {
			c.s.logf(c.id, "S: %s", l)
		}
	}
}

// flush writes the pending replies, with the write faults applied.
func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	defer func() { c.out = c.out[:0] }()
	c.s.countRoundTrip()
	if c.faults.latency > 0 && !c.s.sleep(c.faults.latency) {
		return net.ErrClosed
	}
	data := c.out
	if c.faults.split <= 0 {
		_, err := c.io.Write(data)
		return err
	}
	for len(data) > 0 {
		n := min(c.faults.split, len(data))
		if _, err := c.io.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if len(data) > 0 && !c.s.sleep(time.Millisecond) {
			return net.ErrClosed
		}
	}
	return nil
}
