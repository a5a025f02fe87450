package session

import (
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/response"
)

// Extensions is the table of service extensions a server listed in its
// EHLO reply (RFC 5321 §4.1.1.1): each keyword with its parameters.
// Keywords are compared without regard to ASCII case, since servers send
// "8bitmime" and "size 100" as well as "SIZE 100". The zero value is the
// empty table (a server that answered HELO, or no greeting yet).
type Extensions struct {
	keys   []string          // upper-case keywords, in the order listed
	params map[string]string // keyword -> parameters as sent (may be "")
}

// parseExtensions reads an EHLO reply. The first line is the server's
// name and greeting, not an extension. The obsolete "AUTH=LOGIN PLAIN"
// form some servers still send beside "AUTH LOGIN PLAIN" is merged into
// AUTH, without duplicates. An empty line (smtp-sink ends with "250 ")
// is skipped.
func parseExtensions(r response.Reply) Extensions {
	var e Extensions
	first := true
	for line := range r.AllLines() {
		if first {
			first = false
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		kw, params, _ := strings.Cut(line, " ")
		if k, v, ok := strings.Cut(kw, "="); ok && asciiUpper(k) == "AUTH" {
			kw, params = k, strings.TrimSpace(v+" "+params)
		}
		kw = asciiUpper(kw)
		if !validKeyword(kw) {
			continue
		}
		params = strings.TrimSpace(params)
		e.add(kw, params)
	}
	return e
}

func (e *Extensions) add(kw, params string) {
	if e.params == nil {
		e.params = make(map[string]string)
	}
	old, seen := e.params[kw]
	if !seen {
		e.keys = append(e.keys, kw)
		e.params[kw] = params
		return
	}
	if kw != "AUTH" {
		return // the first listing wins
	}
	// Merge mechanism lists, keeping the first order.
	have := strings.Fields(old)
	for _, m := range strings.Fields(params) {
		dup := false
		for _, h := range have {
			if strings.EqualFold(h, m) {
				dup = true
				break
			}
		}
		if !dup {
			have = append(have, m)
		}
	}
	e.params[kw] = strings.Join(have, " ")
}

// validKeyword is RFC 5321's ehlo-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
func validKeyword(k string) bool {
	if k == "" || k[0] == '-' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func asciiUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Has reports whether the server listed keyword (smtplib's has_extn).
func (e Extensions) Has(keyword string) bool {
	_, ok := e.params[asciiUpper(keyword)]
	return ok
}

// Param returns the parameters listed with keyword ("10240000" for
// "SIZE 10240000"), and whether the keyword was listed at all.
func (e Extensions) Param(keyword string) (string, bool) {
	p, ok := e.params[asciiUpper(keyword)]
	return p, ok
}

// Keywords returns the keywords in the order the server listed them, in
// upper case.
func (e Extensions) Keywords() []string {
	return append([]string(nil), e.keys...)
}

// Len is the number of extensions listed.
func (e Extensions) Len() int { return len(e.keys) }

// MaxSize returns the message size limit of the SIZE extension (RFC 1870
// §4). ok is false when SIZE is not listed; a listed SIZE with no
// number, or 0, means no fixed limit and gives 0, true.
func (e Extensions) MaxSize() (limit int64, ok bool) {
	p, ok := e.Param("SIZE")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
	if err != nil || n < 0 {
		return 0, true
	}
	return n, true
}

// AuthMechanisms returns the SASL mechanisms listed with AUTH (and the
// obsolete AUTH=), in upper case, in the order listed.
func (e Extensions) AuthMechanisms() []string {
	p, ok := e.Param("AUTH")
	if !ok {
		return nil
	}
	f := strings.Fields(p)
	for i := range f {
		f[i] = asciiUpper(f[i])
	}
	return f
}
