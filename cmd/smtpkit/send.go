package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/auth"
	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
)

var sendCommand = &subcommand{
	name:     "send",
	synopsis: "--to ADDR [--to ADDR ...] [--server ADDR] [flags] [< message]",
	summary:  "send one message and show what the server said about each recipient",
	help: `
Sends one message and reports the server's reply for each recipient and for
the message. With no --server it starts an embedded sink on 127.0.0.1 (with
STARTTLS, and AUTH when --auth-user is given), sends to it, and prints the
transcript and what the sink received.

The message is, in this order of preference:
  --body-file FILE    the file, sent as is ("-" reads standard input);
  standard input      when it is a pipe or a file (not a terminal) and neither
                      --subject nor --body is given; an empty one counts as none;
  otherwise           a minimal RFC 5322 message built from --subject and --body,
                      with Date, Message-ID, From and To header fields.
A terminal is never read, so the command cannot sit waiting for input.

A line of a message may not be longer than 998 octets (RFC 5322 §2.1.1).
The built header is folded at whitespace, at most 78 octets a line where it
can be (a long --to list becomes many short lines); a Subject that cannot be
folded so, or that is not plain ASCII, is RFC 2047-encoded and folded between
its encoded words. A --body line over 998 octets is a usage error. A longer
line in --body-file or standard input is refused before anything is sent,
unless --long-lines says otherwise: fold breaks it with CRLF and a space every
998 octets, as Postfix does (the message changes, so a DKIM signature over it
fails); send sends it as it is, for the server to refuse or not.

The password for --auth-user comes from --auth-password-env or
--auth-password-file, never from a flag's value (which other users can read
in the process list). Without --auth-mech the strongest mechanism both sides
support is used. With --auth-user and no --tls, TLS is required (as with
--tls require): the command fails before any envelope when the server does
not offer STARTTLS, since a server that strips it would otherwise get the
password's exchange in plaintext; a Unix socket is exempt. Whatever --tls
says, every password mechanism (PLAIN, LOGIN, CRAM-MD5, SCRAM) is refused
over plaintext to anything but this host.

--from and --to take an address as pasted from a To field: bob@example.org,
<bob@example.org>, Bob <bob@example.org>, "Bob, Jr." <bob@example.org> or
bob@example.org (Bob); the envelope and the built header get the bare
mailbox. A list ("a@example.org, b@example.org") or a group is a usage
error: repeat --to instead.

CR, LF and NUL in --subject, --from, --to, --helo or any other flag whose
value goes into a header field or a command are a usage error: they would
end the field or the command and start another (header injection).

--trace writes the protocol transcript to standard error, C: and S: lines,
with AUTH secrets replaced by [redacted] and message data summarised, and
whatever is not printable in them escaped ("\x1b", "\u202e").

Exit status: 0 every recipient accepted (with --lmtp: and delivered to);
3 some refused (or, with --lmtp, not delivered to); 1 the message was not
accepted at all (connection, TLS, authentication, sender, recipients or data
refused); 2 usage error.`,
	setup: setupSend,
}

type sendFlags struct {
	fs *flag.FlagSet

	server  string
	lmtp    bool
	from    string
	to      listFlag
	helo    string
	subject string
	body    string
	file    string
	long    string

	tls  tlsFlags
	auth authFlags
	mx   mxFlags // send --mx, in mx.go

	notify, ret, envid string
	orcpt              listFlag
	requireTLS         bool
	pipelining         string
	chunking           string
	timeout            time.Duration

	trace, json bool
}

