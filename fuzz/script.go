package fuzz

import (
	"fmt"
	"slices"
	"strings"

	"pgregory.net/rapid"
)

// Act is what a scripted server does in answer to one command.
type Act uint8

// The acts a Script is made of.
const (
	Accept   Act = iota // a 2yz reply (354 to DATA)
	TempFail            // a 4yz reply
	PermFail            // a 5yz reply
	Shutdown            // 421, then the server closes the connection
	HangUp              // no reply: the server closes the connection
	Garbage             // a line that is no reply, then the server closes the connection
)

func (a Act) ends() bool { return a == Shutdown || a == HangUp || a == Garbage }

func (a Act) String() string {
	switch a {
	case Accept:
		return "accept"
	case TempFail:
		return "4yz"
	case PermFail:
		return "5yz"
	case Shutdown:
		return "421"
	case HangUp:
		return "hang-up"
	case Garbage:
		return "garbage"
	}
	return fmt.Sprintf("Act(%d)", uint8(a))
}

// Transaction is a Script's answers for one message: to MAIL, to each
// RCPT, to DATA, to each BDAT chunk before the last, to the end of data
// (the "." or BDAT LAST), and in LMTP to each accepted recipient after
// the message.
type Transaction struct {
	Rcpts   int // how many recipients the client sends
	Chunks  int // how many BDAT chunks the body takes (1 to 3)
	Mail    Act
	Rcpt    []Act
	Data    Act
	Chunk   []Act // len Chunks-1
	End     Act
	PerRcpt []Act // LMTP, one per recipient in order (the accepted ones use theirs)
	// Surplus: a reply nobody asked for comes right after the last one
	// of the transaction, in the same write.
	Surplus bool
}

// Script is what a scripted server answers, transaction by transaction
// (counted by MAIL commands). Commands outside them are accepted.
type Script struct {
	Transactions []Transaction
	LMTP         bool
}

// ScriptOptions shapes ServerScript.
type ScriptOptions struct {
	Transactions int  // how many; 1 when zero
	LMTP         bool // answer the end of data once per accepted recipient
	Surplus      bool // let transactions end with a reply too many
	Garbage      bool // let the server answer with a line that is no reply
}

// ServerScript draws the replies a server gives a client under test:
// each place of each transaction (MAIL, every RCPT, DATA, every BDAT
// chunk, the end of data, LMTP's replies per recipient) gets a 2yz, a
// 4yz, a 5yz, a 421 followed by a close, a close without a reply, or
// with opts.Garbage a line that is no reply followed by a close; mostly
// 2yz, so that scripts get deep. With opts.Surplus, one transaction in
// ten ends with a reply nobody asked for. Serve it with Answer and
// judge the client with Implied.
func ServerScript(opts ScriptOptions) *rapid.Generator[Script] {
	n := max(opts.Transactions, 1)
	return rapid.Custom(func(t *rapid.T) Script {
		s := Script{LMTP: opts.LMTP}
		for i := range n {
			s.Transactions = append(s.Transactions, drawTransaction(t, i, opts))
		}
		return s
	})
}

// drawAct draws an act, mostly Accept; it shrinks towards Accept.
func drawAct(t *rapid.T, label string, garbage bool) Act {
	switch n := rapid.IntRange(0, 99).Draw(t, label); {
	case garbage && n >= 97:
		return Garbage
	case n < 70:
		return Accept
	case n < 78:
		return TempFail
	case n < 86:
		return PermFail
	case n < 93:
		return Shutdown
	}
	return HangUp
}

