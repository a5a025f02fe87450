package command

// Rapid generators for the property tests and the fuzz targets.
//
// The ptGen* generators produce canonical values only: values that Append
// accepts and that Parse gives back field for field (see property 1 in
// property_test.go for the rules). The ptHostile* generators produce
// anything, weighted towards the bytes that could end a line early or break
// the grammar, for the properties about what Append refuses.
//
// Every name here starts with "pt" so that it cannot collide with the other
// tests of the package.

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"pgregory.net/rapid"
)

// ptKnownVerbs are the verbs Parse gives a type of its own; a Raw command
// must not be named after one of them.
var ptKnownVerbs = []string{
	"HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT", "STARTTLS",
	"BDAT", "VRFY", "EXPN", "HELP", "NOOP", "AUTH",
}

// ptMailKeywords and ptRcptKeywords are the keywords that have a field of
// their own, refused in Extra.
var (
	ptMailKeywords = []string{"SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH", "REQUIRETLS", "MT-PRIORITY", "BY"}
	ptRcptKeywords = []string{"NOTIFY", "ORCPT"}
)

// ptIDNLabels are real U-labels (and a few that need mapping: upper case)
// in several scripts, two of them right-to-left.
var ptIDNLabels = []string{
	"bücher", "例子", "εχαμπλε", "пример", "münchen", "日本語", "ñandú",
	"δοκιμή", "テスト", "실례", "परीक्षा", "مثال", "דוגמה", "straße", "BÜCHER",
	"Пример", "çay", "ẞtraße",
}

// ptUTF8Runes are non-ASCII runes of every UTF-8 length, including some
// that look like ASCII or like white space to a careless reader.
var ptUTF8Runes = []rune{
	'é', 'ü', 'ß', 'ñ', 'ε', 'я', 'ſ', 'ı', 'K', // 2 and 3 octets; ſ, ı and K fold to ASCII
	'例', '子', '日', '\u00a0', '\u0085', '\u2028', '\u200b', '\u3000', '\ufeff',
	'😀', '𝔘', '\U0010FFFD',
}

func ptIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ptIsDotString reports an RFC 5321 Dot-string (with RFC 6531's UTF-8),
// computed independently of the package.
func ptIsDotString(s string) bool {
	if s == "" {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if c := atom[i]; c < 0x80 && strings.IndexByte(ptAtext, c) < 0 {
				return false
			}
		}
	}
	return true
}

const ptAtext = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"

// ptORCPTLen is the length of an ORCPT address on the wire: RFC 6533's
// \x{HEX} form for type utf-8, xtext for the others.
func ptORCPTLen(typ, addr string) int {
	if !strings.EqualFold(typ, "utf-8") {
		return ptXtextLen(addr)
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

// ptXtextLen is the length of s as xtext, computed independently.
func ptXtextLen(s string) int {
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

func ptEqualFoldAny(s string, list []string) bool {
	for _, x := range list {
		if strings.EqualFold(s, x) {
			return true
		}
	}
	return false
}

// ptRunes returns the runes of the ASCII range [lo, hi] without those in
// except.
func ptRunes(lo, hi byte, except string) []rune {
	var rs []rune
	for c := int(lo); c <= int(hi); c++ {
		if strings.IndexByte(except, byte(c)) < 0 {
			rs = append(rs, rune(c))
		}
	}
	return rs
}

var (
	ptLetDigRunes   = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
	ptLDHRunes      = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
	ptAtextRunes    = []rune(ptAtext)
	ptPrintable     = ptRunes(' ', '~', "")     // text with spaces
	ptValueRunes    = ptRunes('!', '~', "=")    // esmtp-value
	ptDcontentRunes = ptRunes('!', '~', "[]\\") // dcontent
	ptMechRunes     = []rune("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_abcxyz")
	ptQuotedRunes   = ptRunes(' ', '~', "abcdefghijklmnopqrstuvwxyz") // the ASCII that matters in a quoted-string, and some letters
)

// ptRuneGen draws from ascii, and, when utf8 is set, now and then a
// non-ASCII rune from the pool or from the letters of Unicode.
func ptRuneGen(ascii []rune, utf8 bool) *rapid.Generator[rune] {
	if !utf8 {
		return rapid.SampledFrom(ascii)
	}
	return rapid.OneOf(
		rapid.SampledFrom(ascii),
		rapid.SampledFrom(ascii),
		rapid.SampledFrom(ptUTF8Runes),
		rapid.RuneFrom(nil, unicode.L, unicode.M, unicode.N, unicode.S).
			Filter(func(r rune) bool { return r >= 0x80 }), // the tables hold ASCII too: "=", "+", "<"
	)
}

// ---- domains ----

// ptGenLDHLabel draws an RFC 5321 sub-domain of 1 to 20 octets. It never
// has "--" in the third and fourth places, which IDNA refuses in a name
// that also has U-labels.
func ptGenLDHLabel() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		first := rapid.SampledFrom(ptLetDigRunes).Draw(t, "first")
		mid := rapid.StringOfN(rapid.SampledFrom(ptLDHRunes), 0, 18, 18).Draw(t, "mid")
		s := string(first) + mid
		if len(s) > 1 || rapid.Bool().Draw(t, "two") {
			s += string(rapid.SampledFrom(ptLetDigRunes).Draw(t, "last"))
		}
		if len(s) >= 4 && s[2] == '-' && s[3] == '-' {
			s = s[:2] + "x" + s[3:]
		}
		return s
	})
}