func setupSend(fs *flag.FlagSet) func(context.Context, stdio, []string) int {
	f := &sendFlags{fs: fs}
	fs.StringVar(&f.server, "server", "", "`ADDR` to send to: host (port 25, or 465 with --tls implicit), host:port,\n[v6]:port, or /unix/socket/path; none: an embedded sink on 127.0.0.1")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP (RFC 2033): LHLO, and a delivery reply per recipient; needs a port or a socket")
	fs.StringVar(&f.from, "from", "", "envelope sender `ADDR`; \"<>\" is the null sender (default $USER@host name, or smtpkit@localhost)")
	fs.Var(&f.to, "to", "recipient `ADDR` (required; repeat for more, one address each)")
	fs.StringVar(&f.helo, "helo", "", "`NAME` to send with EHLO/HELO/LHLO (default the host's FQDN, or its address literal)")
	fs.StringVar(&f.subject, "subject", "smtpkit test message", "`TEXT` of the Subject of the built message")
	fs.StringVar(&f.body, "body", "This is a test message sent by smtpkit.", "`TEXT` of the built message")
	fs.StringVar(&f.file, "body-file", "", "`FILE` holding the whole message (header and body), sent as is; - for standard input")
	fs.StringVar(&f.long, "long-lines", "refuse", "what to do with a line over 998 octets in --body-file or standard input:\nrefuse it before MAIL, fold it with CRLF SP as Postfix does (breaks DKIM), or send it as is (`refuse|fold|send`)")
	f.tls.register(fs, "STARTTLS, or fail before any envelope is sent", "and the certificate must verify")
	f.auth.register(fs)
	f.mx.register(fs)
	fs.StringVar(&f.notify, "notify", "", "DSN NOTIFY for every recipient (RFC 3461): `WHEN` is NEVER, or a comma list of SUCCESS, FAILURE, DELAY")
	fs.StringVar(&f.ret, "ret", "", "DSN RET: `WHAT` a bounce returns, FULL or HDRS")
	fs.StringVar(&f.envid, "envid", "", "DSN ENVID: the envelope `ID` that DSNs quote")
	fs.Var(&f.orcpt, "orcpt", "DSN ORCPT, `[TYPE;]ADDR`: the n-th --orcpt goes with the n-th --to (TYPE default rfc822,\nor utf-8 for a non-ASCII address)")
	fs.BoolVar(&f.requireTLS, "requiretls", false, "MAIL REQUIRETLS (RFC 8689): relay only over verified TLS; implies --tls require")
	fs.StringVar(&f.pipelining, "pipelining", "auto", "use PIPELINING (RFC 2920) when the server offers it, or never (`auto|off`)")
	fs.StringVar(&f.chunking, "chunking", "auto", "use CHUNKING/BDAT (RFC 3030) when the server offers it, or never (`auto|off`)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "bound on the whole session, from connecting to QUIT")
	fs.BoolVar(&f.trace, "trace", false, "write the protocol transcript to standard error (secrets redacted)")
	fs.BoolVar(&f.json, "json", false, "write one JSON object to standard output (see smtpkit's package doc)")
	return f.run
}

// sendReport is the --json output of send.
type sendReport struct {
	Server     string     `json:"server"`
	Recipients []rcptJSON `json:"recipients"`
	Data       *replyJSON `json:"data"`
	// Error is the line standard error shows, without "smtpkit send: ";
	// null when the exit status is 0.
	Error *string `json:"error"`
}

type rcptJSON struct {
	Address  string `json:"address"`
	Accepted bool   `json:"accepted"`
	replyJSON
	// Data is, with --lmtp, the recipient's delivery reply (null when
	// there was none); absent in SMTP.
	Data json.RawMessage `json:"data,omitempty"`
}

func (f *sendFlags) set() map[string]bool {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return set
}

func (f *sendFlags) run(ctx context.Context, st stdio, args []string) int {
	const cmd = "send"
	if len(args) > 0 {
		return usageError(st, cmd, "unexpected argument %q", args[0])
	}
	set := f.set()
	if err := checkLineSafe(f.fs, "subject", "from", "to", "helo", "server", "envid", "orcpt", "notify", "ret", "auth-user", "auth-mech"); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	if len(f.to) == 0 {
		return usageError(st, cmd, "--to is required")
	}
	mode, err := f.tls.sessionMode()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	if f.requireTLS {
		switch mode {
		case session.TLSOff:
			return usageError(st, cmd, "--requiretls needs TLS, not --tls none")
		case session.TLSOpportunistic:
			mode = session.TLSRequired
		}
	}
	// With --auth-user, TLS is required unless --tls says otherwise (the
	// embedded sink offers STARTTLS).
	mode = f.auth.tlsMode(mode, set["tls"], f.server)
	noPipe, err := autoOff("pipelining", f.pipelining)
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	noChunk, err := autoOff("chunking", f.chunking)
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	if f.timeout <= 0 {
		return usageError(st, cmd, "--timeout must be positive")
	}
	longLines, err := longLinesPolicy(f.long)
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	env := session.Envelope{}
	fromText := f.from
	if !set["from"] {
		fromText = defaultFrom()
	}
	// --from and --to take an address as pasted from a To field
	// ("Bob <bob@example.org>"); the envelope gets the bare mailbox. The
	// error names the address, so the flag's value is not repeated.
	if fromText != "" && fromText != "<>" {
		if env.From, err = command.ParseAddress(fromText); err != nil {
			return usageError(st, cmd, "--from: %s", plainError(err))
		}
	}
	for _, t := range f.to {
		m, err := command.ParseAddress(t)
		if err != nil {
			return usageError(st, cmd, "--to: %s", plainError(err))
		}
		env.To = append(env.To, m)
	}
	if err := f.dsn(&env); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	env.MailParams.RequireTLS = f.requireTLS

	password, err := f.auth.password()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}

	msg, code := f.message(st, set, env)
	if code != exitOK {
		return code
	}
	tlsCfg, err := f.tls.config()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	f.tls.warnInsecure(st)
	if f.mx.on {
		return f.sendMX(ctx, st, set, env, msg, tlsCfg)
	}

	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	// No --server: the embedded sink, which the client trusts.
	server := f.server
	var sink *smtptest.Server
	if server == "" {
		cfg := smtptest.Config{Hostname: "sink.localhost", LMTP: f.lmtp, Extensions: smtptest.DefaultExtensions()}
		if mode == session.TLSImplicit {
			cfg.ImplicitTLS = true
		} else {
			cfg.Extensions = append(cfg.Extensions, "STARTTLS")
		}
		if f.auth.user != "" {
			cfg.Users = map[string]string{f.auth.user: password}
			cfg.Extensions = append(cfg.Extensions, "AUTH "+strings.Join(auth.ServerMechanisms(), " "))
		}
		if f.requireTLS {
			cfg.Extensions = append(cfg.Extensions, "REQUIRETLS")
		}
		sink = smtptest.NewServer(cfg)
		defer sink.Close()
		server = sink.Addr
		switch {
		case tlsCfg == nil:
			tlsCfg = sink.ClientTLSConfig()
		case tlsCfg.RootCAs != nil:
			tlsCfg.RootCAs.AddCert(sink.Certificate())
		}
	}

	// Where the transcript goes: standard error with --trace; with the
	// embedded sink it is always shown, on standard output unless that
	// carries JSON.
	var trace io.Writer
	switch {
	case f.trace || sink != nil && f.json:
		trace = st.err
	case sink != nil:
		trace = st.out
	}
	opts := &session.Options{
		LocalName:         f.helo,
		TLS:               mode,
		TLSConfig:         tlsCfg,
		DisablePipelining: noPipe,
		DisableChunking:   noChunk,
		LongLines:         longLines,
		Trace:             trace,
	}
	report := sendReport{Server: server}

	res, tlsInfo, err := f.transact(ctx, server, opts, password, &env, msg)
	report.Recipients, report.Data = f.recipients(env.To, res, err)
	code, failed := f.verdict(res, err)
	if failed != "" {
		report.Error = &failed
		fmt.Fprintf(st.err, "smtpkit %s: %s\n", cmd, failed)
	}

	if f.json {
		if err := writeJSON(st.out, report); err != nil {
			return failure(st, cmd, err)
		}
	} else {
		f.printSummary(st.out, report, tlsInfo)
	}
	if sink != nil {
		w := st.out
		if f.json {
			w = st.err
		}
		printReceived(w, sink)
	}
	return code
}

