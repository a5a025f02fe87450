package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
	"github.com/smtpkit/smtpkit/wire"
	"pgregory.net/rapid"
)

var fuzzCommand = &subcommand{
	name:     "fuzz",
	synopsis: "--server ADDR [--tls MODE] [--duration 60s] [--seed N] [--out DIR] [--maildir DIR | --check CMD] [--allow-remote]\n       smtpkit fuzz [--server ADDR] replay FILE",
	summary:  "drive a server with generated sessions and report what it gets wrong",
	help: `Drives a live server with generated client sessions (package fuzz):
EHLO (LHLO with --lmtp), transactions with DATA or BDAT, pipelined groups
when PIPELINING is offered, RSET, NOOP, VRFY, HELP, STARTTLS and AUTH when
offered, QUIT; and hostile variants: mutated command lines (NUL and other
controls, case-folded, white space, cut short, made long) and message data
written raw, with bare CR and LF and every lookalike of <CRLF>.<CRLF>.

It reports, with the seed and a minimal session (rapid shrinks the one that
failed): a reply that does not parse strictly or that its command cannot
have; a pipelined group answered with too few replies, or replies nobody
asked for; no reply within --timeout; the connection closed without a 421;
and, with --maildir or --check, a message stored other than it was sent
(Normalise of the body: line endings made CRLF, nothing else changed). The
message stored must hold the field "X-Smtpkit-Fuzz: TOKEN" the fuzzer puts
first; --check CMD is run with sh -c and TOKEN as $1, and prints it.

It stops at the first finding unless --keep-going, and writes each finding
to a JSON file under --out, which "smtpkit fuzz replay FILE" plays again
(exit 3 while it still fails, 0 once it passes). The same --seed finds the
same thing again from a server that behaves the same.

Only loopback addresses and Unix sockets are fuzzed unless --allow-remote.
Exit status: 0 nothing found, 3 something found, 1 the run failed, 2 usage.`,
	setup: setupFuzz,
}

// fuzzFlags are smtpkit fuzz's flags.
type fuzzFlags struct {
	fs          *flag.FlagSet
	server      string
	lmtp        bool
	tls         tlsFlags
	duration    time.Duration
	seed        uint64
	out         string
	timeout     time.Duration
	maildir     string
	check       string
	wait        time.Duration
	allowRemote bool
	keepGoing   bool
	verbose     bool
}

