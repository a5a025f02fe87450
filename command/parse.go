package command

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parser reads command lines on the server side. The zero Parser is
// strict: it accepts what RFC 5321 and the extension RFCs allow, and what
// this package's Append methods write, nothing more.
type Parser struct {
	// Lenient also accepts the forms that real clients send and the RFCs
	// forbid: spaces after "FROM:" and "TO:" and between arguments, a path
	// without angle brackets, a bare LF line ending, any printable word
	// as the HELO/EHLO name, a VRFY/EXPN/HELP/NOOP argument with spaces,
	// extra words after DATA, RSET, QUIT and STARTTLS, UTF-8 without
	// SMTPUTF8, and lines longer than their limit.
	Lenient bool
}

// Parse parses one command line, with or without its CRLF, with a strict
// [Parser]. The verb is matched without regard to case; an unknown verb
// gives a [Raw]. Any CR, LF or NUL inside the line, and bytes that are not
// UTF-8, are [ErrIllegalChar] in every mode.
func Parse(line []byte) (Command, error) { return Parser{}.Parse(line) }

// Parse parses one command line; see the package function [Parse].
func (p Parser) Parse(line []byte) (Command, error) {
	switch n := len(line); {
	case n >= 2 && line[n-2] == '\r' && line[n-1] == '\n':
		line = line[:n-2]
	case p.Lenient && n >= 1 && line[n-1] == '\n':
		line = line[:n-1]
	}
	s := string(line)
	if cls := classes(s); cls&cCtl != 0 || cls&cHigh != 0 && !utf8.ValidString(s) {
		return nil, argError("", "line", ErrIllegalChar)
	}
	if p.Lenient {
		s = strings.TrimRight(s, " ")
	}
	verb, args, hasArgs := strings.Cut(s, " ")
	if p.Lenient {
		args = strings.TrimLeft(args, " ")
		hasArgs = args != ""
	}
	if verb == "" {
		return nil, argError("", "verb", ErrMissing)
	}
	ps := parseState{lenient: p.Lenient, line: len(line) + 2}
	var c Command
	var err error
	switch v := toUpper(verb); v {
	case "HELO", "EHLO", "LHLO":
		c, err = ps.hello(v, args)
	case "MAIL":
		c, err = ps.mail(args)
	case "RCPT":
		c, err = ps.rcpt(args)
	case "DATA", "RSET", "QUIT", "STARTTLS":
		if hasArgs && !p.Lenient {
			return nil, argError(v, "line", ErrSyntax)
		}
		c = bare(v)
	case "BDAT":
		c, err = ps.bdat(args)
	case "VRFY", "EXPN":
		c, err = ps.verify(v, args)
	case "HELP", "NOOP":
		c, err = ps.help(v, args, hasArgs)
	case "AUTH":
		c, err = ps.auth(args)
	default:
		if !isKeyword(verb) && !p.Lenient {
			return nil, argError("", "verb", ErrSyntax)
		}
		c = Raw{Name: verb, Args: args}
	}
	if err != nil {
		return nil, err
	}
	if hasArgs && args == "" && !p.Lenient {
		// "VERB " with nothing after: the space is not allowed.
		return nil, argError(c.Verb(), "line", ErrSyntax)
	}
	if !p.Lenient && ps.line > ps.limit() {
		return nil, argError(c.Verb(), "line", ErrTooLong)
	}
	return c, nil
}

func bare(verb string) Command {
	switch verb {
	case "DATA":
		return Data{}
	case "RSET":
		return Rset{}
	case "QUIT":
		return Quit{}
	}
	return StartTLS{}
}

// parseState carries the mode and the line-length bookkeeping of one Parse.
type parseState struct {
	lenient bool
	line    int // octets in the line, CRLF included
	extra   int // room granted beyond MaxCommandLineLength
}

func (ps *parseState) limit() int { return MaxCommandLineLength + ps.extra }

func (ps *parseState) hello(verb, args string) (Command, error) {
	if args == "" {
		return nil, argError(verb, "domain", ErrMissing)
	}
	// Lenient: clients send "localhost", "my_host", an IP without
	// brackets...
	if !ps.lenient {
		if err := checkDomainOrLiteral(args); err != nil {
			return nil, argError(verb, "domain", err)
		}
	}
	switch verb {
	case "HELO":
		return Helo{Domain: args}, nil
	case "EHLO":
		return Ehlo{Domain: args}, nil
	}
	return Lhlo{Domain: args}, nil
}

