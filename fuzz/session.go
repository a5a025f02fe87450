package fuzz

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"pgregory.net/rapid"
)

// Features is what the server under test offers, which decides what a
// generated ClientSession may use.
type Features struct {
	LMTP       bool // LHLO instead of EHLO (RFC 2033)
	Pipelining bool // RFC 2920: a transaction, or a run of RSET and NOOP, in one write
	Chunking   bool // RFC 3030: BDAT
	SMTPUTF8   bool // RFC 6531: UTF-8 addresses
	StartTLS   bool // a STARTTLS step after the first EHLO; the driver then needs a TLS configuration
	Auth       bool // an AUTH PLAIN step with made-up credentials
	// Hostile lets sessions hold hostile lines: mutated commands (NUL and
	// other controls, invalid UTF-8, case-folded, white space, cut short,
	// made long). Each is still one line of at most 512 octets: CR and LF
	// appear only at its end, so a conforming server answers it once.
	Hostile bool
	// RawData lets DATA bodies be written raw: bare CR and LF and every
	// end-of-data lookalike reach the server unnormalised, as the DATA
	// encoder never sends them (lines after a CRLF are still dot-stuffed,
	// so the only <CRLF>.<CRLF> is the real end).
	RawData bool
}

// ClientSession is what a client says to a server: groups of steps, each
// group written at once and answered before the next is written (a group
// of more than one step is pipelined, RFC 2920). It marshals to JSON,
// which is how smtpkit fuzz keeps a finding.
type ClientSession struct {
	Groups []Group `json:"groups"`
}

// Group is steps written in one write. Only the last may be DATA.
type Group []Step

// Step is one command.
type Step struct {
	// Verb is the command's verb, "" for a hostile line (whose reply is
	// then only counted).
	Verb string `json:"verb"`
	// Line is the command line with its CRLF; for BDAT it is built from
	// Body when sent (the size), so that a driver may add to Body.
	Line string `json:"line,omitempty"`
	// Body is, for DATA, the message written after a 354 through the
	// dot-stuffing encoder (unless Raw), and for BDAT the chunk's octets.
	Body []byte `json:"body,omitempty"`
	// Raw: DATA's Body is written as it is, then CRLF "." CRLF. Lines
	// that start after a CRLF are dot-stuffed, so the only <CRLF>.<CRLF>
	// is the real end; bare CR and LF stay.
	Raw bool `json:"raw,omitempty"`
	// Last: BDAT LAST. First: the first chunk of a message.
	Last  bool `json:"last,omitempty"`
	First bool `json:"first,omitempty"`
}

// Steps returns the session's steps in order.
func (s ClientSession) Steps() []Step {
	var out []Step
	for _, g := range s.Groups {
		out = append(out, g...)
	}
	return out
}

// Session draws a client session that follows the server's state machine
// (RFC 5321 §4.1.4, RFC 2920, RFC 3030): EHLO (LHLO) first; then up to
// four episodes, each a transaction (MAIL from a Mailbox or the null
// sender, with SMTPUTF8 when f allows it and the draw says so, one to
// three RCPTs to Mailbox addresses, DATA with a Body or one to three
// BDAT chunks), a run of RSET, NOOP, VRFY and HELP, a STARTTLS followed by
// a new EHLO, or an AUTH PLAIN; QUIT last. With f.Pipelining a transaction
// is one group (MAIL, the RCPTs and DATA, or with the chunks), and so is a
// run up to its first NOOP, VRFY or HELP (which RFC 2920 allows only last
// in a group); without it every step is a group of its own. See Features for
// what else f changes.
func Session(f Features) *rapid.Generator[ClientSession] {
	return rapid.Custom(func(t *rapid.T) ClientSession {
		var s ClientSession
		hello := genHelloDomain().Draw(t, "hello")
		greet := Step{Verb: "EHLO", Line: "EHLO " + hello + "\r\n"}
		if f.LMTP {
			greet = Step{Verb: "LHLO", Line: "LHLO " + hello + "\r\n"}
		}
		s.Groups = append(s.Groups, Group{greet})
		tls, auth := f.StartTLS, f.Auth
		for range rapid.IntRange(1, 4).Draw(t, "episodes") {
			switch kind := rapid.IntRange(0, 9).Draw(t, "episode"); {
			case kind == 8 && tls:
				tls = false
				s.Groups = append(s.Groups, Group{{Verb: "STARTTLS", Line: "STARTTLS\r\n"}}, Group{greet})
			case kind == 9 && auth:
				auth = false
				s.Groups = append(s.Groups, Group{authPlain(t)})
			case kind >= 6:
				s.Groups = append(s.Groups, groups(f.Pipelining, otherCommands(t, f))...)
			default:
				s.Groups = append(s.Groups, groups(f.Pipelining, transaction(t, f))...)
			}
		}
		s.Groups = append(s.Groups, Group{{Verb: "QUIT", Line: "QUIT\r\n"}})
		return s
	})
}

