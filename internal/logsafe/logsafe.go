// Package logsafe makes text from peers and callers safe to put in an
// error message, a log line, a trace or on a terminal. It is the one
// escaper SECURITY.md's terminal and log injection rule asks for: every package that shows
// text a peer sent (response's Reply.String and Error, the session trace,
// the smtpkit command) goes through [Escape], so a flaw is fixed once.
//
// It imports nothing but the standard library, so that every layer may
// use it, package response ("stdlib only") included.
package logsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with its non-printable runes (control characters,
// format characters, spaces other than ' ') and invalid UTF-8 bytes written
// as Go escapes ("\x1b", "\a", "\u200b"), so that they never reach a
// terminal or log raw. That covers C0 (ESC, and so every ESC-based CSI,
// OSC or DCS sequence; a bare CR that would overwrite a line), DEL, C1
// (U+0080 to U+009F, the one-rune CSI U+009B among them), the bidi
// controls (U+202A to U+202E, U+2066 to U+2069, U+200E, U+200F, U+061C),
// the line and paragraph separators, and every byte that is not part of
// valid UTF-8. The rest is left as it is, backslashes included, so
// escaping twice changes nothing; printable text comes back unchanged and
// unallocated.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !Printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case Printable(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\a', '\u200b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// Printable reports whether [Escape] leaves the rune r as it is: a letter,
// mark, number, punctuation, symbol or the ASCII space. An encoder with
// escapes of its own (JSON's \uXXXX) uses it to escape exactly what
// Escape escapes.
func Printable(r rune) bool { return unicode.IsPrint(r) }