// path parses `prefix` Path (prefix being "FROM:" or "TO:") at the start
// of args and returns the rest of the line, the parameters.
func (ps *parseState) path(verb, prefix, arg, args string) (Mailbox, string, error) {
	if len(args) < len(prefix) || !equalFold(args[:len(prefix)], prefix) {
		return Mailbox{}, "", argError(verb, arg, ErrSyntax)
	}
	s := args[len(prefix):]
	if ps.lenient {
		s = strings.TrimLeft(s, " ")
	}
	if s == "" {
		return Mailbox{}, "", argError(verb, arg, ErrMissing)
	}
	if s[0] != '<' {
		if !ps.lenient {
			return Mailbox{}, "", argError(verb, arg, ErrSyntax)
		}
		m, n, err := parseMailbox(s, arg)
		if err != nil {
			return Mailbox{}, "", withVerb(err, verb)
		}
		return m, s[n:], nil
	}
	if strings.HasPrefix(s, "<>") {
		return Mailbox{}, s[2:], nil
	}
	if len(s) < 2 {
		return Mailbox{}, "", argError(verb, arg, ErrSyntax)
	}
	i := 1
	if s[1] == '@' {
		// A source route, "@one,@two:": skipped (RFC 5321 §4.1.1.3 and
		// Appendix C).
		colon := routeEnd(s)
		if colon < 0 || !isRoute(s[1:colon]) {
			return Mailbox{}, "", argError(verb, arg+" route", ErrSyntax)
		}
		i = colon + 1
	}
	m, n, err := parseMailbox(s[i:], arg)
	if err != nil {
		return Mailbox{}, "", withVerb(err, verb)
	}
	end := i + n
	if end >= len(s) || s[end] != '>' {
		return Mailbox{}, "", argError(verb, arg, syntaxOrIllegal(s[end:]))
	}
	if !ps.lenient && end+1 > MaxPathLength {
		return Mailbox{}, "", argError(verb, arg, ErrTooLong)
	}
	return m, s[end+1:], nil
}

// routeEnd finds the colon that ends a source route, skipping address
// literals, whose IPv6 form holds colons of its own.
func routeEnd(s string) int {
	inLiteral := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			inLiteral = true
		case ']':
			inLiteral = false
		case ':':
			if !inLiteral {
				return i
			}
		}
	}
	return -1
}

// isRoute checks A-d-l = At-domain *( "," At-domain ).
func isRoute(s string) bool {
	for at := range strings.SplitSeq(s, ",") {
		if len(at) < 2 || at[0] != '@' || checkDomainOrLiteral(at[1:]) != nil {
			return false
		}
	}
	return true
}

// params splits the parameters after a path into keyword and value.
func (ps *parseState) params(verb, s string) ([]Param, error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != ' ' {
		return nil, argError(verb, "line", ErrSyntax)
	}
	var out []Param
	for s != "" {
		s = s[1:]
		if ps.lenient {
			s = strings.TrimLeft(s, " ")
		}
		word := s
		if i := strings.IndexByte(s, ' '); i >= 0 {
			word, s = s[:i], s[i:]
		} else {
			s = ""
		}
		kw, val, hasVal := strings.Cut(word, "=")
		if !isKeyword(kw) {
			return nil, argError(verb, "parameter "+safeName(kw), ErrSyntax)
		}
		if hasVal && val == "" || strings.IndexByte(val, '=') >= 0 {
			return nil, argError(verb, "parameter "+kw, ErrSyntax)
		}
		for _, q := range out {
			if equalFold(q.Keyword, kw) {
				return nil, argError(verb, "parameter "+kw, ErrDuplicate)
			}
		}
		out = append(out, Param{Keyword: kw, Value: val})
	}
	return out, nil
}

func (ps *parseState) mail(args string) (Command, error) {
	from, rest, err := ps.path("MAIL", "FROM:", "FROM", args)
	if err != nil {
		return nil, err
	}
	if !from.IsNull() {
		if from.Domain == "" {
			return nil, argError("MAIL", "FROM domain", ErrMissing)
		}
		if _, err := checkMailbox(from, true, "FROM"); err != nil {
			return nil, withVerb(err, "MAIL")
		}
	}
	params, err := ps.params("MAIL", rest)
	if err != nil {
		return nil, err
	}
	c := Mail{From: from}
	p := &c.Params
	dsn := false // RET and ENVID share one allowance
	for _, kv := range params {
		if err := ps.mailParam(p, kv); err != nil {
			return nil, err
		}
		switch kw := toUpper(kv.Keyword); kw {
		case "SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "AUTH":
			// The fixed allowances; from the keywords, as SIZE=0
			// leaves no trace in MailParams.
			if kw == "RET" || kw == "ENVID" {
				if dsn {
					continue
				}
				dsn = true
			}
			ps.extra += mailAllowance(kw)
		default:
			ps.extra += paramLen(kv)
		}
	}
	if !ps.lenient && !p.SMTPUTF8 && (!isASCII(from.Local) || !isASCII(from.Domain) || extraNeedsSMTPUTF8(p.Extra)) {
		return nil, argError("MAIL", "FROM", ErrNeedsSMTPUTF8)
	}
	return c, nil
}

