package msghdr

// Property test, with rapid: for a random header (From, Sender, To, Cc,
// Bcc, Resent- fields, Subject and X- fields in random order, names in
// random case, values folded at random, each line ending in CRLF or LF at
// random) and a random body,
//
//   - the header Read returns followed by what it leaves in r is the
//     message less its Bcc and Resent-Bcc fields, byte for byte;
//   - the envelope is the one the rules give, computed here from the
//     generated addresses rather than by parsing;
//   - each address is one package command takes for MAIL or RCPT.
//
// rapid writes the input of a failing run to testdata/rapid/<Test>/; set
// RAPID_NOFAILFILE=1 (or pass -rapid.nofailfile) to keep the tree clean.

import (
	"bufio"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/smtpkit/smtpkit/command"
	"pgregory.net/rapid"
)

// drawnAddr is one address as written in a field and the addr-specs it
// stands for (none for an empty group, several for a group).
type drawnAddr struct {
	text  string
	specs []string
}

var (
	locals = []struct{ written, spec string }{
		{"alice", "alice"}, {"bob", "bob"}, {"carol.smith", "carol.smith"},
		{"d+tag", "d+tag"}, {"o'neil", "o'neil"}, {"jöhn", "jöhn"}, {"用户", "用户"},
		{`"john doe"`, `"john doe"`}, {`"john"`, "john"}, {`"a\"b"`, `"a\"b"`},
		{`"jöhn dœ"`, `"jöhn dœ"`},
	}
	domains = []string{"example.org", "mail.example.com", "exämple.org", "例子.广告", "[192.0.2.1]"}
	names   = []string{"Alice", "Bob Smith", `"Smith, Carol"`, "Jöhn Dœ", "=?utf-8?q?J=C3=B6hn?=", "=?iso-2022-jp?B?GyRCJUYlOSVIGyhC?=", "John Q. Public"}
)

// drawMailbox generates one mailbox in one of the ways a header writes it.
func drawMailbox(t *rapid.T, label string) drawnAddr {
	l := rapid.SampledFrom(locals).Draw(t, label+"-local")
	d := rapid.SampledFrom(domains).Draw(t, label+"-domain")
	if rapid.Bool().Draw(t, label+"-fresh") {
		l.written = rapid.StringMatching(`[a-z0-9!#$%&'*+/=?^_{|}~-]{1,8}`).Draw(t, label+"-atom")
		l.spec = l.written
	}
	spec := l.spec + "@" + d
	bare := l.written + "@" + d
	name := rapid.SampledFrom(names).Draw(t, label+"-name")
	form := rapid.IntRange(0, 6).Draw(t, label+"-form")
	text := [...]string{
		bare,
		name + " <" + bare + ">",
		"<" + bare + ">",
		bare + " (" + name + ")",
		"(comment) " + bare, // only the fallback parser takes this
		name + " <(c) " + bare + " >",
		"<@relay.example:" + bare + ">",
	}[form]
	return drawnAddr{text, []string{spec}}
}

// drawAddrList generates the value of an address field: mailboxes and
// groups, separated by commas, folded at random. It returns the value
// (from just after the colon to the end of its last line, line ending
// included) and its addr-specs in order.
func drawAddrList(t *rapid.T, label string, eol func() string, min int) (string, []string) {
	n := rapid.IntRange(min, 4).Draw(t, label+"-n")
	var items []string
	var specs []string
	for i := range n {
		lab := label + "-" + string(rune('a'+i))
		switch rapid.IntRange(0, 5).Draw(t, lab+"-kind") {
		case 0: // a group
			var members []string
			for j := range rapid.IntRange(0, 2).Draw(t, lab+"-members") {
				m := drawMailbox(t, lab+"-"+string(rune('0'+j)))
				members = append(members, m.text)
				specs = append(specs, m.specs...)
			}
			items = append(items, rapid.SampledFrom([]string{"undisclosed-recipients", "Friends", `"A team"`}).Draw(t, lab+"-group")+": "+strings.Join(members, ", ")+";")
		default:
			m := drawMailbox(t, lab)
			items = append(items, m.text)
			specs = append(specs, m.specs...)
		}
	}
	var b strings.Builder
	b.WriteString(drawFold(t, label+"-fold0", eol, " "))
	for i, it := range items {
		if i > 0 {
			b.WriteString(",")
			b.WriteString(drawFold(t, label+"-fold", eol, " "))
		}
		b.WriteString(it)
	}
	b.WriteString(eol())
	return b.String(), specs
}

// drawFold returns either sp or a line ending followed by white space.
func drawFold(t *rapid.T, label string, eol func() string, sp string) string {
	if rapid.IntRange(0, 3).Draw(t, label) == 0 {
		return eol() + rapid.SampledFrom([]string{" ", "\t", "  ", " \t"}).Draw(t, label+"-ws")
	}
	return sp
}

// drawName writes a field name in random case, and sometimes with white
// space before the colon (obsolete syntax).
func drawName(t *rapid.T, label, name string) string {
	b := []byte(name)
	for i, c := range b {
		if rapid.IntRange(0, 3).Draw(t, label+"-case") == 0 {
			if 'a' <= c && c <= 'z' {
				b[i] = c - 'a' + 'A'
			} else if 'A' <= c && c <= 'Z' {
				b[i] = c - 'A' + 'a'
			}
		}
	}
	if rapid.IntRange(0, 9).Draw(t, label+"-obsws") == 0 {
		b = append(b, ' ')
	}
	return string(b) + ":"
}

// drawnField is one generated field: its bytes, its kind and its addresses.
type drawnField struct {
	text  string
	kind  kind
	specs []string
}

