package fuzz

// Addresses: domains, local parts and mailboxes, canonical (what
// command's Append accepts and Parse gives back field for field) and as
// users paste them.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"github.com/smtpkit/smtpkit/command"
	"pgregory.net/rapid"
)

// knownVerbs are the verbs Parse gives a type of their own; a Raw command
// must not be named after one of them.
var knownVerbs = []string{
	"HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT", "STARTTLS",
	"BDAT", "VRFY", "EXPN", "HELP", "NOOP", "AUTH",
}

// mailKeywords and rcptKeywords are the keywords that have a field of
// their own, refused in Extra.
var (
	mailKeywords = []string{"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH", "REQUIRETLS", "MT-PRIORITY", "BY"}
	rcptKeywords = []string{"NOTIFY", "ORCPT"}
)

// idnLabels are real U-labels (and a few that need mapping: upper case)
// in several scripts, two of them right-to-left.
var idnLabels = []string{
	"bücher", "例子", "εχαμπλε", "пример", "münchen", "日本語", "ñandú",
	"δοκιμή", "テスト", "실례", "परीक्षा", "مثال", "דוגמה", "straße", "BÜCHER",
	"Пример", "çay", "ẞtraße",
}

// utf8Runes are non-ASCII runes of every UTF-8 length, including some
// that look like ASCII or like white space to a careless reader.
var utf8Runes = []rune{
	'é', 'ü', 'ß', 'ñ', 'ε', 'я', 'ſ', 'ı', 'K', // 2 and 3 octets; ſ, ı and K fold to ASCII
	'例', '子', '日', '\u00a0', '\u0085', '\u2028', '\u200b', '\u3000', '\ufeff',
	'😀', '𝔘', '\U0010FFFD',
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// isDotString reports an RFC 5321 Dot-string (with RFC 6531's UTF-8),
// computed independently of the package.
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if c := atom[i]; c < 0x80 && strings.IndexByte(atext, c) < 0 {
				return false
			}
		}
	}
	return true
}

const atext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"

// orcptLen is the length of an ORCPT address on the wire: RFC 6533's
// \x{HEX} form for type utf-8, xtext for the others.
func orcptLen(typ, addr string) int {
	if !strings.EqualFold(typ, "utf-8") {
		return xtextLen(addr)
	}
	n := 0
	for _, r := range addr {
		if r > ' ' && r < 0x7f && r != '+' && r != '=' && r != '\\' {
			n++
		} else {
			n += 4 + len(fmt.Sprintf("%02X", r)) // \x{ HEX }
		}
	}
	return n
}

// xtextLen is the length of s as xtext, computed independently.
func xtextLen(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '!' || c > '~' || c == '+' || c == '=' {
			n += 3
		} else {
			n++
		}
	}
	return n
}

func equalFoldAny(s string, list []string) bool {
	for _, x := range list {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}

// runes returns the runes of the ASCII range [lo, hi] without those in
// except.
func runes(lo, hi byte, except string) []rune {
	var rs []rune
	for c := int(lo); c <= int(hi); c++ {
		if strings.IndexByte(except, byte(c)) < 0 {
			rs = append(rs, rune(c))
		}
	}
	return rs
}

var (
	letDigRunes   = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
	lDHRunes      = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
	atextRunes    = []rune(atext)
	printable     = runes(' ', '~', "")     // text with spaces
	valueRunes    = runes('!', '~', "=")    // esmtp-value
	dcontentRunes = runes('!', '~', "[]\\") // dcontent
	mechRunes     = []rune("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_abcxyz")
	quotedRunes   = runes(' ', '~', "abcdefghijklmnopqrstuvwxyz") // the ASCII that matters in a quoted-string, and some letters
)

// runeGen draws from ascii, and, when utf8 is set, now and then a
// non-ASCII rune from the pool or from the letters of Unicode.
func runeGen(ascii []rune, utf8 bool) *rapid.Generator[rune] {
	if !utf8 {
		return rapid.SampledFrom(ascii)
	}
	return rapid.OneOf(
		rapid.SampledFrom(ascii),
		rapid.SampledFrom(ascii),
		rapid.SampledFrom(utf8Runes),
		rapid.RuneFrom(nil, unicode.L, unicode.M, unicode.N, unicode.S).
			Filter(func(r rune) bool { return r >= 0x80 }), // the tables hold ASCII too: "=", "+", "<"
	)
}

// ---- domains ----

// genLDHLabel draws an RFC 5321 sub-domain of 1 to 20 octets. It never
// has "--" in the third and fourth places, which IDNA refuses in a name
// that also has U-labels.
func genLDHLabel() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		first := rapid.SampledFrom(letDigRunes).Draw(t, "first")
		mid := rapid.StringOfN(rapid.SampledFrom(lDHRunes), 0, 18, 18).Draw(t, "mid")
		s := string(first) + mid
		if len(s) > 1 || rapid.Bool().Draw(t, "two") {
			s += string(rapid.SampledFrom(letDigRunes).Draw(t, "last"))
		}
		if len(s) >= 4 && s[2] == '-' && s[3] == '-' {
			s = s[:2] + "x" + s[3:]
		}
		return s
	})
}