func drawTransaction(t *rapid.T, i int, opts ScriptOptions) Transaction {
	p := fmt.Sprintf("m%d ", i)
	m := Transaction{
		Rcpts:  rapid.IntRange(1, 3).Draw(t, p+"rcpts"),
		Chunks: rapid.IntRange(1, 3).Draw(t, p+"chunks"),
		Mail:   drawAct(t, p+"MAIL", opts.Garbage),
	}
	for j := range m.Rcpts {
		m.Rcpt = append(m.Rcpt, drawAct(t, fmt.Sprintf("%sRCPT %d", p, j), opts.Garbage))
	}
	m.Data = drawAct(t, p+"DATA", opts.Garbage)
	for j := range m.Chunks - 1 {
		m.Chunk = append(m.Chunk, drawAct(t, fmt.Sprintf("%sBDAT %d", p, j), opts.Garbage))
	}
	m.End = drawAct(t, p+"end", opts.Garbage)
	for j := range m.Rcpts {
		m.PerRcpt = append(m.PerRcpt, drawAct(t, fmt.Sprintf("%sLMTP %d", p, j), opts.Garbage))
	}
	if opts.Surplus {
		m.Surplus = rapid.IntRange(0, 9).Draw(t, p+"surplus") == 0
	}
	return m
}

// Query is a command as a scripted server sees it when it answers.
type Query struct {
	// Verb is MAIL, RCPT, DATA, BDAT (a chunk before the last), END (the
	// end of a message: the "." after DATA's 354, or BDAT LAST), or any
	// other verb.
	Verb string
	// Msg is the transaction, counted by MAIL commands from 0 (-1 before
	// the first MAIL).
	Msg int
	// Index is, for RCPT, the recipient's place in its transaction; for
	// BDAT, the chunk's; for END in LMTP, the accepted recipient the reply
	// is for (-1 when none was accepted). 0 otherwise.
	Index int
	// Open says MAIL was accepted and nothing has closed the transaction
	// since; Accepted is how many RCPTs it accepted so far.
	Open     bool
	Accepted int
}

// Answer is a scripted server's answer to one command.
type Answer struct {
	Reply   string // one reply without its final CRLF ("250 2.1.5 ok"); "" for none
	Surplus string // a reply nobody asked for, sent right after Reply
	Close   bool   // close the connection after Reply
}

// Answer says what the server does for q. Each reply's text names its
// place ("m0 rcpt1"), so that a reply read for the wrong command shows. A
// command out of place is answered as servers do: 503 when no transaction
// is open, 554 for data without a recipient (a 421 or a close still comes
// where the script says).
func (s Script) Answer(q Query) Answer {
	if q.Msg < 0 || q.Msg >= len(s.Transactions) {
		return acceptAll(q)
	}
	m := s.Transactions[q.Msg]
	tag := fmt.Sprintf("m%d", q.Msg)
	misplaced := func(a Act) (Answer, bool) {
		switch {
		case a.ends():
			return Answer{}, false
		case !q.Open:
			return Answer{Reply: "503 5.5.1 need MAIL " + tag}, true
		case q.Accepted == 0:
			return Answer{Reply: "554 5.5.1 no valid recipients " + tag}, true
		}
		return Answer{}, false
	}
	at := func(acts []Act, i int) Act {
		if i >= 0 && i < len(acts) {
			return acts[i]
		}
		return Accept
	}
	switch q.Verb {
	case "MAIL":
		return reply(m.Mail, tag, "250 2.1.0 sender ok", "451 4.3.0 sender later", "550 5.7.1 sender refused")
	case "RCPT":
		a := at(m.Rcpt, q.Index)
		tag += fmt.Sprintf(" rcpt%d", q.Index)
		if !q.Open && !a.ends() {
			return Answer{Reply: "503 5.5.1 need MAIL " + tag}
		}
		return reply(a, tag, "250 2.1.5 recipient ok", "450 4.2.1 recipient busy", "550 5.1.1 recipient unknown")
	case "DATA":
		if r, ok := misplaced(m.Data); ok {
			return r
		}
		return reply(m.Data, tag+" data", "354 go ahead", "451 4.3.0 data later", "554 5.3.0 data refused")
	case "BDAT":
		a := at(m.Chunk, q.Index)
		if r, ok := misplaced(a); ok {
			return r
		}
		return reply(a, tag+fmt.Sprintf(" chunk%d", q.Index), "250 2.0.0 chunk ok", "452 4.3.1 chunk later", "552 5.3.4 chunk refused")
	case "END":
		a := m.End
		last := true
		if s.LMTP && q.Index >= 0 {
			a = at(m.PerRcpt, q.Index)
			last = q.Index == q.Accepted-1
		}
		r, ok := misplaced(a)
		if !ok {
			r = reply(a, tag+fmt.Sprintf(" end%d", q.Index), "250 2.0.0 delivered", "451 4.3.0 end later", "554 5.6.0 end refused")
		}
		if m.Surplus && last && !a.ends() {
			r.Surplus = "250 2.0.0 surplus " + tag
		}
		return r
	}
	return acceptAll(q)
}

