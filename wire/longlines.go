package wire

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/bits"
	"strconv"
)

// MaxMessageLineLength is the longest line a message may hold, in octets without
// its CRLF: 998 (RFC 5322 §2.1.1; RFC 5321 §4.5.3.1.6 counts 1,000 with the
// CRLF, and not the '.' that DATA adds for transparency). It applies to a
// message sent with DATA, or with BDAT as 7BIT or 8BITMIME (RFC 3030 §3); a
// BODY=BINARYMIME message has no lines to limit.
const MaxMessageLineLength = 998

// LongLines says what an encoder does with a line longer than
// [MaxMessageLineLength]. Lines are counted after line-ending normalisation (see
// [Normalise]): CRLF, a bare CR and a bare LF each end one.
type LongLines uint8

const (
	// LongLinesRefuse, the zero value, stops the message at the first line
	// over the limit with a *[LineTooLongError]. Nothing of the message is
	// changed, so a DKIM signature over it stays valid; the cost is a
	// message that is not sent. session makes it the default.
	LongLinesRefuse LongLines = iota
	// LongLinesSend passes long lines on as they are, as smtplib does.
	// Servers may refuse the message after it was sent (Go's go-smtp:
	// "554 5.0.0 too long a line"), cut the connection, or fold it on.
	LongLinesSend
	// LongLinesFold breaks a long line after MaxMessageLineLength octets with
	// CRLF SP, and again every MaxMessageLineLength-1 octets after that (the SP
	// counts), as Postfix does with smtp_line_length_limit = 998. The
	// message is delivered, but changed: a DKIM signature over its body no
	// longer verifies.
	LongLinesFold
)

func (l LongLines) String() string {
	switch l {
	case LongLinesRefuse:
		return "refuse"
	case LongLinesSend:
		return "send"
	case LongLinesFold:
		return "fold"
	}
	return "LongLines(" + strconv.Itoa(int(l)) + ")"
}

// limit is the longest line the policy lets through unchanged, and whether
// a longer one is folded.
func (l LongLines) limit() (limit int, fold bool) {
	switch l {
	case LongLinesSend:
		return math.MaxInt, false
	case LongLinesFold:
		return MaxMessageLineLength, true
	}
	return MaxMessageLineLength, false
}

// LineTooLongError reports a line longer than Limit octets, under
// [LongLinesRefuse].
type LineTooLongError struct {
	// Line is the line's number, from 1, counted in the message with its
	// line endings normalised.
	Line int64
	// Length is the line's length in octets without its line ending. An
	// encoder stops as soon as a line passes the limit, so from
	// [DotWriter] and [LineLimitWriter] it may be only what had been
	// written of the line by then; [BodyScan.LongLine] has all of it.
	Length int
	// Limit is the limit it passed, [MaxMessageLineLength].
	Limit int
}

func (e *LineTooLongError) Error() string {
	return "wire: line " + strconv.FormatInt(e.Line, 10) + " of the message is " +
		strconv.Itoa(e.Length) + " octets long, over the limit of " + strconv.Itoa(e.Limit) +
		" (RFC 5322 §2.1.1)"
}

// foldBreak is what a fold inserts: the line ends, and the next one starts
// with a space, which MIME and header unfolding both read as whitespace.
const foldBreak = "\r\n "

// LineLimitWriter applies a [LongLines] policy to message data on its way
// to a writer: the filter that goes before a [BDATWriter] for a 7BIT or
// 8BITMIME message (a [DotWriter] does the same for DATA itself). It
// expects the output of a [CRLFWriter], or any data whose lines end in
// CRLF; a bare CR or LF ends a line too. Folding adds CRLF SP and changes
// nothing else. Write does not allocate. A LineLimitWriter can be reused
// with Reset.
type LineLimitWriter struct {
	w       io.Writer
	limit   int
	fold    bool
	col     int   // octets of the current line in earlier Writes
	afterCR bool  // the last octet written was a CR: an LF first belongs to it
	lines   int64 // lines ended so far
	folds   int64
	err     error
}

// NewLineLimitWriter returns a LineLimitWriter that writes to w under policy.
func NewLineLimitWriter(w io.Writer, policy LongLines) *LineLimitWriter {
	l := new(LineLimitWriter)
	l.Reset(w, policy)
	return l
}

// Reset makes l write a new message to w under policy.
func (l *LineLimitWriter) Reset(w io.Writer, policy LongLines) {
	limit, fold := policy.limit()
	*l = LineLimitWriter{w: w, limit: limit, fold: fold}
}

// Folded returns the number of line breaks the writer has added since
// Reset.
func (l *LineLimitWriter) Folded() int64 { return l.folds }

