package main

import (
	"bytes"
	"encoding/base64"
	"mime"
	"strings"
	"unicode/utf8"
)

// Header fields as send builds them (RFC 5322 §2.2.3): folded at
// whitespace so that a line is at most foldWidth octets wherever a field
// allows it, and never over maxHeaderLine. Without folding, 150 --to made
// one To line of about 3,500 octets, which go-smtp's server refuses over
// DATA (issue 23).
const (
	foldWidth     = 78  // RFC 5322 §2.1.1: SHOULD
	maxHeaderLine = 998 // RFC 5322 §2.1.1: MUST
)

// writeField writes the field name: followed by pieces, each of which
// starts with the whitespace before it, and CRLF. A line is broken before
// a piece that would take it past foldWidth; the CRLF goes before the
// piece's own whitespace, so unfolding (removing each CRLF that precedes
// whitespace) gives name ":" and the pieces joined, exactly. No line is
// made of whitespace alone: a fold needs text in the piece after it.
func writeField(b *bytes.Buffer, name string, pieces []string) {
	b.WriteString(name)
	b.WriteByte(':')
	n := len(name) + 1
	for _, p := range pieces {
		if n+len(p) > foldWidth && strings.TrimLeft(p, " \t") != "" && n > 0 {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(p)
		n += len(p)
	}
	b.WriteString("\r\n")
}

// textPieces splits an unstructured value (RFC 5322 §3.2.5) before each
// run of whitespace that follows text: where it may be folded. The first
// piece gets the space after the colon.
func textPieces(value string) []string {
	var pieces []string
	s := " " + value
	start := 0
	for i := 1; i < len(s); i++ {
		if isWSP(s[i]) && !isWSP(s[i-1]) {
			pieces = append(pieces, s[start:i])
			start = i
		}
	}
	return append(pieces, s[start:])
}

// addressPieces is an address list, "<a>, <b>, ...", split between the
// addresses: a fold never lands inside one.
func addressPieces(addrs []string) []string {
	pieces := make([]string, len(addrs))
	for i, a := range addrs {
		pieces[i] = " <" + a + ">"
		if i < len(addrs)-1 {
			pieces[i] += ","
		}
	}
	return pieces
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// subjectPieces is the Subject, folded at its own whitespace when that
// keeps every line within foldWidth, and otherwise RFC 2047-encoded:
// text that is not printable ASCII, text that would read as an encoded
// word ("=?"), and a word too long for one line are all sent as encoded
// words of at most 75 octets (RFC 2047 §2), which fold between them.
func subjectPieces(subject string) []string {
	pieces := textPieces(subject)
	var b bytes.Buffer
	writeField(&b, "Subject", pieces)
	fits := true
	for l := range strings.SplitSeq(strings.TrimSuffix(b.String(), "\r\n"), "\r\n") {
		fits = fits && len(l) <= foldWidth
	}
	if fits && printableASCII(subject) && !strings.Contains(subject, "=?") {
		return pieces
	}
	var words string
	if !printableASCII(subject) {
		words = mime.QEncoding.Encode("utf-8", subject)
	} else {
		words = bEncodedWords(subject) // ASCII: mime would leave it as it is
	}
	return textPieces(words)
}

// bEncodedWords encodes s as "=?utf-8?b?...?=" words separated by
// spaces, each at most 72 octets and each holding whole characters.
func bEncodedWords(s string) string {
	const chunk = 45 // 60 octets of base64
	var words []string
	for len(s) > 0 {
		n := min(chunk, len(s))
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// printableASCII reports whether s is printable ASCII, spaces and tabs.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' || c > '~') && c != '\t' {
			return false
		}
	}
	return true
}

// longLine returns the number (from 1) and length of the first line of
// text over maxHeaderLine octets, or 0, 0. CRLF, LF and CR each end a line.
func longLine(text string) (int, int) {
	line, n := 1, 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\r' || c == '\n':
			if c == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			line, n = line+1, 0
		default:
			if n++; n > maxHeaderLine {
				j := i
				for j < len(text) && text[j] != '\r' && text[j] != '\n' {
					j++
				}
				return line, n + j - i - 1
			}
		}
	}
	return 0, 0
}