func reply(a Act, tag, ok, temp, perm string) Answer {
	switch a {
	case Accept:
		return Answer{Reply: ok + " " + tag}
	case TempFail:
		return Answer{Reply: temp + " " + tag}
	case PermFail:
		return Answer{Reply: perm + " " + tag}
	case Shutdown:
		return Answer{Reply: "421 4.7.0 closing " + tag, Close: true}
	case Garbage:
		return Answer{Reply: "garbage, no reply " + tag, Close: true}
	}
	return Answer{Close: true}
}

// acceptAll answers outside the script: everything accepted.
func acceptAll(q Query) Answer {
	switch q.Verb {
	case "MAIL":
		return Answer{Reply: "250 2.1.0 sender ok"}
	case "RCPT":
		return Answer{Reply: "250 2.1.5 recipient ok"}
	case "DATA":
		return Answer{Reply: "354 go ahead"}
	case "BDAT":
		return Answer{Reply: "250 2.0.0 chunk ok"}
	case "END":
		return Answer{Reply: "250 2.0.0 queued"}
	case "RSET":
		return Answer{Reply: "250 2.0.0 rset ok"}
	case "NOOP":
		return Answer{Reply: "250 2.0.0 noop ok"}
	case "QUIT":
		return Answer{Reply: "221 2.0.0 bye", Close: true}
	}
	return Answer{Reply: "500 5.5.1 command unrecognized"}
}

// Exchange is one command a scripted server received, as its log
// records it for Implied.
type Exchange struct {
	Query
	Reply   string // the reply sent, "" for none
	Surplus bool   // a reply nobody asked for followed it
	Close   bool   // the server closed the connection after it
	// Late: the command arrived after the server closed its side; it
	// was never answered.
	Late bool
}

// OutcomeKind is how a message ended, as a client reports it.
type OutcomeKind string

// The outcomes of a message.
const (
	Delivered         OutcomeKind = "delivered"
	SenderRefused     OutcomeKind = "sender-refused"     // MAIL got 4yz or 5yz
	RecipientsRefused OutcomeKind = "recipients-refused" // no RCPT was accepted
	DataRefused       OutcomeKind = "data-refused"       // DATA, a chunk or the end of data got 4yz or 5yz
	NotDelivered      OutcomeKind = "not-delivered"      // LMTP: no recipient took the message
	Unanswered        OutcomeKind = "unanswered"         // the session ended before the reply that decides
	Desynchronised    OutcomeKind = "desynchronised"     // the server sent a reply nobody asked for
)

// Outcome is a message's outcome: what Implied says the server's replies
// mean, or what a client reported, for Diff to compare. Replies are given
// as sent, without CRLF ("250 2.1.5 recipient ok").
type Outcome struct {
	Kind OutcomeKind
	// Command is, for DataRefused and Unanswered, the command: "MAIL",
	// "RCPT", "DATA", "BDAT" or "end of data".
	Command string
	Reply   string   // SenderRefused, DataRefused: the reply
	Mail    string   // the reply to MAIL
	Rcpts   []string // each recipient's RCPT reply, in order
	End     string   // SMTP, Delivered: the end-of-data reply
	PerRcpt []string // LMTP: each recipient's reply after the message ("" for a refused one)
	Missing []int    // LMTP, Unanswered: the recipients (by place) still without a reply
	// MaybeDelivered: the whole message was written and only its reply
	// is missing. Implied sets CheckMaybe when the script decides it.
	MaybeDelivered, CheckMaybe bool
	// Last: the command Unanswered or DataRefused names is the message's
	// end (which on the BDAT path may be named "BDAT" or "end of data").
	Last bool
}

