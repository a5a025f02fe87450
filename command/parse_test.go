package command

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseMode says which parsers a parseCase case runs with.
type parseMode uint8

const (
	modeStrict parseMode = 1 << iota
	modeLenient
	modeBoth = modeStrict | modeLenient
)

// parseCase is one Parse case: want, or an error of kind err whose *Error
// has verb and arg (anyReason: not checked).
type parseCase struct {
	name      string
	line      string
	mode      parseMode
	want      Command
	err       error
	verb, arg string
}

func runParse(t *testing.T, tests []parseCase) {
	t.Helper()
	for _, tc := range tests {
		if tc.mode == 0 {
			t.Fatalf("%s: no mode", tc.name)
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []struct {
				name string
				mode parseMode
				p    Parser
			}{{"strict", modeStrict, Parser{}}, {"lenient", modeLenient, Parser{Lenient: true}}} {
				if tc.mode&m.mode == 0 {
					continue
				}
				t.Run(m.name, func(t *testing.T) {
					got, err := m.p.Parse([]byte(tc.line))
					checkErr(t, err, tc.err, tc.verb, tc.arg)
					if tc.err != nil {
						if got != nil {
							t.Errorf("Parse returned %#v with the error", got)
						}
						return
					}
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Errorf("Parse(%q) (-want +got):\n%s", tc.line, diff)
					}
					word, _, _ := strings.Cut(strings.TrimRight(tc.line, "\r\n"), " ")
					wantVerb := strings.ToUpper(word)
					if _, ok := got.(Raw); ok {
						wantVerb = word
					}
					if got.Verb() != wantVerb {
						t.Errorf("Verb() = %q, want %q", got.Verb(), wantVerb)
					}
				})
			}
		})
	}
}

