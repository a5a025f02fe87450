package fuzz

// ESMTP parameters of MAIL and RCPT.

import (
	"math"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"pgregory.net/rapid"
)

// ---- parameters ----

// genKeyword draws an esmtp-keyword that has no field of its own in
// reserved.
func genKeyword(reserved []string) *rapid.Generator[string] {
	kw := rapid.Custom(func(t *rapid.T) string {
		first := rapid.SampledFrom(letDigRunes).Draw(t, "first")
		return string(first) + rapid.StringOfN(rapid.SampledFrom(lDHRunes), 0, 12, 12).Draw(t, "rest")
	})
	named := rapid.SampledFrom([]string{"X-FOO", "x-bar", "HOLDFOR", "XYZZY", "TRANSID", "1", "A-", "SIZE", "NOTIFY"})
	return rapid.OneOf(kw, named).Filter(func(s string) bool { return !equalFoldAny(s, reserved) })
}

// genValue draws an esmtp-value, or "" for a parameter without one.
func genValue(utf8 bool) *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.Just(""),
		rapid.StringOfN(runeGen(valueRunes, utf8), 1, 30, 120),
		rapid.SampledFrom([]string{"<>", `"`, `\`, "a;b", "+2B", "x,y", "SMTPUTF8"}),
	)
}

// genExtra draws up to three extension parameters with distinct
// keywords, nil when there are none (Parse returns nil, not an empty
// slice).
func genExtra(reserved []string, utf8 bool) *rapid.Generator[[]command.Param] {
	p := rapid.Custom(func(t *rapid.T) command.Param {
		return command.Param{Keyword: genKeyword(reserved).Draw(t, "keyword"), Value: genValue(utf8).Draw(t, "value")}
	})
	return rapid.Map(rapid.SliceOfNDistinct(p, 0, 3, func(p command.Param) string { return strings.ToUpper(p.Keyword) }),
		func(ps []command.Param) []command.Param {
			if len(ps) == 0 {
				return nil
			}
			return ps
		})
}

// genEnvID draws an ENVID: printable ASCII, at most 100 octets as xtext.
func genEnvID() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.Just(""),
		rapid.Map(rapid.StringOfN(rapid.SampledFrom(printable), 1, 100, 100), func(s string) string {
			for xtextLen(s) > 100 {
				s = s[:len(s)-1]
			}
			return s
		}),
	)
}

// genAuthParam draws the AUTH= value: none, "<>" or an addr-spec.
func genAuthParam() *rapid.Generator[string] {
	addr := rapid.Map(Mailbox(true), command.Mailbox.String).
		Filter(func(s string) bool { return xtextLen(s) <= 500 })
	return rapid.OneOf(rapid.Just(""), rapid.Just("<>"), addr, addr)
}

// genDeliverBy draws a BY value that check accepts.
func genDeliverBy() *rapid.Generator[command.DeliverBy] {
	return rapid.Custom(func(t *rapid.T) command.DeliverBy {
		if rapid.Bool().Draw(t, "notify") {
			return command.DeliverBy{
				Time:  rapid.Int64Range(1, 999999999).Draw(t, "time"),
				Mode:  command.ByNotify,
				Trace: rapid.Bool().Draw(t, "trace"),
			}
		}
		return command.DeliverBy{
			Time:  rapid.Int64Range(-999999999, 999999999).Draw(t, "time"),
			Mode:  command.ByReturn,
			Trace: rapid.Bool().Draw(t, "trace"),
		}
	})
}

// MailParams draws the parameters of a canonical MAIL: SIZE (up to
// MaxInt64), BODY, RET, ENVID (at most 100 octets as xtext), AUTH= ("<>" or
// an addr-spec), REQUIRETLS, MT-PRIORITY, BY in both modes, and up to three
// extension parameters with distinct keywords. smtputf8 is the SMTPUTF8
// field, which also decides whether extension values may be UTF-8.
func MailParams(smtputf8 bool) *rapid.Generator[command.MailParams] {
	return rapid.Custom(func(t *rapid.T) command.MailParams {
		var p command.MailParams
		if rapid.Bool().Draw(t, "hasSize") {
			p.Size = rapid.OneOf(rapid.Int64Range(1, 1<<40), rapid.Just(int64(math.MaxInt64))).Draw(t, "size")
		}
		p.Body = rapid.SampledFrom([]command.Body{"", command.Body7Bit, command.Body8BitMIME, command.BodyBinaryMIME}).Draw(t, "body")
		p.SMTPUTF8 = smtputf8
		p.Ret = rapid.SampledFrom([]command.Ret{"", command.RetFull, command.RetHeaders}).Draw(t, "ret")
		p.EnvID = genEnvID().Draw(t, "envid")
		p.Auth = genAuthParam().Draw(t, "auth")
		p.RequireTLS = rapid.Bool().Draw(t, "requiretls")
		p.MTPriority = rapid.Ptr(rapid.IntRange(-9, 9), true).Draw(t, "mtpriority")
		p.By = rapid.Ptr(genDeliverBy(), true).Draw(t, "by")
		p.Extra = genExtra(mailKeywords, smtputf8).Draw(t, "extra")
		return p
	})
}

// genNotify draws a NOTIFY set that Append accepts.
func genNotify() *rapid.Generator[command.Notify] {
	return rapid.Custom(func(t *rapid.T) command.Notify {
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			return 0
		case 1:
			return command.NotifyNever
		}
		return command.Notify(rapid.IntRange(1, 7).Draw(t, "set")) << 1 // a non-empty subset of SUCCESS, FAILURE, DELAY
	})
}

// genORCPT draws an ORCPT: none, type rfc822 with an ASCII address, or
// type utf-8 (or another atom) with any address.
func genORCPT() *rapid.Generator[command.OriginalRecipient] {
	return rapid.Custom(func(t *rapid.T) command.OriginalRecipient {
		switch rapid.IntRange(0, 3).Draw(t, "kind") {
		case 0:
			return command.OriginalRecipient{}
		case 1:
			addr := rapid.OneOf(
				rapid.Map(Mailbox(false), command.Mailbox.String),
				rapid.StringOfN(rapid.SampledFrom(printable), 1, 60, 60),
			).Draw(t, "addr")
			typ := rapid.SampledFrom([]string{"rfc822", "RFC822", "Rfc822"}).Draw(t, "type")
			return command.OriginalRecipient{Type: typ, Address: addr}
		}
		addr := rapid.OneOf(
			rapid.Map(Mailbox(true), command.Mailbox.String),
			rapid.StringOfN(runeGen(printable, true), 1, 30, 120),
		).Draw(t, "addr")
		typ := rapid.SampledFrom([]string{"utf-8", "UTF-8", "utf-8", "x-local", "X400"}).Draw(t, "type")
		return command.OriginalRecipient{Type: typ, Address: addr}
	}).Filter(func(o command.OriginalRecipient) bool { return len(o.Type)+1+orcptLen(o.Type, o.Address) <= 500 })
}

// RcptParams draws the parameters of a canonical RCPT: NOTIFY (none,
// NEVER or a subset of SUCCESS, FAILURE, DELAY), ORCPT (rfc822 with an
// ASCII address, utf-8 or another type with any address, at most 500 octets
// on the wire), and up to three extension parameters whose values may be
// UTF-8 when utf8 is set (the command then needs SMTPUTF8).
func RcptParams(utf8 bool) *rapid.Generator[command.RcptParams] {
	return rapid.Custom(func(t *rapid.T) command.RcptParams {
		return command.RcptParams{
			Notify: genNotify().Draw(t, "notify"),
			ORCPT:  genORCPT().Draw(t, "orcpt"),
			Extra:  genExtra(rcptKeywords, utf8).Draw(t, "extra"),
		}
	})
}
