package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
)

var smuggleCommand = &subcommand{
	name:     "smuggle",
	synopsis: "--server ADDR --from ADDR --to ADDR [--tls MODE] [--lmtp] [--json] [--maildir DIR | --check CMD] [--allow-remote]",
	summary:  "tell whether a server ends the data at a lookalike of <CRLF>.<CRLF> (SMTP smuggling)",
	help: `
Tells whether a server can be used for SMTP smuggling (CVE-2023-51764,
-51765, -51766): RFC 5321 §4.1.1.4 ends a message's data only with
<CRLF>.<CRLF>, and a server that also takes a lookalike (<LF>.<LF>,
<CR><LF>.<LF>, ...) as the end lets a message carry a second, forged
transaction past the server that relayed it.

For each lookalike (LF.LF, LF.CRLF, CRLF.LF, CR.CR, CR.CRLF, CRLF.CR, LF.CR,
and each with a NUL or a space before the dot: "LF NUL.LF", "LF SP.LF") it
opens a connection, sends one message whose body holds the lookalike followed
by a second transaction (MAIL FROM, RCPT TO, DATA, a message, "."), written
raw, then the real <CRLF>.<CRLF>; it reads the reply to the end of the data,
sends QUIT and reads every reply until QUIT's 221. A server that kept the
lookalike as data answers exactly twice; every reply more answers one of the
smuggled commands. The verdict for each lookalike:

  ends-data     the server answered the smuggled commands (or, with --maildir
                or --check, stored the smuggled message as a message of its own)
  refused       the server refused the message (4yz or 5yz), or said so and
                closed the connection, without answering a smuggled command
  kept-as-data  one 2yz reply to the one end of data, then 221: the lookalike
                and the smuggled commands are part of the message
  unknown       the scan of that lookalike failed (connection, a refused MAIL,
                RCPT or DATA, a timeout, a close without 221 after a 2yz)

The evidence says how it decided, with the replies (escaped). Nothing depends
on timing: the count is exact because QUIT's 221 comes after every reply to
what was sent before it.

With --maildir DIR (a maildir, new/ and cur/, or a directory of message
files) or --check CMD, the stored messages must agree with the replies:
each message carries a unique marker, and the scan waits, within --wait, for
the message the replies imply (the message with the smuggled commands inside
it, or the smuggled message on its own). CMD runs through "sh -c" with the
smuggled message's marker as $1 and prints every stored message that holds it
(for example: grep -rlF -- "$1" /var/mail/u/new | xargs -r cat); nothing
printed means none holds it. A store that disagrees makes the verdict unknown.

Only loopback addresses and Unix sockets are scanned unless --allow-remote
is given: the scan sends mail. Exit status: 0 when no lookalike ends the data,
3 when one does, 1 when a verdict could not be reached (and none ends the
data), 2 usage error.`,
	setup: setupSmuggle,
}

// smuggleLookalike is one end-of-data lookalike the scan tries.
type smuggleLookalike struct {
	name  string
	bytes string
}

// smuggleLookalikes are the lookalikes of <CRLF>.<CRLF>, in the order
// they are scanned: seven line-end combinations, then each with a NUL and
// with a space before the dot (servers that drop NULs or trim lines end
// the data there too).
var smuggleLookalikes = func() []smuggleLookalike {
	base := []smuggleLookalike{
		{"LF.LF", "\n.\n"},
		{"LF.CRLF", "\n.\r\n"},
		{"CRLF.LF", "\r\n.\n"},
		{"CR.CR", "\r.\r"},
		{"CR.CRLF", "\r.\r\n"},
		{"CRLF.CR", "\r\n.\r"},
		{"LF.CR", "\n.\r"},
	}
	all := append([]smuggleLookalike(nil), base...)
	for _, before := range []struct{ name, b string }{{"NUL", "\x00"}, {"SP", " "}} {
		for _, l := range base {
			all = append(all, smuggleLookalike{
				name:  strings.Replace(l.name, ".", " "+before.name+".", 1),
				bytes: strings.Replace(l.bytes, ".", before.b+".", 1),
			})
		}
	}
	return all
}()

