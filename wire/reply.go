package wire

import (
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/response"
)

// AppendReply appends r in its wire form (RFC 5321 §4.2) to dst and returns
// the extended slice: one line per line of r.Text, each the code, "-" on
// every line but the last and " " on the last, the line's text and CRLF.
//
//	250-mx.example.org greets client.example.org
//	250-PIPELINING
//	250 2.0.0 SIZE 10240000
//
// It is the inverse of [Reader.ReadReply]: for a reply with a valid code
// (200 to 599), lines within the Reader's limits and Enhanced as its first
// line gives it (as [response.New] and ReadReply make it), ReadReply reads
// back exactly r.
//
// Nothing is checked, so that a server under test can be made to send what
// it should not: the code is written in decimal, zero-padded to three
// digits (a negative one as 000), and the text as it is. Only LF separates
// lines, so r.Text cannot end a line early; a CR in it is sent as text.
func AppendReply(dst []byte, r response.Reply) []byte {
	var code [3]byte
	switch c := int(r.Code); {
	case c < 0:
		code = [3]byte{'0', '0', '0'}
	case c <= 999:
		code = [3]byte{byte('0' + c/100), byte('0' + c/10%10), byte('0' + c%10)}
	}
	text := r.Text
	for {
		if r.Code > 999 {
			dst = strconv.AppendInt(dst, int64(r.Code), 10)
		} else {
			dst = append(dst, code[:]...)
		}
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			dst = append(dst, ' ')
			dst = append(dst, text...)
			return append(dst, '\r', '\n')
		}
		dst = append(dst, '-')
		dst = append(dst, text[:i]...)
		dst = append(dst, '\r', '\n')
		text = text[i+1:]
	}
}
