package wire

import (
	"bytes"
	"encoding/binary"
)

// BodyScan measures a message body before it is sent: the size it will have
// once its line endings are made CRLF (see [Normalise]), whether that changes
// it at all, and whether it holds octets that need BODY=8BITMIME (RFC 6152)
// or BODY=BINARYMIME (RFC 3030 §3).
//
// It also finds the first line longer than [MaxMessageLineLength]
// ([BodyScan.LongLine]), so that a message which cannot be sent as it is
// is known before MAIL.
//
// The size is the one the SIZE extension asks for (RFC 1870 §3): the octets
// of the message with CRLF line endings, before the dot-stuffing that DATA
// adds, and exactly what a BDAT writer sends after a [CRLFWriter].
//
// The body may be fed to [BodyScan.Scan] in pieces, split anywhere (a CRLF
// split between two pieces counts as one line ending): the answers are the
// same as for one Scan of the whole. Scan counts with bytes.Count and
// bytes.IndexByte, which are vectorised, rather than a loop over the octets,
// since it runs over every message before it is sent. The zero value is
// ready to use.
type BodyScan struct {
	n        int64 // octets scanned
	cr, lf   int64 // CRs and LFs scanned
	pairs    int64 // CRLFs among them, including one split between two Scans
	last     byte  // the last octet scanned, when n > 0
	eightBit bool
	nul      bool

	// The first line over MaxMessageLineLength (see LongLine).
	col      int64 // octets of the last line, not yet ended, while none is
	longLine int64 // its number, from 1; 0 while none
	longLen  int64 // its length so far
	longOpen bool  // its end has not been scanned yet
}

// Scan adds p to the body measured.
func (s *BodyScan) Scan(p []byte) {
	if len(p) == 0 {
		return
	}
	terms := s.cr + s.lf - s.pairs // line endings before p
	lines := s.longLine == 0       // the first long line is still to find
	if s.n > 0 && s.last == '\r' && p[0] == '\n' {
		s.pairs++ // a CRLF split between two Scans
	}
	cr := bytes.Count(p, crOctet)
	if cr == 0 {
		// The usual case for text with bare LF endings: no pair to look
		// for, and counting the LFs is one vectorised pass.
		s.lf += int64(bytes.Count(p, lfOctet))
	} else {
		var lf, pairs int
		if lines {
			// The loop from LF to LF measures the lines on the way.
			var last int
			var maybeLong bool
			lf, pairs, last, maybeLong = countCRLFLines(p, int(s.col))
			if !maybeLong {
				s.col = int64(lastLineLength(p, last))
				lines = false
			}
		} else {
			lf, pairs = countCRLF(p)
		}
		s.lf += int64(lf)
		s.pairs += int64(pairs)
	}
	if lines || s.longOpen {
		s.scanLines(p, terms, cr > 0)
	}
	s.cr += int64(cr)
	if !s.nul {
		s.nul = bytes.IndexByte(p, 0) >= 0
	}
	if !s.eightBit {
		s.eightBit = hasHighBit(p)
	}
	s.n += int64(len(p))
	s.last = p[len(p)-1]
}

// Len returns the number of octets scanned, as they are.
func (s *BodyScan) Len() int64 { return s.n }

// Size returns the size of the body scanned once normalised: len(Normalise(
// body)). Every bare CR and every bare LF gains an octet, and a body that
// does not end a line gains a CRLF. It is the SIZE parameter of MAIL
// (RFC 1870 §3) for a message sent with DATA or with BDAT through a
// [CRLFWriter]; a BODY=BINARYMIME message is sent unchanged and its size is
// [BodyScan.Len].
func (s *BodyScan) Size() int64 {
	size := s.n + (s.cr - s.pairs) + (s.lf - s.pairs)
	if s.n > 0 && s.last != '\n' && s.last != '\r' {
		size += 2 // the last line's CRLF (a bare CR at the end is counted above)
	}
	return size
}