func (o Outcome) String() string {
	s := string(o.Kind)
	if o.Command != "" {
		s += " at " + o.Command
	}
	if o.Reply != "" {
		s += fmt.Sprintf(" %q", o.Reply)
	}
	if o.Kind == Unanswered && o.CheckMaybe {
		s += fmt.Sprintf(" (MaybeDelivered %v)", o.MaybeDelivered)
	}
	return s
}

// Path is how the client sent: with DATA or BDAT, SMTP or LMTP.
type Path struct {
	BDAT, LMTP bool
}

// Implied is the outcome of transaction msg as the server's log implies
// it, by the one rule every way of sending must follow, the first that
// applies:
//
//   - a reply nobody asked for: Desynchronised;
//   - MAIL unanswered: Unanswered; refused: SenderRefused;
//   - an RCPT unanswered: Unanswered; none accepted: RecipientsRefused;
//   - DATA (DATA path) unanswered, or answered other than 354:
//     Unanswered, DataRefused;
//   - a chunk before the last (BDAT path) unanswered or refused;
//   - the end of data unanswered or refused; in LMTP, accepted recipients
//     without their reply after the message (Unanswered), or none
//     delivered (NotDelivered);
//   - otherwise Delivered.
//
// MaybeDelivered is implied for an unanswered message whose end the
// client wrote, when the server closed the connection without a 421; it
// is left to the client (CheckMaybe unset) when a line that is no reply
// came. Such a line counts as no reply.
// Replies that came after the server closed its side (Late) do not count.
func Implied(log []Exchange, msg int, t Transaction, p Path) Outcome {
	var (
		mail, data     string
		rcpts          = make([]string, t.Rcpts)
		chunks         = make([]string, t.Chunks)
		end            string
		per            = map[int]string{}
		surplus        bool
		endWritten     bool
		closedSilently bool
		garbled        bool // a line that is no reply came: the client can only give up
	)
	for _, e := range log {
		if e.Close && !e.Late && e.Reply == "" {
			closedSilently = true
		}
		if !e.Late && e.Reply != "" && !isReply(e.Reply) {
			garbled = true
			e.Reply = ""
		}
		if e.Msg != msg {
			continue
		}
		if e.Verb == "END" {
			endWritten = true
		}
		if e.Late {
			continue
		}
		surplus = surplus || e.Surplus
		switch e.Verb {
		case "MAIL":
			mail = e.Reply
		case "RCPT":
			if e.Index < len(rcpts) {
				rcpts[e.Index] = e.Reply
			}
		case "DATA":
			data = e.Reply
		case "BDAT":
			if e.Index < len(chunks) {
				chunks[e.Index] = e.Reply
			}
		case "END":
			end = e.Reply
			per[e.Index] = e.Reply
		}
	}
	o := Outcome{Mail: mail, Rcpts: rcpts, CheckMaybe: !garbled}
	unanswered := func(cmd string, last bool) Outcome {
		o.Kind, o.Command, o.Last = Unanswered, cmd, last
		o.MaybeDelivered = endWritten && closedSilently && end == ""
		return o
	}
	refused := func(kind OutcomeKind, cmd, reply string, last bool) Outcome {
		o.Kind, o.Command, o.Reply, o.Last = kind, cmd, reply, last
		return o
	}
	switch {
	case surplus:
		return Outcome{Kind: Desynchronised}
	case mail == "":
		return unanswered("MAIL", false)
	case !positive(mail):
		return refused(SenderRefused, "", mail, false)
	}
	var accepted []int
	for j, r := range rcpts {
		if r == "" {
			return unanswered("RCPT", false)
		}
		if positive(r) {
			accepted = append(accepted, j)
		}
	}
	if len(accepted) == 0 {
		return refused(RecipientsRefused, "", "", false)
	}
	if !p.BDAT {
		switch {
		case data == "":
			return unanswered("DATA", false)
		case !strings.HasPrefix(data, "354"):
			return refused(DataRefused, "DATA", data, false)
		}
	} else {
		for _, r := range chunks[:t.Chunks-1] {
			switch {
			case r == "":
				return unanswered("BDAT", false)
			case !positive(r):
				return refused(DataRefused, "BDAT", r, false)
			}
		}
	}
	if !p.LMTP {
		switch {
		case end == "":
			return unanswered("end of data", true)
		case !positive(end):
			return refused(DataRefused, "end of data", end, true)
		}
		o.Kind, o.End = Delivered, end
		return o
	}
	o.PerRcpt = make([]string, t.Rcpts)
	delivered := false
	for k, j := range accepted {
		r := per[k]
		o.PerRcpt[j] = r
		if r == "" {
			o.Missing = append(o.Missing, j)
		}
		delivered = delivered || positive(r)
	}
	switch {
	case len(o.Missing) > 0:
		missing := o.Missing
		o = unanswered("end of data", true)
		o.Missing = missing
		// With some recipients answered, whether the message may have
		// been delivered is the client's call: only none is checked.
		o.CheckMaybe = !garbled && len(missing) == len(accepted)
		o.MaybeDelivered = o.MaybeDelivered && o.CheckMaybe
		return o
	case !delivered:
		o.Kind = NotDelivered
		return o
	}
	o.Kind = Delivered
	return o
}