func TestPropertyRead(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		eol := func() string {
			return rapid.SampledFrom([]string{"\r\n", "\n"}).Draw(t, "eol")
		}
		field := func(label, name string, k kind, min int) drawnField {
			v, specs := drawAddrList(t, label, eol, min)
			return drawnField{drawName(t, label+"-name", name) + v, k, specs}
		}
		resent := rapid.Bool().Draw(t, "resent")
		var fields []drawnField
		fields = append(fields, field("from", "From", kFrom, 1))
		if rapid.Bool().Draw(t, "has-sender") {
			fields = append(fields, field("sender", "Sender", kSender, 1))
		}
		for i, name := range []string{"To", "Cc", "Bcc"} {
			for j := range rapid.IntRange(0, 2).Draw(t, name+"-count") {
				fields = append(fields, field(name+string(rune('0'+j)), name, kTo+kind(i), 0))
			}
		}
		if resent {
			fields = append(fields,
				drawnField{text: drawName(t, "rdate", "Resent-Date") + " Mon, 1 Jan 2024 00:00:00 +0000" + eol(), kind: kResentDate},
				field("rfrom", "Resent-From", kResentFrom, 1))
		}
		// Resent- recipients; without a Resent-Date they are just fields.
		for i, name := range []string{"Resent-To", "Resent-Cc", "Resent-Bcc"} {
			for j := range rapid.IntRange(0, 1).Draw(t, name+"-count") {
				fields = append(fields, field(name+string(rune('0'+j)), name, kResentTo+kind(i), 0))
			}
		}
		for i := range rapid.IntRange(0, 3).Draw(t, "others") {
			lab := "other" + string(rune('0'+i))
			name := rapid.SampledFrom([]string{"Subject", "X-Mailer", "X-Bcc", "Comments", "Message-ID", "Bcc-Note"}).Draw(t, lab)
			words := rapid.SliceOfN(rapid.SampledFrom([]string{"hello", "Bcc: x@example.org", "To:", "ünïcödé", "a:b", "<x@y>", "\"q\""}), 0, 4).Draw(t, lab+"-words")
			var b strings.Builder
			b.WriteString(drawName(t, lab+"-name", name))
			for _, w := range words {
				b.WriteString(drawFold(t, lab+"-fold", eol, " "))
				b.WriteString(w)
			}
			b.WriteString(eol())
			fields = append(fields, drawnField{text: b.String(), kind: kOther})
		}
		order := rapid.Permutation(fields).Draw(t, "order")

		// The expected envelope, from the generated addresses.
		senderKind, fromKind, rcpt := kSender, kFrom, []kind{kTo, kCc, kBcc}
		if resent {
			senderKind, fromKind, rcpt = kResentSender, kResentFrom, []kind{kResentTo, kResentCc, kResentBcc}
		}
		var want Envelope
		firstOf := func(k kind) (drawnField, bool) {
			i := slices.IndexFunc(order, func(f drawnField) bool { return f.kind == k })
			if i < 0 {
				return drawnField{}, false
			}
			return order[i], true
		}
		sf, ok := firstOf(senderKind)
		if !ok {
			sf, _ = firstOf(fromKind)
		}
		if len(sf.specs) > 0 {
			want.From = sf.specs[0]
		}
		for _, f := range order {
			if slices.Contains(rcpt, f.kind) {
				for _, s := range f.specs {
					if !slices.Contains(want.To, s) {
						want.To = append(want.To, s)
					}
				}
			}
		}

		// The message, and what should be sent.
		allHeader := rapid.IntRange(0, 4).Draw(t, "all-header") == 0
		if allHeader && rapid.Bool().Draw(t, "cut-last-eol") {
			// The last line has no line ending.
			last := &order[len(order)-1]
			last.text = strings.TrimSuffix(strings.TrimSuffix(last.text, "\n"), "\r")
		}
		var msg, sent strings.Builder
		for _, f := range order {
			msg.WriteString(f.text)
			if f.kind != kBcc && f.kind != kResentBcc {
				sent.WriteString(f.text)
			}
		}
		if !allHeader {
			blank := eol()
			body := strings.Join(rapid.SliceOfN(rapid.SampledFrom([]string{
				"Hello.\r\n", "Bcc: x@example.org\r\n", "\r\n", "\n", ".\r\n", "From: me\n", "\x00\xff", " folded?\r\n",
			}), 0, 5).Draw(t, "body"), "")
			msg.WriteString(blank + body)
			sent.WriteString(blank + body)
		}

		bufSize := rapid.SampledFrom([]int{16, 64, 4096}).Draw(t, "bufsize")
		br := bufio.NewReaderSize(strings.NewReader(msg.String()), bufSize)
		env, header, err := Read(br, 0)
		if header == nil {
			t.Fatalf("Read: %v", err)
		}
		rest, _ := io.ReadAll(br)
		if got := string(header) + string(rest); got != sent.String() {
			t.Fatalf("header + rest:\n got %q\nwant %q\n(message %q)", got, sent.String(), msg.String())
		}
		if len(want.To) == 0 {
			if !errors.Is(err, ErrNoRecipients) {
				t.Fatalf("err = %v, want ErrNoRecipients", err)
			}
			var ee *EnvelopeError
			if !errors.As(err, &ee) || ee.Sender != nil {
				t.Fatalf("err = %v, want only ErrNoRecipients", err)
			}
		} else if err != nil {
			t.Fatalf("err = %v", err)
		}
		if diff := cmp.Diff(want, env, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("envelope (-want +got):\n%s\nmessage %q", diff, msg.String())
		}
		for _, a := range append([]string{env.From}, env.To...) {
			if a == "" {
				continue
			}
			if _, err := command.ParseMailbox(a); err != nil {
				t.Fatalf("command.ParseMailbox(%q): %v", a, err)
			}
		}
	})
}
