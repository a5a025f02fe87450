package fuzz

import (
	"bytes"

	"pgregory.net/rapid"
)

// lookalikes are the end-of-data sequences a server might take for
// RFC 5321's <CRLF>.<CRLF> (the SMTP smuggling family, CVE-2023-51764/5/6),
// with a NUL or a space before the dot, and the real one.
var lookalikes = []string{
	"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\r\n.\r", "\n.\r",
	"\n\x00.\n", "\r\n\x00.\r\n", "\r\x00.\r", "\n .\n", "\r\n .\r\n", "\r .\r",
	"\r\n.\r\n",
}

// bodyPieces are what message bodies are made of: text, header lines,
// dots at the start of a line, every line ending, NUL, 8-bit and UTF-8
// octets, mbox's "From " and a whole SMTP command after a line ending.
var bodyPieces = []string{
	"Subject: test\r\n", "\r\n", "\n", "\r", "\r\n\r\n", ".", "..", "\r\n.", "\n.", "\r\n..\r\n",
	"a line of text", "x", " ", "\t", "\x00", "\xe9", "\xff", "é", "例", "From me\r\n",
	"MAIL FROM:<smuggled@example.org>\r\n", "=\r\n", "\r\n.\r\nQUIT\r\n",
}

// Body draws a message body to hand to a DATA or BDAT encoder: pieces of
// text and header lines, dots at the start of lines ("." and ".."), bare
// CR, bare LF and CRLF in every combination, NUL, 8-bit octets and UTF-8,
// lines over 998 octets, an arbitrary octet now and then, and every
// end-of-data lookalike (<LF>.<LF>, <CR>.<CR>, <CR><LF>.<LF>, ..., with a
// NUL or a space before the dot, and <CRLF>.<CRLF> itself) followed by a
// smuggled command. It may end without a line ending, and may be empty.
//
// What a server must store for a body b sent through the encoder is
// Normalise(b).
func Body() *rapid.Generator[[]byte] {
	piece := rapid.Custom(func(t *rapid.T) string {
		switch rapid.IntRange(0, 19).Draw(t, "kind") {
		case 0:
			return string([]byte{rapid.Byte().Draw(t, "octet")})
		case 1, 2:
			return rapid.SampledFrom(lookalikes).Draw(t, "lookalike") + "MAIL FROM:<smuggled@example.org>\r\n"
		case 3:
			n := rapid.SampledFrom([]int{997, 998, 999, 1000, 2000}).Draw(t, "long")
			return string(bytes.Repeat([]byte{'y'}, n))
		}
		return rapid.SampledFrom(bodyPieces).Draw(t, "piece")
	})
	return rapid.Custom(func(t *rapid.T) []byte {
		var b []byte
		for _, p := range rapid.SliceOfN(piece, 0, 24).Draw(t, "pieces") {
			b = append(b, p...)
		}
		return b
	})
}

// Normalise returns body as a conforming server stores it after the DATA
// or BDAT encoder sent it (RFC 5321 §2.3.8, §4.1.1.4): every line ending,
// CRLF, bare CR or bare LF, becomes CRLF, and a body that does not end with
// one gets a final CRLF; the empty body stays empty. Nothing else changes:
// dots, NUL and 8-bit octets are kept.
//
// It is written independently of package wire's encoder (wire.Normalise),
// by replacement rather than by a scan, so that each checks the other.
func Normalise(body []byte) []byte {
	if len(body) == 0 {
		return []byte{}
	}
	b := bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\r"), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, '\r', '\n')
	}
	return b
}
