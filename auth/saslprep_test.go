package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestSASLprep(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		stored         bool // prepare as a stored string (no unassigned)
		fail           bool
	}{
		// RFC 4013 §3.
		{name: "soft hyphen mapped to nothing", in: "I\u00ADX", want: "IX"},
		{name: "no transformation", in: "user", want: "user"},
		{name: "case preserved", in: "USER", want: "USER"},
		{name: "output is NFKC", in: "\u00AA", want: "a"},
		{name: "output is NFKC, roman numeral", in: "\u2168", want: "IX"},
		{name: "prohibited character", in: "\u0007", fail: true},
		{name: "bidirectional check", in: "\u0627\u0031", fail: true},

		// More mappings.
		{name: "non-ASCII spaces to space", in: "a\u00A0b\u3000c\u2002d", want: "a b c d"},
		{name: "zero width space to space", in: "a\u200Bb", want: "a b"},
		{name: "variation selector and joiners dropped", in: "x\uFE0F\u200D\u034Fy\uFEFF", want: "xy"},
		{name: "empty", in: "", want: ""},
		{name: "only mapped to nothing", in: "\u00AD", want: ""},
		{name: "ASCII space kept", in: "pass word", want: "pass word"},
		{name: "NFKC composes", in: "a\u0308", want: "\u00E4"},
		{name: "NFKC half", in: "\u00BD", want: "1\u20442"},
		{name: "NFKC acute accent", in: "\u00B4", want: " \u0301"},
		{name: "non-ASCII letters kept", in: "pässwörd", want: "pässwörd"},

		// Prohibited output, one per table.
		{name: "C.2.1 NUL", in: "a\x00b", fail: true},
		{name: "C.2.1 DEL", in: "a\x7fb", fail: true},
		{name: "C.2.2 C1 control", in: "a\u0085b", fail: true},
		{name: "C.2.2 line separator", in: "a\u2028b", fail: true},
		{name: "C.2.2 musical control", in: "a\U0001D173b", fail: true},
		{name: "C.3 private use", in: "a\uE000b", fail: true},
		{name: "C.3 private use plane 16", in: "a\U00100000b", fail: true},
		{name: "C.4 non-character", in: "a\uFDD0b", fail: true},
		{name: "C.4 plane end", in: "a\U0002FFFEb", fail: true},
		{name: "C.6 replacement character", in: "a\uFFFDb", fail: true},
		{name: "C.7 ideographic description", in: "a\u2FF0b", fail: true},
		{name: "C.8 left-to-right mark", in: "a\u200Eb", fail: true},
		{name: "C.8 RLO", in: "a\u202Eb", fail: true},
		{name: "C.9 language tag", in: "a\U000E0001b", fail: true},
		{name: "invalid UTF-8", in: "a\xffb", fail: true},

		// Bidirectional rules (RFC 3454 §6).
		{name: "right-to-left only", in: "\u0627\u0628", want: "\u0627\u0628"},
		{name: "right-to-left with digit inside", in: "\u05D0\u0031\u05D1", want: "\u05D0\u0031\u05D1"},
		{name: "right-to-left mixed with left-to-right", in: "\u05D0a\u05D1", fail: true},
		{name: "right-to-left starting with digit", in: "\u0031\u0627", fail: true},

		// Unassigned code points: queries allow them, stored strings do not.
		{name: "unassigned in a query", in: "a\U0003FFFDb", want: "a\U0003FFFDb"},
		{name: "unassigned in a stored string", in: "a\U0003FFFDb", stored: true, fail: true},
		{name: "assigned in a stored string", in: "pässwörd", stored: true, want: "pässwörd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := saslprep(tt.in, !tt.stored)
			if tt.fail {
				if err == nil {
					t.Fatalf("saslprep(%+q) = %+q, want an error", tt.in, got)
				}
				if !errors.Is(err, ErrBadInput) {
					t.Fatalf("saslprep(%+q) error %v does not wrap ErrBadInput", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("saslprep(%+q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("saslprep(%+q) = %+q, want %+q", tt.in, got, tt.want)
			}
			// Preparing twice changes nothing.
			if again, err := saslprep(got, !tt.stored); err != nil || again != got {
				t.Fatalf("saslprep(saslprep(%+q)) = %+q, %v", tt.in, again, err)
			}
		})
	}
}

// An error never quotes the string, which may be a password.
func TestSASLprepErrorHidesInput(t *testing.T) {
	_, err := saslprep("secret\u0007word", true)
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range []string{"secret", "word", "\u0007"} {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q quotes the input", err)
		}
	}
}

func BenchmarkSASLprepASCII(b *testing.B) {
	for b.Loop() {
		saslprep("correct horse battery staple", true)
	}
}

func BenchmarkSASLprepUnicode(b *testing.B) {
	for b.Loop() {
		saslprep("pässwörd\u00A0\u2168", true)
	}
}