func setupFuzz(fs *flag.FlagSet) func(context.Context, stdio, []string) int {
	f := &fuzzFlags{fs: fs}
	fs.StringVar(&f.server, "server", "", "`ADDR` to fuzz (required): host (port 25, or 465 with --tls implicit), host:port,\n[v6]:port, or /unix/socket/path; replay takes it from the file when not given")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP: LHLO, and one reply per accepted recipient after the data")
	f.tls.register(fs, "every session starts with STARTTLS (a certificate that verifies, or --insecure)", "in some sessions (never over a Unix socket)")
	fs.DurationVar(&f.duration, "duration", time.Minute, "how long to fuzz, shrinking included")
	fs.Uint64Var(&f.seed, "seed", 0, "`N` to start from (0: a random one, printed)")
	fs.StringVar(&f.out, "out", "", "`DIR` for the findings, one JSON file each (default: the current directory)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "how long a reply may take before it is a hang (RFC 5321 gives servers minutes;\na server that slows down clients on purpose, as Postfix does after errors, needs more)")
	fs.StringVar(&f.maildir, "maildir", "", "`DIR` where the server stores the messages: each must be stored as sent")
	fs.StringVar(&f.check, "check", "", "`CMD` that prints the stored message holding the token $1 (run with sh -c)")
	fs.DurationVar(&f.wait, "wait", 5*time.Second, "how long to wait for a message to be stored, with --maildir or --check")
	fs.BoolVar(&f.allowRemote, "allow-remote", false, "fuzz a server that is not on a loopback address or a Unix socket")
	fs.BoolVar(&f.keepGoing, "keep-going", false, "go on after a finding, until --duration (one finding of each kind)")
	fs.BoolVar(&f.verbose, "verbose", false, "print every session's transcript")
	return f.run
}

func (f *fuzzFlags) run(ctx context.Context, st stdio, args []string) int {
	const cmd = "fuzz"
	replay := ""
	if len(args) > 0 && args[0] == "replay" {
		// Flags may follow "replay" too.
		if err := f.fs.Parse(args[1:]); err != nil {
			return usageError(st, cmd, "%v", err)
		}
		if args = f.fs.Args(); len(args) != 1 {
			return usageError(st, cmd, "replay takes one FILE")
		}
		replay, args = args[0], nil
	}
	if len(args) > 0 {
		return usageError(st, cmd, "unexpected argument %q", args[0])
	}
	var rec *fuzzRecord
	if replay != "" {
		var err error
		if rec, err = readFuzzRecord(replay); err != nil {
			return failure(st, cmd, err)
		}
		if f.server == "" {
			f.server = rec.Server
		}
		if !flagSet(f.fs, "lmtp") {
			f.lmtp = rec.LMTP
		}
		if !flagSet(f.fs, "tls") && rec.TLS != "" {
			f.tls.mode = rec.TLS
		}
	}
	switch {
	case f.server == "":
		return usageError(st, cmd, "--server is required")
	case f.maildir != "" && f.check != "":
		return usageError(st, cmd, "--maildir and --check exclude each other")
	case f.duration <= 0 || f.timeout <= 0 || f.wait <= 0:
		return usageError(st, cmd, "--duration, --timeout and --wait must be positive")
	}
	if err := checkLineSafe(f.fs, "server"); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	fz, code := f.fuzzer(ctx, st)
	if fz == nil {
		return code
	}
	if rec != nil {
		return fz.replay(ctx, st, rec)
	}
	return fz.fuzz(ctx, st)
}

// flagSet reports whether the flag was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// fuzzer is a run of smtpkit fuzz, once the flags are checked.
type fuzzer struct {
	f        *fuzzFlags
	server   string
	tlsMode  string
	driver   *fuzz.Driver
	features fuzz.Features
	require  bool // every session starts with STARTTLS
}

// fuzzer checks the flags that need the network (the address, TLS), and
// returns nil and the exit status when they are wrong.
func (f *fuzzFlags) fuzzer(ctx context.Context, st stdio) (*fuzzer, int) {
	const cmd = "fuzz"
	mode, err := f.tls.sessionMode()
	if err != nil {
		return nil, usageError(st, cmd, "%v", err)
	}
	cfg, err := f.tls.config()
	if err != nil {
		return nil, usageError(st, cmd, "%v", err)
	}
	port := transport.PortSMTP
	if mode == session.TLSImplicit {
		port = transport.PortSubmissions
	}
	// smuggle's scan and this share one rule for where they may send:
	// its resolve.
	var sc smuggleScan
	if sc.addr, err = transport.ParseAddress(f.server, port); err != nil {
		return nil, usageError(st, cmd, "--server: %s", plainError(err))
	}
	f.tls.warnInsecure(st)
	if err := sc.resolve(ctx, f.allowRemote); err != nil {
		if errors.Is(err, errNotLoopback) {
			return nil, usageError(st, cmd, "%s", strings.Replace(err.Error(), "the scan sends mail, so it scans", "the fuzzer sends mail, so it fuzzes", 1))
		}
		return nil, failure(st, cmd, err)
	}
	sc.tlsConfig = cfg
	tlsCfg := sc.clientTLS()
	// A connection may take longer than a reply: the fuzzer opens many,
	// and a loaded server's accept queue is no finding.
	dialer := transport.Dialer{Timeout: max(f.timeout, 5*time.Second), ImplicitTLS: mode == session.TLSImplicit, TLSConfig: tlsCfg}
	fz := &fuzzer{f: f, server: f.server, tlsMode: f.tls.mode, require: mode == session.TLSRequired}
	fz.driver = &fuzz.Driver{
		Dial:    func(ctx context.Context) (net.Conn, error) { return dialer.DialContext(ctx, sc.addr) },
		Timeout: f.timeout,
		LMTP:    f.lmtp,
	}
	if mode == session.TLSOpportunistic && sc.addr.Network != "unix" || fz.require {
		fz.driver.TLSConfig = tlsCfg
	}
	var store smuggleStore
	switch {
	case f.maildir != "":
		store = maildirStore(f.maildir)
	case f.check != "":
		store = checkStore(f.check)
	}
	if store != nil {
		fz.driver.Stored = func(ctx context.Context, token string) ([]byte, error) {
			return waitStored(ctx, store, token, f.wait)
		}
	}
	return fz, exitOK
}

// waitStored polls store for the message holding token, for up to wait.
func waitStored(ctx context.Context, store smuggleStore, token string, wait time.Duration) ([]byte, error) {
	deadline := time.Now().Add(wait)
	for {
		b, err := store.find(ctx, token)
		if err != nil {
			return nil, err
		}
		if len(b) > 0 {
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, os.ErrNotExist
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe reads the server's EHLO (LHLO) reply and sets the features the
// sessions may use.
func (fz *fuzzer) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*fz.f.timeout)
	defer cancel()
	nc, err := fz.driver.Dial(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	r := wire.NewReader(nc)
	greeting, err := r.ReadReply()
	if err != nil {
		return fmt.Errorf("reading the greeting: %w", err)
	}
	if greeting.Code/100 != 2 {
		return fmt.Errorf("the server refuses service: %s", greeting)
	}
	verb := "EHLO"
	if fz.f.lmtp {
		verb = "LHLO"
	}
	if _, err := io.WriteString(nc, verb+" smtpkit.localhost\r\n"); err != nil {
		return err
	}
	ehlo, err := r.ReadReply()
	if err != nil {
		return fmt.Errorf("reading the reply to %s: %w", verb, err)
	}
	io.WriteString(nc, "QUIT\r\n")
	f := fuzz.Features{LMTP: fz.f.lmtp, Hostile: true, RawData: true}
	if ehlo.Code/100 == 2 {
		for l := range ehlo.AllLines() {
			kw, rest, _ := strings.Cut(strings.ToUpper(l), " ")
			switch kw {
			case "PIPELINING":
				f.Pipelining = true
			case "CHUNKING":
				f.Chunking = true
			case "SMTPUTF8":
				f.SMTPUTF8 = true
			case "STARTTLS":
				f.StartTLS = fz.driver.TLSConfig != nil && !fz.require
			case "AUTH":
				f.Auth = strings.Contains(" "+rest+" ", " PLAIN ")
			}
		}
	}
	fz.features = f
	return nil
}

func (fz *fuzzer) featureNames() string {
	f := fz.features
	var names []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.LMTP, "LMTP"}, {f.Pipelining, "PIPELINING"}, {f.Chunking, "CHUNKING"}, {f.SMTPUTF8, "SMTPUTF8"}, {f.StartTLS, "STARTTLS"}, {f.Auth, "AUTH PLAIN"}} {
		if x.on {
			names = append(names, x.name)
		}
	}
	if fz.require {
		names = append(names, "STARTTLS first")
	}
	if len(names) == 0 {
		return "no extensions"
	}
	return strings.Join(names, " ")
}

// session draws a session for the server's features.
func (fz *fuzzer) session() *rapid.Generator[fuzz.ClientSession] {
	g := fuzz.Session(fz.features)
	if !fz.require {
		return g
	}
	return rapid.Map(g, func(s fuzz.ClientSession) fuzz.ClientSession {
		tlsFirst := []fuzz.Group{s.Groups[0], {{Verb: "STARTTLS", Line: "STARTTLS\r\n"}}, s.Groups[0]}
		s.Groups = append(tlsFirst, s.Groups[1:]...)
		return s
	})
}

// fuzzRecord is a finding as its file keeps it.
type fuzzRecord struct {
	Server     string             `json:"server"`
	LMTP       bool               `json:"lmtp,omitempty"`
	TLS        string             `json:"tls,omitempty"`
	Seed       uint64             `json:"seed"`
	Kind       fuzz.Kind          `json:"kind"`
	Detail     string             `json:"detail"`
	Session    fuzz.ClientSession `json:"session"`
	Transcript []string           `json:"transcript"`
}

func readFuzzRecord(name string) (*fuzzRecord, error) {
	b, err := readBounded(name, 16<<20)
	if err != nil {
		return nil, err
	}
	var rec fuzzRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rec.Session.Groups) == 0 {
		return nil, fmt.Errorf("%s: no session to replay", name)
	}
	return &rec, nil
}

