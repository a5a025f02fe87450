package fuzz

// Commands of every verb.

import (
	"math"

	"github.com/smtpkit/smtpkit/command"
	"pgregory.net/rapid"
)

// Mail draws a canonical MAIL FROM command (a command.Mail): the null
// sender one time in five, with MailParams; SMTPUTF8 decides whether the
// sender and the parameter values may be UTF-8.
func Mail() *rapid.Generator[command.Command] {
	return rapid.Custom(func(t *rapid.T) command.Command {
		smtputf8 := rapid.Bool().Draw(t, "smtputf8")
		var from command.Mailbox
		if rapid.IntRange(0, 4).Draw(t, "null") > 0 {
			from = Mailbox(smtputf8).Draw(t, "from")
		}
		return command.Mail{From: from, Params: MailParams(smtputf8).Draw(t, "params")}
	})
}

// Rcpt draws a canonical RCPT TO command (a command.Rcpt) with
// RcptParams, now and then to the domainless Postmaster; SMTPUTF8 is set
// exactly when the line will hold UTF-8, as Parse sets it.
func Rcpt() *rapid.Generator[command.Command] {
	return rapid.Custom(func(t *rapid.T) command.Command {
		utf8 := rapid.Bool().Draw(t, "utf8")
		var to command.Mailbox
		if rapid.IntRange(0, 6).Draw(t, "postmaster") == 0 {
			to = command.Mailbox{Local: rapid.SampledFrom([]string{"Postmaster", "postmaster", "POSTMASTER", "PostMaster"}).Draw(t, "pm")}
		} else {
			to = Mailbox(utf8).Draw(t, "to")
		}
		c := command.Rcpt{
			To:     to,
			Params: RcptParams(utf8).Draw(t, "params"),
		}
		c.SMTPUTF8 = !isASCII(to.Local) || !isASCII(to.Domain)
		for _, p := range c.Params.Extra {
			c.SMTPUTF8 = c.SMTPUTF8 || !isASCII(p.Value)
		}
		return c
	})
}

// genStringArg draws a VRFY or EXPN argument (non-empty), or a HELP or
// NOOP one (may be empty); UTF-8 only when utf8 is set.
func genStringArg(utf8, required bool) *rapid.Generator[string] {
	min := 0
	if required {
		min = 1
	}
	special := []string{"SMTPUTF8", "a SMTPUTF8", "\"", "\"a\"", "a\"b", `\`, " ", "  x  ", "smtputf8", "x SMTPUTF8 "}
	if !required {
		special = append(special, "")
	}
	return rapid.OneOf(
		rapid.StringOfN(runeGen(printable, utf8), min, 40, 160),
		rapid.StringOfN(runeGen([]rune("abc@.-_"), utf8), min, 20, 80),
		rapid.SampledFrom(special),
	)
}

// genRawName draws a command.Raw command's name: an esmtp-keyword that is not a
// known verb.
func genRawName() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.SampledFrom([]string{"ETRN", "XCLIENT", "XFORWARD", "etrn", "ATRN", "TURN", "X-1", "MAILX", "HELLO", "DAT", "START-TLS"}),
		genKeyword(nil),
	).Filter(func(s string) bool { return !equalFoldAny(s, knownVerbs) })
}

// Command draws a canonical command of every verb package command knows
// (HELO, EHLO, LHLO, MAIL, RCPT, DATA, RSET, QUIT, STARTTLS, BDAT with any
// size, VRFY, EXPN, HELP, NOOP, AUTH with no, an empty or a long initial
// response) and Raw commands under other names (ETRN, XCLIENT, ...): each
// is one that Append accepts and Parse gives back field for field. HELO,
// EHLO and LHLO carry ASCII names (Append turns U-labels into A-labels).
func Command() *rapid.Generator[command.Command] {
	domain := genHelloDomain()
	return rapid.OneOf(
		rapid.Map(domain, func(d string) command.Command { return command.Helo{Domain: d} }),
		rapid.Map(domain, func(d string) command.Command { return command.Ehlo{Domain: d} }),
		rapid.Map(domain, func(d string) command.Command { return command.Lhlo{Domain: d} }),
		Mail(), Mail(), Mail(),
		Rcpt(), Rcpt(), Rcpt(),
		rapid.SampledFrom([]command.Command{command.Data{}, command.Rset{}, command.Quit{}, command.StartTLS{}}),
		rapid.Custom(func(t *rapid.T) command.Command {
			size := rapid.OneOf(rapid.Int64Range(0, 1<<20), rapid.Int64Range(0, math.MaxInt64)).Draw(t, "size")
			return command.Bdat{Size: size, Last: rapid.Bool().Draw(t, "last")}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			u := rapid.Bool().Draw(t, "smtputf8")
			arg := genStringArg(u, true).Draw(t, "arg")
			if rapid.Bool().Draw(t, "expn") {
				return command.Expn{Arg: arg, SMTPUTF8: u}
			}
			return command.Vrfy{Arg: arg, SMTPUTF8: u}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			arg := genStringArg(false, false).Draw(t, "arg")
			if rapid.Bool().Draw(t, "noop") {
				return command.Noop{Arg: arg}
			}
			return command.Help{Topic: arg}
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			c := command.Auth{Mechanism: rapid.StringOfN(rapid.SampledFrom(mechRunes), 1, 20, 20).Draw(t, "mech")}
			switch rapid.IntRange(0, 2).Draw(t, "ir") {
			case 1:
				c.InitialResponse = []byte{}
			case 2:
				c.InitialResponse = rapid.SliceOfN(rapid.Byte(), 1, 300).Draw(t, "data")
			}
			return c
		}),
		rapid.Custom(func(t *rapid.T) command.Command {
			args := rapid.OneOf(
				rapid.Just(""),
				rapid.StringOfN(runeGen(printable, true), 1, 80, 320),
			).Draw(t, "args")
			return command.Raw{Name: genRawName().Draw(t, "name"), Args: args}
		}),
	)
}