// transact connects, greets, authenticates and sends: the whole session.
// tlsInfo is the TLS version and cipher suite, "" without TLS.
func (f *sendFlags) transact(ctx context.Context, server string, opts *session.Options, password string, env *session.Envelope, msg []byte) (res *session.Result, tlsInfo string, err error) {
	var c *session.Client
	if f.lmtp {
		lc, err := lmtp.Dial(ctx, server, opts)
		if err != nil {
			return nil, "", err
		}
		c = lc.Client
	} else {
		if c, err = session.Dial(ctx, server, opts); err != nil {
			return nil, "", err
		}
	}
	defer c.Close()
	if err := c.Hello(ctx); err != nil {
		return nil, "", err
	}
	if cs, ok := c.TLS(); ok {
		tlsInfo = tls.VersionName(cs.Version) + ", " + tls.CipherSuiteName(cs.CipherSuite)
	}
	if f.auth.enabled() {
		if err := f.auth.login(ctx, c, server, password); err != nil {
			return nil, tlsInfo, err
		}
	}
	res, err = c.SendEnvelope(ctx, env, bytes.NewReader(msg))
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c.Quit(qctx)
	cancel()
	return res, tlsInfo, err
}

// dsn puts --notify, --ret, --envid and --orcpt into env.
func (f *sendFlags) dsn(env *session.Envelope) error {
	switch strings.ToUpper(f.ret) {
	case "":
	case "FULL":
		env.MailParams.Ret = command.RetFull
	case "HDRS":
		env.MailParams.Ret = command.RetHeaders
	default:
		return fmt.Errorf("--ret %q: want FULL or HDRS", f.ret)
	}
	env.MailParams.EnvID = f.envid
	var notify command.Notify
	if f.notify != "" {
		for p := range strings.SplitSeq(f.notify, ",") {
			switch strings.ToUpper(strings.TrimSpace(p)) {
			case "NEVER":
				notify |= command.NotifyNever
			case "SUCCESS":
				notify |= command.NotifySuccess
			case "FAILURE":
				notify |= command.NotifyFailure
			case "DELAY":
				notify |= command.NotifyDelay
			default:
				return fmt.Errorf("--notify %q: want NEVER, or a comma list of SUCCESS, FAILURE, DELAY", f.notify)
			}
		}
		if notify&command.NotifyNever != 0 && notify != command.NotifyNever {
			return fmt.Errorf("--notify %q: NEVER cannot be combined with other conditions", f.notify)
		}
	}
	if len(f.orcpt) > len(env.To) {
		return fmt.Errorf("%d --orcpt for %d --to: the n-th --orcpt goes with the n-th --to", len(f.orcpt), len(env.To))
	}
	if notify == 0 && len(f.orcpt) == 0 {
		return nil
	}
	env.RcptParams = make([]command.RcptParams, len(env.To))
	for i := range env.RcptParams {
		env.RcptParams[i].Notify = notify
		if i < len(f.orcpt) {
			o := f.orcpt[i]
			typ, addr, ok := strings.Cut(o, ";")
			if !ok || strings.Contains(typ, "@") {
				typ, addr = "", o
			}
			env.RcptParams[i].ORCPT = command.OriginalRecipient{Type: typ, Address: addr}
		}
	}
	return nil
}