// The verdicts.
const (
	verdictEndsData   = "ends-data"
	verdictRefused    = "refused"
	verdictKeptAsData = "kept-as-data"
	verdictUnknown    = "unknown"
)

// smuggleVariant is the result for one lookalike; it is also its --json
// form.
type smuggleVariant struct {
	Name     string `json:"name"`
	Bytes    string `json:"bytes"`
	Verdict  string `json:"verdict"`
	Evidence string `json:"evidence"`
}

// smuggleReport is the --json output.
type smuggleReport struct {
	Server   string           `json:"server"`
	Variants []smuggleVariant `json:"variants"`
}

type smuggleFlags struct {
	fs          *flag.FlagSet
	server      string
	from, to    string
	helo        string
	lmtp        bool
	tls         tlsFlags
	json        bool
	maildir     string
	check       string
	allowRemote bool
	timeout     time.Duration
	wait        time.Duration
}

func setupSmuggle(fs *flag.FlagSet) func(context.Context, stdio, []string) int {
	f := &smuggleFlags{fs: fs}
	fs.StringVar(&f.server, "server", "", "`ADDR` to scan (required): host (port 25, or 465 with --tls implicit), host:port,\n[v6]:port, or /unix/socket/path")
	fs.StringVar(&f.from, "from", "", "envelope sender `ADDR` of the messages, and of the smuggled ones (required)")
	fs.StringVar(&f.to, "to", "", "recipient `ADDR` of the messages, and of the smuggled ones (required)")
	fs.StringVar(&f.helo, "helo", "localhost", "`NAME` to send with EHLO/LHLO")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP: LHLO instead of EHLO")
	f.tls.register(fs, "STARTTLS with a certificate that verifies (or --insecure), or fail", "not over a Unix socket")
	fs.BoolVar(&f.json, "json", false, "write one JSON object to standard output")
	fs.StringVar(&f.maildir, "maildir", "", "`DIR` where the server stores what --to receives: the stored messages must agree")
	fs.StringVar(&f.check, "check", "", "`CMD` that prints the stored messages holding the marker $1 (run with sh -c)")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "scan a server that is not on a loopback address or a Unix socket")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "bound on the scan of each lookalike, from connecting to QUIT's reply")
	fs.DurationVar(&f.wait, "wait", 30*time.Second, "how long to wait for a stored message with --maildir or --check")
	return f.run
}