func (ps *parseState) mailParam(p *MailParams, kv Param) error {
	val := kv.Value
	kw := toUpper(kv.Keyword)
	bad := func(kind error) error { return argError("MAIL", kw, kind) }
	switch kw {
	case "SIZE":
		n, err := parseDigits(val, 20)
		if err != nil {
			return bad(err)
		}
		p.Size = n
	case "BODY":
		switch b := Body(toUpper(val)); b {
		case Body7Bit, Body8BitMIME, BodyBinaryMIME:
			p.Body = b
		default:
			return bad(ErrSyntax)
		}
	case "SMTPUTF8", "REQUIRETLS":
		if val != "" {
			return bad(ErrSyntax)
		}
		if kw == "SMTPUTF8" {
			p.SMTPUTF8 = true
		} else {
			p.RequireTLS = true
		}
	case "RET":
		switch r := Ret(toUpper(val)); r {
		case RetFull, RetHeaders:
			p.Ret = r
		default:
			return bad(ErrSyntax)
		}
	case "ENVID":
		if val == "" {
			return bad(ErrSyntax)
		}
		id, err := decodeXtextValue(val)
		if err == nil {
			err = checkEnvID(id)
		}
		if err != nil {
			return bad(err)
		}
		p.EnvID = id
	case "AUTH":
		if val == "" {
			return bad(ErrSyntax)
		}
		who, err := decodeXtextValue(val)
		if err == nil {
			err = checkAuthParam(who)
		}
		if err != nil {
			return bad(err)
		}
		p.Auth = who
	case "MT-PRIORITY":
		n, err := parseSigned(val, 1)
		if err != nil {
			return bad(err)
		}
		if n < -9 || n > 9 {
			return bad(ErrRange)
		}
		v := int(n)
		p.MTPriority = &v
	case "BY":
		by, err := parseBy(val)
		if err != nil {
			return bad(err)
		}
		p.By = by
	default:
		if err := checkValue(kv.Value, true); err != nil {
			return bad(err)
		}
		p.Extra = append(p.Extra, kv)
	}
	return nil
}

func (ps *parseState) rcpt(args string) (Command, error) {
	to, rest, err := ps.path("RCPT", "TO:", "TO", args)
	if err != nil {
		return nil, err
	}
	if to.IsNull() {
		return nil, argError("RCPT", "TO", ErrMissing)
	}
	if _, err := checkMailbox(to, true, "TO"); err != nil {
		return nil, withVerb(err, "RCPT")
	}
	params, err := ps.params("RCPT", rest)
	if err != nil {
		return nil, err
	}
	c := Rcpt{To: to}
	p := &c.Params
	for _, kv := range params {
		kw := toUpper(kv.Keyword)
		switch kw {
		case "NOTIFY":
			n, err := parseNotify(kv.Value)
			if err != nil {
				return nil, argError("RCPT", kw, err)
			}
			p.Notify = n
		case "ORCPT":
			o, err := parseORCPT(kv.Value)
			if err != nil {
				return nil, argError("RCPT", kw, err)
			}
			p.ORCPT = o
		default:
			if err := checkValue(kv.Value, true); err != nil {
				return nil, argError("RCPT", kw, err)
			}
			p.Extra = append(p.Extra, kv)
			ps.extra += paramLen(kv)
		}
	}
	ps.extra += p.fixedAllowance()
	c.SMTPUTF8 = !isASCII(to.Local) || !isASCII(to.Domain) || extraNeedsSMTPUTF8(p.Extra)
	return c, nil
}

// paramLen is the length of " KEYWORD[=VALUE]", the room a parameter
// without a fixed allowance gets.
func paramLen(p Param) int {
	n := 1 + len(p.Keyword)
	if p.Value != "" {
		n += 1 + len(p.Value)
	}
	return n
}

func parseNotify(s string) (Notify, error) {
	var n Notify
	for word := range strings.SplitSeq(s, ",") {
		var f Notify
		for _, nn := range notifyNames {
			if equalFold(word, nn.name) {
				f = nn.flag
			}
		}
		if f == 0 {
			return 0, syntaxOrIllegal(word)
		}
		if n&f != 0 {
			return 0, ErrDuplicate
		}
		n |= f
	}
	if !n.valid() {
		return 0, ErrSyntax
	}
	return n, nil
}

func parseORCPT(s string) (OriginalRecipient, error) {
	typ, addr, ok := strings.Cut(s, ";")
	if !ok || !isAtom(typ) || addr == "" {
		return OriginalRecipient{}, ErrSyntax
	}
	if len(s) > maxORCPTLength {
		return OriginalRecipient{}, ErrTooLong
	}
	dec, err := decodeORCPTAddress(typ, addr)
	if err != nil {
		return OriginalRecipient{}, unwrapKind(err)
	}
	o := OriginalRecipient{Type: typ, Address: dec}
	if _, err := o.check(); err != nil {
		return OriginalRecipient{}, err
	}
	return o, nil
}

