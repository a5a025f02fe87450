package fuzz_test

import (
	"testing"

	"github.com/smtpkit/smtpkit/fuzz"
)

func TestImplied(t *testing.T) {
	q := func(verb string, index int) fuzz.Query {
		return fuzz.Query{Verb: verb, Index: index, Open: true, Accepted: 1}
	}
	mail := fuzz.Exchange{Query: q("MAIL", 0), Reply: "250 ok"}
	rcpt := fuzz.Exchange{Query: q("RCPT", 0), Reply: "250 ok"}
	data := fuzz.Exchange{Query: q("DATA", 0), Reply: "354 go"}
	tr := fuzz.Transaction{Rcpts: 1, Chunks: 1}
	for _, tc := range []struct {
		name    string
		log     []fuzz.Exchange
		tr      fuzz.Transaction
		path    fuzz.Path
		kind    fuzz.OutcomeKind
		command string
		maybe   bool
	}{
		{"delivered", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Reply: "250 queued"}}, tr, fuzz.Path{}, fuzz.Delivered, "", false},
		{"sender refused", []fuzz.Exchange{{Query: q("MAIL", 0), Reply: "550 no"}, {Query: q("RCPT", 0), Reply: "503 need MAIL"}}, tr, fuzz.Path{}, fuzz.SenderRefused, "", false},
		{"MAIL unanswered", []fuzz.Exchange{{Query: q("MAIL", 0), Close: true}}, tr, fuzz.Path{}, fuzz.Unanswered, "MAIL", false},
		{"recipients refused", []fuzz.Exchange{mail, {Query: q("RCPT", 0), Reply: "550 unknown"}}, tr, fuzz.Path{}, fuzz.RecipientsRefused, "", false},
		{"DATA refused", []fuzz.Exchange{mail, rcpt, {Query: q("DATA", 0), Reply: "554 no"}}, tr, fuzz.Path{}, fuzz.DataRefused, "DATA", false},
		{"end refused", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Reply: "554 spam"}}, tr, fuzz.Path{}, fuzz.DataRefused, "end of data", false},
		{"end lost to a close", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Close: true}}, tr, fuzz.Path{}, fuzz.Unanswered, "end of data", true},
		{"end answered 421", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Reply: "421 bye", Close: true}}, tr, fuzz.Path{}, fuzz.DataRefused, "end of data", false},
		{"a 421 to the RCPT", []fuzz.Exchange{mail, {Query: q("RCPT", 0), Reply: "421 bye", Close: true}}, tr, fuzz.Path{}, fuzz.RecipientsRefused, "", false},
		{"a reply too many", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Reply: "250 queued", Surplus: true}}, tr, fuzz.Path{}, fuzz.Desynchronised, "", false},
		{"a chunk refused", []fuzz.Exchange{mail, rcpt, {Query: q("BDAT", 0), Reply: "552 too big"}}, fuzz.Transaction{Rcpts: 1, Chunks: 2}, fuzz.Path{BDAT: true}, fuzz.DataRefused, "BDAT", false},
		{"garbage for the end", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Reply: "no reply at all", Close: true}}, tr, fuzz.Path{}, fuzz.Unanswered, "end of data", false},
		{"LMTP, none delivered", []fuzz.Exchange{mail, rcpt, data, {Query: q("END", 0), Reply: "550 full"}}, tr, fuzz.Path{LMTP: true}, fuzz.NotDelivered, "", false},
		{"LMTP, a reply missing", []fuzz.Exchange{mail, rcpt, data}, tr, fuzz.Path{LMTP: true}, fuzz.Unanswered, "end of data", false},
	} {
		got := fuzz.Implied(tc.log, 0, tc.tr, tc.path)
		if got.Kind != tc.kind || got.Command != tc.command || got.MaybeDelivered != tc.maybe {
			t.Errorf("%s: %v, want %s at %q (MaybeDelivered %v)", tc.name, got, tc.kind, tc.command, tc.maybe)
		}
		if d := got.Diff(got, tc.path); d != "" {
			t.Errorf("%s: an outcome differs from itself: %s", tc.name, d)
		}
	}
}

// Diff tells apart what a client could get wrong about a message.
func TestOutcomeDiff(t *testing.T) {
	want := fuzz.Outcome{Kind: fuzz.Delivered, Mail: "250 a", Rcpts: []string{"250 b"}, End: "250 c"}
	for _, got := range []fuzz.Outcome{
		{Kind: fuzz.Unanswered, Command: "end of data"},
		{Kind: fuzz.Delivered, Mail: "250 a", Rcpts: []string{"250 b"}, End: "250 b"},
		{Kind: fuzz.Delivered, Mail: "250 b", Rcpts: []string{"250 a"}, End: "250 c"},
	} {
		if want.Diff(got, fuzz.Path{}) == "" {
			t.Errorf("%+v passes for %+v", got, want)
		}
	}
	// On the BDAT path the message's end may be named BDAT.
	u := fuzz.Outcome{Kind: fuzz.Unanswered, Command: "end of data", Last: true}
	if d := u.Diff(fuzz.Outcome{Kind: fuzz.Unanswered, Command: "BDAT"}, fuzz.Path{BDAT: true}); d != "" {
		t.Error(d)
	}
}

// A script answers every place it was drawn for, and commands out of
// place as servers do.
func TestScriptAnswer(t *testing.T) {
	s := fuzz.Script{Transactions: []fuzz.Transaction{{
		Rcpts: 2, Chunks: 1, Mail: fuzz.Accept, Rcpt: []fuzz.Act{fuzz.PermFail, fuzz.TempFail}, Data: fuzz.Shutdown, End: fuzz.HangUp,
	}}}
	for _, tc := range []struct {
		q     fuzz.Query
		reply string
		close bool
	}{
		{fuzz.Query{Verb: "MAIL"}, "250 2.1.0 sender ok m0", false},
		{fuzz.Query{Verb: "RCPT", Open: true}, "550 5.1.1 recipient unknown m0 rcpt0", false},
		{fuzz.Query{Verb: "RCPT", Index: 1, Open: true}, "450 4.2.1 recipient busy m0 rcpt1", false},
		{fuzz.Query{Verb: "RCPT", Index: 1}, "503 5.5.1 need MAIL m0 rcpt1", false},
		{fuzz.Query{Verb: "DATA", Open: true}, "421 4.7.0 closing m0 data", true},
		{fuzz.Query{Verb: "END", Open: true, Accepted: 1}, "", true},
		{fuzz.Query{Verb: "NOOP", Msg: -1}, "250 2.0.0 noop ok", false},
	} {
		a := s.Answer(tc.q)
		if a.Reply != tc.reply || a.Close != tc.close {
			t.Errorf("%+v: %+v, want %q close %v", tc.q, a, tc.reply, tc.close)
		}
	}
}