// ptGenASCIIDomain draws an ASCII domain name of 1 to 4 labels.
func ptGenASCIIDomain() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		labels := rapid.SliceOfN(ptGenLDHLabel(), 1, 4).Draw(t, "labels")
		return strings.Join(labels, ".")
	})
}

// ptGenULabel draws a U-label: a real one, or random letters that IDNA
// accepts on their own.
func ptGenULabel() *rapid.Generator[string] {
	random := rapid.StringOfN(rapid.RuneFrom(nil, unicode.Ll, unicode.Lo), 1, 8, -1).
		Filter(func(s string) bool { return checkDomain(s) == nil && !ptIsASCII(s) })
	return rapid.OneOf(rapid.SampledFrom(ptIDNLabels), rapid.SampledFrom(ptIDNLabels), random)
}

// ptGenUTF8Domain draws a domain with at least one U-label, which the
// package's own checkDomain accepts (IDNA's bidi and hyphen rules apply to
// the whole name).
func ptGenUTF8Domain() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		n := rapid.IntRange(1, 3).Draw(t, "labels")
		u := rapid.IntRange(0, n-1).Draw(t, "ulabel")
		labels := make([]string, n)
		for i := range labels {
			if i == u || rapid.IntRange(0, 3).Draw(t, "moreU") == 0 {
				labels[i] = ptGenULabel().Draw(t, "u")
			} else {
				labels[i] = ptGenLDHLabel().Draw(t, "ldh")
			}
		}
		return strings.Join(labels, ".")
	}).Filter(func(d string) bool { return checkDomain(d) == nil })
}

// ptGenIPv4 draws a dotted quad, with leading zeros now and then.
func ptGenIPv4() *rapid.Generator[string] {
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

// ptGenAddressLiteral draws an IPv4, IPv6 or general address literal, with
// its brackets.
func ptGenAddressLiteral() *rapid.Generator[string] {
	v4 := rapid.Map(ptGenIPv4(), func(s string) string { return "[" + s + "]" })
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
		tag := ptGenLDHLabel().Filter(func(s string) bool { return !strings.EqualFold(s, "IPv6") }).Draw(t, "tag")
		rest := rapid.StringOfN(rapid.SampledFrom(ptDcontentRunes), 1, 20, 20).Draw(t, "dcontent")
		return "[" + tag + ":" + rest + "]"
	})
	return rapid.OneOf(v4, v6, general)
}

// ptGenDomain draws what may follow "@": an ASCII name or an address
// literal, and also a name with U-labels when utf8 is set.
func ptGenDomain(utf8 bool) *rapid.Generator[string] {
	if !utf8 {
		return rapid.OneOf(ptGenASCIIDomain(), ptGenASCIIDomain(), ptGenAddressLiteral())
	}
	return rapid.OneOf(ptGenASCIIDomain(), ptGenAddressLiteral(), ptGenUTF8Domain(), ptGenUTF8Domain())
}

