package response

import (
	"strconv"
	"strings"
)

// Reply is one complete server reply (RFC 5321 §4.2): a code and one or more
// lines of text. On the wire
//
//	250-mx.example.org greets client.example.org
//	250-PIPELINING
//	250 2.0.0 SIZE 10240000
//
// is the Reply {Code: 250, Lines: ["mx.example.org greets client.example.org",
// "PIPELINING", "2.0.0 SIZE 10240000"]}. Lines hold each line's text exactly
// as sent, without the code, the separator and the line ending, so len(Lines)
// is the number of lines on the wire (a bare "250" is one empty line).
type Reply struct {
	Code Code
	// Enhanced is the RFC 3463 status code the first line starts with, or
	// the zero value when it starts with none, or with one whose class does
	// not agree with Code (a "2.0.0" on a 550 reply is plain text).
	Enhanced EnhancedCode
	Lines    []string
}

// New returns the Reply with the given code and lines, with Enhanced parsed
// from the first line as a reader would.
func New(code Code, lines ...string) Reply {
	r := Reply{Code: code, Lines: lines}
	if len(lines) > 0 {
		r.Enhanced = EnhancedCodeOf(code, lines[0])
	}
	return r
}

// Class returns the first digit of the reply code.
func (r Reply) Class() Class { return r.Code.Class() }

// Positive reports whether the reply is a positive completion (2yz): the
// command did what it was asked.
func (r Reply) Positive() bool { return r.Code.Class() == ClassPositiveCompletion }

// Intermediate reports whether the reply is a positive intermediate (3yz):
// the server waits for more (the message after DATA, the next SASL step).
func (r Reply) Intermediate() bool { return r.Code.Class() == ClassPositiveIntermediate }

// Transient reports whether the reply is a transient negative completion
// (4yz): the same command may succeed if tried again later.
func (r Reply) Transient() bool { return r.Code.Class() == ClassTransientNegative }

// Permanent reports whether the reply is a permanent negative completion
// (5yz): sending the same command again will fail again.
func (r Reply) Permanent() bool { return r.Code.Class() == ClassPermanentNegative }

// Text returns the lines joined with "\n", as sent (enhanced codes included).
func (r Reply) Text() string { return strings.Join(r.Lines, "\n") }

// Message returns the lines joined with "\n" with the reply's enhanced status
// code removed from the start of every line that repeats it (RFC 2034 §4
// puts it on each line): the human-readable part of the reply.
func (r Reply) Message() string {
	if r.Enhanced.IsZero() {
		return r.Text()
	}
	var b strings.Builder
	for i, line := range r.Lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e, n, ok := parseEnhancedCode(line); ok && e == r.Enhanced {
			line = strings.TrimPrefix(line[n:], " ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// String returns the reply on one line, for logs: the code, then the lines
// joined with " | ", as in "250 mx.example.org | PIPELINING | SIZE 1000".
// Control characters in the text are escaped so that a hostile reply cannot
// forge log lines.
func (r Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(r.Code)))
	for i, line := range r.Lines {
		if i == 0 {
			if line == "" && len(r.Lines) == 1 {
				break
			}
			b.WriteByte(' ')
		} else {
			b.WriteString(" | ")
		}
		writeEscaped(&b, line)
	}
	return b.String()
}

// Err returns the reply as an [*Error] when it is a transient or permanent
// negative completion (4yz, 5yz), and nil otherwise. command names the command
// the reply answered, for the error message; it may be empty.
func (r Reply) Err(command string) error {
	if r.Transient() || r.Permanent() {
		return &Error{Reply: r, Command: command}
	}
	return nil
}

// writeEscaped writes s with ASCII control characters and DEL replaced by Go
// escapes (\r, \x00, ...); everything else, UTF-8 included, as is.
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != 0x7f {
			b.WriteByte(c)
			continue
		}
		q := strconv.QuoteRune(rune(c))
		b.WriteString(q[1 : len(q)-1])
	}
}