// fuzzBatch is how many sessions one rapid.Check plays: small, so that a
// run ends close to --duration.
const fuzzBatch = 10

// fuzz runs batches of sessions until --duration or a finding.
func (fz *fuzzer) fuzz(ctx context.Context, st stdio) int {
	const cmd = "fuzz"
	if err := fz.probe(ctx); err != nil {
		return failure(st, cmd, err)
	}
	seed := fz.f.seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) | 1
	}
	fmt.Fprintf(st.out, "fuzzing %s (%s) for %v from seed %d\n", logsafe.Escape(fz.server), fz.featureNames(), fz.f.duration, seed)
	ctx, cancel := context.WithTimeout(ctx, fz.f.duration)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// Shrinking gets at most a third of what is left, so that a finding
	// near the end still comes out minimal enough and in time.
	found := map[fuzz.Kind]bool{}
	sessions := 0
	for batch := uint64(0); ctx.Err() == nil; batch++ {
		shrink := max(time.Until(deadline)/3, time.Second)
		res := fz.check(ctx, st.out, seed+batch*1_000_003, shrink, deadline)
		sessions += res.sessions
		if res.err != nil {
			if ctx.Err() != nil {
				break
			}
			return failure(st, cmd, res.err)
		}
		if res.finding == nil || found[res.finding.Kind] {
			continue
		}
		found[res.finding.Kind] = true
		file, err := fz.write(res.finding)
		if err != nil {
			return failure(st, cmd, err)
		}
		printFinding(st.out, res.finding, file)
		if !fz.f.keepGoing {
			break
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(st.err, "smtpkit fuzz: stopped: %v\n", err)
	}
	fmt.Fprintf(st.out, "%d sessions, %d findings\n", sessions, len(found))
	if len(found) > 0 {
		return exitPartial
	}
	return exitOK
}

