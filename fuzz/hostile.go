package fuzz

// Hostile values: anything, weighted towards the bytes that end a line
// early or break the grammar.

import (
	"math"
	"strings"
	"unicode"

	"github.com/smtpkit/smtpkit/command"
	"pgregory.net/rapid"
)

// hostilePieces are the fragments hostile strings are made of: line
// endings, NUL and other controls, the grammar's delimiters, UTF-8 (valid
// and not), and whole commands to smuggle.
var hostilePieces = []string{
	"\r", "\n", "\x00", "\r\n", "\n\r", "\t", "\x7f", "\x1b", " ", "  ", "=", "<", ">", "\"", "\\",
	"@", ".", ",", ":", ";", "[", "]", "+", "-", "_", "a", "Z", "0", "9", "é", "例", "😀",
	"\u2028", "\u0085", "\xff", "\xc3", "\xed\xa0\x80", "SMTPUTF8", "postmaster", "IPv6:", "::1",
	"192.0.2.1", "example.org", "xn--bcher-kva", "bücher", "\r\nRSET", "\r\nMAIL FROM:<x@y.example>",
	"\r\n.\r\n", "+0D+0A", "\\x{D}", "=\r\n",
}

// Hostile draws strings that a parser or a checker must refuse cleanly,
// made from the strings g draws: two draws in five are g's string mutated
// (CR, LF, NUL, a control, a delimiter, invalid UTF-8 or a whole smuggled
// command inserted; cut short; made over-long; case-folded; white space
// added), two are made of hostile pieces alone, one is g's string as it is,
// so that a check that accepts it is exercised too. With g nil, every draw
// is made of hostile pieces.
func Hostile(g *rapid.Generator[string]) *rapid.Generator[string] {
	pieces := rapid.Map(rapid.SliceOfN(rapid.SampledFrom(hostilePieces), 0, 8), func(p []string) string {
		return strings.Join(p, "")
	})
	if g == nil {
		return pieces
	}
	mutated := rapid.Custom(func(t *rapid.T) string {
		return mutate(t, g.Draw(t, "valid"))
	})
	return rapid.OneOf(mutated, mutated, pieces, pieces, g)
}

// mutate applies one to four hostile edits to s.
func mutate(t *rapid.T, s string) string {
	for range rapid.IntRange(1, 4).Draw(t, "edits") {
		pos := rapid.IntRange(0, len(s)).Draw(t, "pos")
		switch rapid.IntRange(0, 5).Draw(t, "edit") {
		case 0: // a piece inserted
			s = s[:pos] + rapid.SampledFrom(hostilePieces).Draw(t, "piece") + s[pos:]
		case 1: // cut short
			s = s[:pos]
		case 2: // over-long: a run repeated past the limits (64, 255, 512)
			end := rapid.IntRange(pos, min(len(s), pos+8)).Draw(t, "end")
			run := s[pos:end]
			if run == "" {
				run = "a"
			}
			n := rapid.SampledFrom([]int{65, 256, 513, 1001}).Draw(t, "length")
			s = s[:pos] + strings.Repeat(run, n/len(run)+1) + s[pos:]
		case 3: // case-folded
			switch rapid.IntRange(0, 2).Draw(t, "case") {
			case 0:
				s = strings.ToUpper(s)
			case 1:
				s = strings.ToLower(s)
			default:
				s = strings.Map(func(r rune) rune {
					if unicode.IsUpper(r) {
						return unicode.ToLower(r)
					}
					return unicode.ToUpper(r)
				}, s)
			}
		case 4: // white space where none belongs
			ws := rapid.SampledFrom([]string{" ", "\t", "  ", " \t ", "\u00a0", "\u3000"}).Draw(t, "space")
			switch rapid.IntRange(0, 2).Draw(t, "where") {
			case 0:
				s = ws + s
			case 1:
				s += ws
			default:
				s = s[:pos] + ws + s[pos:]
			}
		default: // one byte replaced by a delimiter, a control or a bad octet
			if pos < len(s) {
				c := rapid.SampledFrom([]byte("<>()\",:;@[]\\. \t\r\n\x00\x80")).Draw(t, "byte")
				s = s[:pos] + string([]byte{c}) + s[pos+1:]
			}
		}
	}
	return s
}

// genHostileMailbox draws a mailbox of hostile parts, or now and then the
// domainless Postmaster form, which only RCPT may use.
func genHostileMailbox() *rapid.Generator[command.Mailbox] {
	hostile := rapid.Custom(func(t *rapid.T) command.Mailbox {
		return command.Mailbox{
			Local:  Hostile(LocalPart(true)).Draw(t, "local"),
			Domain: Hostile(Domain(true)).Draw(t, "domain"),
		}
	})
	postmaster := rapid.Map(rapid.SampledFrom([]string{"postmaster", "Postmaster", "POSTMASTER"}),
		func(l string) command.Mailbox { return command.Mailbox{Local: l} })
	return rapid.OneOf(hostile, hostile, hostile, hostile, postmaster)
}

func genHostileExtra() *rapid.Generator[[]command.Param] {
	p := rapid.Custom(func(t *rapid.T) command.Param {
		return command.Param{
			Keyword: Hostile(genKeyword(nil)).Draw(t, "keyword"),
			Value:   Hostile(genValue(true)).Draw(t, "value"),
		}
	})
	return rapid.SliceOfN(p, 0, 3)
}