func TestParseCommands(t *testing.T) {
	ab := Mailbox{"a", "b.example"}
	runParse(t, []parseCase{
		// HELO, EHLO, LHLO.
		{name: "HELO", line: "HELO client.example\r\n", mode: modeBoth, want: Helo{"client.example"}},
		{name: "ehlo lower case", line: "ehlo Client.Example", mode: modeBoth, want: Ehlo{"Client.Example"}},
		{name: "Lhlo mixed case", line: "Lhlo lmtp.example\r\n", mode: modeBoth, want: Lhlo{"lmtp.example"}},
		{name: "EHLO literal", line: "EHLO [IPv6:2001:db8::1]", mode: modeBoth, want: Ehlo{"[IPv6:2001:db8::1]"}},
		{name: "EHLO missing", line: "EHLO", mode: modeBoth, err: ErrMissing, verb: "EHLO", arg: "domain"},
		{name: "EHLO trailing space", line: "EHLO ", mode: modeBoth, err: ErrMissing, verb: "EHLO", arg: "domain"},
		{name: "EHLO underscore strict", line: "EHLO my_host", mode: modeStrict, err: ErrSyntax, verb: "EHLO", arg: "domain"},
		{name: "EHLO underscore lenient", line: "EHLO my_host", mode: modeLenient, want: Ehlo{"my_host"}},
		{name: "HELO bad literal strict", line: "HELO [1.2.3]", mode: modeStrict, err: ErrSyntax, verb: "HELO", arg: "domain"},

		// MAIL.
		{name: "mail lower case", line: "mail from:<a@b.example>", mode: modeBoth, want: Mail{From: ab}},
		{name: "MAIL mixed case", line: "Mail From:<a@b.example>\r\n", mode: modeBoth, want: Mail{From: ab}},
		{name: "MAIL null path", line: "MAIL FROM:<>", mode: modeBoth, want: Mail{}},
		{name: "MAIL null path with SIZE", line: "MAIL FROM:<> SIZE=100", mode: modeBoth, want: Mail{Params: MailParams{Size: 100}}},
		{name: "MAIL source route", line: "MAIL FROM:<@route1.example,@route2.example:user@d.example>", mode: modeBoth,
			want: Mail{From: Mailbox{"user", "d.example"}}},
		{name: "MAIL bad source route", line: "MAIL FROM:<@-bad.example:user@d.example>", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM route"},
		{name: "MAIL quoted local", line: `MAIL FROM:<"john\"doe"@example.org>`, mode: modeBoth, want: Mail{From: Mailbox{`john"doe`, "example.org"}}},
		{name: "MAIL literal", line: "MAIL FROM:<a@[192.0.2.1]>", mode: modeBoth, want: Mail{From: Mailbox{"a", "[192.0.2.1]"}}},
		{name: "MAIL space after colon strict", line: "MAIL FROM: <a@b.example>", mode: modeStrict, err: ErrSyntax, verb: "MAIL", arg: "FROM"},
		{name: "MAIL space after colon lenient", line: "MAIL FROM: <a@b.example>", mode: modeLenient, want: Mail{From: ab}},
		{name: "MAIL no brackets strict", line: "MAIL FROM:a@b.example", mode: modeStrict, err: ErrSyntax, verb: "MAIL", arg: "FROM"},
		{name: "MAIL no brackets lenient", line: "MAIL FROM:a@b.example", mode: modeLenient, want: Mail{From: ab}},
		{name: "MAIL no brackets with SIZE lenient", line: "MAIL FROM:a@b.example SIZE=10", mode: modeLenient, want: Mail{From: ab, Params: MailParams{Size: 10}}},
		{name: "MAIL two spaces strict", line: "MAIL FROM:<a@b.example>  SIZE=10", mode: modeStrict, err: ErrSyntax, verb: "MAIL", arg: anyReason},
		{name: "MAIL two spaces lenient", line: "MAIL FROM:<a@b.example>  SIZE=10 ", mode: modeLenient, want: Mail{From: ab, Params: MailParams{Size: 10}}},
		{name: "MAIL trailing space strict", line: "MAIL FROM:<a@b.example> ", mode: modeStrict, err: ErrSyntax, verb: "MAIL", arg: anyReason},
		{name: "MAIL no space before parameter", line: "MAIL FROM:<a@b.example>SIZE=1", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "line"},
		{name: "MAIL unbalanced quote", line: `MAIL FROM:<"abc@d.example>`, mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM local part"},
		{name: "MAIL unbalanced bracket", line: "MAIL FROM:<a@b.example", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM"},
		{name: "MAIL unbalanced literal", line: "MAIL FROM:<a@[1.2.3.4>", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM domain"},
		{name: "MAIL missing path", line: "MAIL FROM:", mode: modeBoth, err: ErrMissing, verb: "MAIL", arg: "FROM"},
		{name: "MAIL missing FROM", line: "MAIL", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM"},
		{name: "MAIL TO:", line: "MAIL TO:<a@b.example>", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM"},
		{name: "MAIL Postmaster", line: "MAIL FROM:<Postmaster>", mode: modeBoth, err: ErrMissing, verb: "MAIL", arg: "FROM domain"},
		{name: "MAIL bad domain", line: "MAIL FROM:<a@-b.example>", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "FROM domain"},
		{name: "MAIL local part 65", line: "MAIL FROM:<" + strings.Repeat("a", 65) + "@b.example>", mode: modeBoth, err: ErrTooLong, verb: "MAIL", arg: "FROM local part"},
		// RFC 5321 §4.5.3.1.1: 64 octets of local part, and the quotes
		// are part of it on the wire.
		{name: "MAIL quoted local part 66 octets strict", line: `MAIL FROM:<"` + strings.Repeat("a", 64) + `"@b.example>`, mode: modeStrict, err: ErrTooLong, verb: "MAIL", arg: "FROM local part"},
		{name: "MAIL path 257 strict", line: "MAIL FROM:<" + strings.Repeat("l", 64) + "@" + domainOfLength(190) + ">", mode: modeStrict, err: ErrTooLong, verb: "MAIL", arg: "FROM"},
		{name: "MAIL path 257 lenient", line: "MAIL FROM:<" + strings.Repeat("l", 64) + "@" + domainOfLength(190) + ">", mode: modeLenient,
			want: Mail{From: Mailbox{strings.Repeat("l", 64), domainOfLength(190)}}},

		// MAIL parameters.
		{name: "SIZE", line: "MAIL FROM:<a@b.example> size=1000", mode: modeBoth, want: Mail{From: ab, Params: MailParams{Size: 1000}}},
		{name: "SIZE 0", line: "MAIL FROM:<a@b.example> SIZE=0", mode: modeBoth, want: Mail{From: ab}},
		{name: "SIZE 20 digits", line: "MAIL FROM:<a@b.example> SIZE=00000000000000000042", mode: modeBoth, want: Mail{From: ab, Params: MailParams{Size: 42}}},
		{name: "SIZE 21 digits", line: "MAIL FROM:<a@b.example> SIZE=100000000000000000000", mode: modeBoth, err: ErrRange, verb: "MAIL", arg: "SIZE"},
		{name: "SIZE overflow", line: "MAIL FROM:<a@b.example> SIZE=9223372036854775808", mode: modeBoth, err: ErrRange, verb: "MAIL", arg: "SIZE"},
		{name: "SIZE negative", line: "MAIL FROM:<a@b.example> SIZE=-1", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "SIZE"},
		{name: "SIZE letters", line: "MAIL FROM:<a@b.example> SIZE=12a", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "SIZE"},
		{name: "SIZE no value", line: "MAIL FROM:<a@b.example> SIZE", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "SIZE"},
		{name: "SIZE empty value", line: "MAIL FROM:<a@b.example> SIZE=", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "parameter SIZE"},
		{name: "SIZE twice", line: "MAIL FROM:<a@b.example> SIZE=1 size=2", mode: modeBoth, err: ErrDuplicate, verb: "MAIL", arg: "parameter size"},
		{name: "BODY", line: "MAIL FROM:<a@b.example> body=8bitmime", mode: modeBoth, want: Mail{From: ab, Params: MailParams{Body: Body8BitMIME}}},
		{name: "BODY BINARYMIME", line: "MAIL FROM:<a@b.example> BODY=BINARYMIME", mode: modeBoth, want: Mail{From: ab, Params: MailParams{Body: BodyBinaryMIME}}},
		{name: "BODY unknown", line: "MAIL FROM:<a@b.example> BODY=9BIT", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "BODY"},
		{name: "BODY twice", line: "MAIL FROM:<a@b.example> BODY=7BIT BODY=8BITMIME", mode: modeBoth, err: ErrDuplicate, verb: "MAIL", arg: "parameter BODY"},
		{name: "SMTPUTF8 with value", line: "MAIL FROM:<a@b.example> SMTPUTF8=yes", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "SMTPUTF8"},
		{name: "REQUIRETLS", line: "MAIL FROM:<a@b.example> requiretls", mode: modeBoth, want: Mail{From: ab, Params: MailParams{RequireTLS: true}}},
		{name: "REQUIRETLS with value", line: "MAIL FROM:<a@b.example> REQUIRETLS=1", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "REQUIRETLS"},
		{name: "RET", line: "MAIL FROM:<a@b.example> ret=full", mode: modeBoth, want: Mail{From: ab, Params: MailParams{Ret: RetFull}}},
		{name: "RET unknown", line: "MAIL FROM:<a@b.example> RET=NONE", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "RET"},
		{name: "ENVID", line: "MAIL FROM:<a@b.example> ENVID=QQ314159", mode: modeBoth, want: Mail{From: ab, Params: MailParams{EnvID: "QQ314159"}}},
		{name: "ENVID xtext", line: "MAIL FROM:<a@b.example> ENVID=a+2Bb+3Dc+20d", mode: modeBoth, want: Mail{From: ab, Params: MailParams{EnvID: "a+b=c d"}}},
		{name: "ENVID lower-case hex", line: "MAIL FROM:<a@b.example> ENVID=a+2b", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "ENVID"},
		{name: "ENVID encoded CRLF", line: "MAIL FROM:<a@b.example> ENVID=a+0D+0AQUIT", mode: modeBoth, err: ErrIllegalChar, verb: "MAIL", arg: "ENVID"},
		{name: "ENVID encoded non-ASCII", line: "MAIL FROM:<a@b.example> ENVID=+C3+A9", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "ENVID"},
		// RFC 3461 §4.4: envid-parameter = "ENVID=" xtext, and xtext is
		// 1*(xchar / hexchar): a keyword without value is not ENVID.
		{name: "ENVID without value", line: "MAIL FROM:<a@b.example> ENVID", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "ENVID"},
		{name: "AUTH", line: "MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com", mode: modeBoth,
			want: Mail{From: Mailbox{"e=mc2", "example.com"}, Params: MailParams{Auth: "e=mc2@example.com"}}},
		{name: "AUTH unknown", line: "MAIL FROM:<a@b.example> AUTH=<>", mode: modeBoth, want: Mail{From: ab, Params: MailParams{Auth: "<>"}}},
		{name: "AUTH not an address", line: "MAIL FROM:<a@b.example> AUTH=john", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "AUTH"},
		{name: "AUTH encoded CRLF", line: "MAIL FROM:<a@b.example> AUTH=a+0D+0A@b.example", mode: modeBoth, err: ErrIllegalChar, verb: "MAIL", arg: "AUTH"},
		// RFC 4954 §5: auth-param = "AUTH=" ( "<" mailbox ">" in xtext / "<>" ).
		{name: "AUTH without value", line: "MAIL FROM:<a@b.example> AUTH", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "AUTH"},
		{name: "MT-PRIORITY plus", line: "MAIL FROM:<a@b.example> MT-PRIORITY=+5", mode: modeBoth, want: Mail{From: ab, Params: MailParams{MTPriority: intPtr(5)}}},
		{name: "MT-PRIORITY minus", line: "MAIL FROM:<a@b.example> mt-priority=-9", mode: modeBoth, want: Mail{From: ab, Params: MailParams{MTPriority: intPtr(-9)}}},
		{name: "MT-PRIORITY zero", line: "MAIL FROM:<a@b.example> MT-PRIORITY=0", mode: modeBoth, want: Mail{From: ab, Params: MailParams{MTPriority: intPtr(0)}}},
		{name: "MT-PRIORITY 10", line: "MAIL FROM:<a@b.example> MT-PRIORITY=10", mode: modeBoth, err: ErrRange, verb: "MAIL", arg: "MT-PRIORITY"},
		{name: "MT-PRIORITY sign only", line: "MAIL FROM:<a@b.example> MT-PRIORITY=-", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "MT-PRIORITY"},
		{name: "BY", line: "MAIL FROM:<a@b.example> BY=120;nt", mode: modeBoth, want: Mail{From: ab, Params: MailParams{By: &DeliverBy{120, ByNotify, true}}}},
		{name: "BY return negative", line: "MAIL FROM:<a@b.example> BY=-60;R", mode: modeBoth, want: Mail{From: ab, Params: MailParams{By: &DeliverBy{-60, ByReturn, false}}}},
		{name: "BY notify zero", line: "MAIL FROM:<a@b.example> BY=0;N", mode: modeBoth, err: ErrRange, verb: "MAIL", arg: "BY"},
		{name: "BY 10 digits", line: "MAIL FROM:<a@b.example> BY=1000000000;R", mode: modeBoth, err: ErrRange, verb: "MAIL", arg: "BY"},
		{name: "BY no mode", line: "MAIL FROM:<a@b.example> BY=120", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "BY"},
		{name: "BY bad mode", line: "MAIL FROM:<a@b.example> BY=120;X", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "BY"},
		{name: "BY bad trace", line: "MAIL FROM:<a@b.example> BY=120;RX", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "BY"},
		{name: "extension", line: "MAIL FROM:<a@b.example> X-FOO=bar X-FLAG", mode: modeBoth,
			want: Mail{From: ab, Params: MailParams{Extra: []Param{{"X-FOO", "bar"}, {"X-FLAG", ""}}}}},
		{name: "extension twice", line: "MAIL FROM:<a@b.example> X-A=1 x-a=2", mode: modeBoth, err: ErrDuplicate, verb: "MAIL", arg: "parameter x-a"},
		{name: "extension value with =", line: "MAIL FROM:<a@b.example> X-A=a=b", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "parameter X-A"},
		{name: "bad keyword", line: "MAIL FROM:<a@b.example> -X=1", mode: modeBoth, err: ErrSyntax, verb: "MAIL", arg: "parameter -X"},

		// MAIL and SMTPUTF8.
		{name: "MAIL UTF-8 without SMTPUTF8 strict", line: "MAIL FROM:<用户@例子.广告>", mode: modeStrict, err: ErrNeedsSMTPUTF8, verb: "MAIL", arg: "FROM"},
		{name: "MAIL U-label without SMTPUTF8 strict", line: "MAIL FROM:<info@bücher.de>", mode: modeStrict, err: ErrNeedsSMTPUTF8, verb: "MAIL", arg: "FROM"},
		{name: "MAIL UTF-8 parameter without SMTPUTF8 strict", line: "MAIL FROM:<a@b.example> X-A=é", mode: modeStrict, err: ErrNeedsSMTPUTF8, verb: "MAIL", arg: "FROM"},
		{name: "MAIL UTF-8 without SMTPUTF8 lenient", line: "MAIL FROM:<用户@例子.广告>", mode: modeLenient, want: Mail{From: Mailbox{"用户", "例子.广告"}}},
		{name: "MAIL UTF-8 with SMTPUTF8", line: "MAIL FROM:<用户@例子.广告> SMTPUTF8", mode: modeBoth,
			want: Mail{From: Mailbox{"用户", "例子.广告"}, Params: MailParams{SMTPUTF8: true}}},
		{name: "MAIL Greek with SMTPUTF8", line: "MAIL FROM:<θσερ@εχαμπλε.ψομ> smtputf8", mode: modeBoth,
			want: Mail{From: Mailbox{"θσερ", "εχαμπλε.ψομ"}, Params: MailParams{SMTPUTF8: true}}},

		// RCPT.
		{name: "rcpt lower case", line: "rcpt to:<a@b.example>", mode: modeBoth, want: Rcpt{To: ab}},
		{name: "RCPT Postmaster", line: "RCPT TO:<Postmaster>", mode: modeBoth, want: Rcpt{To: Mailbox{Local: "Postmaster"}}},
		{name: "RCPT postmaster lower case", line: "RCPT TO:<postmaster>", mode: modeBoth, want: Rcpt{To: Mailbox{Local: "postmaster"}}},
		{name: "RCPT source route", line: "RCPT TO:<@relay.example:bob@d.example>", mode: modeBoth, want: Rcpt{To: Mailbox{"bob", "d.example"}}},
		{name: "RCPT source route through an IPv6 literal", line: "RCPT TO:<@[IPv6:2001:db8::1],@relay.example:bob@d.example>", mode: modeBoth, want: Rcpt{To: Mailbox{"bob", "d.example"}}},
		{name: "RCPT null path", line: "RCPT TO:<>", mode: modeBoth, err: ErrMissing, verb: "RCPT", arg: "TO"},
		{name: "RCPT no domain", line: "RCPT TO:<bob>", mode: modeBoth, err: ErrMissing, verb: "RCPT", arg: "TO domain"},
		{name: "RCPT space after colon", line: "RCPT TO: <a@b.example>", mode: modeStrict, err: ErrSyntax, verb: "RCPT", arg: "TO"},
		{name: "RCPT space after colon lenient", line: "RCPT TO: <a@b.example>", mode: modeLenient, want: Rcpt{To: ab}},
		{name: "RCPT UTF-8", line: "RCPT TO:<用户@例子.广告>", mode: modeBoth, want: Rcpt{To: Mailbox{"用户", "例子.广告"}, SMTPUTF8: true}},
		{name: "RCPT U-label", line: "RCPT TO:<info@bücher.de>", mode: modeBoth, want: Rcpt{To: Mailbox{"info", "bücher.de"}, SMTPUTF8: true}},
		{name: "RCPT UTF-8 parameter", line: "RCPT TO:<a@b.example> X-A=é", mode: modeBoth, want: Rcpt{To: ab, SMTPUTF8: true, Params: RcptParams{Extra: []Param{{"X-A", "é"}}}}},
		{name: "NOTIFY", line: "RCPT TO:<a@b.example> notify=delay,success", mode: modeBoth, want: Rcpt{To: ab, Params: RcptParams{Notify: NotifySuccess | NotifyDelay}}},
		{name: "NOTIFY NEVER", line: "RCPT TO:<a@b.example> NOTIFY=NEVER", mode: modeBoth, want: Rcpt{To: ab, Params: RcptParams{Notify: NotifyNever}}},
		{name: "NOTIFY NEVER combined", line: "RCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS", mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "NOTIFY"},
		{name: "NOTIFY repeated", line: "RCPT TO:<a@b.example> NOTIFY=SUCCESS,success", mode: modeBoth, err: ErrDuplicate, verb: "RCPT", arg: "NOTIFY"},
		{name: "NOTIFY unknown", line: "RCPT TO:<a@b.example> NOTIFY=SOMETIMES", mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "NOTIFY"},
		{name: "NOTIFY empty item", line: "RCPT TO:<a@b.example> NOTIFY=SUCCESS,", mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "NOTIFY"},
		{name: "NOTIFY twice", line: "RCPT TO:<a@b.example> NOTIFY=NEVER NOTIFY=NEVER", mode: modeBoth, err: ErrDuplicate, verb: "RCPT", arg: "parameter NOTIFY"},
		{name: "ORCPT", line: "RCPT TO:<a@b.example> ORCPT=rfc822;bob+2Btag@example.org", mode: modeBoth,
			want: Rcpt{To: ab, Params: RcptParams{ORCPT: OriginalRecipient{"rfc822", "bob+tag@example.org"}}}},
		{name: "ORCPT no type", line: "RCPT TO:<a@b.example> ORCPT=bob@example.org", mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT no address", line: "RCPT TO:<a@b.example> ORCPT=rfc822;", mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT encoded CRLF", line: "RCPT TO:<a@b.example> ORCPT=rfc822;a+0D+0Ab@c.example", mode: modeBoth, err: ErrIllegalChar, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT utf-8", line: `RCPT TO:<a@b.example> ORCPT=utf-8;\x{7528}\x{6237}@x`, mode: modeBoth,
			want: Rcpt{To: ab, Params: RcptParams{ORCPT: OriginalRecipient{"utf-8", "用户@x"}}}},
		{name: "ORCPT utf-8 raw", line: "RCPT TO:<a@b.example> ORCPT=utf-8;用户@x", mode: modeBoth,
			want: Rcpt{To: ab, Params: RcptParams{ORCPT: OriginalRecipient{"utf-8", "用户@x"}}}},
		{name: "ORCPT utf-8 lower-case hex", line: `RCPT TO:<a@b.example> ORCPT=utf-8;\x{e9}@x`, mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT utf-8 surrogate", line: `RCPT TO:<a@b.example> ORCPT=utf-8;\x{D800}@x`, mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT utf-8 one digit", line: `RCPT TO:<a@b.example> ORCPT=utf-8;\x{9}@x`, mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT utf-8 unterminated", line: `RCPT TO:<a@b.example> ORCPT=utf-8;\x{E9@x`, mode: modeBoth, err: ErrSyntax, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT utf-8 encoded CR", line: `RCPT TO:<a@b.example> ORCPT=utf-8;\x{0D}@x`, mode: modeBoth, err: ErrIllegalChar, verb: "RCPT", arg: "ORCPT"},
		{name: "ORCPT 501", line: "RCPT TO:<a@b.example> ORCPT=rfc822;" + strings.Repeat("o", 494), mode: modeBoth, err: ErrTooLong, verb: "RCPT", arg: "ORCPT"},

		// DATA, RSET, QUIT, STARTTLS.
		{name: "DATA", line: "DATA\r\n", mode: modeBoth, want: Data{}},
		{name: "data", line: "data", mode: modeBoth, want: Data{}},
		{name: "rset", line: "rset\r\n", mode: modeBoth, want: Rset{}},
		{name: "Quit", line: "Quit", mode: modeBoth, want: Quit{}},
		{name: "starttls", line: "starttls\r\n", mode: modeBoth, want: StartTLS{}},
		{name: "DATA x strict", line: "DATA x", mode: modeStrict, err: ErrSyntax, verb: "DATA", arg: "line"},
		{name: "DATA x lenient", line: "DATA x", mode: modeLenient, want: Data{}},
		{name: "QUIT trailing space strict", line: "QUIT ", mode: modeStrict, err: ErrSyntax, verb: "QUIT", arg: "line"},
		{name: "QUIT trailing space lenient", line: "QUIT ", mode: modeLenient, want: Quit{}},

		// BDAT.
		{name: "BDAT", line: "BDAT 86", mode: modeBoth, want: Bdat{Size: 86}},
		{name: "BDAT 12 last", line: "BDAT 12 last", mode: modeBoth, want: Bdat{Size: 12, Last: true}},
		{name: "BDAT 0 LAST", line: "bdat 0 LAST\r\n", mode: modeBoth, want: Bdat{Size: 0, Last: true}},
		{name: "BDAT missing size", line: "BDAT", mode: modeBoth, err: ErrSyntax, verb: "BDAT", arg: "chunk-size"},
		{name: "BDAT negative", line: "BDAT -1", mode: modeBoth, err: ErrSyntax, verb: "BDAT", arg: "chunk-size"},
		{name: "BDAT overflow", line: "BDAT 9223372036854775808", mode: modeBoth, err: ErrRange, verb: "BDAT", arg: "chunk-size"},
		{name: "BDAT 20 digits", line: "BDAT 10000000000000000000", mode: modeBoth, err: ErrRange, verb: "BDAT", arg: "chunk-size"},
		{name: "BDAT bad marker", line: "BDAT 12 NOW", mode: modeBoth, err: ErrSyntax, verb: "BDAT", arg: "end-marker"},

		// VRFY, EXPN, HELP, NOOP.
		{name: "VRFY", line: "vrfy john", mode: modeBoth, want: Vrfy{Arg: "john"}},
		{name: "VRFY quoted", line: `VRFY "John Smith"`, mode: modeBoth, want: Vrfy{Arg: "John Smith"}},
		{name: "VRFY unquoted spaces strict", line: "VRFY John Smith", mode: modeStrict, err: ErrSyntax, verb: "VRFY", arg: "argument"},
		{name: "VRFY unquoted spaces lenient", line: "VRFY John Smith", mode: modeLenient, want: Vrfy{Arg: "John Smith"}},
		{name: "VRFY bad quote strict", line: `VRFY "John" Smith`, mode: modeStrict, err: ErrSyntax, verb: "VRFY", arg: "argument"},
		{name: "VRFY SMTPUTF8", line: "VRFY 用户 smtputf8", mode: modeBoth, want: Vrfy{Arg: "用户", SMTPUTF8: true}},
		{name: "VRFY UTF-8 strict", line: "VRFY 用户", mode: modeStrict, err: ErrNeedsSMTPUTF8, verb: "VRFY", arg: "argument"},
		{name: "VRFY UTF-8 lenient", line: "VRFY 用户", mode: modeLenient, want: Vrfy{Arg: "用户"}},
		{name: "VRFY missing", line: "VRFY", mode: modeBoth, err: ErrMissing, verb: "VRFY", arg: "argument"},
		{name: "EXPN", line: "EXPN staff", mode: modeBoth, want: Expn{Arg: "staff"}},
		{name: "EXPN quoted SMTPUTF8", line: `expn "all staff" SMTPUTF8`, mode: modeBoth, want: Expn{Arg: "all staff", SMTPUTF8: true}},
		{name: "HELP", line: "HELP", mode: modeBoth, want: Help{}},
		{name: "HELP topic", line: "help mail", mode: modeBoth, want: Help{Topic: "mail"}},
		{name: "HELP trailing space strict", line: "HELP ", mode: modeStrict, err: ErrSyntax, verb: "HELP", arg: "argument"},
		{name: "NOOP", line: "NOOP", mode: modeBoth, want: Noop{}},
		{name: "NOOP arg", line: "noop ping", mode: modeBoth, want: Noop{Arg: "ping"}},

		// AUTH.
		{name: "AUTH", line: "AUTH PLAIN", mode: modeBoth, want: Auth{Mechanism: "PLAIN"}},
		{name: "AUTH empty IR", line: "auth PLAIN =", mode: modeBoth, want: Auth{Mechanism: "PLAIN", InitialResponse: []byte{}}},
		{name: "AUTH IR", line: "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=", mode: modeBoth, want: Auth{Mechanism: "PLAIN", InitialResponse: []byte("test\x00test\x001234")}},
		{name: "AUTH lower-case mechanism", line: "AUTH plain", mode: modeBoth, want: Auth{Mechanism: "plain"}},
		{name: "AUTH IR without padding", line: "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ", mode: modeBoth, err: ErrSyntax, verb: "AUTH", arg: "initial response"},
		{name: "AUTH cancel as IR", line: "AUTH PLAIN *", mode: modeBoth, err: ErrSyntax, verb: "AUTH", arg: "initial response"},
		{name: "AUTH missing mechanism", line: "AUTH", mode: modeBoth, err: ErrMissing, verb: "AUTH", arg: "mechanism"},
		{name: "AUTH bad mechanism", line: "AUTH PL/AIN", mode: modeBoth, err: ErrSyntax, verb: "AUTH", arg: "mechanism"},

		// Unknown verbs.
		{name: "unknown verb", line: "XCLIENT ADDR=192.0.2.1", mode: modeBoth, want: Raw{Name: "XCLIENT", Args: "ADDR=192.0.2.1"}},
		{name: "unknown verb case kept", line: "etrn @example.org\r\n", mode: modeBoth, want: Raw{Name: "etrn", Args: "@example.org"}},
		{name: "unknown verb alone", line: "TURN", mode: modeBoth, want: Raw{Name: "TURN"}},
		{name: "unknown verb trailing space strict", line: "TURN ", mode: modeStrict, err: ErrSyntax, verb: "TURN", arg: "line"},
		{name: "bad verb strict", line: "X_Y z", mode: modeStrict, err: ErrSyntax, verb: "", arg: "verb"},
		{name: "bad verb lenient", line: "X_Y z", mode: modeLenient, want: Raw{Name: "X_Y", Args: "z"}},
		{name: "empty line", line: "", mode: modeBoth, err: ErrMissing, verb: "", arg: "verb"},
		{name: "empty line CRLF", line: "\r\n", mode: modeBoth, err: ErrMissing, verb: "", arg: "verb"},
		{name: "leading space", line: " DATA", mode: modeBoth, err: ErrMissing, verb: "", arg: "verb"},

		// Line endings and characters that must never be inside a line.
		{name: "bare LF strict", line: "DATA\n", mode: modeStrict, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "bare LF lenient", line: "DATA\n", mode: modeLenient, want: Data{}},
		{name: "bare LF MAIL lenient", line: "MAIL FROM:<a@b.example>\n", mode: modeLenient, want: Mail{From: ab}},
		{name: "bare CR", line: "DATA\r", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "CR inside", line: "DA\rTA", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "LF inside", line: "NOOP a\nb", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "NUL inside", line: "MAIL FROM:<a@b.example>\x00\r\n", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "tab inside", line: "NOOP a\tb", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "DEL inside", line: "NOOP a\x7f", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "two lines", line: "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "two CRLFs", line: "DATA\r\n\r\n", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
		{name: "invalid UTF-8", line: "VRFY \xff SMTPUTF8", mode: modeBoth, err: ErrIllegalChar, verb: "", arg: "line"},
	})
}

// overEncode writes s as xtext with every octet hex-encoded, which
// DecodeXtext accepts: a long wire form for a short value.
func overEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "+%02X", s[i])
	}
	return b.String()
}

// TestParseLineLimit checks the strict line limits: 512 octets, CRLF
// included, and for MAIL the room its parameters grant.
func TestParseLineLimit(t *testing.T) {
	var tests []parseCase
	ir := base64.StdEncoding.EncodeToString(make([]byte, 372)) // 496 octets
	for _, l := range []struct {
		verb string
		line func(n int) string
	}{
		{"VRFY", func(n int) string { return "VRFY " + strings.Repeat("v", n-7) + "\r\n" }},
		{"EXPN", func(n int) string { return "EXPN " + strings.Repeat("e", n-7) + "\r\n" }},
		{"HELP", func(n int) string { return "HELP " + strings.Repeat("h", n-7) + "\r\n" }},
		{"NOOP", func(n int) string { return "NOOP " + strings.Repeat("n", n-7) + "\r\n" }},
		{"XTEST", func(n int) string { return "XTEST " + strings.Repeat("r", n-8) } /* no CRLF: counted all the same */},
		{"AUTH", func(n int) string { return "AUTH " + strings.Repeat("M", n-504) + " " + ir + "\r\n" }},
	} {
		at, over := l.line(MaxCommandLineLength), l.line(MaxCommandLineLength+1)
		want, err := Parser{Lenient: true}.Parse([]byte(over))
		if err != nil {
			t.Fatalf("lenient Parse(%.20q...): %v", over, err)
		}
		wantAt, _ := Parser{Lenient: true}.Parse([]byte(at))
		tests = append(tests,
			parseCase{name: l.verb + " 512", line: at, mode: modeStrict, want: wantAt},
			parseCase{name: l.verb + " 513 strict", line: over, mode: modeStrict, err: ErrTooLong, verb: l.verb, arg: "line"},
			parseCase{name: l.verb + " 513 lenient", line: over, mode: modeLenient, want: want})
	}

	// A MAIL line cannot pass 512 + allowances with the parameters
	// Append writes, but over-encoded xtext can: AUTH= holds a 300-octet
	// address as 900 octets, and the path takes up the rest.
	auth := strings.Repeat("v", 64) + "@" + domainOfLength(235)
	mailLine := func(n int, params string) (string, Mailbox) {
		d := n - len("MAIL FROM:<u@>") - len(params) - len(" AUTH=") - 3*len(auth) - 2
		from := Mailbox{"u", domainOfLength(d)}
		return "MAIL FROM:<u@" + from.Domain + ">" + params + " AUTH=" + overEncode(auth) + "\r\n", from
	}
	for _, l := range []struct {
		name, params string
		limit        int
		p            MailParams
	}{
		{"AUTH", "", 512 + 500, MailParams{}},
		{"SIZE", " SIZE=1", 512 + 500 + 26, MailParams{Size: 1}},
		// RFC 1870 grants the room to the SIZE parameter, whatever its value.
		{"SIZE=0", " SIZE=0", 512 + 500 + 26, MailParams{}},
		{"BODY", " BODY=8BITMIME", 512 + 500 + 16, MailParams{Body: Body8BitMIME}},
		{"SMTPUTF8", " SMTPUTF8", 512 + 500 + 10, MailParams{SMTPUTF8: true}},
		{"RET", " RET=HDRS", 512 + 500 + 100, MailParams{Ret: RetHeaders}},
		{"ENVID", " ENVID=x", 512 + 500 + 100, MailParams{EnvID: "x"}},
		{"RET and ENVID", " RET=FULL ENVID=x", 512 + 500 + 100, MailParams{Ret: RetFull, EnvID: "x"}},
		{"all fixed", " SIZE=1 BODY=7BIT SMTPUTF8 RET=FULL ENVID=x", 512 + 500 + 26 + 16 + 10 + 100,
			MailParams{Size: 1, Body: Body7Bit, SMTPUTF8: true, Ret: RetFull, EnvID: "x"}},
		{"REQUIRETLS", " REQUIRETLS", 512 + 500 + 11, MailParams{RequireTLS: true}},
		{"MT-PRIORITY", " MT-PRIORITY=+1", 512 + 500 + 15, MailParams{MTPriority: intPtr(1)}},
		{"BY", " BY=60;R", 512 + 500 + 8, MailParams{By: &DeliverBy{60, ByReturn, false}}},
		{"extension", " X-A=1 X-B", 512 + 500 + 10, MailParams{Extra: []Param{{"X-A", "1"}, {"X-B", ""}}}},
	} {
		at, from := mailLine(l.limit, l.params)
		over, _ := mailLine(l.limit+1, l.params)
		if len(at) != l.limit || len(over) != l.limit+1 {
			t.Fatalf("%s: lines of %d and %d octets", l.name, len(at), len(over))
		}
		p := l.p
		p.Auth = auth
		tests = append(tests,
			parseCase{name: "MAIL " + l.name + " at limit", line: at, mode: modeBoth, want: Mail{From: from, Params: p}},
			parseCase{name: "MAIL " + l.name + " over limit strict", line: over, mode: modeStrict, err: ErrTooLong, verb: "MAIL", arg: "line"})
	}
	runParse(t, tests)
}
