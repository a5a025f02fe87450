package command

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// build is one Append case. On success the wire form must be want and
// Parse must give back back (cmd when back is nil); on error Append must
// return its dst unchanged.
type build struct {
	name    string
	cmd     Command
	want    string // the line, CRLF included
	err     error
	arg     string  // Error.Arg when err != nil (anyReason: not checked)
	back    Command // what Parse returns, when it is not cmd
	noParse bool    // Parse is not meant to give cmd back (Raw that Parse refuses)
}

// sessionPrefix stands for what a pipelining client already has in its buffer.
const sessionPrefix = "EHLO client.example\r\nMAIL FROM:<>\r\n"

// appendChecked calls Append twice: on a buffer with plenty of room and on one
// with none, both holding sessionPrefix, and checks that both calls agree.
func appendChecked(t *testing.T, c Command) ([]byte, error) {
	t.Helper()
	roomy := append(make([]byte, 0, 8192), sessionPrefix...)
	got1, err1 := c.Append(roomy)
	tight := []byte(sessionPrefix)
	tight = tight[:len(tight):len(tight)]
	got2, err2 := c.Append(tight)
	if !bytes.Equal(got1, got2) || (err1 == nil) != (err2 == nil) {
		t.Fatalf("Append depends on the buffer's capacity: %q, %v vs %q, %v", got1, err1, got2, err2)
	}
	return got1, err1
}

// checkUnchanged checks what Append returned with an error: sessionPrefix,
// byte for byte, and an error message that is safe to log.
func checkUnchanged(t *testing.T, got []byte, err error) {
	t.Helper()
	if string(got) != sessionPrefix {
		t.Errorf("Append changed dst on error: returned %q, want %q", got, sessionPrefix)
	}
	if err != nil && strings.ContainsAny(err.Error(), "\r\n\x00") {
		t.Errorf("error message %q holds CR, LF or NUL", err.Error())
	}
}

func runBuild(t *testing.T, tests []build) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := appendChecked(t, tc.cmd)
			if tc.err != nil {
				checkErr(t, err, tc.err, tc.cmd.Verb(), tc.arg)
				checkUnchanged(t, got, err)
				return
			}
			if err != nil {
				t.Fatalf("Append: %v", err)
			}
			if diff := cmp.Diff(sessionPrefix+tc.want, string(got)); diff != "" {
				t.Fatalf("Append (-want +got):\n%s", diff)
			}
			if tc.noParse {
				return
			}
			want := tc.back
			if want == nil {
				want = tc.cmd
			}
			for _, p := range []Parser{{}, {Lenient: true}} {
				parsed, err := p.Parse([]byte(tc.want))
				if err != nil {
					t.Fatalf("Parser%+v.Parse(%q): %v", p, tc.want, err)
				}
				if diff := cmp.Diff(want, parsed); diff != "" {
					t.Errorf("Parser%+v.Parse(%q) (-want +got):\n%s", p, tc.want, diff)
				}
			}
		})
	}
}

func intPtr(n int) *int { return &n }

func TestBuildHello(t *testing.T) {
	runBuild(t, []build{
		{name: "HELO", cmd: Helo{"client.example"}, want: "HELO client.example\r\n"},
		{name: "EHLO", cmd: Ehlo{"mx1.Example.ORG"}, want: "EHLO mx1.Example.ORG\r\n"},
		{name: "LHLO", cmd: Lhlo{"lmtp.example"}, want: "LHLO lmtp.example\r\n"},
		{name: "EHLO IPv4 literal", cmd: Ehlo{"[192.0.2.1]"}, want: "EHLO [192.0.2.1]\r\n"},
		{name: "EHLO IPv6 literal", cmd: Ehlo{"[IPv6:2001:db8::1]"}, want: "EHLO [IPv6:2001:db8::1]\r\n"},
		{name: "EHLO U-label", cmd: Ehlo{"bücher.de"}, want: "EHLO xn--bcher-kva.de\r\n", back: Ehlo{"xn--bcher-kva.de"}},
		{name: "HELO U-label mapped", cmd: Helo{"BÜCHER.DE"}, want: "HELO xn--bcher-kva.de\r\n", back: Helo{"xn--bcher-kva.de"}},
		{name: "LHLO CJK", cmd: Lhlo{"例子.测试"}, want: "LHLO xn--fsqu00a.xn--0zwm56d\r\n", back: Lhlo{"xn--fsqu00a.xn--0zwm56d"}},
		{name: "EHLO Greek", cmd: Ehlo{"εχαμπλε.ψομ"}, want: "EHLO xn--mxahbxey0c.xn--xxaf0a\r\n", back: Ehlo{"xn--mxahbxey0c.xn--xxaf0a"}},
		{name: "EHLO domain 255", cmd: Ehlo{domainOfLength(255)}, want: "EHLO " + domainOfLength(255) + "\r\n"},
		{name: "EHLO domain 256", cmd: Ehlo{domainOfLength(256)}, err: ErrTooLong, arg: "domain"},
		{name: "EHLO missing", cmd: Ehlo{}, err: ErrMissing, arg: "domain"},
		{name: "HELO missing", cmd: Helo{}, err: ErrMissing, arg: "domain"},
		{name: "LHLO missing", cmd: Lhlo{}, err: ErrMissing, arg: "domain"},
		{name: "EHLO leading hyphen", cmd: Ehlo{"-a.example"}, err: ErrSyntax, arg: "domain"},
		{name: "EHLO underscore", cmd: Ehlo{"my_host"}, err: ErrSyntax, arg: "domain"},
		{name: "EHLO space", cmd: Ehlo{"a b"}, err: ErrSyntax, arg: "domain"},
		{name: "EHLO bad literal", cmd: Ehlo{"[256.1.1.1]"}, err: ErrSyntax, arg: "domain"},
		{name: "EHLO invalid UTF-8", cmd: Ehlo{"b\xfccher.de"}, err: ErrIllegalChar, arg: "domain"},
	})
}