// Clean reports whether normalising the body scanned would leave it as it
// is: every CR and every LF is part of a CRLF, and the body is empty or ends
// with one. A clean body can go to a BDAT writer without a [CRLFWriter].
func (s *BodyScan) Clean() bool {
	return s.cr == s.pairs && s.lf == s.pairs && (s.n == 0 || s.last == '\n')
}

// EightBit reports whether an octet above 127 was scanned: the body is not
// 7-bit text, and needs BODY=8BITMIME (RFC 6152) or BINARYMIME.
func (s *BodyScan) EightBit() bool { return s.eightBit }

// NUL reports whether an octet 0 was scanned. Neither 7-bit nor 8-bit text
// may hold one (RFC 2045 §2.7, §2.8), so only BODY=BINARYMIME carries such a
// body intact (RFC 3030 §3).
func (s *BodyScan) NUL() bool { return s.nul }

// Measure returns the size of p once normalised, len(Normalise(p)), without
// building it: the SIZE of a message held in memory (RFC 1870 §3). It is
// [BodyScan.Size] after one Scan of p.
func Measure(p []byte) int64 {
	var s BodyScan
	s.Scan(p)
	return s.Size()
}

var (
	crOctet = []byte{'\r'}
	lfOctet = []byte{'\n'}
)

// countCRLF returns the number of LFs in p and how many of them follow a CR.
// It is the package's only CRLF counter. It jumps from LF to LF with
// bytes.IndexByte (vectorised) and looks at the octet before each;
// bytes.Count(p, "\r\n") searches for the two-octet pattern and is slower on
// 78-column text (1.4x on the machine that wrote this, 2x on others). The LFs
// come free with the loop, which saves a bytes.Count pass over p (about 10%).
// An LF at p[0] is counted as an LF, not as a pair: the caller knows what
// came before p.
func countCRLF(p []byte) (lf, pairs int) {
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return lf, pairs
		}
		i += j
		lf++
		if i > 0 && p[i-1] == '\r' {
			pairs++
		}
		i++
	}
}

// countCRLFLines is countCRLF, and also reports whether a line may be
// longer than MaxMessageLineLength: measured from LF to LF (less the CR before
// one), the current line having col octets before p, which overstates a
// line that a bare CR ends; scanLines then measures exactly. last is where
// the line after p's last LF starts (-col when p has none).
func countCRLFLines(p []byte, col int) (lf, pairs, last int, maybeLong bool) {
	start := -col // where the current line starts
	for i := 0; ; {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			return lf, pairs, start, maybeLong || len(p)-start > MaxMessageLineLength
		}
		i += j
		lf++
		end := i
		if i > 0 && p[i-1] == '\r' {
			pairs++
			end--
		}
		maybeLong = maybeLong || end-start > MaxMessageLineLength
		i++
		start = i
	}
}

// lastLineLength is the length of the line p leaves unended, which starts
// at last (before p when negative) unless a bare CR after that ends it.
func lastLineLength(p []byte, last int) int {
	if k := bytes.LastIndexByte(p[max(last, 0):], '\r'); k >= 0 {
		return len(p) - max(last, 0) - k - 1
	}
	return len(p) - last
}

// hasHighBit reports whether p has an octet above 127. It looks at 32
// octets at a time, four words OR'd together, so that text (where the
// answer is no) costs one test per 32 octets.
func hasHighBit(p []byte) bool {
	const high = 0x8080808080808080
	for len(p) >= 32 {
		w := binary.LittleEndian.Uint64(p) | binary.LittleEndian.Uint64(p[8:]) |
			binary.LittleEndian.Uint64(p[16:]) | binary.LittleEndian.Uint64(p[24:])
		if w&high != 0 {
			return true
		}
		p = p[32:]
	}
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p)&high != 0 {
			return true
		}
		p = p[8:]
	}
	for _, c := range p {
		if c >= 0x80 {
			return true
		}
	}
	return false
}