func positive(reply string) bool { return reply != "" && reply[0] == '2' }

// isReply reports whether s starts as a reply does, with three digits.
func isReply(s string) bool {
	return len(s) >= 3 && digits([]byte(s[:3]))
}

// Diff says how the outcome a client reported (got) differs from the one
// the script implies (want), "" when it does not; this is the oracle that
// catches a client that reads a reply for the wrong command. Fields the
// client could not know are not compared: the replies of a message that
// was refused or unanswered but for the ones that decided it.
func (want Outcome) Diff(got Outcome, p Path) string {
	if got.Kind != want.Kind {
		return fmt.Sprintf("outcome %v, want %v", got, want)
	}
	same := func(g, w string, last bool) bool {
		return g == w || last && p.BDAT && (g == "BDAT" || g == "end of data")
	}
	switch want.Kind {
	case SenderRefused:
		if got.Reply != want.Reply {
			return fmt.Sprintf("MAIL reply %q, want %q", got.Reply, want.Reply)
		}
	case RecipientsRefused:
		if !slices.Equal(got.Rcpts, want.Rcpts) {
			return fmt.Sprintf("recipients' replies %q, want %q", got.Rcpts, want.Rcpts)
		}
	case DataRefused:
		if got.Reply != want.Reply {
			return fmt.Sprintf("refused with %q, want %q", got.Reply, want.Reply)
		}
		if !same(got.Command, want.Command, want.Last) {
			return fmt.Sprintf("refused at %q, want %q", got.Command, want.Command)
		}
	case NotDelivered:
		if !slices.Equal(got.PerRcpt, want.PerRcpt) {
			return fmt.Sprintf("replies after the message %q, want %q", got.PerRcpt, want.PerRcpt)
		}
	case Unanswered:
		if !same(got.Command, want.Command, want.Last) {
			return fmt.Sprintf("unanswered at %q, want %q", got.Command, want.Command)
		}
		if want.CheckMaybe && got.CheckMaybe && got.MaybeDelivered != want.MaybeDelivered {
			return fmt.Sprintf("MaybeDelivered %v, want %v", got.MaybeDelivered, want.MaybeDelivered)
		}
		if p.LMTP && want.Command == "end of data" && !slices.Equal(got.Missing, want.Missing) {
			return fmt.Sprintf("recipients without a reply %v, want %v", got.Missing, want.Missing)
		}
	case Delivered:
		if got.Mail != want.Mail || !slices.Equal(got.Rcpts, want.Rcpts) {
			return fmt.Sprintf("MAIL and RCPT replies %q %q, want %q %q", got.Mail, got.Rcpts, want.Mail, want.Rcpts)
		}
		if !p.LMTP && got.End != want.End {
			return fmt.Sprintf("end-of-data reply %q, want %q", got.End, want.End)
		}
		if p.LMTP && got.PerRcpt != nil && !slices.Equal(got.PerRcpt, want.PerRcpt) {
			return fmt.Sprintf("replies after the message %q, want %q", got.PerRcpt, want.PerRcpt)
		}
	}
	return ""
}
