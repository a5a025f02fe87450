package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
)

// replyJSON is a server reply in --json output: the code, the RFC 3463
// enhanced code ("" when the reply has none) and the text without it,
// lines joined with "\n".
type replyJSON struct {
	Code     int    `json:"code"`
	Enhanced string `json:"enhanced"`
	Message  string `json:"message"`
}

func replyOf(r response.Reply) replyJSON {
	out := replyJSON{Code: int(r.Code), Message: r.Message()}
	if !r.Enhanced.IsZero() {
		out.Enhanced = r.Enhanced.String()
	}
	return out
}

// replyOrNil is nil (JSON null) for a reply that was never read.
func replyOrNil(r response.Reply) *replyJSON {
	if r.Code == 0 {
		return nil
	}
	j := replyOf(r)
	return &j
}

// writeJSON writes v as indented JSON, with every rune that
// internal/logsafe would escape written as a JSON escape (\u202e): the
// values decode to what the server sent, and the output is as safe on a
// terminal as the text output. encoding/json escapes C0 controls and
// replaces invalid UTF-8, but writes C1 controls and bidi overrides as
// they are.
func writeJSON(w io.Writer, v any) error {
	b, err := encodeJSON(v, "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(escapeJSON(b))
	return err
}

// rawJSON is v encoded as writeJSON encodes it, for a json.RawMessage
// inside what writeJSON then writes (its escapes are kept as they are).
func rawJSON(v any) (json.RawMessage, error) {
	b, err := encodeJSON(v, "")
	return bytes.TrimSuffix(b, []byte("\n")), err
}

// encodeJSON is the one place JSON is encoded, so that it is written the
// same way everywhere: HTML escaping off ("<bob@example.org> & co" in a
// reply stays as it is; json.Marshal would write \u003c and \u0026), and
// indented by indent when it is not "".
func encodeJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", indent)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// escapeJSON replaces each rune of encoded JSON that is neither printable
// nor a line feed with its \u escape. encoding/json leaves such runes only
// inside strings (between tokens there is white space alone), where the
// escape means the same rune.
func escapeJSON(b []byte) []byte {
	var out []byte
	start := 0
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		invalid := r == utf8.RuneError && n == 1 // encoding/json never leaves one; \ufffd if it did
		if r == '\n' || logsafe.Printable(r) && !invalid {
			i += n
			continue
		}
		out = append(out, b[start:i]...)
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = appendU(appendU(out, r1), r2)
		} else {
			out = appendU(out, r)
		}
		i += n
		start = i
	}
	if out == nil {
		return b
	}
	return append(out, b[start:]...)
}

// appendU appends the JSON escape \uXXXX of the UTF-16 code unit u.
func appendU(dst []byte, u rune) []byte {
	dst = append(dst, `\u`...)
	h := strconv.FormatInt(int64(u), 16)
	for range 4 - len(h) {
		dst = append(dst, '0')
	}
	return append(dst, h...)
}