func (f *smuggleFlags) run(ctx context.Context, st stdio, args []string) int {
	const cmd = "smuggle"
	if len(args) > 0 {
		return usageError(st, cmd, "unexpected argument %q", args[0])
	}
	switch {
	case f.server == "":
		return usageError(st, cmd, "--server is required")
	case f.from == "" || f.to == "":
		return usageError(st, cmd, "--from and --to are required")
	case f.maildir != "" && f.check != "":
		return usageError(st, cmd, "--maildir and --check exclude each other")
	case f.timeout <= 0 || f.wait <= 0:
		return usageError(st, cmd, "--timeout and --wait must be positive")
	}
	if err := checkLineSafe(f.fs, "server", "from", "to", "helo"); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	var sc smuggleScan
	var err error
	if sc.from, err = command.ParseAddress(f.from); err != nil {
		return usageError(st, cmd, "--from: %s", plainError(err))
	}
	if sc.to, err = command.ParseAddress(f.to); err != nil {
		return usageError(st, cmd, "--to: %s", plainError(err))
	}
	if sc.mode, err = f.tls.sessionMode(); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	if sc.tlsConfig, err = f.tls.config(); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	port := transport.PortSMTP
	if sc.mode == session.TLSImplicit {
		port = transport.PortSubmissions
	}
	if sc.addr, err = transport.ParseAddress(f.server, port); err != nil {
		return usageError(st, cmd, "--server: %s", plainError(err))
	}
	f.tls.warnInsecure(st)
	if err := sc.resolve(ctx, f.allowRemote); err != nil {
		if errors.Is(err, errNotLoopback) {
			return usageError(st, cmd, "%v", err)
		}
		return failure(st, cmd, err)
	}
	sc.helo, sc.lmtp, sc.timeout, sc.wait = f.helo, f.lmtp, f.timeout, f.wait
	switch {
	case f.maildir != "":
		sc.store = maildirStore(f.maildir)
	case f.check != "":
		sc.store = checkStore(f.check)
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	sc.nonce = hex.EncodeToString(nonce[:])

	rep := smuggleReport{Server: f.server, Variants: sc.scanAll(ctx)}
	if f.json {
		if err := writeJSON(st.out, rep); err != nil {
			return failure(st, cmd, err)
		}
	} else {
		printSmuggle(st.out, rep)
	}
	code := smuggleExit(rep.Variants)
	if code == exitFailed {
		n := 0
		for _, v := range rep.Variants {
			if v.Verdict == verdictUnknown {
				n++
			}
		}
		fmt.Fprintf(st.err, "smtpkit smuggle: no verdict for %d of the %d lookalikes (their evidence says why)\n", n, len(rep.Variants))
	}
	return code
}

// smuggleExit is the exit status for the verdicts: 3 when a lookalike
// ends the data, else 1 when one is unknown, else 0.
func smuggleExit(vs []smuggleVariant) int {
	code := exitOK
	for _, v := range vs {
		switch v.Verdict {
		case verdictEndsData:
			return exitPartial
		case verdictUnknown:
			code = exitFailed
		}
	}
	return code
}

func printSmuggle(w io.Writer, rep smuggleReport) {
	fmt.Fprintf(w, "smtpkit smuggle: %s\n", logsafe.Escape(rep.Server))
	var ends []string
	for _, v := range rep.Variants {
		fmt.Fprintf(w, "  %-12s %-13s %s\n", v.Name, v.Verdict, v.Evidence)
		if v.Verdict == verdictEndsData {
			ends = append(ends, v.Name)
		}
	}
	if len(ends) > 0 {
		fmt.Fprintf(w, "VULNERABLE: the server ends the data at %s\n", strings.Join(ends, ", "))
	} else {
		fmt.Fprintln(w, "no lookalike ends the data")
	}
}

// smuggleScan is what a scan needs, once the flags are checked.
type smuggleScan struct {
	addr      transport.Address // what is dialed: a loopback IP once resolve has run
	tlsName   string            // the host name TLS verifies ("" over a Unix socket)
	mode      session.TLSMode
	tlsConfig *tls.Config
	from, to  command.Mailbox
	helo      string
	lmtp      bool
	timeout   time.Duration
	wait      time.Duration
	store     smuggleStore // nil: replies only
	nonce     string       // makes this run's markers unique
}

// errNotLoopback is resolve's refusal of a server elsewhere.
var errNotLoopback = errors.New("the scan sends mail, so it scans only loopback addresses and Unix sockets unless --allow-remote is given")

// resolve makes sure the server is on a loopback address or a Unix socket
// unless allowRemote, and fixes the address dialed: a host name is looked
// up once, here, and its first address dialed (a name that resolves to
// loopback now cannot send the scan elsewhere later). TLS still verifies
// the name.
func (sc *smuggleScan) resolve(ctx context.Context, allowRemote bool) error {
	if sc.addr.Network == "unix" {
		return nil
	}
	sc.tlsName = sc.addr.Host
	if ip, err := netip.ParseAddr(sc.addr.Host); err == nil {
		if !allowRemote && !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address: %w", ip, errNotLoopback)
		}
		return nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", sc.addr.Host)
	if err != nil {
		return fmt.Errorf("looking up %s: %w", sc.addr.Host, err)
	}
	for _, ip := range ips {
		if allowRemote || ip.Unmap().IsLoopback() {
			sc.addr.Host = ip.Unmap().String()
			return nil
		}
	}
	return fmt.Errorf("%s does not resolve to a loopback address: %w", sc.addr.Host, errNotLoopback)
}

// scanAll scans every lookalike, one connection each.
func (sc *smuggleScan) scanAll(ctx context.Context) []smuggleVariant {
	var out []smuggleVariant
	for i, l := range smuggleLookalikes {
		v := smuggleVariant{Name: l.name, Bytes: l.bytes}
		if ctx.Err() != nil {
			v.Verdict, v.Evidence = verdictUnknown, "not scanned: "+ctx.Err().Error()
		} else {
			v.Verdict, v.Evidence = sc.scan(ctx, l, i)
		}
		v.Evidence = logsafe.Escape(v.Evidence) // replies are escaped already; this keeps it so
		out = append(out, v)
	}
	return out
}

// markers are the texts that tell the two messages of a scan apart in a
// store: outer is in the message as sent before the lookalike, inner in the
// smuggled message.
func (sc *smuggleScan) markers(i int) (outer, inner string) {
	base := fmt.Sprintf("smtpkit-smuggle-%s-%02d", sc.nonce, i)
	return base + "-outer", base + "-inner"
}

// body is the data sent after the 354: a message whose text ends, with no
// line end, right before the lookalike; the smuggled transaction (its
// commands and its message, CRLF line ends); and the real end of the data,
// the "." after the smuggled message's last CRLF.
func (sc *smuggleScan) body(l smuggleLookalike, i int) ([]byte, error) {
	outer, inner := sc.markers(i)
	from, to := sc.from.String(), sc.to.String()
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpkit smuggle: %s\r\nX-Smtpkit-Smuggle: %s\r\n\r\n", from, to, l.name, outer)
	fmt.Fprintf(&b, "A test of whether the server ends the data at %s, which follows:", l.name)
	b.WriteString(l.bytes)
	line, err := command.Mail{From: sc.from}.Append(nil)
	if err != nil {
		return nil, err
	}
	b.Write(line)
	if line, err = (command.Rcpt{To: sc.to}).Append(nil); err != nil {
		return nil, err
	}
	b.Write(line)
	b.WriteString("DATA\r\n")
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpkit smuggle: smuggled after %s\r\nX-Smtpkit-Smuggle: %s\r\n\r\n", from, to, l.name, inner)
	fmt.Fprintf(&b, "If this is a message of its own, the server ended the data at %s.\r\n.\r\n", l.name)
	return b.Bytes(), nil
}

// scan sends the message for lookalike l on a connection of its own and
// returns the verdict and the evidence.
func (sc *smuggleScan) scan(ctx context.Context, l smuggleLookalike, i int) (verdict, evidence string) {
	replies, quit, err := sc.exchange(ctx, l, i)
	if replies == nil && err != nil {
		return verdictUnknown, errText(err)
	}
	verdict, evidence = judgeReplies(replies, quit, err)
	if sc.store == nil || verdict == verdictUnknown {
		return verdict, evidence
	}
	return sc.confirm(ctx, i, verdict, evidence, replies)
}

// exchange runs the session for lookalike l, within the scan's timeout,
// and returns what repliesUntilQuit does, or the error that stopped it
// before the data was sent.
func (sc *smuggleScan) exchange(ctx context.Context, l smuggleLookalike, i int) ([]response.Reply, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, sc.timeout)
	defer cancel()
	body, err := sc.body(l, i)
	if err != nil {
		return nil, false, err
	}
	c, err := sc.open(ctx)
	if err != nil {
		return nil, false, err
	}
	defer c.nc.Close()
	if err := c.transaction(sc.from, sc.to); err != nil {
		return nil, false, err
	}
	if err := c.write(body); err != nil {
		// A server that refuses a bare LF at once (521) may close before
		// the data is all written: its reply may still be there to read.
		if replies, quit, rerr := c.repliesUntilQuit(); len(replies) > 0 {
			return replies, quit, rerr
		}
		return nil, false, fmt.Errorf("writing the data: %w", err)
	}
	return c.repliesUntilQuit()
}

