package session

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
// AUTH, without duplicates (see mergeMechanisms). An empty line
// (smtp-sink ends with "250 ") is skipped. The cost is linear in the size
// of the reply, whatever the server lists.
func parseExtensions(r response.Reply) Extensions {
	var e Extensions
	var auth []string // the mechanisms of each AUTH and AUTH= line
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
		if kw == "AUTH" {
			auth = append(auth, params)
		}
		e.add(kw, params)
	}
	if len(auth) > 1 {
		e.params["AUTH"] = mergeMechanisms(auth)
	}
	return e
}

// add records a keyword; the first listing wins (parseExtensions merges
// the AUTH lines itself).
func (e *Extensions) add(kw, params string) {
	if e.params == nil {
		e.params = make(map[string]string)
	}
	if _, seen := e.params[kw]; seen {
		return
	}
	e.keys = append(e.keys, kw)
	e.params[kw] = params
}

// mergeMechanisms joins the mechanism lists of several AUTH lines with
// single spaces: each mechanism once, in the order first listed, compared
// as strings.EqualFold compares. Repeats within the first list stay, as a
// lone AUTH line stays as sent. One set lookup per mechanism: a hostile
// server's 15,000 mechanisms cost 15,000 lookups, where comparing each
// with every earlier one cost a hundred million comparisons.
func mergeMechanisms(lists []string) string {
	hint := 0
	for _, l := range lists {
		hint += strings.Count(l, " ") + 1
	}
	have := strings.Fields(lists[0])
	seen := make(map[string]struct{}, hint)
	for _, m := range have {
		seen[foldKey(m)] = struct{}{}
	}
	for _, l := range lists[1:] {
		for m := range strings.FieldsSeq(l) {
			k := foldKey(m)
			if _, dup := seen[k]; !dup {
				seen[k] = struct{}{}
				have = append(have, m)
			}
		}
	}
	return strings.Join(have, " ")
}

// foldKey returns a key that two strings share exactly when
// strings.EqualFold reports them equal: ASCII upper case for ASCII text
// (the only real case), and otherwise each rune replaced by the least
// rune of its case-folding orbit (unicode.SimpleFold), which for an ASCII
// letter is its upper case, invalid UTF-8 reading as U+FFFD as it does
// for EqualFold.
func foldKey(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			b := make([]byte, 0, len(s))
			for _, r := range s {
				least := r
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					least = min(least, f)
				}
				b = utf8.AppendRune(b, least)
			}
			return string(b)
		}
	}
	return asciiUpper(s)
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

// ServerLimits are the limits a server announced with the LIMITS
// extension (RFC 9422) for the session. A zero field means the limit was
// not announced (or its value could not be read), not a limit of zero.
type ServerLimits struct {
	// MailMax is the most transactions (MAIL commands) the server takes
	// in one session (MAILMAX, RFC 9422 §5.1): a client with more
	// messages sends them on another connection.
	MailMax int
	// RcptMax is the most RCPT commands the server takes in one
	// transaction (RCPTMAX, §5.2): the recipients past it go in a
	// following transaction.
	RcptMax int
	// RcptDomainMax is the most distinct recipient domains the server
	// takes in one transaction (RCPTDOMAINMAX, §5.3).
	RcptDomainMax int
}

// maxLimitDigits bounds a LIMITS value: nine digits fit an int
// everywhere; a larger limit is as good as none.
const maxLimitDigits = 9

// Limits returns the limits of the LIMITS extension (RFC 9422), as in
//
//	250-LIMITS MAILMAX=1000 RCPTMAX=50 RCPTDOMAINMAX=10
//
// Names are matched without regard to case (§4); a name this package
// does not know, a name without "=", and a value that is not a positive
// decimal number of at most nine digits are ignored; a name listed more
// than once takes its first value that reads. Without LIMITS every field
// is zero.
func (e Extensions) Limits() ServerLimits {
	var l ServerLimits
	p, ok := e.Param("LIMITS")
	if !ok {
		return l
	}
	for f := range strings.FieldsSeq(p) {
		name, value, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var field *int
		switch asciiUpper(name) {
		case "MAILMAX":
			field = &l.MailMax
		case "RCPTMAX":
			field = &l.RcptMax
		case "RCPTDOMAINMAX":
			field = &l.RcptDomainMax
		default:
			continue
		}
		if n := limitValue(value); n > 0 && *field == 0 {
			*field = n
		}
	}
	return l
}

// limitValue reads a limit's value, 1 to maxLimitDigits decimal digits;
// anything else is 0.
func limitValue(s string) int {
	if s == "" || len(s) > maxLimitDigits {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
