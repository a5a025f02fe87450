package logsafe

import (
	"go/build"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// TestEscapeClasses checks each class of rune that DESIGN.md's security
// posture names: what a hostile server, client or certificate could use to
// drive a terminal or to make a log line read other than it is.
func TestEscapeClasses(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"ESC-based OSC title", "\x1b]0;pwned\x07", `\x1b]0;pwned\a`},
		{"ESC-based OSC 8 link", "\x1b]8;;http://evil.example\x1b\\x\x1b]8;;\x1b\\", `\x1b]8;;http://evil.example\x1b\x\x1b]8;;\x1b\`},
		{"ESC-based CSI clear screen", "\x1b[2J\x1b[H", `\x1b[2J\x1b[H`},
		{"bare CR", "ok\rfake", `ok\rfake`},
		{"NUL, BS, VT, FF", "\x00\b\v\f", `\x00\b\v\f`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI", "\u009b31m", `\u009b31m`},
		{"C1 NEL, OSC, ST", "\u0085\u009d\u009c", `\u0085\u009d\u009c`},
		{"bidi embeddings and overrides", "\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line and paragraph separators", "\u2028\u2029", `\u2028\u2029`},
		{"BOM, zero-width joiner, tag", "\ufeff\u200d\U000e0041", `\ufeff\u200d\U000e0041`},
		{"no-break space", "a\u00a0b", `a\u00a0b`},
		{"invalid byte", "\xff", `\xff`},
		{"truncated sequence", "\xe2\x80", `\xe2\x80`},
		{"overlong encoding of '/'", "\xc0\xaf", `\xc0\xaf`},
		{"encoded surrogate", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"C1 as a lone byte", "\x9b", `\x9b`},
		{"replacement character itself", "\ufffd", "\ufffd"},
		{"printable non-ASCII", "grüße 例子 🙂", "grüße 例子 🙂"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestEscapeProperty: whatever the input, the output is valid UTF-8 of
// printable runes only, escaping it again changes nothing, and printable
// input comes back as it is.
func TestEscapeProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var in string
		if rapid.Bool().Draw(t, "bytes") {
			in = string(rapid.SliceOf(rapid.Byte()).Draw(t, "in"))
		} else {
			in = rapid.StringOf(rapid.OneOf(
				rapid.Rune(),
				rapid.RuneFrom(nil, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Bidi_Control),
			)).Draw(t, "in")
		}
		out := Escape(in)
		if !utf8.ValidString(out) {
			t.Fatalf("Escape(%q) = %q: not valid UTF-8", in, out)
		}
		for _, r := range out {
			if !unicode.IsPrint(r) {
				t.Fatalf("Escape(%q) = %q holds %U", in, out, r)
			}
		}
		if again := Escape(out); again != out {
			t.Fatalf("Escape(Escape(%q)) = %q, not %q", in, again, out)
		}
		printable := utf8.ValidString(in) && strings.IndexFunc(in, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
		if printable && out != in {
			t.Fatalf("printable %q came back as %q", in, out)
		}
	})
}

// TestImportsStdlibOnly keeps logsafe importable from every layer, package
// response included, whose DESIGN.md rule is "stdlib only": logsafe itself
// imports nothing but the standard library.
func TestImportsStdlibOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("logsafe imports %s, which is not in the standard library", imp)
		}
	}
}