func (ps *parseState) bdat(args string) (Command, error) {
	size, last, hasLast := strings.Cut(args, " ")
	n, err := parseDigits(size, 19)
	if err != nil {
		return nil, argError("BDAT", "chunk-size", err)
	}
	if hasLast && !equalFold(last, "LAST") {
		return nil, argError("BDAT", "end-marker", ErrSyntax)
	}
	return Bdat{Size: n, Last: hasLast}, nil
}

func (ps *parseState) verify(verb, args string) (Command, error) {
	arg, smtputf8 := args, false
	if kw := len(" SMTPUTF8"); len(arg) > kw && equalFold(arg[len(arg)-kw:], " SMTPUTF8") {
		arg, smtputf8 = arg[:len(arg)-kw], true
	}
	arg, err := ps.stringArg(verb, arg)
	if err != nil {
		return nil, err
	}
	if arg == "" {
		return nil, argError(verb, "argument", ErrMissing)
	}
	if !smtputf8 && !ps.lenient && !isASCII(arg) {
		return nil, argError(verb, "argument", ErrNeedsSMTPUTF8)
	}
	if verb == "VRFY" {
		return Vrfy{Arg: arg, SMTPUTF8: smtputf8}, nil
	}
	return Expn{Arg: arg, SMTPUTF8: smtputf8}, nil
}

func (ps *parseState) help(verb, args string, hasArgs bool) (Command, error) {
	arg, err := ps.stringArg(verb, args)
	if err != nil {
		return nil, err
	}
	if hasArgs && arg == "" && !ps.lenient {
		return nil, argError(verb, "argument", ErrSyntax)
	}
	if !ps.lenient && !isASCII(arg) {
		return nil, argError(verb, "argument", ErrNeedsSMTPUTF8)
	}
	if verb == "HELP" {
		return Help{Topic: arg}, nil
	}
	return Noop{Arg: arg}, nil
}

// stringArg parses String = Atom / Quoted-string, where an unquoted word
// is any run of printable characters without a space.
func (ps *parseState) stringArg(verb, s string) (string, error) {
	if strings.HasPrefix(s, `"`) {
		v, n, err := parseQuoted(s)
		if err == nil && n == len(s) {
			return v, nil
		}
		if !ps.lenient {
			if err == nil {
				err = ErrSyntax
			}
			return "", argError(verb, "argument", err)
		}
		return s, nil
	}
	if !ps.lenient && strings.IndexByte(s, ' ') >= 0 {
		return "", argError(verb, "argument", ErrSyntax)
	}
	return s, nil
}

func (ps *parseState) auth(args string) (Command, error) {
	mech, ir, hasIR := strings.Cut(args, " ")
	if err := checkMechanism(mech); err != nil {
		return nil, argError("AUTH", "mechanism", err)
	}
	c := Auth{Mechanism: mech}
	if hasIR {
		data, err := decodeAuthData([]byte(ir), "initial response")
		if err != nil {
			return nil, err
		}
		c.InitialResponse = data
	}
	return c, nil
}

// parseDigits parses 1 to max decimal digits.
func parseDigits(s string, max int) (int64, error) {
	switch {
	case s == "":
		return 0, ErrSyntax
	case len(s) > max:
		return 0, ErrRange
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, syntaxOrIllegal(s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrRange
	}
	return n, nil
}

// parseSigned parses ["+" / "-"] 1*max DIGIT.
func parseSigned(s string, max int) (int64, error) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	n, err := parseDigits(s, max)
	if neg {
		n = -n
	}
	return n, err
}

// parseBy parses by-value = by-time ";" by-mode [by-trace] (RFC 2852 §4).
func parseBy(s string) (*DeliverBy, error) {
	t, mode, ok := strings.Cut(s, ";")
	if !ok || mode == "" || len(mode) > 2 {
		return nil, ErrSyntax
	}
	n, err := parseSigned(t, 9)
	if err != nil {
		return nil, err
	}
	by := &DeliverBy{Time: n, Mode: ByMode(upper(mode[0]))}
	if len(mode) == 2 {
		if upper(mode[1]) != 'T' {
			return nil, ErrSyntax
		}
		by.Trace = true
	}
	if err := by.check(); err != nil {
		return nil, err
	}
	return by, nil
}

func decodeXtextValue(s string) (string, error) {
	v, err := DecodeXtext(s)
	return v, unwrapKind(err)
}

// unwrapKind turns a helper's *Error back into its kind, for callers that
// name the argument themselves.
func unwrapKind(err error) error {
	if ce, ok := err.(*Error); ok {
		return ce.Err
	}
	return err
}