// ptGenHelloDomain draws the argument of HELO, EHLO or LHLO as Parse gives
// it back: ASCII (Append turns U-labels into A-labels).
func ptGenHelloDomain() *rapid.Generator[string] {
	return rapid.OneOf(ptGenASCIIDomain(), ptGenASCIIDomain(), ptGenAddressLiteral())
}

// ---- local parts and mailboxes ----

// ptGenDotString draws a Dot-string of at most 64 octets; with utf8, the
// atoms may hold non-ASCII characters.
func ptGenDotString(utf8 bool) *rapid.Generator[string] {
	atom := rapid.StringOfN(ptRuneGen(ptAtextRunes, utf8), 1, 12, 48)
	return rapid.Custom(func(t *rapid.T) string {
		atoms := rapid.SliceOfN(atom, 1, 4).Draw(t, "atoms")
		s := strings.Join(atoms, ".")
		for len(s) > MaxLocalPartLength {
			atoms = atoms[:len(atoms)-1]
			s = strings.Join(atoms, ".")
		}
		return s
	})
}

// ptGenQuotedLocal draws a local part that has to be sent as a
// quoted-string: with spaces, quotes, backslashes, dots in the wrong
// places, or empty. At most 31 octets, so that it fits 64 once quoted.
func ptGenQuotedLocal(utf8 bool) *rapid.Generator[string] {
	free := rapid.StringOfN(ptRuneGen(ptQuotedRunes, utf8), 0, 31, 31)
	special := rapid.SampledFrom([]string{
		"", " ", `"`, `\`, `\"`, `""`, "a b", ".a", "a.", "a..b", ".", "@", "a@b", "<a>",
		"a\\b\"c", "john \"the man\" doe", "Postmaster ", ":;,", "(comment)",
	})
	return rapid.OneOf(free, special).Filter(func(s string) bool { return !ptIsDotString(s) })
}

// ptGenLocal draws any local part.
func ptGenLocal(utf8 bool) *rapid.Generator[string] {
	return rapid.OneOf(ptGenDotString(utf8), ptGenDotString(utf8), ptGenQuotedLocal(utf8))
}

// ptGenMailbox draws a mailbox with a domain. With utf8 unset, it is all
// ASCII; with it set, the local part and the domain may be UTF-8.
func ptGenMailbox(utf8 bool) *rapid.Generator[Mailbox] {
	return rapid.Custom(func(t *rapid.T) Mailbox {
		return Mailbox{
			Local:  ptGenLocal(utf8).Draw(t, "local"),
			Domain: ptGenDomain(utf8).Draw(t, "domain"),
		}
	})
}

// ---- parameters ----

// ptGenKeyword draws an esmtp-keyword that has no field of its own in
// reserved.
func ptGenKeyword(reserved []string) *rapid.Generator[string] {
	kw := rapid.Custom(func(t *rapid.T) string {
		first := rapid.SampledFrom(ptLetDigRunes).Draw(t, "first")
		return string(first) + rapid.StringOfN(rapid.SampledFrom(ptLDHRunes), 0, 12, 12).Draw(t, "rest")
	})
	named := rapid.SampledFrom([]string{"X-FOO", "x-bar", "HOLDFOR", "XYZZY", "TRANSID", "1", "A-", "SIZE", "NOTIFY"})
	return rapid.OneOf(kw, named).Filter(func(s string) bool { return !ptEqualFoldAny(s, reserved) })
}