func TestBuildMail(t *testing.T) {
	john := Mailbox{"john", "example.org"}
	const johnLine = "MAIL FROM:<john@example.org>"
	mail := func(p MailParams) Mail { return Mail{From: john, Params: p} }
	runBuild(t, []build{
		// Reverse-paths.
		{name: "null path", cmd: Mail{}, want: "MAIL FROM:<>\r\n"},
		{name: "null path with SIZE", cmd: Mail{Params: MailParams{Size: 10}}, want: "MAIL FROM:<> SIZE=10\r\n"},
		{name: "plain", cmd: Mail{From: john}, want: johnLine + "\r\n"},
		{name: "quoted local", cmd: Mail{From: Mailbox{"john doe", "example.org"}}, want: `MAIL FROM:<"john doe"@example.org>` + "\r\n"},
		{name: "quoted escapes", cmd: Mail{From: Mailbox{`john"doe\x`, "example.org"}}, want: `MAIL FROM:<"john\"doe\\x"@example.org>` + "\r\n"},
		{name: "empty quoted local", cmd: Mail{From: Mailbox{"", "example.org"}}, want: `MAIL FROM:<""@example.org>` + "\r\n"},
		{name: "IPv4 literal", cmd: Mail{From: Mailbox{"a", "[192.0.2.1]"}}, want: "MAIL FROM:<a@[192.0.2.1]>\r\n"},
		{name: "IPv6 literal", cmd: Mail{From: Mailbox{"a", "[IPv6:::ffff:192.0.2.1]"}}, want: "MAIL FROM:<a@[IPv6:::ffff:192.0.2.1]>\r\n"},
		{name: "no domain", cmd: Mail{From: Mailbox{Local: "john"}}, err: ErrMissing, arg: "FROM domain"},
		// RFC 5321 §4.1.1.3 gives "<Postmaster>" to RCPT only; Parse
		// refuses it in MAIL, so Append must too.
		{name: "Postmaster is no reverse-path", cmd: Mail{From: Mailbox{Local: "Postmaster"}}, err: ErrMissing, arg: anyReason},
		{name: "bad domain", cmd: Mail{From: Mailbox{"a", "a..org"}}, err: ErrSyntax, arg: "FROM domain"},
		{name: "bad literal", cmd: Mail{From: Mailbox{"a", "[1.2.3]"}}, err: ErrSyntax, arg: "FROM domain"},
		{name: "local 65", cmd: Mail{From: Mailbox{strings.Repeat("a", 65), "example.org"}}, err: ErrTooLong, arg: "FROM local part"},

		// SMTPUTF8 (RFC 6531).
		{name: "UTF-8 local without SMTPUTF8", cmd: Mail{From: Mailbox{"Pelé", "example.com"}}, err: ErrNeedsSMTPUTF8, arg: "FROM local part"},
		{name: "UTF-8 local with SMTPUTF8", cmd: Mail{From: Mailbox{"Pelé", "example.com"}, Params: MailParams{SMTPUTF8: true}},
			want: "MAIL FROM:<Pelé@example.com> SMTPUTF8\r\n"},
		{name: "RFC 6531 address", cmd: Mail{From: Mailbox{"用户", "例子.广告"}, Params: MailParams{SMTPUTF8: true}},
			want: "MAIL FROM:<用户@例子.广告> SMTPUTF8\r\n"},
		{name: "U-label domain without SMTPUTF8", cmd: Mail{From: Mailbox{"info", "bücher.de"}},
			want: "MAIL FROM:<info@xn--bcher-kva.de>\r\n", back: Mail{From: Mailbox{"info", "xn--bcher-kva.de"}}},
		{name: "U-label domain with SMTPUTF8", cmd: Mail{From: Mailbox{"info", "bücher.de"}, Params: MailParams{SMTPUTF8: true}},
			want: "MAIL FROM:<info@bücher.de> SMTPUTF8\r\n"},
		{name: "invalid UTF-8 local", cmd: Mail{From: Mailbox{"Pel\xe9", "example.com"}, Params: MailParams{SMTPUTF8: true}}, err: ErrIllegalChar, arg: "FROM local part"},

		// SIZE (RFC 1870).
		{name: "SIZE", cmd: mail(MailParams{Size: 1000}), want: johnLine + " SIZE=1000\r\n"},
		{name: "SIZE 0 left out", cmd: mail(MailParams{Size: 0}), want: johnLine + "\r\n"},
		{name: "SIZE max", cmd: mail(MailParams{Size: math.MaxInt64}), want: johnLine + " SIZE=9223372036854775807\r\n"},
		{name: "SIZE negative", cmd: mail(MailParams{Size: -1}), err: ErrRange, arg: "SIZE"},

		// BODY (RFC 6152, RFC 3030).
		{name: "BODY 7BIT", cmd: mail(MailParams{Body: Body7Bit}), want: johnLine + " BODY=7BIT\r\n"},
		{name: "BODY 8BITMIME", cmd: mail(MailParams{Body: Body8BitMIME}), want: johnLine + " BODY=8BITMIME\r\n"},
		{name: "BODY BINARYMIME", cmd: mail(MailParams{Body: BodyBinaryMIME}), want: johnLine + " BODY=BINARYMIME\r\n"},
		{name: "BODY lower case", cmd: mail(MailParams{Body: "8bitmime"}), err: ErrSyntax, arg: "BODY"},
		{name: "BODY unknown", cmd: mail(MailParams{Body: "9BIT"}), err: ErrSyntax, arg: "BODY"},

		// DSN (RFC 3461).
		{name: "RFC 3461 RET and ENVID", cmd: Mail{From: Mailbox{"Alice", "Pure-Heart.ORG"}, Params: MailParams{Ret: RetHeaders, EnvID: "QQ314159"}},
			want: "MAIL FROM:<Alice@Pure-Heart.ORG> RET=HDRS ENVID=QQ314159\r\n"},
		{name: "RET FULL", cmd: mail(MailParams{Ret: RetFull}), want: johnLine + " RET=FULL\r\n"},
		{name: "RET unknown", cmd: mail(MailParams{Ret: "NONE"}), err: ErrSyntax, arg: "RET"},
		{name: "ENVID xtext", cmd: mail(MailParams{EnvID: "a+b=c d~!"}), want: johnLine + " ENVID=a+2Bb+3Dc+20d~!\r\n"},
		{name: "ENVID 100 as xtext", cmd: mail(MailParams{EnvID: strings.Repeat("+", 33) + "x"}),
			want: johnLine + " ENVID=" + strings.Repeat("+2B", 33) + "x\r\n"},
		{name: "ENVID 102 as xtext", cmd: mail(MailParams{EnvID: strings.Repeat("+", 34)}), err: ErrTooLong, arg: "ENVID"},
		{name: "ENVID 101 plain", cmd: mail(MailParams{EnvID: strings.Repeat("x", 101)}), err: ErrTooLong, arg: "ENVID"},
		{name: "ENVID non-ASCII", cmd: mail(MailParams{EnvID: "idé", SMTPUTF8: true}), err: ErrSyntax, arg: "ENVID"},

		// AUTH= (RFC 4954 §5): the example of the RFC.
		{name: "RFC 4954 AUTH", cmd: Mail{From: Mailbox{"e=mc2", "example.com"}, Params: MailParams{Auth: "e=mc2@example.com"}},
			want: "MAIL FROM:<e=mc2@example.com> AUTH=e+3Dmc2@example.com\r\n"},
		{name: "AUTH unknown submitter", cmd: mail(MailParams{Auth: "<>"}), want: johnLine + " AUTH=<>\r\n"},
		{name: "AUTH quoted local", cmd: mail(MailParams{Auth: `"a b"@example.org`}), want: johnLine + " AUTH=\"a+20b\"@example.org\r\n"},
		{name: "AUTH UTF-8 as xtext", cmd: mail(MailParams{Auth: "Pelé@example.com"}), want: johnLine + " AUTH=Pel+C3+A9@example.com\r\n"},
		{name: "AUTH 448 as xtext", cmd: mail(MailParams{Auth: strings.Repeat("=", 64) + "@" + domainOfLength(255)}),
			want: johnLine + " AUTH=" + strings.Repeat("+3D", 64) + "@" + domainOfLength(255) + "\r\n"},
		{name: "AUTH 501 as xtext", cmd: mail(MailParams{Auth: strings.Repeat("=", 167)}), err: ErrTooLong, arg: "AUTH"},
		{name: "AUTH not an address", cmd: mail(MailParams{Auth: "john"}), err: ErrSyntax, arg: "AUTH"},
		{name: "AUTH with brackets", cmd: mail(MailParams{Auth: "<john@example.org>"}), err: ErrSyntax, arg: "AUTH"},

		// REQUIRETLS (RFC 8689), MT-PRIORITY (RFC 6710), BY (RFC 2852).
		{name: "REQUIRETLS", cmd: mail(MailParams{RequireTLS: true}), want: johnLine + " REQUIRETLS\r\n"},
		{name: "MT-PRIORITY -9", cmd: mail(MailParams{MTPriority: intPtr(-9)}), want: johnLine + " MT-PRIORITY=-9\r\n"},
		{name: "MT-PRIORITY 0", cmd: mail(MailParams{MTPriority: intPtr(0)}), want: johnLine + " MT-PRIORITY=0\r\n"},
		{name: "MT-PRIORITY 9", cmd: mail(MailParams{MTPriority: intPtr(9)}), want: johnLine + " MT-PRIORITY=9\r\n"},
		{name: "MT-PRIORITY 10", cmd: mail(MailParams{MTPriority: intPtr(10)}), err: ErrRange, arg: "MT-PRIORITY"},
		{name: "MT-PRIORITY -10", cmd: mail(MailParams{MTPriority: intPtr(-10)}), err: ErrRange, arg: "MT-PRIORITY"},
		{name: "BY notify", cmd: mail(MailParams{By: &DeliverBy{Time: 120, Mode: ByNotify}}), want: johnLine + " BY=120;N\r\n"},
		{name: "BY return trace", cmd: mail(MailParams{By: &DeliverBy{Time: 3600, Mode: ByReturn, Trace: true}}), want: johnLine + " BY=3600;RT\r\n"},
		{name: "BY notify trace", cmd: mail(MailParams{By: &DeliverBy{Time: 1, Mode: ByNotify, Trace: true}}), want: johnLine + " BY=1;NT\r\n"},
		{name: "BY return negative", cmd: mail(MailParams{By: &DeliverBy{Time: -999999999, Mode: ByReturn}}), want: johnLine + " BY=-999999999;R\r\n"},
		{name: "BY return zero", cmd: mail(MailParams{By: &DeliverBy{Time: 0, Mode: ByReturn}}), want: johnLine + " BY=0;R\r\n"},
		{name: "BY max", cmd: mail(MailParams{By: &DeliverBy{Time: 999999999, Mode: ByNotify}}), want: johnLine + " BY=999999999;N\r\n"},
		{name: "BY over max", cmd: mail(MailParams{By: &DeliverBy{Time: 1000000000, Mode: ByReturn}}), err: ErrRange, arg: "BY"},
		{name: "BY notify zero", cmd: mail(MailParams{By: &DeliverBy{Time: 0, Mode: ByNotify}}), err: ErrRange, arg: "BY"},
		{name: "BY notify negative", cmd: mail(MailParams{By: &DeliverBy{Time: -5, Mode: ByNotify}}), err: ErrRange, arg: "BY"},
		{name: "BY bad mode", cmd: mail(MailParams{By: &DeliverBy{Time: 5, Mode: 'X'}}), err: ErrSyntax, arg: "BY"},
		{name: "BY zero mode", cmd: mail(MailParams{By: &DeliverBy{Time: 5}}), err: ErrSyntax, arg: "BY"},

		// Extra parameters.
		{name: "Extra", cmd: mail(MailParams{Extra: []Param{{"X-FOO", "bar"}, {"X-FLAG", ""}}}), want: johnLine + " X-FOO=bar X-FLAG\r\n"},
		{name: "Extra NOTIFY allowed in MAIL", cmd: mail(MailParams{Extra: []Param{{"NOTIFY", "x"}}}), want: johnLine + " NOTIFY=x\r\n"},
		{name: "Extra duplicates SIZE", cmd: mail(MailParams{Extra: []Param{{"SIZE", "10"}}}), err: ErrDuplicate, arg: "parameter SIZE"},
		{name: "Extra duplicates size", cmd: mail(MailParams{Extra: []Param{{"size", "10"}}}), err: ErrDuplicate, arg: "parameter size"},
		{name: "Extra duplicates mt-priority", cmd: mail(MailParams{Extra: []Param{{"Mt-Priority", "1"}}}), err: ErrDuplicate, arg: "parameter Mt-Priority"},
		{name: "Extra duplicates SMTPUTF8", cmd: mail(MailParams{Extra: []Param{{"SMTPUTF8", ""}}}), err: ErrDuplicate, arg: "parameter SMTPUTF8"},
		{name: "Extra twice", cmd: mail(MailParams{Extra: []Param{{"X-A", "1"}, {"x-a", "2"}}}), err: ErrDuplicate, arg: "parameter x-a"},
		{name: "Extra bad keyword", cmd: mail(MailParams{Extra: []Param{{"-X", "1"}}}), err: ErrSyntax, arg: "parameter -X"},
		{name: "Extra empty keyword", cmd: mail(MailParams{Extra: []Param{{"", "1"}}}), err: ErrSyntax, arg: "parameter "},
		{name: "Extra value with =", cmd: mail(MailParams{Extra: []Param{{"X-A", "a=b"}}}), err: ErrSyntax, arg: "parameter X-A"},
		{name: "Extra value with space", cmd: mail(MailParams{Extra: []Param{{"X-A", "a b"}}}), err: ErrSyntax, arg: "parameter X-A"},
		{name: "Extra UTF-8 without SMTPUTF8", cmd: mail(MailParams{Extra: []Param{{"X-A", "é"}}}), err: ErrNeedsSMTPUTF8, arg: "parameter X-A"},
		{name: "Extra UTF-8 with SMTPUTF8", cmd: mail(MailParams{SMTPUTF8: true, Extra: []Param{{"X-A", "é"}}}), want: johnLine + " SMTPUTF8 X-A=é\r\n"},

		// Everything, in the documented order.
		{name: "every parameter", cmd: Mail{From: Mailbox{"a", "b.example"}, Params: MailParams{
			Size: 1, Body: Body8BitMIME, SMTPUTF8: true, Ret: RetFull, EnvID: "x", Auth: "a@b.example",
			RequireTLS: true, MTPriority: intPtr(3), By: &DeliverBy{Time: 60, Mode: ByNotify, Trace: true},
			Extra: []Param{{"X-A", "1"}},
		}}, want: "MAIL FROM:<a@b.example> SIZE=1 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=x AUTH=a@b.example REQUIRETLS MT-PRIORITY=3 BY=60;NT X-A=1\r\n"},
	})
}

