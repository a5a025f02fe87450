package command

import (
	"strings"
	"testing"
)

func TestAppendXtext(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain", "QQ314159", "QQ314159"},
		{"plus (RFC 3461 §4)", "+", "+2B"},
		{"equals", "=", "+3D"},
		{"RFC 4954 AUTH", "e=mc2@example.com", "e+3Dmc2@example.com"},
		{"space", "a b", "a+20b"},
		{"printable edges", "!~", "!~"},
		{"backslash and quote", `\"`, `\"`},
		{"controls", "\x00\r\n\x1f\x7f", "+00+0D+0A+1F+7F"},
		{"UTF-8 octets", "é", "+C3+A9"},
		{"not UTF-8", "\xff\x80", "+FF+80"},
		{"mixed", "a+b=c", "a+2Bb+3Dc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendXtext([]byte("pre:"), tc.in)
			if string(got) != "pre:"+tc.want {
				t.Errorf("AppendXtext(%q) = %q, want %q", tc.in, got, "pre:"+tc.want)
			}
			if n := xtextLen(tc.in); n != len(tc.want) {
				t.Errorf("xtextLen(%q) = %d, want %d", tc.in, n, len(tc.want))
			}
			back, err := DecodeXtext(tc.want)
			if err != nil || back != tc.in {
				t.Errorf("DecodeXtext(%q) = %q, %v; want %q", tc.want, back, err, tc.in)
			}
		})
	}
}

func TestDecodeXtext(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{name: "empty", in: "", want: ""},
		{name: "plain", in: "QQ314159", want: "QQ314159"},
		{name: "plus", in: "+2B", want: "+"},
		{name: "equals", in: "+3D", want: "="},
		{name: "needless encoding", in: "+41+42C", want: "ABC"},
		{name: "NUL", in: "+00", want: "\x00"},
		{name: "high octet", in: "+FF", want: "\xff"},
		{name: "lower-case hex", in: "+2b", err: ErrSyntax},
		{name: "lower-case second digit", in: "+fF", err: ErrSyntax},
		{name: "truncated", in: "+2", err: ErrSyntax},
		{name: "truncated after text", in: "abc+", err: ErrSyntax},
		{name: "truncated in the middle", in: "a+2", err: ErrSyntax},
		{name: "not hex", in: "+GG", err: ErrSyntax},
		{name: "signed", in: "+-1", err: ErrSyntax},
		{name: "raw equals", in: "a=b", err: ErrSyntax},
		{name: "raw equals after plus", in: "+2Ba=b", err: ErrSyntax},
		{name: "raw space", in: "a b", err: ErrSyntax},
		{name: "raw UTF-8", in: "é", err: ErrSyntax},
		{name: "raw CR", in: "a\rb", err: ErrIllegalChar},
		{name: "raw LF after plus", in: "+2B\n", err: ErrIllegalChar},
		{name: "raw NUL", in: "\x00", err: ErrIllegalChar},
		{name: "raw DEL", in: "\x7f", err: ErrIllegalChar},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeXtext(tc.in)
			checkErr(t, err, tc.err, "", "xtext")
			if got != tc.want {
				t.Errorf("DecodeXtext(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestXtextAllOctets: every octet survives AppendXtext and DecodeXtext,
// alone and all together, and the encoding uses xchars and "+" only.
func TestXtextAllOctets(t *testing.T) {
	var all strings.Builder
	for c := 0; c < 256; c++ {
		s := string([]byte{byte(c)})
		all.WriteString(s)
		enc := string(AppendXtext(nil, s))
		mustEncode := c < '!' || c > '~' || c == '+' || c == '='
		if mustEncode != (enc != s) {
			t.Errorf("octet %#02x: AppendXtext = %q", c, enc)
		}
		if mustEncode && (len(enc) != 3 || enc[0] != '+' || strings.ToUpper(enc) != enc) {
			t.Errorf("octet %#02x: AppendXtext = %q, want +XX in upper case", c, enc)
		}
		dec, err := DecodeXtext(enc)
		if err != nil || dec != s {
			t.Errorf("octet %#02x: DecodeXtext(%q) = %q, %v", c, enc, dec, err)
		}
	}
	enc := string(AppendXtext(nil, all.String()))
	if len(enc) != xtextLen(all.String()) {
		t.Errorf("xtextLen = %d, encoded %d octets", xtextLen(all.String()), len(enc))
	}
	for i := 0; i < len(enc); i++ {
		if enc[i] < '!' || enc[i] > '~' || enc[i] == '=' {
			t.Fatalf("encoded form holds %q at %d", enc[i], i)
		}
	}
	dec, err := DecodeXtext(enc)
	if err != nil || dec != all.String() {
		t.Errorf("round trip of all 256 octets: %v, equal %v", err, dec == all.String())
	}
}
