package smtptest

import (
	"bytes"
	"errors"
	"io"
	"strconv"

	"github.com/smtpkit/smtpkit/response"
)

// BareNewline is what a Server does with a bare CR or LF, one that is not
// part of a CRLF, in a message's data after DATA (Config.BareNewline).
// RFC 5321 lets only CRLF end a line (§2.3.8) and only <CRLF>.<CRLF> end
// the data (§4.1.1.4); servers that read a bare LF or CR as a line end
// can be made to end the data early, which is SMTP smuggling
// (CVE-2023-51764, -51765, -51766). Some servers refuse such bytes
// instead; these modes emulate them, so that a client or a scanner can be
// tested against each.
type BareNewline int

const (
	// BareNewlineData keeps a bare CR or LF as data, as RFC 5321 reads
	// it: the default.
	BareNewlineData BareNewline = iota
	// BareNewlineReject reads the data to its end and refuses the message
	// with "550 5.5.2 Error: bare <CR> or <LF> received" (in LMTP mode,
	// once per accepted recipient), as Postfix does for a bare LF with
	// smtpd_forbid_bare_newline = reject (3.9, and 3.8.5, 3.7.10, 3.6.14,
	// 3.5.24).
	BareNewlineReject
	// BareNewlineDisconnect answers "521 5.5.2 <Hostname> Error: bare <CR>
	// or <LF> received" as soon as it has read one, without waiting for
	// the end of the data, and closes the connection, as Postfix 3.8.4,
	// 3.7.9, 3.6.13 and 3.5.23 did for a bare LF with
	// smtpd_forbid_bare_newline = yes (later versions made "yes" mean
	// "normalize").
	BareNewlineDisconnect
)

var bareNewlineNames = [...]string{"BareNewlineData", "BareNewlineReject", "BareNewlineDisconnect"}

func (b BareNewline) String() string {
	if b >= 0 && int(b) < len(bareNewlineNames) {
		return bareNewlineNames[b]
	}
	return "BareNewline(" + strconv.Itoa(int(b)) + ")"
}

// strictEnding is the end of the data RFC 5321 §4.1.1.4 allows.
const strictEnding = "\r\n.\r\n"

// MaxDataEnding is the longest sequence Config.DataEndings may hold.
const MaxDataEnding = 64

// checkDataEndings panics, as NewServer does on a bad Config, when an
// ending is longer than MaxDataEnding: the server waits for that many
// octets before it can tell where the data ends.
func checkDataEndings(endings []string) {
	for _, e := range endings {
		if len(e) > MaxDataEnding {
			panic("smtptest: Config.DataEndings: " + strconv.Quote(e) + " is longer than MaxDataEnding")
		}
	}
}

// emulatesEndOfData reports whether the data after DATA is read by
// emulatedData rather than by the strict wire.DotReader of readData.
func (c *conn) emulatesEndOfData() bool {
	return len(c.s.cfg.DataEndings) > 0 || c.s.cfg.BareNewline != BareNewlineData
}

// emulatedData reads a message's data after the 354, within
// Config.DataTimeout, as a server with Config.DataEndings and
// Config.BareNewline does, and answers its end. It takes from the
// connection only the bytes up to the end it finds: what follows is read
// as commands, which is how a smuggled transaction gets answered.
//
// The data ends at the first place in the stream where <CRLF>.<CRLF> or
// one of the DataEndings starts, the longest of those starting there, the
// start of the data counting as the end of a line (so ".\r\n" at once
// ends it). While the bytes received so far could still grow into a
// longer ending starting at the same place, it waits for more, as a
// server that reads CR, LF and CRLF each as a line end would. The
// message's Data is the dot-unstuffed octets before the ending and the
// ending's leading CR and LF octets (those before its first other byte);
// Raw is everything received through the ending.
func (c *conn) emulatedData() error {
	c.readWithin(c.s.dataTimeout)
	endings := [][]byte{[]byte(strictEnding)}
	for _, e := range c.s.cfg.DataEndings {
		if e != "" {
			endings = append(endings, []byte(e))
		}
	}
	// buf holds the line end that stands for the start of the data, then
	// what was taken from the connection: everything up to the first
	// position that may start an ending but needs more bytes to tell,
	// which stay in the read buffer. Positions before scanned start no
	// ending; before bareFrom there is no bare CR or LF, so far.
	const lead = len("\r\n")
	buf := append(make([]byte, 0, max(c.sizeHint(), 512)), "\r\n"...)
	scanned, bareFrom := 0, lead
	bare, tooBig := false, false
	dropped := 0 // octets dropped from buf's front once the data is too big
	need := 1    // buffered octets to wait for
	for {
		p, err := c.peekData(need)
		if err != nil {
			return err
		}
		old := len(buf)
		buf = append(buf, p...)
		start, end, next := findEnding(buf, scanned, lead-dropped, endings)
		if end == 0 {
			end = next
		}
		buf = buf[:end]
		c.br.Discard(end - old)
		c.noteHeld(len(buf))
		scanned = next
		need = len(p) - (end - old) + 1
		var found bool
		bareFrom, found = findBare(buf, bareFrom, end > next)
		bare = bare || found
		if bare && c.s.cfg.BareNewline == BareNewlineDisconnect {
			c.s.logf(c.id, "C: <bare CR or LF in the data>")
			c.queue(c.reply(response.CodeNoMailHere, "5.5.2", c.s.hostname+" Error: bare <CR> or <LF> received"))
			return errClosing
		}
		// The size limit counts the octets received before the ending.
		size := len(buf) - lead + dropped
		if end > next {
			size = start - lead + dropped
		}
		if !tooBig && c.s.maxSize > 0 && int64(size) > c.s.maxSize {
			tooBig = true
		}
		if end > next {
			return c.endEmulatedData(buf, lead-dropped, start, end, bare, tooBig)
		}
		if tooBig && scanned > 1 {
			// Keep only what an ending, or a bare LF after a CR, still
			// needs: the undecided positions and the octet before them.
			k := min(scanned, bareFrom) - 1
			buf = buf[:copy(buf, buf[k:])]
			scanned, bareFrom, dropped = scanned-k, bareFrom-k, dropped+k
		}
	}
}