// genHostileMailParams draws MAIL parameters whose strings are hostile
// and whose numbers may be out of range.
func genHostileMailParams() *rapid.Generator[command.MailParams] {
	str := Hostile
	return rapid.Custom(func(t *rapid.T) command.MailParams {
		var by *command.DeliverBy
		if rapid.Bool().Draw(t, "hasBy") {
			by = &command.DeliverBy{
				Time:  rapid.Int64Range(-2e9, 2e9).Draw(t, "time"),
				Mode:  command.ByMode(rapid.SampledFrom([]byte{'N', 'R', 'n', 0, '\r', 'T'}).Draw(t, "mode")),
				Trace: rapid.Bool().Draw(t, "trace"),
			}
		}
		return command.MailParams{
			Size:       rapid.Int64Range(-5, math.MaxInt64).Draw(t, "size"),
			Body:       command.Body(str(rapid.SampledFrom([]string{"", "7BIT", "8BITMIME", "BINARYMIME", "8bitmime"})).Draw(t, "body")),
			SMTPUTF8:   rapid.Bool().Draw(t, "smtputf8"),
			Ret:        command.Ret(str(rapid.SampledFrom([]string{"", "FULL", "HDRS"})).Draw(t, "ret")),
			EnvID:      str(genEnvID()).Draw(t, "envid"),
			Auth:       str(genAuthParam()).Draw(t, "auth"),
			RequireTLS: rapid.Bool().Draw(t, "requiretls"),
			MTPriority: rapid.Ptr(rapid.IntRange(-12, 12), true).Draw(t, "mtpriority"),
			By:         by,
			Extra:      genHostileExtra().Draw(t, "extra"),
		}
	})
}

// HostileCommand draws a command of any type whose string fields come
// from Hostile and whose numbers may be out of range.
func HostileCommand() *rapid.Generator[command.Command] {
	str := func(valid *rapid.Generator[string]) *rapid.Generator[string] { return Hostile(valid) }
	return rapid.OneOf(
		rapid.Map(str(Domain(true)), func(d string) command.Command { return command.Helo{Domain: d} }),
		rapid.Map(str(Domain(true)), func(d string) command.Command { return command.Ehlo{Domain: d} }),
		rapid.Map(str(Domain(true)), func(d string) command.Command { return command.Lhlo{Domain: d} }),
		rapid.Custom(func(t *rapid.T) command.Command {
			from := rapid.OneOf(genHostileMailbox(), Mailbox(true), rapid.Just(command.Mailbox{}), rapid.Just(command.Mailbox{Local: "postmaster"})).Draw(t, "from")
			params := rapid.OneOf(genHostileMailParams(), MailParams(true), MailParams(false)).Draw(t, "params")
			return command.Mail{From: from, Params: params}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			to := rapid.OneOf(genHostileMailbox(), Mailbox(true), rapid.Just(command.Mailbox{})).Draw(t, "to")
			var params command.RcptParams
			if rapid.Bool().Draw(t, "hostileParams") {
				params = command.RcptParams{
					Notify: command.Notify(rapid.Uint8().Draw(t, "notify")),
					ORCPT: command.OriginalRecipient{
						Type:    str(rapid.SampledFrom([]string{"", "rfc822", "utf-8", "x400"})).Draw(t, "type"),
						Address: str(rapid.Map(Mailbox(true), command.Mailbox.String)).Draw(t, "address"),
					},
					Extra: genHostileExtra().Draw(t, "extra"),
				}
			} else {
				params = command.RcptParams{
					Notify: genNotify().Draw(t, "notify"),
					ORCPT:  genORCPT().Draw(t, "orcpt"),
					Extra:  genExtra(rcptKeywords, true).Draw(t, "extra"),
				}
			}
			return command.Rcpt{To: to, Params: params, SMTPUTF8: rapid.Bool().Draw(t, "smtputf8")}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			return command.Bdat{Size: rapid.Int64Range(-3, 1<<40).Draw(t, "size"), Last: rapid.Bool().Draw(t, "last")}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			arg := str(genStringArg(true, true)).Draw(t, "arg")
			u := rapid.Bool().Draw(t, "smtputf8")
			if rapid.Bool().Draw(t, "expn") {
				return command.Expn{Arg: arg, SMTPUTF8: u}
			}
			return command.Vrfy{Arg: arg, SMTPUTF8: u}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			arg := str(genStringArg(true, false)).Draw(t, "arg")
			if rapid.Bool().Draw(t, "noop") {
				return command.Noop{Arg: arg}
			}
			return command.Help{Topic: arg}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			var ir []byte
			switch rapid.IntRange(0, 3).Draw(t, "ir") {
			case 1:
				ir = []byte{}
			case 2:
				ir = rapid.SliceOfN(rapid.Byte(), 1, 400).Draw(t, "data")
			case 3:
				ir = rapid.SliceOfN(rapid.Byte(), 370, 600).Draw(t, "big")
			}
			return command.Auth{Mechanism: str(rapid.StringOfN(rapid.SampledFrom(mechRunes), 1, 24, 24)).Draw(t, "mech"), InitialResponse: ir}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			return command.Raw{Name: str(genRawName()).Draw(t, "name"), Args: str(nil).Draw(t, "args")}
		}),
		rapid.SampledFrom([]command.Command{command.Data{}, command.Rset{}, command.Quit{}, command.StartTLS{}}),
	)
}

// HostileAddress draws an address as a user pastes it (PastedAddress),
// then applies up to four hostile edits: a hostile piece inserted, a run
// deleted or repeated, a byte replaced by a delimiter or a control.
func HostileAddress() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		m := Mailbox(rapid.Bool().Draw(t, "utf8")).Draw(t, "m")
		s := PastedAddress(m).Draw(t, "pasted")
		for range rapid.IntRange(0, 4).Draw(t, "edits") {
			pos := rapid.IntRange(0, len(s)).Draw(t, "pos")
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				s = s[:pos] + rapid.SampledFrom(hostilePieces).Draw(t, "piece") + s[pos:]
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
