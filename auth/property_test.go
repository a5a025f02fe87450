package auth

import (
	"errors"
	"testing"
	"unicode"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// propText draws a credential: ASCII or any printable Unicode, NUL and
// the like left out since no mechanism can carry them.
func propText(t *rapid.T, label string) string {
	s := rapid.OneOf(
		rapid.StringMatching(`[A-Za-z0-9._%+-]{1,24}`),
		rapid.StringOfN(rapid.RuneFrom(nil, unicodeLetters...), 1, 24, -1),
	).Draw(t, label)
	return s
}

// unicodeLetters are the ranges non-ASCII credentials are drawn from:
// precomposed Latin, Greek and Cyrillic letters and CJK ideographs, which
// SASLprep (NFKC) leaves as they are, so the server's identity can be
// compared with what was drawn.
var unicodeLetters = []*unicode.RangeTable{{
	R16: []unicode.Range16{
		{Lo: 0x00c0, Hi: 0x00d6, Stride: 1},
		{Lo: 0x00d8, Hi: 0x00f6, Stride: 1},
		{Lo: 0x00f8, Hi: 0x00ff, Stride: 1},
		{Lo: 0x03b1, Hi: 0x03c9, Stride: 1},
		{Lo: 0x0430, Hi: 0x044f, Stride: 1},
		{Lo: 0x4e00, Hi: 0x4fff, Stride: 1},
	},
}}

// propMechanisms are the client/server pairs the property covers.
var propMechanisms = []struct {
	name   string
	client func(user, pass string) Mechanism
}{
	{"PLAIN", func(u, p string) Mechanism { return Plain("", u, p) }},
	{"LOGIN", func(u, p string) Mechanism { return Login(u, p) }},
	{"CRAM-MD5", func(u, p string) Mechanism { return CRAMMD5(u, p) }},
	{"SCRAM-SHA-1", func(u, p string) Mechanism { return SCRAMSHA1(u, p) }},
	{"SCRAM-SHA-256", func(u, p string) Mechanism { return SCRAMSHA256(u, p) }},
}

// Every client mechanism succeeds against its server with the right
// password, and fails with any other.
func TestPropertyClientAgainstServer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pair := rapid.SampledFrom(propMechanisms).Draw(t, "mechanism")
		user := propText(t, "user")
		pass := propText(t, "password")
		wrong := propText(t, "wrong")
		if wrong == pass {
			wrong += "x"
		}
		cfg := ServerConfig{
			Password:        func(u string) (string, bool) { return pass, u == user },
			SCRAMIterations: 4096,
		}
		if !utf8.ValidString(user) {
			t.Fatalf("generator made invalid UTF-8 %q", user)
		}
		s, err := NewServer(pair.name, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := mechRun(t, pair.client(user, pass), s); err != nil {
			t.Fatalf("%s with the right password: %v", pair.name, err)
		}
		if s.Identity() != user {
			t.Fatalf("%s identity %q, want %q", pair.name, s.Identity(), user)
		}
		s, _ = NewServer(pair.name, cfg)
		err = mechRun(t, pair.client(user, wrong), s)
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%s with a wrong password: %v, want ErrInvalidCredentials", pair.name, err)
		}
	})
}