// endEmulatedData answers the data that emulatedData read: buf[lead:end]
// as received, its ending at buf[start:end].
func (c *conn) endEmulatedData(buf []byte, lead, start, end int, bare, tooBig bool) error {
	if tooBig {
		c.s.logf(c.id, "C: <data over the size limit>")
		return c.endOfData(c.finishMessage(nil, nil, true, false))
	}
	cut := start
	for cut < end && (buf[cut] == '\r' || buf[cut] == '\n') {
		cut++
	}
	raw := buf[lead:end]
	data, err := dotDecode(c, buf[lead:max(lead, cut)])
	if err != nil {
		return err
	}
	c.s.logf(c.id, "C: <%d octets of data, ended by %q>", len(raw), buf[start:end])
	if bare && c.s.cfg.BareNewline == BareNewlineReject {
		return c.endOfData(c.refuseMessage(c.reply(response.CodeMailboxUnavailable, "5.5.2", "Error: bare <CR> or <LF> received")))
	}
	return c.endOfData(c.finishMessage(raw, data, false, false))
}

// refuseMessage is the end-of-data action that refuses the message with
// r: once, or in LMTP mode once per accepted recipient.
func (c *conn) refuseMessage(r response.Reply) action {
	act := action{reply: r, endOfData: true}
	if c.s.cfg.LMTP {
		msg := Message{Rcpts: c.st.rcpts, To: c.st.to}
		act.perRcpt = c.lmtpReplies(msg, c.st.rcptLines, r)
		act.replies = len(c.st.rcptLines)
	}
	return act
}

// peekData returns the bytes buffered on the connection, at least need of
// them (reading until there are); they stay buffered until discarded. A
// stream that ends is an unexpected EOF: the data had not ended.
func (c *conn) peekData(need int) ([]byte, error) {
	if c.br.Buffered() < need {
		if _, err := c.br.Peek(need); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return c.br.Peek(c.br.Buffered())
}

// findEnding looks in buf, from position from on, for the first position
// where one of endings starts and ends past minEnd (an ending must take at
// least one octet the client sent, not only the line end that stands for
// the start of the data), and returns the longest one there as
// buf[start:end]. When it finds none it returns end 0, and next, the
// first position it could not decide yet: there buf's remaining bytes are
// a proper prefix of an ending (or a longer ending may yet start where a
// shorter one matched), so more bytes are needed.
func findEnding(buf []byte, from, minEnd int, endings [][]byte) (start, end, next int) {
	for i := from; i < len(buf); i++ {
		b := buf[i]
		best, undecided := 0, false
		for _, e := range endings {
			if e[0] != b {
				continue
			}
			switch rest := buf[i:]; {
			case i+len(e) <= minEnd:
			case bytes.HasPrefix(rest, e):
				best = max(best, len(e))
			case bytes.HasPrefix(e, rest):
				undecided = true
			}
		}
		if undecided {
			return 0, 0, i
		}
		if best > 0 {
			return i, i + best, i
		}
	}
	return 0, 0, len(buf)
}

// findBare looks in buf, from position from (at least 1) on, for a bare
// LF (not after a CR) or a bare CR (not before an LF). A CR that is
// buf's last byte is bare only when final (nothing follows it in the
// data); otherwise next stops there. It returns the first position not
// yet decided and whether it found one.
func findBare(buf []byte, from int, final bool) (next int, found bool) {
	for i := from; i < len(buf); i++ {
		switch buf[i] {
		case '\n':
			if buf[i-1] != '\r' {
				return len(buf), true
			}
		case '\r':
			if i+1 == len(buf) {
				if final {
					return len(buf), true
				}
				return i, false
			}
			if buf[i+1] != '\n' {
				return len(buf), true
			}
		}
	}
	return len(buf), false
}

// dotDecode removes the dots a client doubled at the start of lines
// (RFC 5321 §4.5.2) from part, the data before its ending, with the
// connection's wire.DotReader: part is given the strict ending so that
// the DotReader can read it, and what that adds is cut off again. A last
// line that is only "." (the ending follows it at once) would read as the
// end of the data: its dot is the stuffed one of an empty line, dropped.
func dotDecode(c *conn, part []byte) ([]byte, error) {
	if string(part) == "." || bytes.HasSuffix(part, []byte("\r\n.")) {
		part = part[:len(part)-1]
	}
	suffix := ".\r\n"
	if len(part) > 0 && !bytes.HasSuffix(part, []byte("\r\n")) {
		suffix = "\r\n.\r\n"
	}
	in := append(append(make([]byte, 0, len(part)+len(suffix)), part...), suffix...)
	data, err := io.ReadAll(c.dotReader(bytes.NewReader(in)))
	if err != nil {
		return nil, err
	}
	added := len(suffix) - len(".\r\n")
	if len(data) < added {
		return nil, errors.New("smtptest: the data did not decode") // cannot be: part holds no end-of-data line
	}
	return data[:len(data)-added], nil
}