func TestBuildRcpt(t *testing.T) {
	bob := Mailbox{"Bob", "Big-Box.COM"}
	const bobLine = "RCPT TO:<Bob@Big-Box.COM>"
	rcpt := func(p RcptParams) Rcpt { return Rcpt{To: bob, Params: p} }
	const utf8Addr = "用户@例子.测试"
	const utf8XAddr = `\x{7528}\x{6237}@\x{4F8B}\x{5B50}.\x{6D4B}\x{8BD5}`
	runBuild(t, []build{
		{name: "plain", cmd: Rcpt{To: bob}, want: bobLine + "\r\n"},
		{name: "Postmaster", cmd: Rcpt{To: Mailbox{Local: "Postmaster"}}, want: "RCPT TO:<Postmaster>\r\n"},
		{name: "postmaster lower case", cmd: Rcpt{To: Mailbox{Local: "postmaster"}}, want: "RCPT TO:<postmaster>\r\n"},
		{name: "Postmaster at domain", cmd: Rcpt{To: Mailbox{"Postmaster", "example.org"}}, want: "RCPT TO:<Postmaster@example.org>\r\n"},
		{name: "null path", cmd: Rcpt{}, err: ErrMissing, arg: "TO"},
		{name: "null path with params", cmd: Rcpt{Params: RcptParams{Notify: NotifyNever}}, err: ErrMissing, arg: "TO"},
		{name: "no domain", cmd: Rcpt{To: Mailbox{Local: "bob"}}, err: ErrMissing, arg: "TO domain"},
		{name: "literal", cmd: Rcpt{To: Mailbox{"bob", "[IPv6:2001:db8::1]"}}, want: "RCPT TO:<bob@[IPv6:2001:db8::1]>\r\n"},

		// NOTIFY (RFC 3461 §4.1): sent in a fixed order.
		{name: "NOTIFY SUCCESS", cmd: rcpt(RcptParams{Notify: NotifySuccess}), want: bobLine + " NOTIFY=SUCCESS\r\n"},
		{name: "NOTIFY FAILURE,DELAY", cmd: rcpt(RcptParams{Notify: NotifyDelay | NotifyFailure}), want: bobLine + " NOTIFY=FAILURE,DELAY\r\n"},
		{name: "NOTIFY all three", cmd: rcpt(RcptParams{Notify: NotifyDelay | NotifySuccess | NotifyFailure}), want: bobLine + " NOTIFY=SUCCESS,FAILURE,DELAY\r\n"},
		{name: "NOTIFY NEVER", cmd: rcpt(RcptParams{Notify: NotifyNever}), want: bobLine + " NOTIFY=NEVER\r\n"},
		{name: "NOTIFY NEVER with SUCCESS", cmd: rcpt(RcptParams{Notify: NotifyNever | NotifySuccess}), err: ErrSyntax, arg: "NOTIFY"},
		{name: "NOTIFY NEVER with DELAY", cmd: rcpt(RcptParams{Notify: NotifyNever | NotifyDelay}), err: ErrSyntax, arg: "NOTIFY"},
		{name: "NOTIFY unknown bit", cmd: rcpt(RcptParams{Notify: 1 << 4}), err: ErrSyntax, arg: "NOTIFY"},

		// ORCPT (RFC 3461 §4.2), in the style of the RFC's examples.
		{name: "RFC 3461 NOTIFY and ORCPT", cmd: rcpt(RcptParams{Notify: NotifySuccess | NotifyFailure, ORCPT: OriginalRecipient{"rfc822", "Bob@Big-Box.COM"}}),
			want: bobLine + " NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@Big-Box.COM\r\n"},
		{name: "ORCPT type picked", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{Address: "Bob@Big-Box.COM"}}),
			want: bobLine + " ORCPT=rfc822;Bob@Big-Box.COM\r\n",
			back: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc822", "Bob@Big-Box.COM"}})},
		{name: "ORCPT xtext", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc822", "bob+tag=1 x@example.org"}}),
			want: bobLine + " ORCPT=rfc822;bob+2Btag+3D1+20x@example.org\r\n"},
		{name: "ORCPT other type kept", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"x400", "c=us;a=x"}}),
			want: bobLine + " ORCPT=x400;c+3Dus;a+3Dx\r\n"},
		{name: "ORCPT type without address", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{Type: "rfc822"}}), err: ErrMissing, arg: "ORCPT"},
		{name: "ORCPT bad type", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc 822", "a@b"}}), err: ErrSyntax, arg: "ORCPT"},
		{name: "ORCPT rfc822 non-ASCII", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc822", utf8Addr}}), err: ErrSyntax, arg: "ORCPT"},
		{name: "ORCPT 500", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc822", strings.Repeat("o", 493)}}),
			want: bobLine + " ORCPT=rfc822;" + strings.Repeat("o", 493) + "\r\n"},
		{name: "ORCPT 501", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc822", strings.Repeat("o", 494)}}), err: ErrTooLong, arg: "ORCPT"},
		{name: "ORCPT 501 as xtext", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"rfc822", strings.Repeat("o", 491) + "+"}}), err: ErrTooLong, arg: "ORCPT"},

		// ORCPT utf-8 (RFC 6533 §3): \x{HEX} for non-ASCII, "+", "=", "\" and space.
		{name: "ORCPT utf-8", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"utf-8", utf8Addr}}),
			want: bobLine + " ORCPT=utf-8;" + utf8XAddr + "\r\n"},
		{name: "ORCPT utf-8 picked", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{Address: utf8Addr}}),
			want: bobLine + " ORCPT=utf-8;" + utf8XAddr + "\r\n",
			back: rcpt(RcptParams{ORCPT: OriginalRecipient{"utf-8", utf8Addr}})},
		{name: "ORCPT utf-8 specials", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"utf-8", `a+b=c\d e@x`}}),
			want: bobLine + ` ORCPT=utf-8;a\x{2B}b\x{3D}c\x{5C}d\x{20}e@x` + "\r\n"},
		{name: "ORCPT utf-8 astral", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"utf-8", "𝄞@x"}}),
			want: bobLine + ` ORCPT=utf-8;\x{1D11E}@x` + "\r\n"},
		{name: "ORCPT utf-8 Latin-1", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"UTF-8", "é@x"}}),
			want: bobLine + ` ORCPT=UTF-8;\x{E9}@x` + "\r\n"},
		{name: "ORCPT utf-8 invalid", cmd: rcpt(RcptParams{ORCPT: OriginalRecipient{"utf-8", "\xff@x"}}), err: ErrIllegalChar, arg: "ORCPT"},

		// Extra parameters.
		{name: "Extra", cmd: rcpt(RcptParams{Notify: NotifyNever, Extra: []Param{{"X-RCPT", "1"}}}), want: bobLine + " NOTIFY=NEVER X-RCPT=1\r\n"},
		{name: "Extra SIZE allowed in RCPT", cmd: rcpt(RcptParams{Extra: []Param{{"SIZE", "1"}}}), want: bobLine + " SIZE=1\r\n"},
		{name: "Extra duplicates NOTIFY", cmd: rcpt(RcptParams{Extra: []Param{{"notify", "NEVER"}}}), err: ErrDuplicate, arg: "parameter notify"},
		{name: "Extra duplicates ORCPT", cmd: rcpt(RcptParams{Extra: []Param{{"ORCPT", "rfc822;a@b"}}}), err: ErrDuplicate, arg: "parameter ORCPT"},
		{name: "Extra twice", cmd: rcpt(RcptParams{Extra: []Param{{"X-A", ""}, {"X-a", ""}}}), err: ErrDuplicate, arg: "parameter X-a"},
		{name: "Extra UTF-8 without SMTPUTF8", cmd: rcpt(RcptParams{Extra: []Param{{"X-A", "é"}}}), err: ErrNeedsSMTPUTF8, arg: "parameter X-A"},
		{name: "Extra UTF-8 with SMTPUTF8", cmd: Rcpt{To: bob, SMTPUTF8: true, Params: RcptParams{Extra: []Param{{"X-A", "é"}}}},
			want: bobLine + " X-A=é\r\n"},

		// The SMTPUTF8 field: not sent, but decides what may be.
		{name: "UTF-8 local without SMTPUTF8", cmd: Rcpt{To: Mailbox{"用户", "例子.测试"}}, err: ErrNeedsSMTPUTF8, arg: "TO local part"},
		{name: "UTF-8 local with SMTPUTF8", cmd: Rcpt{To: Mailbox{"用户", "例子.测试"}, SMTPUTF8: true}, want: "RCPT TO:<用户@例子.测试>\r\n"},
		{name: "U-label without SMTPUTF8", cmd: Rcpt{To: Mailbox{"info", "bücher.de"}},
			want: "RCPT TO:<info@xn--bcher-kva.de>\r\n", back: Rcpt{To: Mailbox{"info", "xn--bcher-kva.de"}}},
		{name: "U-label with SMTPUTF8", cmd: Rcpt{To: Mailbox{"info", "bücher.de"}, SMTPUTF8: true}, want: "RCPT TO:<info@bücher.de>\r\n"},
		// Parse sets SMTPUTF8 only when the line holds UTF-8.
		{name: "ASCII with SMTPUTF8", cmd: Rcpt{To: bob, SMTPUTF8: true}, want: bobLine + "\r\n", back: Rcpt{To: bob}},
	})
}