// message returns the message to send, as the help text describes.
func (f *sendFlags) message(st stdio, set map[string]bool, env session.Envelope) ([]byte, int) {
	if f.file != "" {
		if set["subject"] || set["body"] {
			return nil, usageError(st, "send", "--body-file carries the whole message: --subject and --body cannot go with it")
		}
		var b []byte
		var err error
		if f.file == "-" {
			b, err = io.ReadAll(st.in)
		} else {
			b, err = os.ReadFile(f.file)
		}
		if err != nil {
			return nil, usageError(st, "send", "--body-file: %v", err)
		}
		return b, exitOK
	}
	if !set["subject"] && !set["body"] && stdinIsData(st.in) {
		b, err := io.ReadAll(st.in)
		if err != nil {
			return nil, usageError(st, "send", "reading standard input: %v", err)
		}
		if len(b) > 0 {
			return b, exitOK
		}
	}
	if line, n := longLine(f.body); line > 0 {
		return nil, usageError(st, "send", "--body: line %d is %d octets long; a message line may have at most %d (RFC 5322 §2.1.1): split it, or put the message in --body-file and choose --long-lines", line, n, maxHeaderLine)
	}
	var to []string
	for _, m := range env.To {
		to = append(to, m.String())
	}
	return buildMessage(env.From.String(), to, f.subject, f.body, time.Now()), exitOK
}

// longLinesPolicy reads --long-lines.
func longLinesPolicy(s string) (session.LongLines, error) {
	for _, p := range []session.LongLines{session.LongLinesRefuse, session.LongLinesFold, session.LongLinesSend} {
		if s == p.String() {
			return p, nil
		}
	}
	return 0, fmt.Errorf("--long-lines %q: want refuse, fold or send", s)
}