// Write passes p on under the policy. It returns len(p) unless a line is
// refused (a *[LineTooLongError]) or the underlying writer fails; an error
// is sticky. The Write that takes a line over the limit passes none of
// that line on, nor anything after it; what earlier Writes held of it has
// gone out already.
func (l *LineLimitWriter) Write(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	// The current line starts at ls, before p when it began in an earlier
	// Write; octets from start go out unchanged.
	ls, start, i := -l.col, 0, 0
	if l.afterCR && len(p) > 0 && p[0] == '\n' {
		ls, i = 1, 1
	}
	l.afterCR = false
	nextCR, nextLF := -1, -1
	for i < len(p) {
		if nextCR < i {
			nextCR = indexFrom(p, i, '\r')
		}
		if nextLF < i {
			nextLF = indexFrom(p, i, '\n')
		}
		end := min(nextCR, nextLF)
		if end-ls > l.limit {
			if !l.fold {
				l.err = &LineTooLongError{Line: l.lines + 1, Length: end - ls, Limit: l.limit}
				if err := l.pass(p[start:max(ls, start)]); err != nil {
					l.err = err
				}
				return 0, l.err
			}
			// The line's first limit octets stay on it; the SP that
			// starts the next counts as its first octet.
			at := ls + l.limit
			if err := l.pass(p[start:at]); err != nil {
				l.err = err
				return 0, err
			}
			if _, err := io.WriteString(l.w, foldBreak); err != nil {
				l.err = err
				return 0, err
			}
			l.folds++
			start, ls = at, at-1
			continue
		}
		if end == len(p) {
			break
		}
		l.lines++
		i = end + 1
		if end == nextCR {
			if i == len(p) {
				l.afterCR = true
			} else if p[i] == '\n' {
				i++
			}
		}
		ls = i
	}
	if err := l.pass(p[start:]); err != nil {
		l.err = err
		return 0, err
	}
	l.col = len(p) - ls
	return len(p), nil
}

func (l *LineLimitWriter) pass(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := l.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// LongLine returns the first line longer than [MaxMessageLineLength] in the body
// scanned so far, as the error an encoder under [LongLinesRefuse] would
// stop at, with the line's whole length when its end has been scanned; nil
// when every line is within the limit.
func (s *BodyScan) LongLine() *LineTooLongError {
	if s.longLine == 0 {
		return nil
	}
	return &LineTooLongError{Line: s.longLine, Length: int(s.longLen), Limit: MaxMessageLineLength}
}

// scanLines follows the lengths of p's lines until the first long one:
// terms is how many line endings came before p; hasCR says whether p has
// a CR. It finds the line endings by looking backwards from most of a line
// limit ahead (lastLF), so text of short lines costs one short search per
// 950 octets or so; only a stretch without an LF in the second half of the
// limit is walked line by line. (A body with CRs has its lines measured by
// countCRLFLines instead, unless that finds one that may be long.)
func (s *BodyScan) scanLines(p []byte, terms int64, hasCR bool) {
	if s.longOpen {
		end := min(indexFrom(p, 0, '\r'), indexFrom(p, 0, '\n'))
		s.longLen += int64(end)
		s.longOpen = end == len(p)
		return
	}
	if s.longLine != 0 {
		return
	}
	const limit = MaxMessageLineLength
	pos := -int(s.col) // where the current line starts; a line start
	for pos+limit < len(p) {
		// An LF within limit octets of pos puts every line that ends before
		// it within the limit. It is looked for near the end of that
		// window first, so that one search passes about 900 octets of
		// short lines, then in the rest of its second half.
		window := pos + limit + 1
		from := max(window-lateWindow, 0)
		if j := lastLF(p, from, window); j >= 0 {
			pos = j + 1
			continue
		}
		if from2 := max(pos+limit/2, 0); from2 < from {
			if j := bytes.IndexByte(p[from2:from], '\n'); j >= 0 {
				pos = from2 + j + 1
				continue
			}
		}
		// One line, exactly: it may end at a CR, or be too long.
		first := max(pos, 0)
		end := min(indexFrom(p, first, '\r'), indexFrom(p, first, '\n'))
		if end-pos > limit {
			s.longLine = terms + 1
			if pos > 0 {
				s.longLine += int64(lineEnds(p[:pos], s.n > 0 && s.last == '\r'))
			}
			s.longLen = int64(end - pos)
			s.longOpen = end == len(p)
			return
		}
		pos = end + 1
		if p[end] == '\r' && pos < len(p) && p[pos] == '\n' {
			pos++
		}
	}
	// What is left is shorter than a long line: only the length of its
	// last, unended line is carried to the next Scan.
	k := lastLF(p, max(pos, 0), len(p))
	if hasCR {
		k = max(k, bytes.LastIndexByte(p[max(pos, 0):], '\r')+max(pos, 0))
	}
	if k >= max(pos, 0) {
		s.col = int64(len(p) - k - 1)
	} else {
		s.col = int64(len(p) - pos)
	}
}

// lateWindow is how far back from the end of a line's window scanLines
// looks for an LF first: longer than most lines of text.
const lateWindow = 128

// lastLF returns the index of the last LF in p[from:to], or -1. It reads
// eight octets at a time, backwards from to: an LF is rarely more than a
// few words back in text, and this costs less than a call to
// bytes.LastIndexByte (a loop over octets) or bytes.IndexByte (vectorised,
// but forwards).
func lastLF(p []byte, from, to int) int {
	const (
		lfs  = 0x0a0a0a0a0a0a0a0a
		low7 = 0x7f7f7f7f7f7f7f7f
	)
	for to-from >= 8 {
		x := binary.LittleEndian.Uint64(p[to-8:to]) ^ lfs
		// The high bit of each octet of m is set where x is 0, with no
		// carry between octets (x&low7 + low7 stays within one octet).
		m := ^(((x & low7) + low7) | x | low7)
		if m != 0 {
			return to - 8 + (63-bits.LeadingZeros64(m))/8
		}
		to -= 8
	}
	for to > from {
		to--
		if p[to] == '\n' {
			return to
		}
	}
	return -1
}

// lineEnds counts the line endings in p (CRLF, bare CR, bare LF), an LF at
// its start not counted when the octet before p was a CR.
func lineEnds(p []byte, afterCR bool) int {
	n := bytes.Count(p, crOctet) + bytes.Count(p, lfOctet) - bytes.Count(p, crlfOctets)
	if afterCR && len(p) > 0 && p[0] == '\n' {
		n--
	}
	return n
}

var crlfOctets = []byte("\r\n")
