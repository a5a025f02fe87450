package response

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseEnhancedCode(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		want   EnhancedCode
		wantOK bool
	}{
		{name: "success alone", text: "2.0.0", want: EnhancedCode{2, 0, 0}, wantOK: true},
		{name: "followed by text", text: "5.1.1 text", want: EnhancedCode{5, 1, 1}, wantOK: true},
		{name: "transient", text: "4.7.0", want: EnhancedCode{4, 7, 0}, wantOK: true},
		{name: "three-digit subject and detail", text: "5.123.456", want: EnhancedCode{5, 123, 456}, wantOK: true},
		{name: "three-digit fields then text", text: "4.999.999 busy", want: EnhancedCode{4, 999, 999}, wantOK: true},
		{name: "trailing space", text: "2.1.5 ", want: EnhancedCode{2, 1, 5}, wantOK: true},
		{name: "leading zeros", text: "5.01.001 x", want: EnhancedCode{5, 1, 1}, wantOK: true},

		{name: "class 0", text: "0.1.1"},
		{name: "class 1", text: "1.1.1"},
		{name: "class 3", text: "3.0.0"},
		{name: "class 6", text: "6.1.1"},
		{name: "two-digit class", text: "55.1.1"},
		{name: "four-digit subject", text: "5.1234.1"},
		{name: "four-digit detail", text: "5.1.1234"},
		{name: "four-digit detail then text", text: "5.1.1234 text"},
		{name: "missing detail", text: "5.1"},
		{name: "missing detail after dot", text: "5.1."},
		{name: "missing detail before text", text: "5.1. text"},
		{name: "empty subject", text: "5..1"},
		{name: "empty subject long", text: "5..1 text"},
		{name: "no dots", text: "511 text"},
		{name: "trailing letter", text: "5.1.1x"},
		{name: "trailing dot", text: "5.1.1."},
		{name: "fourth field", text: "5.1.1.1"},
		{name: "tab after", text: "5.1.1\ttext"},
		{name: "CR after", text: "5.1.1\r\n"},
		{name: "empty string", text: ""},
		{name: "non-digits", text: "a.b.c"},
		{name: "non-digit subject", text: "5.x.1 text"},
		{name: "non-digit detail", text: "5.1.y text"},
		{name: "leading space", text: " 5.1.1"},
		{name: "plain text", text: "mx.example.org ESMTP"},
		{name: "comma separator", text: "5,1,1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseEnhancedCode(tt.text)
			if ok != tt.wantOK {
				t.Errorf("ParseEnhancedCode(%q) ok = %v, want %v", tt.text, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseEnhancedCode(%q) mismatch (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

// TestParseEnhancedCodeTruncated feeds every prefix of valid inputs to the
// parser: a prefix either fails cleanly with the zero value or parses to the
// code its text spells.
func TestParseEnhancedCodeTruncated(t *testing.T) {
	tests := []struct {
		name string
		text string
		// want maps a prefix length to the code that prefix parses to;
		// every other length must fail.
		want map[int]EnhancedCode
	}{
		{
			name: "short",
			text: "2.0.0",
			want: map[int]EnhancedCode{5: {2, 0, 0}},
		},
		{
			name: "long with text",
			text: "5.123.456 x",
			want: map[int]EnhancedCode{
				7:  {5, 123, 4},
				8:  {5, 123, 45},
				9:  {5, 123, 456},
				10: {5, 123, 456},
				11: {5, 123, 456},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for n := 0; n <= len(tt.text); n++ {
				prefix := tt.text[:n]
				want, wantOK := tt.want[n]
				got, ok := ParseEnhancedCode(prefix)
				if ok != wantOK {
					t.Errorf("ParseEnhancedCode(%q) ok = %v, want %v", prefix, ok, wantOK)
				}
				if got != want {
					t.Errorf("ParseEnhancedCode(%q) = %+v, want %+v", prefix, got, want)
				}
			}
		})
	}
}

func TestEnhancedCodeOf(t *testing.T) {
	tests := []struct {
		name string
		code Code
		line string
		want EnhancedCode
	}{
		{name: "2yz with class 2", code: 250, line: "2.1.0 sender ok", want: EnhancedCode{2, 1, 0}},
		{name: "4yz with class 4", code: 451, line: "4.3.0 try later", want: EnhancedCode{4, 3, 0}},
		{name: "5yz with class 5", code: 550, line: "5.1.1 no such user", want: EnhancedCode{5, 1, 1}},
		{name: "5yz with class 2", code: 550, line: "2.1.0 sender ok"},
		{name: "2yz with class 5", code: 250, line: "5.1.1 no such user"},
		{name: "4yz with class 5", code: 450, line: "5.2.1 mailbox disabled"},
		{name: "3yz with class 3", code: 354, line: "3.0.0 go ahead"},
		{name: "no code", code: 250, line: "mx.example.org"},
		{name: "empty line", code: 250, line: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EnhancedCodeOf(tt.code, tt.line)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("EnhancedCodeOf(%d, %q) mismatch (-want +got):\n%s", tt.code, tt.line, diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name  string
		code  Code
		lines []string
		want  Reply
	}{
		{
			name:  "enhanced code agrees",
			code:  250,
			lines: []string{"2.1.0 ok"},
			want:  Reply{Code: 250, Enhanced: EnhancedCode{2, 1, 0}, Text: "2.1.0 ok"},
		},
		{
			name:  "enhanced code disagrees",
			code:  550,
			lines: []string{"2.1.0 ok"},
			want:  Reply{Code: 550, Text: "2.1.0 ok"},
		},
		{
			name:  "class 3 is no enhanced class",
			code:  354,
			lines: []string{"3.0.0 go ahead"},
			want:  Reply{Code: 354, Text: "3.0.0 go ahead"},
		},
		{
			name:  "only first line counts",
			code:  250,
			lines: []string{"mx.example.org", "2.0.0 SIZE 1000"},
			want:  Reply{Code: 250, Text: "mx.example.org\n2.0.0 SIZE 1000"},
		},
		{
			name: "no lines",
			code: 221,
			want: Reply{Code: 221},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.code, tt.lines...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("New(%d, %q) mismatch (-want +got):\n%s", tt.code, tt.lines, diff)
			}
		})
	}
}

func TestReplyClassification(t *testing.T) {
	type kinds struct {
		Class        Class
		Positive     bool
		Intermediate bool
		Transient    bool
		Permanent    bool
	}
	tests := []struct {
		name string
		code Code
		want kinds
	}{
		{name: "220", code: 220, want: kinds{Class: ClassPositiveCompletion, Positive: true}},
		{name: "250", code: 250, want: kinds{Class: ClassPositiveCompletion, Positive: true}},
		{name: "334", code: 334, want: kinds{Class: ClassPositiveIntermediate, Intermediate: true}},
		{name: "354", code: 354, want: kinds{Class: ClassPositiveIntermediate, Intermediate: true}},
		{name: "421", code: 421, want: kinds{Class: ClassTransientNegative, Transient: true}},
		{name: "451", code: 451, want: kinds{Class: ClassTransientNegative, Transient: true}},
		{name: "500", code: 500, want: kinds{Class: ClassPermanentNegative, Permanent: true}},
		{name: "550", code: 550, want: kinds{Class: ClassPermanentNegative, Permanent: true}},
		{name: "599", code: 599, want: kinds{Class: ClassPermanentNegative, Permanent: true}},
		{name: "199 is none", code: 199, want: kinds{Class: 1}},
		{name: "600 is none", code: 600, want: kinds{Class: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.code, "text")
			got := kinds{
				Class:        r.Class(),
				Positive:     r.Positive(),
				Intermediate: r.Intermediate(),
				Transient:    r.Transient(),
				Permanent:    r.Permanent(),
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Reply{Code: %d} mismatch (-want +got):\n%s", tt.code, diff)
			}
			if got := tt.code.Class(); got != tt.want.Class {
				t.Errorf("Code(%d).Class() = %v, want %v", tt.code, got, tt.want.Class)
			}
		})
	}
}

func TestReplyText(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
		want  string
	}{
		{name: "one line", reply: New(250, "2.0.0 ok"), want: "2.0.0 ok"},
		{name: "several lines", reply: New(250, "mx.example.org", "PIPELINING", "SIZE 1000"), want: "mx.example.org\nPIPELINING\nSIZE 1000"},
		{name: "keeps every enhanced code", reply: New(550, "5.1.1 no", "5.1.1 such user"), want: "5.1.1 no\n5.1.1 such user"},
		{name: "bare code", reply: New(250, ""), want: ""},
		{name: "no lines", reply: Reply{Code: 250}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.reply.Text; got != tt.want {
				t.Errorf("Text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplyLines(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
		want  []string
	}{
		{name: "one line", reply: Reply{Code: 250, Text: "2.0.0 ok"}, want: []string{"2.0.0 ok"}},
		{name: "empty text is one empty line", reply: Reply{Code: 250}, want: []string{""}},
		{name: "bare code from New", reply: New(250, ""), want: []string{""}},
		{name: "no lines given to New", reply: New(221), want: []string{""}},
		{
			name:  "several lines",
			reply: Reply{Code: 250, Text: "mx.example.org\nPIPELINING\nSIZE 1000"},
			want:  []string{"mx.example.org", "PIPELINING", "SIZE 1000"},
		},
		{
			name:  "several lines from New",
			reply: New(250, "mx.example.org", "PIPELINING", "SIZE 1000"),
			want:  []string{"mx.example.org", "PIPELINING", "SIZE 1000"},
		},
		{name: "empty middle line", reply: Reply{Code: 250, Text: "a\n\nb"}, want: []string{"a", "", "b"}},
		{name: "empty first and last lines", reply: Reply{Code: 250, Text: "\nPIPELINING\n"}, want: []string{"", "PIPELINING", ""}},
		{name: "only empty lines", reply: Reply{Code: 250, Text: "\n\n"}, want: []string{"", "", ""}},
		{name: "CR and other controls stay in the line", reply: Reply{Code: 250, Text: "a\rb\n\x00\t"}, want: []string{"a\rb", "\x00\t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.reply.Lines()); diff != "" {
				t.Errorf("Lines() mismatch (-want +got):\n%s", diff)
			}
			var all []string
			for line := range tt.reply.AllLines() {
				all = append(all, line)
			}
			if diff := cmp.Diff(tt.want, all); diff != "" {
				t.Errorf("AllLines() mismatch (-want +got):\n%s", diff)
			}
			// Stopping early is allowed.
			n := 0
			for range tt.reply.AllLines() {
				n++
				break
			}
			if n != 1 {
				t.Errorf("AllLines() with break yielded %d lines, want 1", n)
			}
			if got := tt.reply.LineCount(); got != len(tt.want) {
				t.Errorf("LineCount() = %d, want %d", got, len(tt.want))
			}
			// Lines returns a fresh slice: changing it changes neither the
			// reply nor the next call's result.
			text := tt.reply.Text
			lines := tt.reply.Lines()
			lines[0] = "CHANGED"
			_ = append(lines[:1], "APPENDED", "APPENDED")
			if tt.reply.Text != text {
				t.Errorf("Text = %q after changing Lines(), want %q", tt.reply.Text, text)
			}
			if diff := cmp.Diff(tt.want, tt.reply.Lines()); diff != "" {
				t.Errorf("Lines() after changing an earlier result mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReplyComparable checks that Replies built the same way are == equal,
// and that a difference in any field makes them unequal.
func TestReplyComparable(t *testing.T) {
	// Built at run time, so that the two texts are distinct strings.
	lines := func() []string {
		return []string{"5.1.1 <bob@example.org>:", strings.Repeat("x", 3), "5.1.1 no such user"}
	}
	a, b := New(550, lines()...), New(550, lines()...)
	if a != b {
		t.Errorf("New(550, %q) twice: %#v != %#v", lines(), a, b)
	}
	lit := Reply{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Text: "5.1.1 <bob@example.org>:\nxxx\n5.1.1 no such user"}
	if a != lit {
		t.Errorf("New(550, %q) = %#v, want == %#v", lines(), a, lit)
	}
	// As keys of a map.
	seen := map[Reply]int{a: 1}
	seen[b]++
	if len(seen) != 1 || seen[lit] != 2 {
		t.Errorf("map keyed by equal replies = %v, want one entry counted twice", seen)
	}
	if New(250, "") != (Reply{Code: 250}) || New(250) != (Reply{Code: 250}) {
		t.Errorf("New(250, \"\") = %#v, New(250) = %#v; want both == Reply{Code: 250}", New(250, ""), New(250))
	}
	for _, other := range []Reply{
		{Code: 551, Enhanced: lit.Enhanced, Text: lit.Text},
		{Code: lit.Code, Enhanced: EnhancedCode{5, 1, 2}, Text: lit.Text},
		{Code: lit.Code, Text: lit.Text},
		{Code: lit.Code, Enhanced: lit.Enhanced, Text: lit.Text + "\n"},
		{Code: lit.Code, Enhanced: lit.Enhanced, Text: strings.ReplaceAll(lit.Text, "\n", " ")},
	} {
		if a == other {
			t.Errorf("%#v == %#v, want unequal", a, other)
		}
	}
}

func TestReplyMessage(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
		want  string
	}{
		{
			name:  "no enhanced code",
			reply: New(250, "mx.example.org", "PIPELINING"),
			want:  "mx.example.org\nPIPELINING",
		},
		{
			name:  "one line",
			reply: New(550, "5.1.1 no such user"),
			want:  "no such user",
		},
		{
			name:  "repeated on every line",
			reply: New(550, "5.1.1 <bob@example.org>:", "5.1.1 no such user", "5.1.1 here"),
			want:  "<bob@example.org>:\nno such user\nhere",
		},
		{
			name:  "different code on a later line is kept",
			reply: New(550, "5.1.1 no such user", "5.7.1 relaying denied"),
			want:  "no such user\n5.7.1 relaying denied",
		},
		{
			name:  "longer code sharing the prefix is kept",
			reply: New(550, "5.1.1 first", "5.1.10 second", "5.1.1x third"),
			want:  "first\n5.1.10 second\n5.1.1x third",
		},
		{
			name:  "line without code is kept",
			reply: New(250, "2.0.0 ok", "queued as 1234"),
			want:  "ok\nqueued as 1234",
		},
		{
			name:  "line that is exactly the code",
			reply: New(250, "2.0.0", "2.0.0 ok"),
			want:  "\nok",
		},
		{
			name:  "only the code",
			reply: New(250, "2.0.0"),
			want:  "",
		},
		{
			name:  "only one separating space is removed",
			reply: New(550, "5.1.1  indented"),
			want:  " indented",
		},
		{
			name:  "disagreeing code is not stripped",
			reply: New(550, "2.0.0 looks fine"),
			want:  "2.0.0 looks fine",
		},
		{
			name:  "leading zeros are the same code",
			reply: New(550, "5.01.1 no such user", "5.1.001 more"),
			want:  "no such user\nmore",
		},
		{
			name:  "tab after code is not stripped",
			reply: Reply{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Text: "5.1.1 a\n5.1.1\tb"},
			want:  "a\n5.1.1\tb",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.reply.Message(); got != tt.want {
				t.Errorf("Message() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplyString(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
		want  string
	}{
		{name: "one line", reply: New(250, "2.0.0 ok"), want: "250 2.0.0 ok"},
		{name: "bare code", reply: New(250, ""), want: "250"},
		{name: "no lines", reply: Reply{Code: 221}, want: "221"},
		{
			name:  "multi-line",
			reply: New(250, "mx.example.org", "PIPELINING", "SIZE 1000"),
			want:  "250 mx.example.org | PIPELINING | SIZE 1000",
		},
		{
			name:  "empty line in a multi-line reply",
			reply: New(250, "mx.example.org", "", "SIZE 1000"),
			want:  "250 mx.example.org |  | SIZE 1000",
		},
		{
			name:  "empty first line in a multi-line reply",
			reply: New(250, "", "PIPELINING"),
			want:  "250  | PIPELINING",
		},
		{name: "CR escaped", reply: New(550, "no\r250 ok"), want: `550 no\r250 ok`},
		// A line cannot hold an LF: one passed to New ends the line, as on
		// the wire, and String still returns one line.
		{name: "CR LF given to New splits the line", reply: New(550, "no\r\n250 ok"), want: `550 no\r | 250 ok`},
		{name: "NUL escaped", reply: New(550, "a\x00b"), want: `550 a\x00b`},
		{name: "DEL escaped", reply: New(550, "a\x7fb"), want: `550 a\x7fb`},
		{name: "tab and ESC escaped", reply: New(550, "a\tb\x1b[31m"), want: `550 a\tb\x1b[31m`},
		{name: "control in later line", reply: New(250, "ok", "x\ry"), want: `250 ok | x\ry`},
		{name: "LF given to New splits the line", reply: New(250, "ok", "x\ny"), want: `250 ok | x | y`},
		{name: "UTF-8 kept", reply: New(250, "grüße"), want: "250 grüße"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.reply.String()
			if got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if strings.ContainsAny(got, "\r\n\x00\x7f") {
				t.Errorf("String() = %q contains a raw control character", got)
			}
		})
	}
}

func TestCodeString(t *testing.T) {
	tests := []struct {
		name string
		code Code
		want string
	}{
		{name: "ok", code: CodeOK, want: "250 (ok)"},
		{name: "service ready", code: CodeServiceReady, want: "220 (service ready)"},
		{name: "start mail input", code: CodeStartMailInput, want: "354 (start mail input)"},
		{name: "transient mailbox", code: CodeMailboxBusy, want: "450 (mailbox busy or unavailable)"},
		{name: "mailbox unavailable", code: CodeMailboxUnavailable, want: "550 (mailbox unavailable)"},
		{name: "null MX", code: CodeNoMailAtDomain, want: "556 (domain does not accept mail)"},
		{name: "unknown 2yz", code: 299, want: "299"},
		{name: "unknown 5yz", code: 599, want: "599"},
		{name: "zero", code: 0, want: "0"},
		{name: "out of range", code: 1000, want: "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.code.String(); got != tt.want {
				t.Errorf("Code(%d).String() = %q, want %q", int(tt.code), got, tt.want)
			}
		})
	}
}

// TestCodeNamesComplete checks that every named constant has a description
// whose class matches its first digit.
func TestCodeNamesComplete(t *testing.T) {
	for code, name := range codeNames {
		if name == "" {
			t.Errorf("codeNames[%d] is empty", int(code))
		}
		if c := code.Class(); c < ClassPositiveCompletion || c > ClassPermanentNegative {
			t.Errorf("codeNames holds %d, class %d", int(code), int(c))
		}
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		name  string
		class Class
		want  string
	}{
		{name: "2", class: ClassPositiveCompletion, want: "positive completion"},
		{name: "3", class: ClassPositiveIntermediate, want: "positive intermediate"},
		{name: "4", class: ClassTransientNegative, want: "transient negative"},
		{name: "5", class: ClassPermanentNegative, want: "permanent negative"},
		{name: "0", class: 0, want: "class 0"},
		{name: "1", class: 1, want: "class 1"},
		{name: "6", class: 6, want: "class 6"},
		{name: "negative", class: -1, want: "class -1"},
		{name: "large", class: 42, want: "class 42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.class.String(); got != tt.want {
				t.Errorf("Class(%d).String() = %q, want %q", int(tt.class), got, tt.want)
			}
		})
	}
}

func TestEnhancedCodeString(t *testing.T) {
	tests := []struct {
		name     string
		code     EnhancedCode
		want     string
		wantZero bool
	}{
		{name: "zero", code: EnhancedCode{}, want: "", wantZero: true},
		{name: "success", code: EnhancedCode{2, 0, 0}, want: "2.0.0"},
		{name: "no such user", code: EnhancedCode{5, 1, 1}, want: "5.1.1"},
		{name: "three digits", code: EnhancedCode{4, 123, 456}, want: "4.123.456"},
		{name: "widest", code: EnhancedCode{5, 999, 999}, want: "5.999.999"},
		{name: "only detail set", code: EnhancedCode{Detail: 1}, want: "0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.code.String(); got != tt.want {
				t.Errorf("%#v.String() = %q, want %q", tt.code, got, tt.want)
			}
			if got := tt.code.IsZero(); got != tt.wantZero {
				t.Errorf("%#v.IsZero() = %v, want %v", tt.code, got, tt.wantZero)
			}
		})
	}
}

func TestReplyErr(t *testing.T) {
	tests := []struct {
		name          string
		reply         Reply
		wantErr       bool
		wantTemporary bool
	}{
		{name: "2yz", reply: New(250, "2.0.0 ok")},
		{name: "greeting", reply: New(220, "mx.example.org ESMTP")},
		{name: "3yz", reply: New(354, "go ahead")},
		{name: "334", reply: New(334, "")},
		{name: "4yz", reply: New(451, "4.3.0 try later"), wantErr: true, wantTemporary: true},
		{name: "421", reply: New(421, "closing"), wantErr: true, wantTemporary: true},
		{name: "5yz", reply: New(550, "5.1.1 no such user"), wantErr: true},
		{name: "554", reply: New(554, "no"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.reply.Err("RCPT")
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Err() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Err() = nil, want *Error")
			}
			wrapped := fmt.Errorf("send to bob: %w", err)
			var re *Error
			if !errors.As(wrapped, &re) {
				t.Fatalf("errors.As(%v, *Error) = false", wrapped)
			}
			if diff := cmp.Diff(tt.reply, re.Reply); diff != "" {
				t.Errorf("Error.Reply mismatch (-want +got):\n%s", diff)
			}
			if re.Command != "RCPT" {
				t.Errorf("Error.Command = %q", re.Command)
			}
			if got := re.Code(); got != tt.reply.Code {
				t.Errorf("Code() = %d, want %d", got, tt.reply.Code)
			}
			if got := re.Temporary(); got != tt.wantTemporary {
				t.Errorf("Temporary() = %v, want %v", got, tt.wantTemporary)
			}
			if got := re.Permanent(); got != !tt.wantTemporary {
				t.Errorf("Permanent() = %v, want %v", got, !tt.wantTemporary)
			}
		})
	}
}

// TestErrorOutOfClass checks an Error built by hand around a reply that is
// neither 4yz nor 5yz: it is neither temporary nor permanent.
func TestErrorOutOfClass(t *testing.T) {
	for _, code := range []Code{250, 354, 600} {
		t.Run(fmt.Sprint(int(code)), func(t *testing.T) {
			e := &Error{Reply: New(code, "x")}
			if e.Temporary() || e.Permanent() {
				t.Errorf("Error{%d}: Temporary() = %v, Permanent() = %v, want false, false",
					int(code), e.Temporary(), e.Permanent())
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name     string
		err      *Error
		want     string
		contains []string
	}{
		{
			name: "doc example",
			err:  &Error{Reply: New(550, "5.1.1 no such user"), Command: "RCPT"},
			want: "response: 550 5.1.1 no such user (reply to RCPT)",
			contains: []string{
				"550", "5.1.1", "no such user", "RCPT",
			},
		},
		{
			name:     "no command",
			err:      &Error{Reply: New(421, "4.3.2 shutting down")},
			want:     "response: 421 4.3.2 shutting down",
			contains: []string{"421", "4.3.2", "shutting down"},
		},
		{
			name: "multi-line reply",
			err: &Error{
				Reply:   New(550, "5.7.1 relaying denied", "5.7.1 see https://example.org/policy"),
				Command: "RCPT TO:<eve@example.net>",
			},
			want:     "response: 550 5.7.1 relaying denied | 5.7.1 see https://example.org/policy (reply to RCPT TO:<eve@example.net>)",
			contains: []string{"550", "5.7.1", "relaying denied", "policy", "RCPT TO:<eve@example.net>"},
		},
		{
			name:     "command with CR LF",
			err:      &Error{Reply: New(501, "5.5.4 bad"), Command: "MAIL FROM:<a>\r\nRSET"},
			want:     `response: 501 5.5.4 bad (reply to MAIL FROM:<a>\r\nRSET)`,
			contains: []string{"501", "5.5.4", "bad", "MAIL FROM:<a>"},
		},
		{
			name:     "reply with CR inside a line",
			err:      &Error{Reply: New(554, "5.0.0 no\r250 ok"), Command: "DATA"},
			want:     `response: 554 5.0.0 no\r250 ok (reply to DATA)`,
			contains: []string{"554", "5.0.0", "DATA"},
		},
		{
			// A line cannot hold an LF: one passed to New ends the line.
			name:     "reply with CR LF given to New",
			err:      &Error{Reply: New(554, "5.0.0 no\r\n250 ok"), Command: "DATA"},
			want:     `response: 554 5.0.0 no\r | 250 ok (reply to DATA)`,
			contains: []string{"554", "5.0.0", "DATA"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.Error()
			if got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got, s) {
					t.Errorf("Error() = %q does not contain %q", got, s)
				}
			}
			if strings.ContainsAny(got, "\r\n") {
				t.Errorf("Error() = %q is not a single line", got)
			}
		})
	}
}

func FuzzParseEnhancedCode(f *testing.F) {
	for _, s := range []string{
		"2.0.0", "5.1.1 no such user", "4.7.0", "5.123.456", "5.1234.1",
		"5.1", "5..1", "5.1.1x", "5.1.1.", "5.1.1\t", "", " 5.1.1", "3.0.0",
		"5.01.001 x",
	} {
		f.Add(s)
	}
	for _, e := range []EnhancedCode{{2, 0, 0}, {4, 999, 0}, {5, 7, 26}} {
		f.Add(e.String())
		f.Add(e.String() + " text")
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := ParseEnhancedCode(s)
		if !ok {
			if !code.IsZero() {
				t.Fatalf("ParseEnhancedCode(%q) = %+v, false; want zero value", s, code)
			}
			return
		}
		if code.Class != 2 && code.Class != 4 && code.Class != 5 {
			t.Fatalf("ParseEnhancedCode(%q): class %d", s, code.Class)
		}
		if code.Subject < 0 || code.Subject > 999 || code.Detail < 0 || code.Detail > 999 {
			t.Fatalf("ParseEnhancedCode(%q): subject %d detail %d out of range", s, code.Subject, code.Detail)
		}
		str := code.String()
		again, ok := ParseEnhancedCode(str)
		if !ok || again != code {
			t.Fatalf("ParseEnhancedCode(%q) = %+v; re-parsing %q gives %+v, %v", s, code, str, again, ok)
		}
		// The code ends the text or is followed by a space; without leading
		// zeros its canonical form is exactly the text before that.
		token, _, _ := strings.Cut(s, " ")
		if !hasLeadingZero(token) && token != str {
			t.Fatalf("ParseEnhancedCode(%q) = %q, want %q", s, str, token)
		}
	})
}

// hasLeadingZero reports whether a dotted field of token has a superfluous
// leading zero ("01").
func hasLeadingZero(token string) bool {
	for _, f := range strings.Split(token, ".") {
		if len(f) > 1 && f[0] == '0' {
			return true
		}
	}
	return false
}
