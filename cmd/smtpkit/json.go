package main

import (
	"encoding/json"
	"io"

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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