// genASCIIDomain draws an ASCII domain name of 1 to 4 labels.
func genASCIIDomain() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		labels := rapid.SliceOfN(genLDHLabel(), 1, 4).Draw(t, "labels")
		return strings.Join(labels, ".")
	})
}

// genULabel draws a U-label: a real one, or random letters that IDNA
// accepts on their own.
func genULabel() *rapid.Generator[string] {
	random := rapid.StringOfN(rapid.RuneFrom(nil, unicode.Ll, unicode.Lo), 1, 8, -1).
		Filter(func(s string) bool { return domainOK(s) && !isASCII(s) })
	return rapid.OneOf(rapid.SampledFrom(idnLabels), rapid.SampledFrom(idnLabels), random)
}

// IDNDomain draws an internationalised domain name (RFC 6531 §3.3): one
// to three labels, at least one of them a U-label, real ones in several
// scripts (two right-to-left, some that need mapping such as upper case or
// "ß") or random letters; every name passes IDNA's rules for the whole name
// (bidi, hyphens), so package command takes it.
func IDNDomain() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		n := rapid.IntRange(1, 3).Draw(t, "labels")
		u := rapid.IntRange(0, n-1).Draw(t, "ulabel")
		labels := make([]string, n)
		for i := range labels {
			if i == u || rapid.IntRange(0, 3).Draw(t, "moreU") == 0 {
				labels[i] = genULabel().Draw(t, "u")
			} else {
				labels[i] = genLDHLabel().Draw(t, "ldh")
			}
		}
		return strings.Join(labels, ".")
	}).Filter(func(d string) bool { return domainOK(d) })
}

// genIPv4 draws a dotted quad, with leading zeros now and then.
func genIPv4() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		parts := make([]string, 4)
		for i := range parts {
			v := rapid.IntRange(0, 255).Draw(t, "octet")
			p := strconv.Itoa(v)
			if pad := rapid.IntRange(0, 5).Draw(t, "pad"); pad == 0 && len(p) < 3 {
				p = "0" + p
			}
			parts[i] = p
		}
		return strings.Join(parts, ".")
	})
}