func TestBuildStringCommands(t *testing.T) {
	runBuild(t, []build{
		{name: "VRFY token", cmd: Vrfy{Arg: "john"}, want: "VRFY john\r\n"},
		{name: "VRFY mailbox", cmd: Vrfy{Arg: "john@example.org"}, want: "VRFY john@example.org\r\n"},
		{name: "VRFY quoted", cmd: Vrfy{Arg: "John Smith"}, want: "VRFY \"John Smith\"\r\n"},
		{name: "VRFY escapes", cmd: Vrfy{Arg: `a "b" \c`}, want: `VRFY "a \"b\" \\c"` + "\r\n"},
		{name: "VRFY leading quote", cmd: Vrfy{Arg: `"x`}, want: `VRFY "\"x"` + "\r\n"},
		{name: "VRFY inner quote token", cmd: Vrfy{Arg: `a"b`}, want: `VRFY a"b` + "\r\n"},
		{name: "VRFY word SMTPUTF8", cmd: Vrfy{Arg: "SMTPUTF8"}, want: "VRFY SMTPUTF8\r\n"},
		{name: "VRFY UTF-8 with SMTPUTF8", cmd: Vrfy{Arg: "用户", SMTPUTF8: true}, want: "VRFY 用户 SMTPUTF8\r\n"},
		{name: "VRFY ASCII with SMTPUTF8", cmd: Vrfy{Arg: "john", SMTPUTF8: true}, want: "VRFY john SMTPUTF8\r\n"},
		{name: "VRFY quoted with SMTPUTF8", cmd: Vrfy{Arg: "θ σ", SMTPUTF8: true}, want: "VRFY \"θ σ\" SMTPUTF8\r\n"},
		{name: "VRFY UTF-8 without SMTPUTF8", cmd: Vrfy{Arg: "用户"}, err: ErrNeedsSMTPUTF8, arg: "argument"},
		{name: "VRFY missing", cmd: Vrfy{}, err: ErrMissing, arg: "argument"},
		{name: "VRFY tab", cmd: Vrfy{Arg: "a\tb"}, err: ErrIllegalChar, arg: "argument"},
		{name: "VRFY DEL", cmd: Vrfy{Arg: "a\x7f"}, err: ErrIllegalChar, arg: "argument"},
		{name: "VRFY invalid UTF-8", cmd: Vrfy{Arg: "\xff", SMTPUTF8: true}, err: ErrIllegalChar, arg: "argument"},
		{name: "EXPN", cmd: Expn{Arg: "staff"}, want: "EXPN staff\r\n"},
		{name: "EXPN quoted SMTPUTF8", cmd: Expn{Arg: "all staff", SMTPUTF8: true}, want: "EXPN \"all staff\" SMTPUTF8\r\n"},
		{name: "EXPN missing", cmd: Expn{}, err: ErrMissing, arg: "argument"},
		{name: "HELP", cmd: Help{}, want: "HELP\r\n"},
		{name: "HELP topic", cmd: Help{Topic: "MAIL"}, want: "HELP MAIL\r\n"},
		{name: "HELP quoted topic", cmd: Help{Topic: "MAIL FROM"}, want: "HELP \"MAIL FROM\"\r\n"},
		{name: "HELP UTF-8", cmd: Help{Topic: "é"}, err: ErrNeedsSMTPUTF8, arg: "argument"},
		{name: "NOOP", cmd: Noop{}, want: "NOOP\r\n"},
		{name: "NOOP arg", cmd: Noop{Arg: "ping"}, want: "NOOP ping\r\n"},
		{name: "NOOP quoted arg", cmd: Noop{Arg: "are you there"}, want: "NOOP \"are you there\"\r\n"},
		{name: "NOOP NUL", cmd: Noop{Arg: "a\x00"}, err: ErrIllegalChar, arg: "argument"},
	})
}