// judgeReplies decides from the replies after the data: those before
// QUIT's 221 (quit says whether it came). err is why reading stopped,
// when it was not the 221.
func judgeReplies(replies []response.Reply, quit bool, err error) (verdict, evidence string) {
	shown := make([]string, len(replies))
	for i, r := range replies {
		shown[i] = r.String() // escaped by response
	}
	list := strings.Join(shown, "; ")
	ending := "then 221 to QUIT"
	if !quit {
		ending = "then no 221 to QUIT"
		if err != nil {
			ending += " (" + errText(err) + ")"
		}
	}
	counted := len(replies)
	if !quit && counted > 1 && replies[counted-1].Code == response.CodeServiceNotAvailable {
		// A 421 and a close: it may answer QUIT or a smuggled command,
		// so it counts for neither verdict.
		counted--
	}
	switch {
	case len(replies) == 0:
		return verdictUnknown, "no reply to the end of the data, " + ending
	case counted > 1:
		return verdictEndsData, fmt.Sprintf("%d replies where the end of the data gets one, so the server answered the smuggled commands: %s; %s", len(replies), list, ending)
	case !replies[0].Positive() && replies[0].Code.Class() != 3:
		return verdictRefused, fmt.Sprintf("the message was refused and no smuggled command answered: %s; %s", list, ending)
	case !quit:
		return verdictUnknown, fmt.Sprintf("%s, %s: replies to smuggled commands may be missing", list, ending)
	case replies[0].Code.Class() == 3:
		return verdictUnknown, fmt.Sprintf("an intermediate reply to the end of the data: %s; %s", list, ending)
	}
	return verdictKeptAsData, fmt.Sprintf("one reply to the one end of the data, %s, %s: the smuggled commands were data", list, ending)
}

