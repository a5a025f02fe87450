package auth

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// saslprep prepares s with SASLprep, the stringprep (RFC 3454) profile of
// RFC 4013, as SCRAM wants user names and passwords prepared (RFC 5802
// §5.1):
//
//  1. map the "commonly mapped to nothing" characters (table B.1) to
//     nothing and the non-ASCII spaces (table C.1.2) to U+0020;
//  2. normalize with NFKC;
//  3. refuse the prohibited output of RFC 4013 §2.3 (tables C.1.2, C.2.1,
//     C.2.2, C.3, C.4, C.5, C.6, C.7, C.8 and C.9);
//  4. refuse a string that breaks the bidirectional rules of RFC 3454 §6;
//  5. refuse unassigned code points unless allowUnassigned is set: a
//     "query" (RFC 3454 §7) allows them, a "stored string" does not. The
//     client side prepares queries; the server side prepares the passwords
//     it holds as stored strings.
//
// Two approximations, both in the direction of the Unicode versions Go
// ships rather than Unicode 3.2 that RFC 3454 is frozen at: normalization
// and the bidirectional classes (RandALCat = R or AL, LCat = L, tables D.1
// and D.2) come from golang.org/x/text, and "unassigned" (table A.1) is
// general category Cn of the unicode package, so a code point assigned
// after Unicode 3.2 counts as assigned. For the strings people
// use as user names and passwords the results are the same.
//
// The errors wrap [ErrBadInput]. They name the table a character broke,
// never the character or the string, which may be a password.
func saslprep(s string, allowUnassigned bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: SASLprep: invalid UTF-8", ErrBadInput)
	}
	if saslprepASCII(s) {
		return s, nil // printable ASCII: every step leaves it as it is
	}

	// Step 1: mapping (RFC 4013 §2.1). U+200B is in both tables; the
	// space mapping is applied first, as RFC 4013 lists it first.
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case saslprepNonASCIISpace(r):
			b.WriteByte(' ')
		case saslprepMappedToNothing(r):
		default:
			b.WriteRune(r)
		}
	}

	// Step 2: normalization (RFC 4013 §2.2).
	out := norm.NFKC.String(b.String())

	// Steps 3 to 5: prohibited output, unassigned code points, bidi.
	var randAL, l bool
	var first, last rune = -1, -1
	for _, r := range out {
		if table := saslprepProhibited(r); table != "" {
			return "", fmt.Errorf("%w: SASLprep: prohibited character (RFC 3454 table %s)", ErrBadInput, table)
		}
		if !allowUnassigned && saslprepUnassigned(r) {
			return "", fmt.Errorf("%w: SASLprep: unassigned code point", ErrBadInput)
		}
		isRandAL, isL := saslprepBidi(r)
		randAL = randAL || isRandAL
		l = l || isL
		if first < 0 {
			first = r
		}
		last = r
	}
	if randAL {
		// RFC 3454 §6, rules 2 and 3.
		if l {
			return "", fmt.Errorf("%w: SASLprep: right-to-left and left-to-right characters mixed", ErrBadInput)
		}
		if f, _ := saslprepBidi(first); !f {
			return "", fmt.Errorf("%w: SASLprep: right-to-left string does not start with a right-to-left character", ErrBadInput)
		}
		if e, _ := saslprepBidi(last); !e {
			return "", fmt.Errorf("%w: SASLprep: right-to-left string does not end with a right-to-left character", ErrBadInput)
		}
	}
	return out, nil
}

// saslprepASCII reports whether s is printable ASCII (U+0020 to U+007E),
// which SASLprep returns unchanged.
func saslprepASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// saslprepMappedToNothing is RFC 3454 table B.1.
func saslprepMappedToNothing(r rune) bool {
	switch r {
	case 0x00AD, 0x034F, 0x1806, 0x180B, 0x180C, 0x180D,
		0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF:
		return true
	}
	return r >= 0xFE00 && r <= 0xFE0F
}

// saslprepNonASCIISpace is RFC 3454 table C.1.2.
func saslprepNonASCIISpace(r rune) bool {
	switch r {
	case 0x00A0, 0x1680, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200B
}

// saslprepProhibited returns the RFC 3454 table that prohibits r in
// SASLprep output (RFC 4013 §2.3), or "" when r is allowed. Table C.1.1
// (U+0020) is not among them.
func saslprepProhibited(r rune) string {
	switch {
	case saslprepNonASCIISpace(r):
		return "C.1.2"
	case r <= 0x1F || r == 0x7F:
		return "C.2.1"
	case r >= 0x80 && r <= 0x9F,
		r == 0x06DD, r == 0x070F, r == 0x180E, r == 0x200C, r == 0x200D,
		r == 0x2028, r == 0x2029, r >= 0x2060 && r <= 0x2063,
		r >= 0x206A && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFC,
		r >= 0x1D173 && r <= 0x1D17A:
		return "C.2.2"
	case r >= 0xE000 && r <= 0xF8FF, r >= 0xF0000 && r <= 0xFFFFD,
		r >= 0x100000 && r <= 0x10FFFD:
		return "C.3"
	case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
		// U+FFFE, U+FFFF and the last two code points of every plane.
		return "C.4"
	case r >= 0xD800 && r <= 0xDFFF:
		return "C.5" // not reachable from valid UTF-8; kept for the table
	case r >= 0xFFF9 && r <= 0xFFFD:
		return "C.6"
	case r >= 0x2FF0 && r <= 0x2FFB:
		return "C.7"
	case r == 0x0340, r == 0x0341, r == 0x200E, r == 0x200F,
		r >= 0x202A && r <= 0x202E, r >= 0x206A && r <= 0x206F:
		return "C.8"
	case r == 0xE0001, r >= 0xE0020 && r <= 0xE007F:
		return "C.9"
	}
	return ""
}

// saslprepUnassigned approximates RFC 3454 table A.1 (code points
// unassigned in Unicode 3.2) with general category Cn (unassigned) of the
// unicode package: see [saslprep].
func saslprepUnassigned(r rune) bool {
	return unicode.Is(unicode.Cn, r)
}

// saslprepBidi reports whether r is a RandALCat character (bidirectional
// class R or AL, RFC 3454 table D.1) and whether it is an LCat character
// (class L, table D.2), from golang.org/x/text's bidi tables.
func saslprepBidi(r rune) (randAL, l bool) {
	p, _ := bidi.LookupRune(r)
	switch p.Class() {
	case bidi.R, bidi.AL:
		return true, false
	case bidi.L:
		return false, true
	}
	return false, false
}