func printFinding(w io.Writer, rec *fuzzRecord, file string) {
	steps := len(rec.Session.Steps())
	fmt.Fprintf(w, "FOUND %s: %s\n  seed %d; the minimal session (%d commands) is in %s:\n", rec.Kind, oneLine(rec.Detail), rec.Seed, steps, logsafe.Escape(file))
	for _, l := range rec.Transcript {
		fmt.Fprintf(w, "    %s\n", l)
	}
}

// write keeps a finding in a file of its own under --out.
func (fz *fuzzer) write(rec *fuzzRecord) (string, error) {
	dir := fz.f.out
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return "", err
	}
	name := filepath.Join(dir, fmt.Sprintf("finding-%s-%d.json", rec.Kind, rec.Seed))
	return name, os.WriteFile(name, append(b, '\n'), 0o644)
}

// checkResult is what one batch found.
type checkResult struct {
	sessions int
	finding  *fuzzRecord
	err      error // the run failed
}

// seedRE finds the seed rapid names in its report of a failure.
var seedRE = regexp.MustCompile(`-rapid\.seed=(\d+)`)

// check plays one batch of sessions from seed under rapid.Check, which
// shrinks a failing one. The property fails with the finding's kind
// alone, so that rapid keeps to sessions that fail the same way while it
// shrinks; the details are kept here.
func (fz *fuzzer) check(ctx context.Context, out io.Writer, seed uint64, shrink time.Duration, deadline time.Time) checkResult {
	rapidFlags(seed, shrink)
	var (
		res     checkResult
		failing *fuzzRecord
	)
	prop := func(t *rapid.T) {
		if ctx.Err() != nil || res.err != nil || time.Now().After(deadline) {
			return
		}
		s := fz.session().Draw(t, "session")
		res.sessions++
		var transcript []string
		d := *fz.driver
		d.Transcript = func(l string) { transcript = append(transcript, l) }
		err := d.Run(ctx, s)
		if fz.f.verbose {
			for _, l := range transcript {
				fmt.Fprintln(out, l)
			}
		}
		var f *fuzz.Finding
		switch {
		case errors.As(err, &f):
			failing = &fuzzRecord{Server: fz.server, LMTP: fz.f.lmtp, TLS: fz.tlsMode, Kind: f.Kind, Detail: f.Detail, Session: s, Transcript: transcript}
			t.Fatalf("%s", f.Kind)
		case err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded):
			res.err = err
		}
	}
	tb := &fuzzTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rapid.Check(tb, prop)
	}()
	<-done
	if failing != nil && tb.Failed() {
		failing.Seed = seed
		if m := seedRE.FindStringSubmatch(strings.Join(tb.errors, "\n")); m != nil {
			failing.Seed, _ = strconv.ParseUint(m[1], 10, 64)
		}
		res.finding = failing
	}
	return res
}

