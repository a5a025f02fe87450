package command

// Character classes of the RFC 5321, RFC 3461 and RFC 6533 grammars, one
// table lookup per byte: validation runs on every command a client sends.
const (
	cAtext  uint8 = 1 << iota // atext (RFC 5321 §4.1.2)
	cLetDig                   // Let-dig
	cXchar                    // xchar: "!" to "~" but "+" and "=" (RFC 3461 §4)
	cQchar                    // QCHAR: xchar but "\" (RFC 6533 §3)
	cCtl                      // control characters: never on the wire
	cHigh                     // non-ASCII: UTF-8 octets
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		switch {
		case c < ' ' || c == 0x7f:
			t[c] = cCtl
			continue
		case c >= 0x80:
			t[c] = cHigh
			continue
		}
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' {
			t[c] |= cLetDig | cAtext
		}
		for i := 0; i < len(atextSpecials); i++ {
			if atextSpecials[i] == b {
				t[c] |= cAtext
			}
		}
		if b > ' ' && b != '+' && b != '=' {
			t[c] |= cXchar
			if b != '\\' {
				t[c] |= cQchar
			}
		}
	}
	return t
}()

const atextSpecials = "!#$%&'*+-/=?^_`{|}~"

func isAtext(c byte) bool  { return charClass[c]&cAtext != 0 }
func isLetDig(c byte) bool { return charClass[c]&cLetDig != 0 }
func isXchar(c byte) bool  { return charClass[c]&cXchar != 0 }
func isQChar(c byte) bool  { return charClass[c]&cQchar != 0 }

// classes ORs the classes of every byte of s, so one pass answers "any
// control character?" and "any non-ASCII?".
func classes(s string) uint8 {
	var acc uint8
	for i := 0; i < len(s); i++ {
		acc |= charClass[s[i]]
	}
	return acc
}

func isASCII(s string) bool { return classes(s)&cHigh == 0 }

// equalFold compares ASCII without regard to case. Not strings.EqualFold:
// Unicode folding would take "ſ" (U+017F) for "s" and "ı" for "i", so that
// "RſET" would pass for RSET.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if upper(a[i]) != upper(b[i]) {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// toUpper upper-cases ASCII letters only, for the same reason.
func toUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = upper(b[j])
			}
			return string(b)
		}
	}
	return s
}
