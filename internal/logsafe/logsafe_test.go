package logsafe

import "testing"

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"plain text, café", "plain text, café"},
		{"a\x1b[31mb", `a\x1b[31mb`},
		{"bell\a tab\t nl\n", `bell\a tab\t nl\n`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"bad \xff byte", `bad \xff byte`},
		{`already \x1b escaped`, `already \x1b escaped`},
	} {
		if got := Escape(tt.in); got != tt.want {
			t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Escape(Escape(tt.in)); got != tt.want {
			t.Errorf("Escape twice (%q) = %q", tt.in, got)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Escape("printable") }); n != 0 {
		t.Errorf("printable text allocated %v times", n)
	}
}