// ptGenValue draws an esmtp-value, or "" for a parameter without one.
func ptGenValue(utf8 bool) *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.Just(""),
		rapid.StringOfN(ptRuneGen(ptValueRunes, utf8), 1, 30, 120),
		rapid.SampledFrom([]string{"<>", `"`, `\`, "a;b", "+2B", "x,y", "SMTPUTF8"}),
	)
}

// ptGenExtra draws up to three extension parameters with distinct
// keywords, nil when there are none (Parse returns nil, not an empty
// slice).
func ptGenExtra(reserved []string, utf8 bool) *rapid.Generator[[]Param] {
	p := rapid.Custom(func(t *rapid.T) Param {
		return Param{Keyword: ptGenKeyword(reserved).Draw(t, "keyword"), Value: ptGenValue(utf8).Draw(t, "value")}
	})
	return rapid.Map(rapid.SliceOfNDistinct(p, 0, 3, func(p Param) string { return strings.ToUpper(p.Keyword) }),
		func(ps []Param) []Param {
			if len(ps) == 0 {
				return nil
			}
			return ps
		})
}

// ptGenEnvID draws an ENVID: printable ASCII, at most 100 octets as xtext.
func ptGenEnvID() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.Just(""),
		rapid.Map(rapid.StringOfN(rapid.SampledFrom(ptPrintable), 1, 100, 100), func(s string) string {
			for ptXtextLen(s) > 100 {
				s = s[:len(s)-1]
			}
			return s
		}),
	)
}

// ptGenAuthParam draws the AUTH= value: none, "<>" or an addr-spec.
func ptGenAuthParam() *rapid.Generator[string] {
	addr := rapid.Map(ptGenMailbox(true), Mailbox.String).
		Filter(func(s string) bool { return ptXtextLen(s) <= 500 })
	return rapid.OneOf(rapid.Just(""), rapid.Just("<>"), addr, addr)
}

// ptGenDeliverBy draws a BY value that check accepts.
func ptGenDeliverBy() *rapid.Generator[DeliverBy] {
	return rapid.Custom(func(t *rapid.T) DeliverBy {
		if rapid.Bool().Draw(t, "notify") {
			return DeliverBy{
				Time:  rapid.Int64Range(1, 999999999).Draw(t, "time"),
				Mode:  ByNotify,
				Trace: rapid.Bool().Draw(t, "trace"),
			}
		}
		return DeliverBy{
			Time:  rapid.Int64Range(-999999999, 999999999).Draw(t, "time"),
			Mode:  ByReturn,
			Trace: rapid.Bool().Draw(t, "trace"),
		}
	})
}

// ptGenMailParams draws MAIL parameters; smtputf8 is the SMTPUTF8 field,
// which also decides whether Extra values may be UTF-8.
func ptGenMailParams(smtputf8 bool) *rapid.Generator[MailParams] {
	return rapid.Custom(func(t *rapid.T) MailParams {
		var p MailParams
		if rapid.Bool().Draw(t, "hasSize") {
			p.Size = rapid.OneOf(rapid.Int64Range(1, 1<<40), rapid.Just(int64(math.MaxInt64))).Draw(t, "size")
		}
		p.Body = rapid.SampledFrom([]Body{"", Body7Bit, Body8BitMIME, BodyBinaryMIME}).Draw(t, "body")
		p.SMTPUTF8 = smtputf8
		p.Ret = rapid.SampledFrom([]Ret{"", RetFull, RetHeaders}).Draw(t, "ret")
		p.EnvID = ptGenEnvID().Draw(t, "envid")
		p.Auth = ptGenAuthParam().Draw(t, "auth")
		p.RequireTLS = rapid.Bool().Draw(t, "requiretls")
		p.MTPriority = rapid.Ptr(rapid.IntRange(-9, 9), true).Draw(t, "mtpriority")
		p.By = rapid.Ptr(ptGenDeliverBy(), true).Draw(t, "by")
		p.Extra = ptGenExtra(ptMailKeywords, smtputf8).Draw(t, "extra")
		return p
	})
}

// ptGenNotify draws a NOTIFY set that Append accepts.
func ptGenNotify() *rapid.Generator[Notify] {
	return rapid.Custom(func(t *rapid.T) Notify {
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			return 0
		case 1:
			return NotifyNever
		}
		return Notify(rapid.IntRange(1, 7).Draw(t, "set")) << 1 // a non-empty subset of SUCCESS, FAILURE, DELAY
	})
}

// ptGenORCPT draws an ORCPT: none, type rfc822 with an ASCII address, or
// type utf-8 (or another atom) with any address.
func ptGenORCPT() *rapid.Generator[OriginalRecipient] {
	return rapid.Custom(func(t *rapid.T) OriginalRecipient {
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			return OriginalRecipient{}
		case 1:
			addr := rapid.OneOf(
				rapid.Map(ptGenMailbox(false), Mailbox.String),
				rapid.StringOfN(rapid.SampledFrom(ptPrintable), 1, 60, 60),
			).Draw(t, "addr")
			typ := rapid.SampledFrom([]string{"rfc822", "RFC822", "Rfc822"}).Draw(t, "type")
			return OriginalRecipient{Type: typ, Address: addr}
		}
		addr := rapid.OneOf(
			rapid.Map(ptGenMailbox(true), Mailbox.String),
			rapid.StringOfN(ptRuneGen(ptPrintable, true), 1, 30, 120),
		).Draw(t, "addr")
		typ := rapid.SampledFrom([]string{"utf-8", "UTF-8", "utf-8", "x-local", "X400"}).Draw(t, "type")
		return OriginalRecipient{Type: typ, Address: addr}
	}).Filter(func(o OriginalRecipient) bool { return len(o.Type)+1+ptORCPTLen(o.Type, o.Address) <= 500 })
}

// ---- commands ----

// ptGenMail draws a canonical MAIL command.
func ptGenMail() *rapid.Generator[Command] {
	return rapid.Custom(func(t *rapid.T) Command {
		smtputf8 := rapid.Bool().Draw(t, "smtputf8")
		var from Mailbox
		if rapid.IntRange(0, 4).Draw(t, "null") > 0 {
			from = ptGenMailbox(smtputf8).Draw(t, "from")
		}
		return Mail{From: from, Params: ptGenMailParams(smtputf8).Draw(t, "params")}
	})
}

// ptGenRcpt draws a canonical RCPT command: SMTPUTF8 is set exactly when
// the line will hold UTF-8, as Parse sets it.
func ptGenRcpt() *rapid.Generator[Command] {
	return rapid.Custom(func(t *rapid.T) Command {
		utf8 := rapid.Bool().Draw(t, "utf8")
		var to Mailbox
		if rapid.IntRange(0, 6).Draw(t, "postmaster") == 0 {
			to = Mailbox{Local: rapid.SampledFrom([]string{"Postmaster", "postmaster", "POSTMASTER", "PostMaster"}).Draw(t, "pm")}
		} else {
			to = ptGenMailbox(utf8).Draw(t, "to")
		}
		c := Rcpt{
			To: to,
			Params: RcptParams{
				Notify: ptGenNotify().Draw(t, "notify"),
				ORCPT:  ptGenORCPT().Draw(t, "orcpt"),
				Extra:  ptGenExtra(ptRcptKeywords, utf8).Draw(t, "extra"),
			},
		}
		c.SMTPUTF8 = !ptIsASCII(to.Local) || !ptIsASCII(to.Domain)
		for _, p := range c.Params.Extra {
			c.SMTPUTF8 = c.SMTPUTF8 || !ptIsASCII(p.Value)
		}
		return c
	})
}

// ptGenStringArg draws a VRFY or EXPN argument (non-empty), or a HELP or
// NOOP one (may be empty); UTF-8 only when utf8 is set.
func ptGenStringArg(utf8, required bool) *rapid.Generator[string] {
	min := 0
	if required {
		min = 1
	}
	special := []string{"SMTPUTF8", "a SMTPUTF8", "\"", "\"a\"", "a\"b", `\`, " ", "  x  ", "smtputf8", "x SMTPUTF8 "}
	if !required {
		special = append(special, "")
	}
	return rapid.OneOf(
		rapid.StringOfN(ptRuneGen(ptPrintable, utf8), min, 40, 160),
		rapid.StringOfN(ptRuneGen([]rune("abc@.-_"), utf8), min, 20, 80),
		rapid.SampledFrom(special),
	)
}

// ptGenRawName draws a Raw command's name: an esmtp-keyword that is not a
// known verb.
func ptGenRawName() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.SampledFrom([]string{"ETRN", "XCLIENT", "XFORWARD", "etrn", "ATRN", "TURN", "X-1", "MAILX", "HELLO", "DAT", "START-TLS"}),
		ptGenKeyword(nil),
	).Filter(func(s string) bool { return !ptEqualFoldAny(s, ptKnownVerbs) })
}

// ptGenCommand draws a canonical command of any type.
func ptGenCommand() *rapid.Generator[Command] {
	domain := ptGenHelloDomain()
	return rapid.OneOf(
		rapid.Map(domain, func(d string) Command { return Helo{Domain: d} }),
		rapid.Map(domain, func(d string) Command { return Ehlo{Domain: d} }),
		rapid.Map(domain, func(d string) Command { return Lhlo{Domain: d} }),
		ptGenMail(), ptGenMail(), ptGenMail(),
		ptGenRcpt(), ptGenRcpt(), ptGenRcpt(),
		rapid.SampledFrom([]Command{Data{}, Rset{}, Quit{}, StartTLS{}}),
		rapid.Custom(func(t *rapid.T) Command {
			size := rapid.OneOf(rapid.Int64Range(0, 1<<20), rapid.Int64Range(0, math.MaxInt64)).Draw(t, "size")
			return Bdat{Size: size, Last: rapid.Bool().Draw(t, "last")}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			u := rapid.Bool().Draw(t, "smtputf8")
			arg := ptGenStringArg(u, true).Draw(t, "arg")
			if rapid.Bool().Draw(t, "expn") {
				return Expn{Arg: arg, SMTPUTF8: u}
			}
			return Vrfy{Arg: arg, SMTPUTF8: u}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			arg := ptGenStringArg(false, false).Draw(t, "arg")
			if rapid.Bool().Draw(t, "noop") {
				return Noop{Arg: arg}
			}
			return Help{Topic: arg}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			c := Auth{Mechanism: rapid.StringOfN(rapid.SampledFrom(ptMechRunes), 1, 20, 20).Draw(t, "mech")}
			switch rapid.IntRange(0, 2).Draw(t, "ir") {
			case 1:
				c.InitialResponse = []byte{}
			case 2:
				c.InitialResponse = rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "data")
			}
			return c
		}),
		rapid.Custom(func(t *rapid.T) Command {
			args := rapid.OneOf(
				rapid.Just(""),
				rapid.StringOfN(ptRuneGen(ptPrintable, true), 1, 80, 320),
			).Draw(t, "args")
			return Raw{Name: ptGenRawName().Draw(t, "name"), Args: args}
		}),
	)
}

// ---- hostile values ----

// ptHostilePieces are the fragments hostile strings are made of: line
// endings, NUL and other controls, the grammar's delimiters, UTF-8 (valid
// and not), and whole commands to smuggle.
var ptHostilePieces = []string{
	"\r", "\n", "\x00", "\r\n", "\n\r", "\t", "\x7f", "\x1b", " ", "  ", "=", "<", ">", "\"", "\\",
	"@", ".", ",", ":", ";", "[", "]", "+", "-", "_", "a", "Z", "0", "9", "é", "例", "😀",
	"\u2028", "\u0085", "\xff", "\xc3", "\xed\xa0\x80", "SMTPUTF8", "postmaster", "IPv6:", "::1",
	"192.0.2.1", "example.org", "xn--bcher-kva", "bücher", "\r\nRSET", "\r\nMAIL FROM:<x@y.example>",
	"\r\n.\r\n", "+0D+0A", "\\x{D}", "=\r\n",
}

// ptGenHostileString draws a string of hostile pieces, or a canonical one
// from valid now and then so that Append succeeds often enough.
func ptGenHostileString(valid *rapid.Generator[string]) *rapid.Generator[string] {
	hostile := rapid.Map(rapid.SliceOfN(rapid.SampledFrom(ptHostilePieces), 0, 8), func(p []string) string {
		return strings.Join(p, "")
	})
	if valid == nil {
		return hostile
	}
	return rapid.OneOf(hostile, hostile, valid)
}

// ptGenHostileMailbox draws a mailbox of hostile parts, or now and then the
// domainless Postmaster form, which only RCPT may use.
func ptGenHostileMailbox() *rapid.Generator[Mailbox] {
	hostile := rapid.Custom(func(t *rapid.T) Mailbox {
		return Mailbox{
			Local:  ptGenHostileString(ptGenLocal(true)).Draw(t, "local"),
			Domain: ptGenHostileString(ptGenDomain(true)).Draw(t, "domain"),
		}
	})
	postmaster := rapid.Map(rapid.SampledFrom([]string{"postmaster", "Postmaster", "POSTMASTER"}),
		func(l string) Mailbox { return Mailbox{Local: l} })
	return rapid.OneOf(hostile, hostile, hostile, hostile, postmaster)
}

func ptGenHostileExtra() *rapid.Generator[[]Param] {
	p := rapid.Custom(func(t *rapid.T) Param {
		return Param{
			Keyword: ptGenHostileString(ptGenKeyword(nil)).Draw(t, "keyword"),
			Value:   ptGenHostileString(ptGenValue(true)).Draw(t, "value"),
		}
	})
	return rapid.SliceOfN(p, 0, 3)
}

// ptGenHostileMailParams draws MAIL parameters whose strings are hostile
// and whose numbers may be out of range.
func ptGenHostileMailParams() *rapid.Generator[MailParams] {
	str := ptGenHostileString
	return rapid.Custom(func(t *rapid.T) MailParams {
		var by *DeliverBy
		if rapid.Bool().Draw(t, "hasBy") {
			by = &DeliverBy{
				Time:  rapid.Int64Range(-2e9, 2e9).Draw(t, "time"),
				Mode:  ByMode(rapid.SampledFrom([]byte{'N', 'R', 'n', 0, '\r', 'T'}).Draw(t, "mode")),
				Trace: rapid.Bool().Draw(t, "trace"),
			}
		}
		return MailParams{
			Size:       rapid.Int64Range(-5, math.MaxInt64).Draw(t, "size"),
			Body:       Body(str(rapid.SampledFrom([]string{"", "7BIT", "8BITMIME", "BINARYMIME", "8bitmime"})).Draw(t, "body")),
			SMTPUTF8:   rapid.Bool().Draw(t, "smtputf8"),
			Ret:        Ret(str(rapid.SampledFrom([]string{"", "FULL", "HDRS"})).Draw(t, "ret")),
			EnvID:      str(ptGenEnvID()).Draw(t, "envid"),
			Auth:       str(ptGenAuthParam()).Draw(t, "auth"),
			RequireTLS: rapid.Bool().Draw(t, "requiretls"),
			MTPriority: rapid.Ptr(rapid.IntRange(-12, 12), true).Draw(t, "mtpriority"),
			By:         by,
			Extra:      ptGenHostileExtra().Draw(t, "extra"),
		}
	})
}

// ptGenHostileCommand draws a command of any type whose string fields come
// from ptGenHostileString and whose numbers may be out of range.
func ptGenHostileCommand() *rapid.Generator[Command] {
	str := func(valid *rapid.Generator[string]) *rapid.Generator[string] { return ptGenHostileString(valid) }
	return rapid.OneOf(
		rapid.Map(str(ptGenDomain(true)), func(d string) Command { return Helo{Domain: d} }),
		rapid.Map(str(ptGenDomain(true)), func(d string) Command { return Ehlo{Domain: d} }),
		rapid.Map(str(ptGenDomain(true)), func(d string) Command { return Lhlo{Domain: d} }),
		rapid.Custom(func(t *rapid.T) Command {
			from := rapid.OneOf(ptGenHostileMailbox(), ptGenMailbox(true), rapid.Just(Mailbox{}), rapid.Just(Mailbox{Local: "postmaster"})).Draw(t, "from")
			params := rapid.OneOf(ptGenHostileMailParams(), ptGenMailParams(true), ptGenMailParams(false)).Draw(t, "params")
			return Mail{From: from, Params: params}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			to := rapid.OneOf(ptGenHostileMailbox(), ptGenMailbox(true), rapid.Just(Mailbox{})).Draw(t, "to")
			var params RcptParams
			if rapid.Bool().Draw(t, "hostileParams") {
				params = RcptParams{
					Notify: Notify(rapid.Uint8().Draw(t, "notify")),
					ORCPT: OriginalRecipient{
						Type:    str(rapid.SampledFrom([]string{"", "rfc822", "utf-8", "x400"})).Draw(t, "type"),
						Address: str(rapid.Map(ptGenMailbox(true), Mailbox.String)).Draw(t, "address"),
					},
					Extra: ptGenHostileExtra().Draw(t, "extra"),
				}
			} else {
				params = RcptParams{
					Notify: ptGenNotify().Draw(t, "notify"),
					ORCPT:  ptGenORCPT().Draw(t, "orcpt"),
					Extra:  ptGenExtra(ptRcptKeywords, true).Draw(t, "extra"),
				}
			}
			return Rcpt{To: to, Params: params, SMTPUTF8: rapid.Bool().Draw(t, "smtputf8")}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			return Bdat{Size: rapid.Int64Range(-3, 1<<40).Draw(t, "size"), Last: rapid.Bool().Draw(t, "last")}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			arg := str(ptGenStringArg(true, true)).Draw(t, "arg")
			u := rapid.Bool().Draw(t, "smtputf8")
			if rapid.Bool().Draw(t, "expn") {
				return Expn{Arg: arg, SMTPUTF8: u}
			}
			return Vrfy{Arg: arg, SMTPUTF8: u}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			arg := str(ptGenStringArg(true, false)).Draw(t, "arg")
			if rapid.Bool().Draw(t, "noop") {
				return Noop{Arg: arg}
			}
			return Help{Topic: arg}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			var ir []byte
			switch rapid.IntRange(0, 3).Draw(t, "ir") {
			case 1:
				ir = []byte{}
			case 2:
				ir = rapid.SliceOfN(rapid.Byte(), 1, 400).Draw(t, "data")
			case 3:
				ir = rapid.SliceOfN(rapid.Byte(), 370, 600).Draw(t, "big")
			}
			return Auth{Mechanism: str(rapid.StringOfN(rapid.SampledFrom(ptMechRunes), 1, 24, 24)).Draw(t, "mech"), InitialResponse: ir}
		}),
		rapid.Custom(func(t *rapid.T) Command {
			return Raw{Name: str(ptGenRawName()).Draw(t, "name"), Args: str(nil).Draw(t, "args")}
		}),
		rapid.SampledFrom([]Command{Data{}, Rset{}, Quit{}, StartTLS{}}),
	)
}

// ---- addresses as users paste them ----

// ptDisplayNames are display names, plain and awkward: dots, a quoted
// comma, UTF-8, an encoded word, a comment, brackets in quotes.
var ptDisplayNames = []string{
	"Bob", "Bob J. Smith", `"Smith, Bob"`, "Pelé", "=?utf-8?q?Pel=C3=A9?=", "(work) Bob", `"a <b@c.example>"`,
	`Bob "the builder"`, "",
}

// ptPasteAddress writes m in one of the forms ParseAddress takes.
func ptPasteAddress(t *rapid.T, m Mailbox) string {
	a := m.String()
	name := rapid.SampledFrom(ptDisplayNames).Draw(t, "name")
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

// ptGenHostileAddress draws an address as a user pastes it, then applies
// up to four hostile edits: a piece of ptHostilePieces inserted, a run
// deleted or repeated, a byte replaced.
func ptGenHostileAddress() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		s := ptPasteAddress(t, ptGenMailbox(rapid.Bool().Draw(t, "utf8")).Draw(t, "m"))
		for range rapid.IntRange(0, 4).Draw(t, "edits") {
			pos := rapid.IntRange(0, len(s)).Draw(t, "pos")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				s = s[:pos] + rapid.SampledFrom(ptHostilePieces).Draw(t, "piece") + s[pos:]
			case 1:
				end := rapid.IntRange(pos, min(len(s), pos+8)).Draw(t, "end")
				s = s[:pos] + s[end:]
			case 2:
				end := rapid.IntRange(pos, min(len(s), pos+12)).Draw(t, "end")
				s = s[:end] + s[pos:end] + s[end:]
			default:
				if pos < len(s) {
					c := rapid.SampledFrom([]byte("<>()\",:;@[]\\. \t\r\n\x00\x80")).Draw(t, "byte")
					s = s[:pos] + string([]byte{c}) + s[pos+1:]
				}
			}
		}
		return s
	})
}
