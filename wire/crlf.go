package wire

import (
	"bytes"
	"io"
)

// CRLFWriter passes message data on with every line ending made CRLF, and
// nothing else changed: the line-ending half of what [DotWriter] does, for
// BDAT. A message sent with BDAT is not dot-stuffed and has no end-of-data
// line (RFC 3030 §2), but unless it is BODY=BINARYMIME it is still text
// whose lines end in CRLF (RFC 3030 §3, RFC 5321 §2.3.8). A BINARYMIME
// message must go to the BDAT writer unchanged, without a CRLFWriter.
//
// CRLF stays; a bare CR and a bare LF each become CRLF; Close ends a last
// line that has no ending. The output is [Normalise] of everything written,
// however it is split across Write calls, and [BodyScan.Size] measures its
// length beforehand. A CR at the end of one Write is passed on at once, and
// the next Write (or Close) adds the LF it lacks if that Write does not start
// with one.
//
// Input whose line endings are already CRLF, the usual case, is recognised
// with vectorised counts and passed on whole in a single Write of the
// caller's slice, without a copy. Other input goes out in pieces, between the
// octets added; a buffered underlying writer ([*Writer], *bufio.Writer,
// *bytes.Buffer) gets those octets with WriteByte. Write does not allocate.
// A CRLFWriter can be reused with Reset.
type CRLFWriter struct {
	w       io.Writer
	bw      bufferedWriter // w, when it buffers by itself
	prevCR  bool           // the last octet passed on is a CR from the input
	last    byte           // the last octet of the input, when any is true
	any     bool           // some input has been written
	written int64
	end     [2]byte // the octets added, for a w that is not buffered
	err     error
}

// NewCRLFWriter returns a CRLFWriter that writes to w.
func NewCRLFWriter(w io.Writer) *CRLFWriter {
	x := new(CRLFWriter)
	x.Reset(w)
	return x
}

// Reset makes the CRLFWriter write a new body to w, as NewCRLFWriter does:
// nothing of the previous body is kept, not even an unterminated line or an
// error.
func (x *CRLFWriter) Reset(w io.Writer) {
	bw, _ := w.(bufferedWriter)
	*x = CRLFWriter{w: w, bw: bw}
}

// Written returns the number of octets passed on to the underlying writer so
// far, line endings added included.
func (x *CRLFWriter) Written() int64 { return x.written }

// Write normalises the line endings of p and passes it on. It returns
// len(p) unless the underlying writer fails; an error is sticky.
func (x *CRLFWriter) Write(p []byte) (int, error) {
	if x.err != nil {
		return 0, x.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	if x.clean(p) {
		err = x.pass(p) // on an error n stays 0; Written counts what w took
		x.prevCR = p[len(p)-1] == '\r'
	} else {
		n, err = x.normalise(p)
	}
	x.any = true
	x.last = p[len(p)-1]
	if err != nil {
		x.err = err
		return n, err
	}
	return len(p), nil
}

// clean reports whether p needs no change: a CR that ended the previous
// Write is followed by p's first octet, an LF; every other LF in p follows a
// CR; and every CR in p is followed by an LF, except a CR at its end, which
// the next Write decides.
func (x *CRLFWriter) clean(p []byte) bool {
	if x.prevCR {
		if p[0] != '\n' {
			return false
		}
		p = p[1:]
	}
	cr := bytes.Count(p, crOctet)
	if len(p) > 0 && p[len(p)-1] == '\r' {
		cr--
	}
	if cr == 0 {
		return bytes.IndexByte(p, '\n') < 0
	}
	lf, pairs := countCRLF(p)
	return lf == cr && pairs == cr
}

// normalise passes p on in spans of octets that need no change, adding an LF
// after each bare CR and a CR before each bare LF. It returns how much of p
// went out before an error.
func (x *CRLFWriter) normalise(p []byte) (int, error) {
	// Octets of p from start to i go out unchanged: they are written as
	// one span whenever an octet has to be added after them.
	start, i := 0, 0
	if x.prevCR {
		x.prevCR = false
		if p[0] == '\n' {
			i = 1 // the previous Write's CR and this LF are a CRLF
		} else if err := x.add('\n'); err != nil {
			return 0, err
		}
	}
	// Where the next CR and LF are, reused until passed: the scan over p
	// is linear however the two interleave. len(p) means none.
	nextCR, nextLF := -1, -1
	for i < len(p) {
		if nextCR < i {
			nextCR = indexFrom(p, i, '\r')
		}
		if nextLF < i {
			nextLF = indexFrom(p, i, '\n')
		}
		switch {
		case nextLF < nextCR:
			// A bare LF: an LF after a CR is passed over with the CR
			// below. Put a CR before it; the LF starts the next span.
			if err := x.span(p[start:nextLF], '\r'); err != nil {
				return start, err
			}
			start, i = nextLF, nextLF+1
		case nextCR == len(p): // no CR or LF left
			i = len(p)
		case nextCR+1 == len(p):
			// A CR at the end: it goes out now, and the next Write or
			// Close says whether an LF must be added.
			x.prevCR = true
			i = len(p)
		case p[nextCR+1] == '\n':
			i = nextCR + 2
		default:
			// A bare CR: add the LF it lacks.
			if err := x.span(p[start:nextCR+1], '\n'); err != nil {
				return start, err
			}
			start, i = nextCR+1, nextCR+1
		}
	}
	if err := x.pass(p[start:]); err != nil {
		return start, err
	}
	return len(p), nil
}

// span passes p on, then the octet c.
func (x *CRLFWriter) span(p []byte, c byte) error {
	if err := x.pass(p); err != nil {
		return err
	}
	return x.add(c)
}

// pass writes p to the underlying writer as it is.
func (x *CRLFWriter) pass(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n, err := x.w.Write(p)
	x.written += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// add writes one octet of a line ending the input lacked.
func (x *CRLFWriter) add(c byte) error {
	if x.bw != nil {
		if err := x.bw.WriteByte(c); err != nil {
			return err
		}
		x.written++
		return nil
	}
	x.end[0] = c
	return x.pass(x.end[:1])
}

// Close ends a last line that has no line ending: it adds the LF after a
// final CR, and a CRLF after any other final octet but an LF. After an empty
// body it writes nothing. It does not close or flush the underlying writer.
// Writes after Close fail with [ErrClosed].
func (x *CRLFWriter) Close() error {
	if x.err != nil {
		return x.err
	}
	var err error
	switch {
	case x.prevCR:
		err = x.add('\n')
	case x.any && x.last != '\n':
		if x.bw != nil {
			var n int
			n, err = x.bw.WriteString("\r\n")
			x.written += int64(n)
		} else {
			x.end = [2]byte{'\r', '\n'}
			err = x.pass(x.end[:])
		}
	}
	if err != nil {
		x.err = err
		return err
	}
	x.err = ErrClosed
	return nil
}

// Normalise returns a new slice holding p with every line ending made CRLF:
// CRLF stays, a bare CR becomes CRLF, a bare LF becomes CRLF, and a CRLF is
// added at the end when p is not empty and does not then end with one. Lines
// of a message end in CRLF and nowhere else holds a CR or an LF (RFC 5321
// §2.3.8). It is the reference for [CRLFWriter] and [BodyScan], written
// plainly, one octet at a time; use them for anything large.
func Normalise(p []byte) []byte {
	out := make([]byte, 0, len(p)+2)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\r' && i+1 < len(p) && p[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r', c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\r', '\n')
	}
	return out
}