// AddressLiteral draws an RFC 5321 §4.1.3 address literal with its
// brackets: IPv4 (leading zeros now and then), IPv6 (compressed,
// expanded, IPv4-mapped, upper case, the tag in any case) or a general
// literal with a tag of its own.
func AddressLiteral() *rapid.Generator[string] {
	v4 := rapid.Map(genIPv4(), func(s string) string { return "[" + s + "]" })
	v6 := rapid.Custom(func(t *rapid.T) string {
		var b [16]byte
		switch rapid.IntRange(0, 3).Draw(t, "shape") {
		case 0: // mostly zeros, so that "::" appears
			b[15] = rapid.Byte().Draw(t, "low")
			b[0], b[1] = 0x20, 0x01
		case 1: // IPv4-mapped
			b[10], b[11] = 0xff, 0xff
			for i := 12; i < 16; i++ {
				b[i] = rapid.Byte().Draw(t, "v4")
			}
		default:
			for i := range b {
				b[i] = rapid.Byte().Draw(t, "byte")
			}
		}
		a := netip.AddrFrom16(b)
		s := a.String()
		if rapid.Bool().Draw(t, "expanded") {
			s = a.StringExpanded()
		}
		if rapid.Bool().Draw(t, "upper") {
			s = strings.ToUpper(s)
		}
		tag := rapid.SampledFrom([]string{"IPv6", "ipv6", "IPV6"}).Draw(t, "tag")
		return "[" + tag + ":" + s + "]"
	})
	general := rapid.Custom(func(t *rapid.T) string {
		tag := genLDHLabel().Filter(func(s string) bool { return !strings.EqualFold(s, "IPv6") }).Draw(t, "tag")
		rest := rapid.StringOfN(rapid.SampledFrom(dcontentRunes), 1, 20, 20).Draw(t, "dcontent")
		return "[" + tag + ":" + rest + "]"
	})
	return rapid.OneOf(v4, v6, general)
}

// Domain draws what may follow "@" (RFC 5321 §4.1.2): an ASCII name of one
// to four LDH labels of up to 20 octets, or an address literal; with utf8
// set, also names with U-labels (IDNDomain).
func Domain(utf8 bool) *rapid.Generator[string] {
	if !utf8 {
		return rapid.OneOf(genASCIIDomain(), genASCIIDomain(), AddressLiteral())
	}
	return rapid.OneOf(genASCIIDomain(), AddressLiteral(), IDNDomain(), IDNDomain())
}

// genHelloDomain draws the argument of HELO, EHLO or LHLO as Parse gives
// it back: ASCII (Append turns U-labels into A-labels).
func genHelloDomain() *rapid.Generator[string] {
	return rapid.OneOf(genASCIIDomain(), genASCIIDomain(), AddressLiteral())
}

// ---- local parts and mailboxes ----

// genDotString draws a Dot-string of at most 64 octets; with utf8, the
// atoms may hold non-ASCII characters.
func genDotString(utf8 bool) *rapid.Generator[string] {
	atom := rapid.StringOfN(runeGen(atextRunes, utf8), 1, 12, 48)
	return rapid.Custom(func(t *rapid.T) string {
		atoms := rapid.SliceOfN(atom, 1, 4).Draw(t, "atoms")
		s := strings.Join(atoms, ".")
		for len(s) > command.MaxLocalPartLength {
			atoms = atoms[:len(atoms)-1]
			s = strings.Join(atoms, ".")
		}
		return s
	})
}

// genQuotedLocal draws a local part that has to be sent as a
// quoted-string: with spaces, quotes, backslashes, dots in the wrong
// places, or empty. At most 31 octets, so that it fits 64 once quoted.
func genQuotedLocal(utf8 bool) *rapid.Generator[string] {
	free := rapid.StringOfN(runeGen(quotedRunes, utf8), 0, 31, 31)
	special := rapid.SampledFrom([]string{
		"", " ", `"`, `\`, `\"`, `""`, "a b", ".a", "a.", "a..b", ".", "@", "a@b", "<a>",
		"a\\b\"c", "john \"the man\" doe", "Postmaster ", ":;,", "(comment)",
	})
	return rapid.OneOf(free, special).Filter(func(s string) bool { return !isDotString(s) })
}

// LocalPart draws a local part (RFC 5321 §4.1.2): mostly Dot-strings of up
// to 64 octets, and local parts that must be sent as a quoted-string
// (spaces, quotes, backslashes, dots in the wrong places, the empty one,
// "a b", "@", "Postmaster "). With utf8 set, atoms and quoted text may hold
// UTF-8 of every length, including runes that look like ASCII or white
// space (U+00A0, U+2028, U+FEFF, ſ, ı, K).
func LocalPart(utf8 bool) *rapid.Generator[string] {
	return rapid.OneOf(genDotString(utf8), genDotString(utf8), genQuotedLocal(utf8))
}