// stdinIsData reports whether standard input is a pipe or a file: never
// a terminal, so a forgotten redirection cannot leave send waiting.
func stdinIsData(in *os.File) bool {
	if in == nil {
		return false
	}
	fi, err := in.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeNamedPipe != 0 || fi.Mode().IsRegular()
}

// buildMessage returns a minimal valid RFC 5322 message.
func buildMessage(from string, to []string, subject, body string, now time.Time) []byte {
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && !strings.HasPrefix(from[i+1:], "[") {
		domain = from[i+1:]
	}
	if from == "" {
		from = "MAILER-DAEMON@" + domain
	}
	var id [12]byte
	rand.Read(id[:])
	cte := "7bit"
	if !isASCII(body) {
		cte = "8bit"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	// Every field that carries what the user gave is folded (header.go).
	writeField(&b, "From", addressPieces([]string{from}))
	writeField(&b, "To", addressPieces(to))
	writeField(&b, "Subject", subjectPieces(subject))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	fmt.Fprintf(&b, "Content-Transfer-Encoding: %s\r\n", cte)
	b.WriteString("User-Agent: smtpkit\r\n\r\n")
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// defaultFrom is $USER@host, as swaks does, when that is a valid address.
func defaultFrom() string {
	user := os.Getenv("USER")
	if user == "" {
		user = os.Getenv("LOGNAME")
	}
	if user == "" {
		user = "smtpkit"
	}
	host, err := os.Hostname()
	if err != nil || !strings.Contains(strings.Trim(host, "."), ".") {
		host = "localhost"
	}
	addr := user + "@" + strings.TrimSuffix(host, ".")
	if _, err := command.ParseMailbox(addr); err != nil {
		return "smtpkit@localhost"
	}
	return addr
}

// resultOf digs the partial result out of the errors that carry one.
func resultOf(res *session.Result, err error) *session.Result {
	if res != nil {
		return res
	}
	var rr *session.RecipientsRefusedError
	var dataErr *session.DataError
	var de *session.DeliveryError
	var ue *session.UnansweredError
	switch {
	case errors.As(err, &rr):
		return &session.Result{Recipients: rr.Recipients}
	case errors.As(err, &dataErr):
		// The message was refused: the replies to MAIL and each RCPT
		// before it (its own reply is the error's; see recipients).
		return dataErr.Result
	case errors.As(err, &de):
		return de.Result
	case errors.As(err, &ue):
		return ue.Result
	}
	return nil
}

// recipients is one entry per --to, with what the server said: code 0
// when no reply to its RCPT was read (the session failed before, or the
// error that ended it does not carry the replies).
func (f *sendFlags) recipients(to []command.Mailbox, res *session.Result, err error) ([]rcptJSON, *replyJSON) {
	res = resultOf(res, err)
	out := make([]rcptJSON, len(to))
	for i, m := range to {
		out[i].Address = m.String()
		if res != nil && i < len(res.Recipients) {
			r := res.Recipients[i]
			out[i].Address = r.Address
			out[i].Accepted = r.Accepted
			if r.Reply.Code != 0 {
				out[i].replyJSON = replyOf(r.Reply)
			}
		}
		if f.lmtp {
			out[i].Data = json.RawMessage("null")
			if res != nil && i < len(res.Recipients) && res.Recipients[i].Data.Code != 0 {
				out[i].Data, _ = rawJSON(replyOf(res.Recipients[i].Data))
			}
		}
	}
	var data *replyJSON
	if res != nil {
		data = replyOrNil(res.Data)
	}
	var de *session.DataError
	if data == nil && errors.As(err, &de) {
		data = replyOrNil(de.Reply)
	}
	return out, data
}

// verdict is the exit status and, when it is not 0, the one line that
// says what went wrong: standard error's, and --json's error.
func (f *sendFlags) verdict(res *session.Result, err error) (code int, failed string) {
	if err != nil {
		var ue *session.UnansweredError
		if errors.As(err, &ue) && ue.Result != nil && delivered(ue.Result) > 0 {
			return exitPartial, errText(err)
		}
		var long *session.LineTooLongError
		if errors.As(err, &long) {
			return exitFailed, fmt.Sprintf("line %d of the message is %d octets long, over the limit of %d (RFC 5322 §2.1.1); nothing was sent: --long-lines fold breaks such lines (a DKIM signature then fails), --long-lines send sends them as they are", long.Line, long.Length, long.Limit)
		}
		if errors.Is(err, session.ErrInsecureAuth) {
			return exitFailed, "refusing to send the password in plaintext to a server that is not on this host: use TLS (--tls require, or a server that offers STARTTLS)"
		}
		return exitFailed, errText(err)
	}
	var bad []string
	for _, r := range res.Recipients {
		switch {
		case !r.Accepted:
			bad = append(bad, fmt.Sprintf("<%s> refused: %s", r.Address, r.Reply))
		case f.lmtp && !r.Data.Positive():
			bad = append(bad, fmt.Sprintf("<%s> not delivered: %s", r.Address, r.Data))
		}
	}
	if len(bad) == 0 {
		return exitOK, ""
	}
	return exitPartial, fmt.Sprintf("%d of %d recipients did not take the message: %s",
		len(bad), len(res.Recipients), oneLine(strings.Join(bad, "; ")))
}

func delivered(res *session.Result) int {
	n := 0
	for _, r := range res.Recipients {
		if r.Accepted && r.Data.Positive() {
			n++
		}
	}
	return n
}

// printSummary writes what the server said, one line per recipient and
// one for the message, escaped (Reply.String and logsafe.Escape).
func (f *sendFlags) printSummary(w io.Writer, rep sendReport, tlsInfo string) {
	replied := rep.Data != nil
	for _, r := range rep.Recipients {
		replied = replied || r.Code != 0
	}
	if !replied {
		return // the session ended before RCPT: the error line says why
	}
	fmt.Fprintf(w, "server %s\n", logsafe.Escape(rep.Server))
	if tlsInfo != "" {
		fmt.Fprintf(w, "tls %s\n", tlsInfo)
	}
	show := func(j replyJSON) string {
		if j.Code == 0 {
			return "no reply"
		}
		return response.Reply{Code: response.Code(j.Code), Text: strings.TrimSpace(j.Enhanced + " " + j.Message)}.String()
	}
	for _, r := range rep.Recipients {
		state := "refused"
		switch {
		case r.Code == 0:
			state = "no reply to RCPT known"
		case r.Accepted:
			state = "accepted"
		}
		line := fmt.Sprintf("<%s>: %s", logsafe.Escape(r.Address), state)
		if r.Code != 0 {
			line += " (" + show(r.replyJSON) + ")"
		}
		if f.lmtp && r.Accepted {
			var d replyJSON
			if json.Unmarshal(r.Data, &d) == nil && d.Code != 0 {
				verdict := "delivered"
				if d.Code >= 300 {
					verdict = "NOT delivered"
				}
				line += fmt.Sprintf(", %s (%s)", verdict, show(d))
			}
		}
		fmt.Fprintln(w, line)
	}
	if rep.Data != nil && !f.lmtp { // in LMTP each recipient's line says it
		state := "accepted"
		if rep.Data.Code >= 300 {
			state = "refused"
		}
		fmt.Fprintf(w, "message: %s (%s)\n", state, show(*rep.Data))
	}
}

// printReceived shows what the embedded sink received: each message's
// envelope and data.
func printReceived(w io.Writer, sink *smtptest.Server) {
	msgs := sink.Messages()
	fmt.Fprintf(w, "--- the embedded sink (%s) received %d message(s) ---\n", sink.Addr, len(msgs))
	for _, m := range msgs {
		var how []string
		if m.TLS {
			how = append(how, "TLS")
		}
		if m.AuthUser != "" {
			how = append(how, "AUTH "+m.AuthUser)
		}
		if m.Chunked {
			how = append(how, "BDAT")
		} else {
			how = append(how, "DATA")
		}
		fmt.Fprintf(w, "MAIL FROM:<%s> RCPT TO:<%s> (%s, %d octets)\n\n", logsafe.Escape(m.From), logsafe.Escape(strings.Join(m.To, ">, <")), logsafe.Escape(strings.Join(how, ", ")), len(m.Data))
		data := strings.ReplaceAll(string(m.Data), "\r\n", "\n")
		fmt.Fprint(w, data)
		if !strings.HasSuffix(data, "\n") {
			fmt.Fprintln(w)
		}
	}
}