// rapidFlags sets rapid's flags for one batch: rapid takes its settings
// from the flag package's command line, which in a program (rather than
// a test) nobody parses, and from package testing, which needs Init.
func rapidFlags(seed uint64, shrink time.Duration) {
	rapidInit.Do(func() {
		testing.Init()
		if !flag.Parsed() {
			flag.CommandLine.Parse(nil)
		}
	})
	flag.Set("rapid.checks", strconv.Itoa(fuzzBatch))
	flag.Set("rapid.seed", strconv.FormatUint(seed, 10))
	flag.Set("rapid.shrinktime", shrink.String())
	flag.Set("rapid.nofailfile", "true")
}

var rapidInit sync.Once

// fuzzTB is the rapid.TB a batch reports to.
type fuzzTB struct {
	mu     sync.Mutex
	failed bool
	errors []string
}

func (tb *fuzzTB) Helper()                   {}
func (tb *fuzzTB) Name() string              { return "smtpkit-fuzz" }
func (tb *fuzzTB) Logf(string, ...any)       {}
func (tb *fuzzTB) Log(...any)                {}
func (tb *fuzzTB) Skipf(string, ...any)      { runtime.Goexit() }
func (tb *fuzzTB) Skip(...any)               { runtime.Goexit() }
func (tb *fuzzTB) SkipNow()                  { runtime.Goexit() }
func (tb *fuzzTB) Error(args ...any)         { tb.Errorf("%s", fmt.Sprint(args...)) }
func (tb *fuzzTB) Fatal(args ...any)         { tb.Error(args...); tb.FailNow() }
func (tb *fuzzTB) Fatalf(f string, a ...any) { tb.Errorf(f, a...); tb.FailNow() }
func (tb *fuzzTB) FailNow()                  { tb.Fail(); runtime.Goexit() }

func (tb *fuzzTB) Errorf(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failed = true
	tb.errors = append(tb.errors, fmt.Sprintf(format, args...))
}

func (tb *fuzzTB) Fail() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failed = true
}

func (tb *fuzzTB) Failed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.failed
}

// replay plays a finding's session once more.
func (fz *fuzzer) replay(ctx context.Context, st stdio, rec *fuzzRecord) int {
	var transcript []string
	fz.driver.Transcript = func(l string) { transcript = append(transcript, l) }
	err := fz.driver.Run(ctx, rec.Session)
	for _, l := range transcript {
		fmt.Fprintln(st.out, l)
	}
	var f *fuzz.Finding
	switch {
	case errors.As(err, &f):
		fmt.Fprintf(st.out, "FOUND %s: %s\n", f.Kind, oneLine(f.Detail))
		if f.Kind != rec.Kind {
			fmt.Fprintf(st.out, "(the file's finding was %s)\n", rec.Kind)
		}
		return exitPartial
	case err != nil:
		return failure(st, "fuzz", err)
	}
	fmt.Fprintf(st.out, "passed: the %s finding does not reproduce\n", rec.Kind)
	return exitOK
}