// Mailbox draws a canonical mailbox with a domain: one that command's
// Append accepts in a MAIL or RCPT and Parse gives back field for field,
// from LocalPart and Domain, and one time in sixteen one at RFC 5321
// §4.5.3.1's limits (a 64-octet local part, 63-octet labels, a 256-octet
// path, or one octet short of them). With utf8 unset it is all ASCII (an
// internationalised domain appears only as Domain(true) draws it); with it
// set, the local part and the domain may be UTF-8 (SMTPUTF8 needed).
func Mailbox(utf8 bool) *rapid.Generator[command.Mailbox] {
	return rapid.Custom(func(t *rapid.T) command.Mailbox {
		if rapid.IntRange(0, 15).Draw(t, "at the limits") == 0 {
			return limitMailbox(t)
		}
		return command.Mailbox{
			Local:  LocalPart(utf8).Draw(t, "local"),
			Domain: Domain(utf8).Draw(t, "domain"),
		}
	})
}

// limitMailbox draws an ASCII mailbox at RFC 5321 §4.5.3.1's limits: a
// local part of 64 octets, labels of 63, and a path "<local@domain>" of
// 256 octets, or one octet short of each.
func limitMailbox(t *rapid.T) command.Mailbox {
	short := rapid.IntRange(0, 1).Draw(t, "short")
	atom := rapid.SampledFrom(letDigRunes)
	fill := func(n int, label string) string {
		b := make([]rune, n)
		for i := range b {
			b[i] = atom.Draw(t, label)
		}
		return string(b)
	}
	local := fill(32-short, "local") + "." + fill(31, "local")
	// "<" + 64 + "@" + 189 + ">" is 256 octets.
	domain := fill(63, "label") + "." + fill(63-short, "label") + "." + fill(61, "label")
	return command.Mailbox{Local: local, Domain: domain}
}

// ---- addresses as users paste them ----

// displayNames are display names, plain and awkward: dots, a quoted
// comma, UTF-8, an encoded word, a comment, brackets in quotes.
var displayNames = []string{
	"Bob", "Bob J. Smith", `"Smith, Bob"`, "Pelé", "=?utf-8?q?Pel=C3=A9?=", "(work) Bob", `"a <b@c.example>"`,
	`Bob "the builder"`, "",
}

// PastedAddress draws m written as users paste addresses, in one of the
// forms command.ParseAddress takes: bare, in angle brackets, after a
// display name (plain, quoted, UTF-8, an encoded word, a comment), with a
// trailing comment, with white space around. ParseAddress of any of them
// gives m back.
func PastedAddress(m command.Mailbox) *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string { return pasteAddress(t, m) })
}

func pasteAddress(t *rapid.T, m command.Mailbox) string {
	a := m.String()
	name := rapid.SampledFrom(displayNames).Draw(t, "name")
	switch rapid.IntRange(0, 5).Draw(t, "form") {
	case 0:
		return a
	case 1:
		return "<" + a + ">"
	case 2:
		return name + " <" + a + ">"
	case 3:
		return a + " (" + strings.NewReplacer(`"`, "", "(", "", ")", "").Replace(name) + ")"
	case 4:
		return " \t" + a + "  "
	default:
		return name + "<" + a + "> (x)"
	}
}

// HostileAddress draws an address as a user pastes it, then applies
// up to four hostile edits: a piece of hostilePieces inserted, a run
// deleted or repeated, a byte replaced.

// domainOK reports whether package command takes d as the domain of a
// recipient (IDNA's bidi and hyphen rules apply to the whole name).
func domainOK(d string) bool {
	_, err := command.Rcpt{To: command.Mailbox{Local: "a", Domain: d}, SMTPUTF8: true}.Append(nil)
	return err == nil
}