// confirm checks the store against the verdict of the replies: after a
// 2yz with the lookalike kept as data, the stored message must hold the
// smuggled one inside it; when the smuggled transaction's end of data got
// a 2yz, the smuggled message must be stored on its own. Otherwise a store
// that holds the smuggled message on its own makes the verdict ends-data.
func (sc *smuggleScan) confirm(ctx context.Context, i int, verdict, evidence string, replies []response.Reply) (string, string) {
	outer, inner := sc.markers(i)
	want := ""
	switch {
	case verdict == verdictKeptAsData:
		want = "inside" // the one message, with the smuggled commands in it
	case verdict == verdictEndsData && len(replies) >= 5 && replies[len(replies)-2].Code == response.CodeStartMailInput && replies[len(replies)-1].Positive():
		want = "alone" // the smuggled DATA got 354, its end 2yz
	}
	deadline := time.Now().Add(sc.wait)
	for {
		found, err := sc.store.find(ctx, inner)
		if err != nil {
			return verdictUnknown, evidence + "; the store could not be read: " + errText(err)
		}
		got := ""
		switch {
		case bytes.Contains(found, []byte(inner)) && bytes.Contains(found, []byte(outer)):
			got = "inside"
		case bytes.Contains(found, []byte(inner)):
			got = "alone"
		}
		switch {
		case got == "alone":
			return verdictEndsData, evidence + "; stored: the smuggled message as a message of its own"
		case got == "inside" && want == "inside":
			return verdict, evidence + "; stored: one message with the smuggled commands inside it"
		case got == "inside":
			return verdictUnknown, evidence + "; but the store holds the smuggled commands inside the message"
		case want == "":
			// Nothing accepted that could hold the marker: one look.
			return verdict, evidence + "; stored: no message holds the smuggled one"
		}
		if !time.Now().Before(deadline) {
			return verdictUnknown, fmt.Sprintf("%s; but no stored message holds %s after %v", evidence, inner, sc.wait)
		}
		select {
		case <-ctx.Done():
			return verdictUnknown, evidence + "; waiting for the store: " + ctx.Err().Error()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// smuggleStore finds stored messages.
type smuggleStore interface {
	// find returns the stored messages that hold marker, one after
	// another, or nothing.
	find(ctx context.Context, marker string) ([]byte, error)
}

// maildirStore is a maildir (new/ and cur/) or a directory of message
// files.
type maildirStore string

// maxStoredMessage bounds what is read of one stored message: the scan's
// messages are small.
const maxStoredMessage = 1 << 20

func (d maildirStore) find(_ context.Context, marker string) ([]byte, error) {
	dirs := []string{filepath.Join(string(d), "new"), filepath.Join(string(d), "cur")}
	if _, err := os.Stat(dirs[0]); err != nil {
		dirs = []string{string(d)}
	}
	var out []byte
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			b, err := readBounded(filepath.Join(dir, e.Name()), maxStoredMessage)
			if err != nil {
				continue // moved from new/ to cur/ meanwhile
			}
			if bytes.Contains(b, []byte(marker)) {
				out = append(out, b...)
			}
		}
	}
	return out, nil
}

func readBounded(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// checkStore is --check CMD.
type checkStore string

func (c checkStore) find(ctx context.Context, marker string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", string(c), "sh", marker)
	var out boundedBuffer
	out.max = 8 * maxStoredMessage
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 && out.Len() == 0 {
			return nil, nil // grep's "nothing found"
		}
		return nil, fmt.Errorf("--check: %w", err)
	}
	return out.Bytes(), nil
}

// boundedBuffer keeps at most max octets of what is written to it.
type boundedBuffer struct {
	bytes.Buffer
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// smuggleConn is a raw client connection: the scan writes the data itself,
// bytes the session's encoder would (rightly) never send. Every read and
// write is bounded by the deadline of the scan's context, and every reply
// by wire.Reader's limits.
type smuggleConn struct {
	nc net.Conn
	r  *wire.Reader
}

// open connects, reads the greeting, says EHLO (LHLO), and upgrades with
// STARTTLS as the TLS mode asks.
func (sc *smuggleScan) open(ctx context.Context) (*smuggleConn, error) {
	d := transport.Dialer{Timeout: sc.timeout, ImplicitTLS: sc.mode == session.TLSImplicit, TLSConfig: sc.clientTLS()}
	nc, err := d.DialContext(ctx, sc.addr)
	if err != nil {
		return nil, err
	}
	c := &smuggleConn{nc: nc}
	if err := c.start(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	greeting, err := c.reply()
	if err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("reading the greeting: %w", err)
	}
	if greeting.Code != response.CodeServiceReady {
		c.nc.Close()
		return nil, fmt.Errorf("greeting: %s", greeting)
	}
	ext, err := c.hello(sc.helo, sc.lmtp)
	if err == nil {
		err = sc.startTLS(ctx, c, ext)
	}
	if err != nil {
		c.nc.Close()
		return nil, err
	}
	return c, nil
}

// clientTLS is the TLS configuration for the server's name.
func (sc *smuggleScan) clientTLS() *tls.Config {
	if sc.tlsName != "" {
		return transport.ClientTLSConfig(sc.tlsConfig, sc.tlsName)
	}
	// A Unix socket has no name to verify: only --insecure gets through
	// the handshake (the TLS package refuses a config with neither).
	if sc.tlsConfig == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return sc.tlsConfig.Clone()
}

// startTLS upgrades the connection when the mode asks for it: with
// --tls starttls when the server offers it (never over a Unix socket),
// always with --tls require.
func (sc *smuggleScan) startTLS(ctx context.Context, c *smuggleConn, offered bool) error {
	switch {
	case sc.mode == session.TLSRequired && !offered:
		return errors.New("STARTTLS is not offered (--tls require)")
	case sc.mode == session.TLSRequired:
	case sc.mode == session.TLSOpportunistic && offered && sc.addr.Network != "unix":
	default:
		return nil
	}
	r, err := c.cmd("STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != response.CodeServiceReady {
		return fmt.Errorf("STARTTLS: %s", r)
	}
	if n := c.r.Buffered(); n > 0 {
		return fmt.Errorf("the server sent %d octets after its reply to STARTTLS (a command injection attempt, RFC 3207 §5)", n)
	}
	tc, err := transport.StartTLS(ctx, c.nc, sc.clientTLS())
	if err != nil {
		return err
	}
	c.nc = tc
	if err := c.start(ctx); err != nil {
		return err
	}
	_, err = c.hello(sc.helo, sc.lmtp)
	return err
}

// start sets the connection's deadline from ctx and makes its reader.
func (c *smuggleConn) start(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok {
		if err := c.nc.SetDeadline(dl); err != nil {
			return err
		}
	}
	c.r = wire.NewReader(c.nc)
	return nil
}

// hello sends EHLO (LHLO), falling back to HELO when EHLO is refused, and
// says whether STARTTLS is offered.
func (c *smuggleConn) hello(name string, lmtp bool) (starttls bool, err error) {
	verb := "EHLO"
	if lmtp {
		verb = "LHLO"
	}
	r, err := c.cmd(verb + " " + name)
	if err != nil {
		return false, err
	}
	if !r.Positive() && !lmtp && (r.Code == response.CodeSyntaxError || r.Code == response.CodeNotImplemented) {
		if r, err = c.cmd("HELO " + name); err != nil {
			return false, err
		}
	}
	if !r.Positive() {
		return false, fmt.Errorf("%s: %s", verb, r)
	}
	for line := range r.AllLines() {
		if strings.EqualFold(strings.TrimSpace(line), "STARTTLS") {
			starttls = true
		}
	}
	return starttls, nil
}

// transaction sends MAIL, RCPT and DATA, one at a time, and wants 2yz,
// 2yz and 354.
func (c *smuggleConn) transaction(from, to command.Mailbox) error {
	mail, err := command.Mail{From: from}.Append(nil)
	if err != nil {
		return err
	}
	rcpt, err := command.Rcpt{To: to}.Append(nil)
	if err != nil {
		return err
	}
	for _, step := range []struct {
		line []byte
		want func(response.Reply) bool
	}{
		{mail, response.Reply.Positive},
		{rcpt, response.Reply.Positive},
		{[]byte("DATA\r\n"), func(r response.Reply) bool { return r.Code == response.CodeStartMailInput }},
	} {
		if err := c.write(step.line); err != nil {
			return err
		}
		r, err := c.reply()
		if err != nil {
			return err
		}
		if !step.want(r) {
			return fmt.Errorf("%s refused: %s", strings.Fields(string(step.line))[0], r)
		}
	}
	return nil
}

// maxSmuggleReplies bounds the replies read after the data: a server that
// took every smuggled line as a command answers about a dozen.
const maxSmuggleReplies = 64

// repliesUntilQuit reads the reply to the end of the data, sends QUIT and
// reads every reply up to QUIT's 221, which it does not return. quit says
// whether the 221 came; err is why reading stopped otherwise.
func (c *smuggleConn) repliesUntilQuit() (replies []response.Reply, quit bool, err error) {
	r, err := c.reply()
	if err != nil {
		return nil, false, err
	}
	replies = append(replies, r)
	if werr := c.write([]byte("QUIT\r\n")); werr != nil {
		err = werr // the server may have closed after its reply: read what is left
	}
	for len(replies) < maxSmuggleReplies {
		r, rerr := c.reply()
		if rerr != nil {
			return replies, false, rerr // after a failed QUIT, the read says more
		}
		if r.Code == response.CodeServiceClosing {
			return replies, true, nil
		}
		replies = append(replies, r)
	}
	return replies, false, fmt.Errorf("more than %d replies", maxSmuggleReplies)
}

func (c *smuggleConn) cmd(line string) (response.Reply, error) {
	if err := c.write([]byte(line + "\r\n")); err != nil {
		return response.Reply{}, err
	}
	return c.reply()
}

func (c *smuggleConn) write(p []byte) error {
	_, err := c.nc.Write(p)
	return err
}

func (c *smuggleConn) reply() (response.Reply, error) {
	r, err := c.r.ReadReply()
	if err == io.EOF {
		err = fmt.Errorf("the server closed the connection (%w)", err)
	}
	return r, err
}
