package fuzz

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
)

// Kind names what an oracle found wrong.
type Kind string

// The kinds of Finding.
const (
	// BadReply: a reply that does not parse strictly (RFC 5321 §4.2), or
	// one a command cannot have (a 2yz to DATA, a 3yz to RCPT, anything
	// but 221 to QUIT).
	BadReply Kind = "bad-reply"
	// ReplyCount: a pipelined group (RFC 2920) got fewer replies than it
	// had commands, or the server sent replies nobody asked for.
	ReplyCount Kind = "reply-count"
	// Hang: no reply within the timeout.
	Hang Kind = "hang"
	// Dropped: the server closed the connection without a 421 where the
	// protocol does not allow it.
	Dropped Kind = "dropped"
	// Stored: the message the server stored differs from Normalise of the
	// body sent, or an accepted message was not stored.
	Stored Kind = "stored"
	// WrongOutcome: a client reported a different outcome from the one
	// the server's script implies (see Implied).
	WrongOutcome Kind = "wrong-outcome"
)

// A Finding is what an oracle found wrong. Detail quotes what the server
// sent, escaped.
type Finding struct {
	Kind   Kind
	Detail string
}

func (f *Finding) Error() string { return "fuzz: " + string(f.Kind) + ": " + f.Detail }

func findingf(k Kind, format string, args ...any) *Finding {
	return &Finding{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// maxReplyLine is RFC 5321 §4.5.3.1.5's limit on a reply line, CRLF
// included.
const maxReplyLine = 512

// CheckReplies parses stream as a strict reader would and returns the
// replies in it, or a *Finding of kind BadReply saying where it stopped
// making sense: every line ends in CRLF (no bare CR or LF) within 512
// octets; it starts with a three-digit code from 200 to 599, then a space,
// a hyphen (more lines follow) or the end of the line; every line of a
// reply has the same code; the text is printable ASCII, tab or valid
// UTF-8; the stream ends at the end of a reply.
//
// It is written apart from package wire's reader, which is lenient where
// clients must be (a bare LF ends a line there), so that a server fuzzer
// can hold servers to the letter.
func CheckReplies(stream []byte) ([]response.Reply, error) {
	var (
		out   []response.Reply
		lines []string
		code  = -1
		off   int
	)
	for off < len(stream) {
		end := bytes.Index(stream[off:], []byte("\r\n"))
		if end < 0 {
			return out, findingf(BadReply, "at octet %d: a line without CRLF: %s", off, quote(stream[off:]))
		}
		line := stream[off : off+end]
		if end+2 > maxReplyLine {
			return out, findingf(BadReply, "at octet %d: a line of %d octets (at most %d)", off, end+2, maxReplyLine)
		}
		if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
			return out, findingf(BadReply, "at octet %d: a bare CR or LF in %s", off+i, quote(line))
		}
		if len(line) < 3 || !digits(line[:3]) || line[0] < '2' || line[0] > '5' {
			return out, findingf(BadReply, "at octet %d: no reply code in %s", off, quote(line))
		}
		c := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if code >= 0 && c != code {
			return out, findingf(BadReply, "at octet %d: code %d within a reply that began with %d", off, c, code)
		}
		more := false
		switch {
		case len(line) == 3:
		case line[3] == ' ':
		case line[3] == '-':
			more = true
		default:
			return out, findingf(BadReply, "at octet %d: %q after the code in %s", off, line[3], quote(line))
		}
		text := ""
		if len(line) > 4 {
			text = string(line[4:])
		}
		if !replyText(text) {
			return out, findingf(BadReply, "at octet %d: a control octet or invalid UTF-8 in %s", off, quote(line))
		}
		code = c
		lines = append(lines, text)
		off += end + 2
		if !more {
			out = append(out, response.New(response.Code(code), lines...))
			lines, code = nil, -1
		}
	}
	if code >= 0 {
		return out, findingf(BadReply, "the stream ends inside a reply (its last line had a hyphen)")
	}
	return out, nil
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func replyText(s string) bool {
	for _, r := range s {
		if r < ' ' && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return false
		}
	}
	return utf8.ValidString(s)
}

// quote shows octets a server sent, escaped for a terminal and cut to 120.
func quote(b []byte) string {
	if len(b) > 120 {
		return "\"" + logsafe.Escape(string(b[:120])) + "\"..."
	}
	return "\"" + logsafe.Escape(string(b)) + "\""
}

// CheckGroup checks the replies a pipelined group of commands got (RFC
// 2920 §3.1: one reply per command, in order) and returns a *Finding: of
// kind ReplyCount when there are fewer or more replies than commands, of
// kind BadReply when a reply is one its command cannot have (see
// Plausible). The reply to a 421 ends the group early without a finding:
// the server is closing. The last command of a group may be DATA, whose
// 354 is then a reply like any other.
func CheckGroup(cmds []command.Command, replies []response.Reply) error {
	for i, r := range replies {
		if i >= len(cmds) {
			return findingf(ReplyCount, "%d replies to a group of %d commands: the reply %s was not asked for", len(replies), len(cmds), quote([]byte(r.String())))
		}
		if err := Plausible(cmds[i].Verb(), r); err != nil {
			return err
		}
		if r.Code == response.CodeServiceNotAvailable {
			return nil
		}
	}
	if len(replies) < len(cmds) {
		return findingf(ReplyCount, "%d replies to a group of %d commands (%s...): none for %s", len(replies), len(cmds), cmds[0].Verb(), cmds[len(replies)].Verb())
	}
	return nil
}

// Plausible returns a *Finding of kind BadReply when r is a reply that
// the command named by verb cannot have (RFC 5321 §4.2, §4.3.2): a 3yz to
// anything but DATA (354) and AUTH (334), the end of data ("END")
// included; a 2yz to DATA; anything but 221 to QUIT; anything but 250 or
// a 5yz to RSET and NOOP. A 421 is plausible anywhere. Other codes are
// left to the server: this checks only what would desynchronise a
// client.
func Plausible(verb string, r response.Reply) error {
	c, class := int(r.Code), int(r.Code)/100
	bad := func() error {
		return findingf(BadReply, "%s answered %s", verb, quote([]byte(r.String())))
	}
	if c == 421 {
		return nil
	}
	switch verb {
	case "DATA":
		if c != 354 && class != 4 && class != 5 {
			return bad()
		}
	case "AUTH":
		if class == 3 && c != 334 {
			return bad()
		}
	case "QUIT":
		if c != 221 {
			return bad()
		}
	case "RSET", "NOOP":
		if class != 5 && c != 250 {
			return bad()
		}
	default:
		if class == 3 {
			return bad()
		}
	}
	return nil
}

// CheckStored compares the message a server stored with the body the
// client handed to the DATA or BDAT encoder, and returns a *Finding of
// kind Stored unless stored is Normalise(body), after any header fields
// the server put in front (Received:, Return-Path: and the like: lines of
// the form "Name: value" and their continuations). A server that stores
// lines ending in LF alone (as maildir does) is held to Normalise(body)
// with every CRLF made LF.
func CheckStored(body, stored []byte) error {
	want := Normalise(body)
	lf := bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n"))
	for _, w := range [][]byte{want, lf} {
		if bytes.HasSuffix(stored, w) && headerFields(stored[:len(stored)-len(w)]) {
			return nil
		}
	}
	// Show where they part: from the start of the message in stored (its
	// first line found there), compared in the stored line endings.
	if bytes.IndexByte(stored, '\r') < 0 {
		want = lf
	}
	first, _, _ := bytes.Cut(want, []byte("\n"))
	at := max(bytes.Index(stored, first), 0)
	got := stored[at:]
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return findingf(Stored, "stored %d octets where %d were due (Normalise of the body, after any trace fields); from octet %d of the message the server has %s, the client sent %s",
		len(got), len(want), i, quote(window(got, i)), quote(window(want, i)))
}

// window returns up to 40 octets of b from i.
func window(b []byte, i int) []byte {
	return b[i:min(len(b), i+40)]
}

// headerFields reports whether b is nothing but header fields, each line
// ending in CRLF or LF.
func headerFields(b []byte) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return false
		}
		line := bytes.TrimSuffix(b[:i], []byte("\r"))
		b = b[i+1:]
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || bytes.ContainsAny(line[:colon], " \t") {
			return false
		}
	}
	return true
}