func TestVrfyExpnNeedsSMTPUTF8(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want bool
	}{{"john", false}, {"John Smith", false}, {"用户", true}, {"Pelé", true}} {
		if got := (Vrfy{Arg: tc.arg}).NeedsSMTPUTF8(); got != tc.want {
			t.Errorf("Vrfy{%q}.NeedsSMTPUTF8() = %v, want %v", tc.arg, got, tc.want)
		}
		if got := (Expn{Arg: tc.arg}).NeedsSMTPUTF8(); got != tc.want {
			t.Errorf("Expn{%q}.NeedsSMTPUTF8() = %v, want %v", tc.arg, got, tc.want)
		}
	}
}

func TestMailRcptNeedsSMTPUTF8(t *testing.T) {
	tests := []struct {
		name string
		m    Mailbox
		ext  []Param
		want bool
	}{
		{"ASCII", Mailbox{"a", "example.org"}, nil, false},
		{"U-label domain", Mailbox{"a", "bücher.de"}, nil, false},
		{"UTF-8 local", Mailbox{"Pelé", "example.com"}, nil, true},
		{"UTF-8 parameter", Mailbox{"a", "example.org"}, []Param{{"X-A", "é"}}, true},
		{"ASCII parameter", Mailbox{"a", "example.org"}, []Param{{"X-A", "e"}}, false},
		{"null", Mailbox{}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Mail{From: tc.m, Params: MailParams{Extra: tc.ext}}).NeedsSMTPUTF8(); got != tc.want {
				t.Errorf("Mail.NeedsSMTPUTF8() = %v, want %v", got, tc.want)
			}
			if got := (Rcpt{To: tc.m, Params: RcptParams{Extra: tc.ext}}).NeedsSMTPUTF8(); got != tc.want {
				t.Errorf("Rcpt.NeedsSMTPUTF8() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBuildOthers(t *testing.T) {
	ir := []byte("test\x00test\x001234") // RFC 4954 §4's PLAIN example
	runBuild(t, []build{
		{name: "DATA", cmd: Data{}, want: "DATA\r\n"},
		{name: "RSET", cmd: Rset{}, want: "RSET\r\n"},
		{name: "QUIT", cmd: Quit{}, want: "QUIT\r\n"},
		{name: "STARTTLS", cmd: StartTLS{}, want: "STARTTLS\r\n"},

		{name: "BDAT 0", cmd: Bdat{}, want: "BDAT 0\r\n"},
		{name: "BDAT 0 LAST", cmd: Bdat{Last: true}, want: "BDAT 0 LAST\r\n"},
		{name: "BDAT chunk", cmd: Bdat{Size: 86}, want: "BDAT 86\r\n"},
		{name: "BDAT last chunk", cmd: Bdat{Size: 1000, Last: true}, want: "BDAT 1000 LAST\r\n"},
		{name: "BDAT max", cmd: Bdat{Size: math.MaxInt64}, want: "BDAT 9223372036854775807\r\n"},
		{name: "BDAT negative", cmd: Bdat{Size: -1, Last: true}, err: ErrRange, arg: "chunk-size"},

		{name: "AUTH without IR", cmd: Auth{Mechanism: "PLAIN"}, want: "AUTH PLAIN\r\n"},
		{name: "AUTH empty IR", cmd: Auth{Mechanism: "PLAIN", InitialResponse: []byte{}}, want: "AUTH PLAIN =\r\n"},
		{name: "AUTH IR", cmd: Auth{Mechanism: "PLAIN", InitialResponse: ir}, want: "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=\r\n"},
		{name: "AUTH lower case", cmd: Auth{Mechanism: "plain"}, want: "AUTH plain\r\n"},
		{name: "AUTH SCRAM", cmd: Auth{Mechanism: "SCRAM-SHA-256", InitialResponse: []byte("n,,n=user,r=abc")},
			want: "AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9YWJj\r\n"},
		{name: "AUTH underscore", cmd: Auth{Mechanism: "X_TOKEN"}, want: "AUTH X_TOKEN\r\n"},
		{name: "AUTH mechanism 20", cmd: Auth{Mechanism: "ABCDEFGHIJKLMNOPQRST"}, want: "AUTH ABCDEFGHIJKLMNOPQRST\r\n"},
		{name: "AUTH mechanism 21", cmd: Auth{Mechanism: "ABCDEFGHIJKLMNOPQRSTU"}, err: ErrTooLong, arg: "mechanism"},
		{name: "AUTH no mechanism", cmd: Auth{InitialResponse: ir}, err: ErrMissing, arg: "mechanism"},
		{name: "AUTH mechanism space", cmd: Auth{Mechanism: "PL AIN"}, err: ErrSyntax, arg: "mechanism"},
		{name: "AUTH mechanism punctuation", cmd: Auth{Mechanism: "PLAIN!"}, err: ErrSyntax, arg: "mechanism"},
		{name: "AUTH IR over 512 octets", cmd: Auth{Mechanism: "PLAIN", InitialResponse: make([]byte, 513)}, err: ErrTooLong, arg: "line"},

		{name: "Raw", cmd: Raw{Name: "XCLIENT", Args: "ADDR=192.0.2.1"}, want: "XCLIENT ADDR=192.0.2.1\r\n"},
		{name: "Raw no args", cmd: Raw{Name: "ETRN"}, want: "ETRN\r\n"},
		{name: "Raw lower case", cmd: Raw{Name: "etrn", Args: "@example.org"}, want: "etrn @example.org\r\n"},
		{name: "Raw tab allowed", cmd: Raw{Name: "X-T", Args: "a\tb"}, want: "X-T a\tb\r\n", noParse: true},
		{name: "Raw known verb", cmd: Raw{Name: "DATA"}, want: "DATA\r\n", back: Data{}},
		{name: "Raw no name", cmd: Raw{Args: "x"}, err: ErrMissing, arg: "verb"},
		{name: "Raw name with space", cmd: Raw{Name: "X Y"}, err: ErrSyntax, arg: "verb"},
	})
}

func TestAppendAuthResponse(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"nil", nil, "\r\n", nil},
		{"empty", []byte{}, "\r\n", nil},
		{"RFC 4954 PLAIN", []byte("test\x00test\x001234"), "dGVzdAB0ZXN0ADEyMzQ=\r\n", nil},
		{"CR and LF are encoded", []byte("\r\n"), "DQo=\r\n", nil},
		{"at the limit", make([]byte, 9216), strings.Repeat("A", MaxAuthResponseLength) + "\r\n", nil},
		{"over the limit", make([]byte, 9217), "", ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendAuthResponse([]byte(sessionPrefix), tc.data)
			checkErr(t, err, tc.err, "AUTH", "response")
			if tc.err != nil {
				checkUnchanged(t, got, err)
				return
			}
			if diff := cmp.Diff(sessionPrefix+tc.want, string(got)); diff != "" {
				t.Errorf("AppendAuthResponse (-want +got):\n%s", diff)
			}
			back, err := ParseAuthResponse(got[len(sessionPrefix):])
			if err != nil {
				t.Fatalf("ParseAuthResponse: %v", err)
			}
			if !bytes.Equal(back, tc.data) || back == nil {
				t.Errorf("ParseAuthResponse = %q, want %q (non-nil)", back, tc.data)
			}
		})
	}
	if got := AppendAuthCancel([]byte(sessionPrefix)); string(got) != sessionPrefix+"*\r\n" {
		t.Errorf("AppendAuthCancel = %q", got)
	}
}