// groups makes steps one group when pipelined, else a group each. The
// commands RFC 2920 §3.1 allows only last in a group (DATA, VRFY, EXPN,
// NOOP, and HELP to be safe) end theirs.
func groups(pipelined bool, steps []Step) []Group {
	var out []Group
	var cur Group
	for _, st := range steps {
		cur = append(cur, st)
		if !pipelined || lastInGroup(st.Verb) {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func lastInGroup(verb string) bool {
	switch verb {
	case "DATA", "VRFY", "EXPN", "NOOP", "HELP":
		return true
	}
	return false
}

func line(t *rapid.T, c command.Command, f Features) Step {
	b, err := c.Append(nil)
	if err != nil {
		// The generators draw only what Append takes.
		panic("fuzz: a generated command does not build: " + err.Error())
	}
	st := Step{Verb: c.Verb(), Line: string(b)}
	if f.Hostile && rapid.IntRange(0, 5).Draw(t, "hostile") == 0 {
		st = hostileLine(t, st.Line)
	}
	return st
}

// hostileLine mutates a command line, keeping it one line of at most 510
// octets: a conforming server answers it once.
func hostileLine(t *rapid.T, l string) Step {
	s := Hostile(rapid.Just(strings.TrimSuffix(l, "\r\n"))).Draw(t, "mutated")
	s = strings.NewReplacer("\r", "", "\n", "").Replace(s)
	if len(s) > 510 {
		s = s[:510]
	}
	return Step{Line: s + "\r\n"}
}

func transaction(t *rapid.T, f Features) []Step {
	var steps []Step
	utf8 := f.SMTPUTF8 && rapid.Bool().Draw(t, "SMTPUTF8")
	from := command.Mail{Params: command.MailParams{SMTPUTF8: utf8}}
	if rapid.IntRange(0, 5).Draw(t, "null sender") > 0 {
		from.From = Mailbox(utf8).Draw(t, "from")
	}
	steps = append(steps, line(t, from, f))
	for range rapid.IntRange(1, 3).Draw(t, "rcpts") {
		to := Mailbox(utf8).Draw(t, "to")
		steps = append(steps, line(t, command.Rcpt{To: to, SMTPUTF8: utf8}, f))
	}
	body := Body().Draw(t, "body")
	if !f.Chunking || rapid.Bool().Draw(t, "DATA") {
		st := Step{Verb: "DATA", Line: "DATA\r\n", Body: body}
		if f.RawData && rapid.Bool().Draw(t, "raw") {
			st.Raw, st.Body = true, stuffCRLFLines(body)
		}
		return append(steps, st)
	}
	// BDAT carries the body as the encoder sends it: line endings CRLF.
	norm := Normalise(body)
	n := rapid.IntRange(1, 3).Draw(t, "chunks")
	for i := range n {
		lo, hi := len(norm)*i/n, len(norm)*(i+1)/n
		steps = append(steps, Step{Verb: "BDAT", Body: norm[lo:hi], First: i == 0, Last: i == n-1})
	}
	return steps
}

// stuffCRLFLines doubles a "." that starts a line after a CRLF (or the
// body), and leaves bare CR and LF as they are.
func stuffCRLFLines(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	if bytes.HasPrefix(b, []byte(".")) {
		out = append(out, '.')
	}
	for i, c := range b {
		out = append(out, c)
		if c == '\n' && i > 0 && b[i-1] == '\r' && i+1 < len(b) && b[i+1] == '.' {
			out = append(out, '.')
		}
	}
	return out
}

func otherCommands(t *rapid.T, f Features) []Step {
	var steps []Step
	for range rapid.IntRange(1, 3).Draw(t, "run") {
		var c command.Command
		switch rapid.IntRange(0, 3).Draw(t, "verb") {
		case 0:
			c = command.Rset{}
		case 1:
			c = command.Noop{}
		case 2:
			c = command.Vrfy{Arg: Mailbox(false).Draw(t, "vrfy").String()}
		default:
			c = command.Help{}
		}
		st := line(t, c, f)
		if st.Verb == "VRFY" && !f.Pipelining {
			st.Verb = "VRFY"
		}
		steps = append(steps, st)
	}
	return steps
}

func authPlain(t *rapid.T) Step {
	user := rapid.StringMatching(`[a-z]{1,8}`).Draw(t, "user")
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00secret"))
	return Step{Verb: "AUTH", Line: "AUTH PLAIN " + ir + "\r\n"}
}
