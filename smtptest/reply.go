package smtptest

import (
	"net"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
)

// flushReader writes the pending replies before the reader waits for the
// client: so replies to pipelined commands that arrived together leave
// together (RFC 2920 §3.1), and nothing waits on a reply still buffered.
// It applies the read deadline, and while DATA is read it hands a copy of
// what it reads to the tee.
type flushReader struct{ c *conn }

func (r flushReader) Read(p []byte) (int, error) {
	c := r.c
	if err := c.flush(); err != nil {
		return 0, err
	}
	c.armDeadline()
	n, err := c.io.Read(p)
	if n > 0 {
		c.nread += int64(n)
		c.s.recordRead(c.id, p[:n])
		if c.tee != nil {
			*c.tee = append(*c.tee, p[:n]...)
			c.noteHeld(len(*c.tee))
		}
	}
	return n, err
}

// consumed returns how many octets the server has taken from the
// connection: read, and no longer in the read buffer.
func (c *conn) consumed() int64 { return c.nread - int64(c.br.Buffered()) }

// MaxUnsentReplies bounds, in octets, the replies a connection holds
// before it writes them. The server writes its replies when it has read
// everything the client sent so far, so that replies to pipelined commands
// leave together; past this bound it writes them at once, before it reads
// another command. A client that sends commands and never reads the
// replies then blocks that write, until Config.CommandTimeout ends the
// connection, instead of growing the server's memory with replies. One
// reply can take the queue past the bound by its own size.
const MaxUnsentReplies = 16 << 10

func (c *conn) reply(code response.Code, enhanced, text string) response.Reply {
	if enhanced != "" && c.s.enhanced {
		text = enhanced + " " + text
	}
	return response.New(code, clampReplyText(text))
}

// maxReplyText is the most text a reply line can carry: RFC 5321
// §4.5.3.1.5 allows 512 octets, code, separator and CRLF included.
const maxReplyText = 512 - len("250 \r\n")

// clampReplyText shortens each line of text to fit a reply line, at a
// UTF-8 boundary and ending with "...": an error that quotes what the
// client sent (a syntax error naming a long parameter) must not make the
// server break the line limit it enforces on clients.
func clampReplyText(text string) string {
	if len(text) <= maxReplyText {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if len(l) > maxReplyText {
			cut := maxReplyText - len("...")
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			lines[i] = l[:cut] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

func (c *conn) queue(r response.Reply) {
	if c.werr != nil {
		return // nothing more can be sent
	}
	start := len(c.out)
	c.out = wire.AppendReply(c.out, r)
	if c.s.cfg.Log != nil {
		for l := range strings.SplitSeq(strings.TrimSuffix(string(c.out[start:]), "\r\n"), "\r\n") {
			c.s.logf(c.id, "S: %s", l)
		}
	}
	if n := int64(len(c.out)); n > c.peakUnsent {
		c.peakUnsent = n
		raise(&c.s.peakUnsent, n)
	}
	if len(c.out) > MaxUnsentReplies {
		c.flush() // an error stays in werr, for the next read or write
	}
}

// noteHeld records that the connection holds n octets of message data.
func (c *conn) noteHeld(n int) {
	if int64(n) > c.peakHeld {
		c.peakHeld = int64(n)
		raise(&c.s.peakHeld, int64(n))
	}
}

// raise makes p at least n.
func raise(p *atomic.Int64, n int64) {
	for {
		old := p.Load()
		if n <= old || p.CompareAndSwap(old, n) {
			return
		}
	}
}

// flush writes the pending replies, with the write faults applied. Once a
// write has failed, every flush returns that error.
func (c *conn) flush() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.out) == 0 {
		return nil
	}
	defer func() { c.out = c.out[:0] }()
	c.s.countRoundTrip()
	if c.faults.latency > 0 && !c.s.sleep(c.faults.latency) {
		c.werr = net.ErrClosed
		return c.werr
	}
	data := c.out
	if c.faults.split <= 0 {
		return c.write(data)
	}
	for len(data) > 0 {
		n := min(c.faults.split, len(data))
		if err := c.write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if len(data) > 0 && !c.s.sleep(time.Millisecond) {
			c.werr = net.ErrClosed
			return c.werr
		}
	}
	return nil
}

// write writes p within Config.CommandTimeout; a failure stays in werr.
func (c *conn) write(p []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if d := c.s.commandTimeout; d > 0 {
		c.io.c.SetWriteDeadline(time.Now().Add(d))
	}
	if err := c.writeOut(p); err != nil {
		c.werr = err
		return err
	}
	return nil
}

func (c *conn) writeOut(p []byte) error {
	_, err := c.io.Write(p)
	return err
}