func TestParseAuthResponse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []byte
		err  error
		arg  string
	}{
		{"cancel", "*", nil, ErrAuthCanceled, anyReason},
		{"cancel CRLF", "*\r\n", nil, ErrAuthCanceled, anyReason},
		{"empty response", "=", []byte{}, nil, ""},
		{"empty response CRLF", "=\r\n", []byte{}, nil, ""},
		{"data", "dGVzdAB0ZXN0ADEyMzQ=\r\n", []byte("test\x00test\x001234"), nil, ""},
		{"empty line", "", []byte{}, nil, ""},
		{"empty line CRLF", "\r\n", []byte{}, nil, ""},
		{"missing padding", "dGVzdAB0ZXN0ADEyMzQ", nil, ErrSyntax, "response"},
		{"not base64", "!!!!", nil, ErrSyntax, "response"},
		{"two stars", "**", nil, ErrSyntax, "response"},
		{"space", "dGVz dA==", nil, ErrSyntax, "response"},
		{"CR inside", "dG\rVz", nil, ErrIllegalChar, "response"},
		{"bare LF", "dGVz\n", nil, ErrIllegalChar, "response"},
		{"at the limit", strings.Repeat("A", MaxAuthResponseLength) + "\r\n", make([]byte, 9216), nil, ""},
		{"over the limit", strings.Repeat("A", MaxAuthResponseLength+4), nil, ErrTooLong, "response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAuthResponse([]byte(tc.line))
			verb := "AUTH"
			if tc.err == ErrAuthCanceled {
				verb = anyReason
			}
			checkErr(t, err, tc.err, verb, tc.arg)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseAuthResponse(%q) (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}

// limits are commands whose line may be at most MaxCommandLineLength octets,
// each made n octets long, CRLF included.
var limits = []struct {
	name string
	make func(n int) Command
}{
	{"VRFY", func(n int) Command { return Vrfy{Arg: strings.Repeat("v", n-len("VRFY \r\n"))} }},
	{"VRFY SMTPUTF8", func(n int) Command {
		return Vrfy{Arg: strings.Repeat("v", n-len("VRFY  SMTPUTF8\r\n")), SMTPUTF8: true}
	}},
	{"VRFY quoted", func(n int) Command { return Vrfy{Arg: "a " + strings.Repeat("v", n-len(`VRFY "a "`+"\r\n"))} }},
	{"EXPN", func(n int) Command { return Expn{Arg: strings.Repeat("e", n-len("EXPN \r\n"))} }},
	{"HELP", func(n int) Command { return Help{Topic: strings.Repeat("h", n-len("HELP \r\n"))} }},
	{"NOOP", func(n int) Command { return Noop{Arg: strings.Repeat("n", n-len("NOOP \r\n"))} }},
	{"Raw", func(n int) Command { return Raw{Name: "XTEST", Args: strings.Repeat("r", n-len("XTEST \r\n"))} }},
	// 372 octets are 496 of base64; the mechanism takes up the rest.
	{"AUTH", func(n int) Command {
		return Auth{Mechanism: strings.Repeat("M", n-len("AUTH  \r\n")-496), InitialResponse: bytes.Repeat([]byte{0xfb}, 372)}
	}},
}

func TestBuildLineLimit(t *testing.T) {
	var tests []build
	for _, l := range limits {
		at := l.make(MaxCommandLineLength)
		wire, err := at.Append(nil)
		if err != nil || len(wire) != MaxCommandLineLength {
			t.Fatalf("%s at the limit: %d octets, %v", l.name, len(wire), err)
		}
		tests = append(tests,
			build{name: l.name + " 512", cmd: at, want: string(wire)},
			build{name: l.name + " 513", cmd: l.make(MaxCommandLineLength + 1), err: ErrTooLong, arg: "line"})
	}
	runBuild(t, tests)
}

// TestBuildMailRcptAllowances: MAIL and RCPT lines may pass 512 octets by
// the room their parameters grant. The path is at most 256 octets, so no
// MAIL or RCPT line that Append can build reaches its limit: this checks
// that the largest of them are accepted.
func TestBuildMailRcptAllowances(t *testing.T) {
	from := Mailbox{strings.Repeat("l", 64), domainOfLength(189)} // path 256
	path := "<" + from.Local + "@" + from.Domain + ">"
	big := strings.Repeat("x", 2000)
	maxMail := Mail{From: from, Params: MailParams{
		Size: math.MaxInt64, Body: BodyBinaryMIME, SMTPUTF8: true, Ret: RetHeaders,
		EnvID:      strings.Repeat("+", 33) + "x",
		Auth:       strings.Repeat("=", 64) + "@" + domainOfLength(255),
		RequireTLS: true, MTPriority: intPtr(-9), By: &DeliverBy{Time: -999999999, Mode: ByReturn, Trace: true},
		Extra: []Param{{"X-BIG", big}},
	}}
	maxMailLine := "MAIL FROM:" + path + " SIZE=9223372036854775807 BODY=BINARYMIME SMTPUTF8 RET=HDRS" +
		" ENVID=" + strings.Repeat("+2B", 33) + "x" +
		" AUTH=" + strings.Repeat("+3D", 64) + "@" + domainOfLength(255) +
		" REQUIRETLS MT-PRIORITY=-9 BY=-999999999;RT X-BIG=" + big + "\r\n"
	maxRcpt := Rcpt{To: from, Params: RcptParams{
		Notify: NotifySuccess | NotifyFailure | NotifyDelay,
		ORCPT:  OriginalRecipient{"rfc822", strings.Repeat("o", 493)},
		Extra:  []Param{{"X-BIG", big}},
	}}
	maxRcptLine := "RCPT TO:" + path + " NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;" + strings.Repeat("o", 493) + " X-BIG=" + big + "\r\n"
	runBuild(t, []build{
		{name: "MAIL every parameter at its largest", cmd: maxMail, want: maxMailLine},
		{name: "RCPT every parameter at its largest", cmd: maxRcpt, want: maxRcptLine},
		{name: "MAIL long extension parameter", cmd: Mail{Params: MailParams{Extra: []Param{{"X-BIG", big}}}}, want: "MAIL FROM:<> X-BIG=" + big + "\r\n"},
		{name: "RCPT long extension parameter", cmd: Rcpt{To: Mailbox{Local: "Postmaster"}, Params: RcptParams{Extra: []Param{{"X-BIG", big}}}},
			want: "RCPT TO:<Postmaster> X-BIG=" + big + "\r\n"},
	})
}

// injections are the byte sequences that could end a command line early.
var injections = []struct{ name, s string }{
	{"CRLF", "\r\n"},
	{"CR", "\r"},
	{"LF", "\n"},
	{"NUL", "\x00"},
	{"CRLF command", "\r\nRSET\r\n"},
}

// targets are every argument of every command, each with a valid value
// that the injection is put into.
var targets = []struct {
	name, base string
	make       func(string) Command
}{
	{"HELO domain", "client.example", func(s string) Command { return Helo{s} }},
	{"EHLO domain", "client.example", func(s string) Command { return Ehlo{s} }},
	{"LHLO domain", "client.example", func(s string) Command { return Lhlo{s} }},
	{"EHLO literal", "[192.0.2.1]", func(s string) Command { return Ehlo{s} }},
	{"EHLO U-label", "bücher.example", func(s string) Command { return Ehlo{s} }},
	{"MAIL local part", "john.doe", func(s string) Command { return Mail{From: Mailbox{s, "example.org"}} }},
	{"MAIL quoted local part", "john doe", func(s string) Command { return Mail{From: Mailbox{s, "example.org"}} }},
	{"MAIL UTF-8 local part", "用户", func(s string) Command {
		return Mail{From: Mailbox{s, "example.org"}, Params: MailParams{SMTPUTF8: true}}
	}},
	{"MAIL domain", "example.org", func(s string) Command { return Mail{From: Mailbox{"john", s}} }},
	{"MAIL literal", "[IPv6:2001:db8::1]", func(s string) Command { return Mail{From: Mailbox{"john", s}} }},
	{"MAIL ENVID", "QQ314159", func(s string) Command { return Mail{Params: MailParams{EnvID: s}} }},
	{"MAIL AUTH", "e=mc2@example.com", func(s string) Command { return Mail{Params: MailParams{Auth: s}} }},
	{"MAIL Extra keyword", "X-KEY", func(s string) Command { return Mail{Params: MailParams{Extra: []Param{{s, "v"}}}} }},
	{"MAIL Extra value", "value", func(s string) Command { return Mail{Params: MailParams{Extra: []Param{{"X-KEY", s}}}} }},
	{"RCPT local part", "bob", func(s string) Command { return Rcpt{To: Mailbox{s, "example.org"}} }},
	{"RCPT domain", "example.org", func(s string) Command { return Rcpt{To: Mailbox{"bob", s}} }},
	{"RCPT Postmaster", "Postmaster", func(s string) Command { return Rcpt{To: Mailbox{Local: s}} }},
	{"RCPT ORCPT rfc822 address", "bob@example.org", func(s string) Command {
		return Rcpt{To: Mailbox{"bob", "example.org"}, Params: RcptParams{ORCPT: OriginalRecipient{"rfc822", s}}}
	}},
	{"RCPT ORCPT utf-8 address", "用户@例子.测试", func(s string) Command {
		return Rcpt{To: Mailbox{"bob", "example.org"}, Params: RcptParams{ORCPT: OriginalRecipient{"utf-8", s}}}
	}},
	{"RCPT ORCPT type", "rfc822", func(s string) Command {
		return Rcpt{To: Mailbox{"bob", "example.org"}, Params: RcptParams{ORCPT: OriginalRecipient{s, "bob@example.org"}}}
	}},
	{"RCPT Extra keyword", "X-KEY", func(s string) Command {
		return Rcpt{To: Mailbox{"bob", "example.org"}, Params: RcptParams{Extra: []Param{{s, "v"}}}}
	}},
	{"RCPT Extra value", "value", func(s string) Command {
		return Rcpt{To: Mailbox{"bob", "example.org"}, Params: RcptParams{Extra: []Param{{"X-KEY", s}}}}
	}},
	{"VRFY token", "john", func(s string) Command { return Vrfy{Arg: s} }},
	{"VRFY quoted", "John Smith", func(s string) Command { return Vrfy{Arg: s, SMTPUTF8: true} }},
	{"EXPN", "staff", func(s string) Command { return Expn{Arg: s} }},
	{"HELP", "MAIL", func(s string) Command { return Help{Topic: s} }},
	{"NOOP", "ping", func(s string) Command { return Noop{Arg: s} }},
	{"AUTH mechanism", "PLAIN", func(s string) Command { return Auth{Mechanism: s} }},
	{"Raw name", "XCLIENT", func(s string) Command { return Raw{Name: s, Args: "ADDR=192.0.2.1"} }},
	{"Raw args", "ADDR=192.0.2.1", func(s string) Command { return Raw{Name: "XCLIENT", Args: s} }},
}

// TestBuildInjection puts each of injections at the start, in the middle
// and at the end of each argument: Append must refuse it as ErrIllegalChar
// and leave dst as it was.
func TestBuildInjection(t *testing.T) {
	for _, tg := range targets {
		verb := tg.make(tg.base).Verb()
		if _, err := tg.make(tg.base).Append(nil); err != nil {
			t.Fatalf("%s: the base value %q is refused: %v", tg.name, tg.base, err)
		}
		if tg.name == "Raw name" {
			verb = anyReason // the verb is the injected name
		}
		mid := len(tg.base) / 2
		for !utf8.RuneStart(tg.base[mid]) {
			mid++
		}
		for _, inj := range injections {
			for _, pos := range []struct{ name, s string }{
				{"start", inj.s + tg.base},
				{"middle", tg.base[:mid] + inj.s + tg.base[mid:]},
				{"end", tg.base + inj.s},
			} {
				t.Run(tg.name+"/"+inj.name+"/"+pos.name, func(t *testing.T) {
					got, err := appendChecked(t, tg.make(pos.s))
					if err == nil {
						t.Fatalf("Append accepted %q: %q", pos.s, got)
					}
					checkUnchanged(t, got, err)
					checkErr(t, err, ErrIllegalChar, verb, anyReason)
				})
			}
		}
	}
}

// TestAppendAllocatesNothing: every verb appends into a buffer with room
// without allocating (ASCII arguments; U-labels need IDNA).
func TestAppendAllocatesNothing(t *testing.T) {
	prio := -3
	cmds := []Command{
		Helo{Domain: "client.example"}, Ehlo{Domain: "[192.0.2.1]"}, Lhlo{Domain: "client.example"},
		Mail{From: Mailbox{"a b", "example.org"}, Params: MailParams{Size: 1, Body: BodyBinaryMIME, SMTPUTF8: true, Ret: RetFull,
			EnvID: "id+1", Auth: `"a\"b"@example.org`, RequireTLS: true, MTPriority: &prio,
			By: &DeliverBy{Time: 60, Mode: ByNotify, Trace: true}, Extra: []Param{{"X-A", "1"}, {"XB", ""}}}},
		Rcpt{To: Mailbox{"Postmaster", ""}, Params: RcptParams{Notify: NotifyDelay,
			ORCPT: OriginalRecipient{"utf-8", "jöe@example.org"}, Extra: []Param{{"RRVS", "2026-11-28T00:00:00Z"}}}},
		Data{}, Rset{}, Quit{}, StartTLS{}, Bdat{Size: 1 << 40, Last: true},
		Vrfy{Arg: "john smith"}, Expn{Arg: "staff", SMTPUTF8: true}, Help{Topic: "MAIL"}, Noop{Arg: "x"},
		Auth{Mechanism: "PLAIN", InitialResponse: []byte("\x00user\x00secret")}, Raw{Name: "ETRN", Args: "@example.org"},
	}
	buf := make([]byte, 0, 4096)
	for _, c := range cmds {
		var err error
		allocs := testing.AllocsPerRun(100, func() { _, err = c.Append(buf[:0]) })
		if err != nil {
			t.Errorf("%s: %v", c.Verb(), err)
		}
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Append, want 0", c.Verb(), allocs)
		}
	}
}
