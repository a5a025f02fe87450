package response

import (
	"iter"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/internal/logsafe"
)

// Reply is one complete server reply (RFC 5321 §4.2): a code and one or more
// lines of text. On the wire
//
//	250-mx.example.org greets client.example.org
//	250-PIPELINING
//	250 2.0.0 SIZE 10240000
//
// is the Reply {Code: 250, Text: "mx.example.org greets client.example.org\n
// PIPELINING\n2.0.0 SIZE 10240000"}: each line's text exactly as sent,
// without the code, the separator and the line ending, joined with "\n". A
// line cannot contain LF (it ends the line on the wire), so the join loses
// nothing; a bare "250" is one empty line, the Text "".
//
// Keeping the lines in one string makes a Reply comparable with ==, and
// reading one costs a single allocation with no pointers for the garbage
// collector to follow; [Reply.Lines] and [Reply.AllLines] split it.
type Reply struct {
	Code Code
	// Enhanced is the RFC 3463 status code the first line starts with, or
	// the zero value when it starts with none, or with one whose class does
	// not agree with Code (a "2.0.0" on a 550 reply is plain text).
	Enhanced EnhancedCode
	Text     string
}

// New returns the Reply with the given code and lines, with Enhanced parsed
// from the first line as a reader would. A line must not contain LF.
func New(code Code, lines ...string) Reply {
	text := strings.Join(lines, "\n")
	return Reply{Code: code, Enhanced: EnhancedCodeOf(code, firstLine(text)), Text: text}
}

// Lines returns the reply's lines: at least one, as sent (enhanced codes
// included). It allocates; [Reply.AllLines] does not.
func (r Reply) Lines() []string { return strings.Split(r.Text, "\n") }

// AllLines iterates over the reply's lines without allocating.
func (r Reply) AllLines() iter.Seq[string] { return strings.SplitSeq(r.Text, "\n") }

// LineCount returns the number of lines the reply had on the wire.
func (r Reply) LineCount() int { return strings.Count(r.Text, "\n") + 1 }

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

// Message returns the text with the reply's enhanced status code removed
// from the start of every line that repeats it (RFC 2034 §4 puts it on each
// line): the human-readable part of the reply.
func (r Reply) Message() string {
	if r.Enhanced.IsZero() {
		return r.Text
	}
	var b strings.Builder
	b.Grow(len(r.Text))
	first := true
	for line := range r.AllLines() {
		if !first {
			b.WriteByte('\n')
		}
		first = false
		if e, n, ok := parseEnhancedCode(line); ok && e == r.Enhanced {
			line = strings.TrimPrefix(line[n:], " ")
		}
		b.WriteString(line)
	}
	return b.String()
}

// String returns the reply on one line, for logs: the code, then the lines
// joined with " | ", as in "250 mx.example.org | PIPELINING | SIZE 1000".
// Everything in the text that is not printable is written as a Go escape
// ("\x1b", "\u202e") by the one escaper the module uses for peer text
// (internal/logsafe): C0 and C1 controls (ESC, so no terminal escape
// sequence; a bare CR, so no overwritten line), DEL, bidirectional and
// other format characters (U+202E), and invalid UTF-8. A hostile reply can
// neither forge log lines nor drive a terminal.
func (r Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(r.Code)))
	if r.Text == "" {
		return b.String()
	}
	b.WriteByte(' ')
	rest := r.Text
	for {
		line, after, more := strings.Cut(rest, "\n")
		b.WriteString(logsafe.Escape(line))
		if !more {
			break
		}
		b.WriteString(" | ")
		rest = after
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

// firstLine returns text up to its first LF.
func firstLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}
