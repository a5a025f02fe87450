package fuzz

import (
	"strconv"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

// replyLineOctets are the octets reply text is drawn from: spaces, digits
// and dots (which make enhanced codes) over-represented, with tab, UTF-8
// and the hyphen that separates a code from a continued line.
var replyLineOctets = []rune("2345.0 -abcxyzABCXYZ\té")

// Reply draws a reply that a strict reader accepts (RFC 5321 §4.2): a
// code from 200 to 599, one to twenty lines of printable text (tabs and
// UTF-8 included, up to 200 octets), half of them starting with an RFC
// 3463 enhanced code of the reply's class, and now and then a line that is
// empty or only white space. Enhanced is set as response.New sets it.
func Reply() *rapid.Generator[response.Reply] {
	line := rapid.OneOf(
		rapid.StringOfN(rapid.SampledFrom(replyLineOctets), 0, 60, 200),
		rapid.StringOfN(rapid.RuneFrom(rapidPrintable), 0, 60, 200),
		rapid.SampledFrom([]string{"", " ", "OK", "2.0.0", "5.5.5", "PIPELINING", "SIZE 10240000"}),
	)
	return rapid.Custom(func(t *rapid.T) response.Reply {
		code := response.Code(rapid.IntRange(200, 599).Draw(t, "code"))
		lines := rapid.SliceOfN(line, 1, 20).Draw(t, "lines")
		if rapid.Bool().Draw(t, "enhanced") {
			class := strconv.Itoa(int(code) / 100)
			lines[0] = class + "." + strconv.Itoa(rapid.IntRange(0, 7).Draw(t, "subject")) + "." +
				strconv.Itoa(rapid.IntRange(0, 30).Draw(t, "detail")) + " " + lines[0]
		}
		return response.New(code, lines...)
	})
}

// rapidPrintable is printable ASCII for RuneFrom.
var rapidPrintable = runes(' ', '~', "")

// HostileReplies draws reply streams as a broken or hostile server sends
// them, to feed a client's reply reader: valid replies (wire.AppendReply)
// cut short, with a bare LF or CR, a NUL, a missing or four-digit code,
// codes that change within a reply, a continuation that never ends, lines
// and replies over the limits, and garbage. A reader must return each
// reply it takes or a clean error, and never hang or panic.
func HostileReplies() *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		var b []byte
		for _, r := range rapid.SliceOfN(Reply(), 1, 4).Draw(t, "replies") {
			b = wire.AppendReply(b, r)
		}
		for range rapid.IntRange(0, 3).Draw(t, "edits") {
			pos := rapid.IntRange(0, len(b)).Draw(t, "pos")
			switch rapid.IntRange(0, 5).Draw(t, "edit") {
			case 0:
				b = b[:pos]
			case 1:
				ins := rapid.SampledFrom([]string{"\n", "\r", "\x00", "250", "2500 x\r\n", "550-a\r\n", "250-", "\r\n250 ok\r\n", "\xff", "   \r\n"}).Draw(t, "insert")
				b = append(b[:pos:pos], append([]byte(ins), b[pos:]...)...)
			case 2:
				for range rapid.IntRange(1, 1100).Draw(t, "continuations") {
					b = append(b, "250-more\r\n"...)
				}
			case 3:
				b = append(b, "250 "...)
				for range rapid.SampledFrom([]int{509, 510, 511, 600, 5000}).Draw(t, "long") {
					b = append(b, 'x')
				}
				b = append(b, "\r\n"...)
			case 4:
				b = append(b, rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(t, "garbage")...)
			default:
				if pos < len(b) {
					b[pos] = rapid.SampledFrom([]byte("-  \r\n\x00a9")).Draw(t, "octet")
				}
			}
		}
		return b
	})
}
