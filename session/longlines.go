package session

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smtpkit/smtpkit/wire"
)

// LongLines is what the Send methods do with a message line longer than
// 998 octets (RFC 5322 §2.1.1; RFC 5321 §4.5.3.1.6), in a message sent with
// DATA or with BDAT as 7BIT or 8BITMIME. A BODY=BINARYMIME message (RFC 3030
// §3) has no line limit and is sent as it is. See [Options.LongLines].
type LongLines = wire.LongLines

const (
	// LongLinesRefuse, the default, fails the message with a
	// *[LineTooLongError]. A body the Client can read before it sends it
	// (*bytes.Reader, *bytes.Buffer, *strings.Reader) is refused before
	// MAIL, with nothing written, and the Client stays ready for the next
	// message. A body that streams is refused when the line goes past the
	// limit: over BDAT, no more chunks go and the transaction is reset
	// (RFC 3030 §4), and the Client stays usable; over DATA, which cannot
	// be abandoned once the data has begun, the connection is closed
	// before the end of data, so the server cannot accept part of the
	// message, and later calls report [ErrAborted].
	//
	// Why refuse by default: a long line is the sender's fault, and
	// nothing good comes of sending it. Servers refuse such messages after
	// the whole body was sent (Go's go-smtp: "554 5.0.0 too long a line"),
	// cut the connection, or relay a folded copy; folding here changes the
	// message, which breaks a DKIM signature over its body. Refusing costs
	// nothing, tells the caller which line, and changes nothing.
	LongLinesRefuse = wire.LongLinesRefuse
	// LongLinesSend sends long lines as they are, as smtplib does, and
	// leaves the server to decide.
	LongLinesSend = wire.LongLinesSend
	// LongLinesFold breaks each long line with CRLF SP every 998 octets,
	// as Postfix does when it relays (smtp_line_length_limit = 998). The
	// message is delivered, changed: a DKIM signature over its body no
	// longer verifies. SIZE, when the body was scanned, counts the octets
	// the folds add; the trace says how many were made.
	LongLinesFold = wire.LongLinesFold
)

// LineTooLongError reports a message line longer than Limit (998) octets
// under [LongLinesRefuse]: Line is its number from 1, counted with the
// message's line endings made CRLF; Length its length without the line
// ending (for a streamed body, at least that much). It is wire's type, so
// errors.As finds it with either name.
type LineTooLongError = wire.LineTooLongError

// checkLongLines decides how t's body is checked for long lines: before
// MAIL when it was scanned (refused here, or folded with SIZE counting the
// folds), while it is written otherwise. A BINARYMIME body has no lines.
func (c *Client) checkLongLines(t *txn, scan *bodyScan) error {
	policy := c.opts.LongLines
	t.longLines = LongLinesSend
	if t.raw || policy == LongLinesSend {
		return nil
	}
	if !scan.seen {
		t.longLines = policy // a stream: checked as it goes
		return nil
	}
	long := scan.LongLine()
	if long == nil {
		return nil // no line to refuse or fold: nothing to check again
	}
	if policy == LongLinesRefuse {
		return long
	}
	t.longLines = LongLinesFold
	if t.params.Size > 0 && t.env.Size == 0 {
		t.params.Size += 3 * foldsIn(t.body)
		if limit, ok := c.ext.MaxSize(); ok && limit > 0 && t.params.Size > limit {
			return &MessageTooLargeError{Size: t.params.Size, Limit: limit}
		}
	}
	return nil
}

// foldsIn counts the folds LongLinesFold makes in a body inspect scanned,
// without consuming it.
func foldsIn(body io.Reader) int64 {
	var p []byte
	switch b := body.(type) {
	case *bytes.Buffer:
		p = b.Bytes()
	case *bytes.Reader:
		p = make([]byte, b.Len())
		b.ReadAt(p, b.Size()-int64(b.Len()))
	case *strings.Reader:
		p = make([]byte, b.Len())
		b.ReadAt(p, b.Size()-int64(b.Len()))
	}
	// The folds of the body with its line endings made CRLF, as they are
	// sent; CRLFWriter's output is what a LineLimitWriter expects.
	l := wire.NewLineLimitWriter(io.Discard, LongLinesFold)
	x := wire.NewCRLFWriter(l)
	x.Write(p)
	x.Close()
	return l.Folded()
}

// lineFilter puts the line-length check in front of the BDAT writer dst
// when t's body needs one.
func (c *Client) lineFilter(t *txn, dst io.Writer) io.Writer {
	c.lines.Reset(dst, t.longLines) // and its count of folds, for the trace
	if t.longLines == LongLinesSend {
		return dst
	}
	return &c.lines
}

// refuseLongLine handles a line refused while a message was being
// written, and reports whether err was that. Over BDAT the message stops
// there: no BDAT LAST goes, its outcome is the refusal, and the RSET that
// follows a failed transaction ends it. Over DATA the connection is closed
// before the end of data, the only way to stop a message once DATA has
// begun.
func (c *Client) refuseLongLine(err error) (error, bool) {
	var long *LineTooLongError
	if !errors.As(err, &long) {
		return nil, false
	}
	if t := c.chunk.t; t != nil {
		t.err = long
		return errChunkRefused, true
	}
	aborted := fmt.Errorf("%w: %w", ErrAborted, long)
	if t := c.last; t != nil {
		t.err = aborted
	}
	return c.failWith(aborted, false), true
}

// traceFolded says in the trace how many line breaks folding added to the
// message just written.
func (c *Client) traceFolded(folds int64) {
	if folds > 0 && c.tr.on() {
		c.tr.line("C", fmt.Sprintf("<message folded: %d line breaks added, lines over %d octets>", folds, wire.MaxMessageLineLength))
	}
}
