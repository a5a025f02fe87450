package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/transport"
)

// Exit statuses, the same for every subcommand (see the package doc).
const (
	exitOK      = 0
	exitFailed  = 1 // nothing accepted: connect, TLS, auth, sender, data
	exitUsage   = 2
	exitPartial = 3 // some recipients (send) or messages (bench) refused
)

// stdio is where a subcommand reads and writes: the process's own files
// in main, so that the tests, which run the built binary, see what a user
// sees.
type stdio struct {
	in       *os.File
	out, err io.Writer
}

// subcommand is one of send, probe, sink, bench. setup declares its flags
// on fs and returns the function that runs it once fs is parsed.
type subcommand struct {
	name     string
	synopsis string // after "smtpkit NAME"
	summary  string // one line for the command list
	help     string // what it does, before the flags
	setup    func(fs *flag.FlagSet) func(ctx context.Context, st stdio, args []string) int
}

var subcommands []*subcommand

func init() {
	subcommands = []*subcommand{sendCommand, probeCommand, sinkCommand, benchCommand, smuggleCommand, fuzzCommand}
}

func lookup(name string) *subcommand {
	for _, c := range subcommands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func main() {
	os.Exit(run(stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Args[1:]))
}

func run(st stdio, args []string) int {
	if len(args) == 0 {
		printMainUsage(st.err)
		return exitUsage
	}
	name, args := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 0 {
			printMainUsage(st.out)
			return exitOK
		}
		c := lookup(args[0])
		if c == nil || len(args) > 1 {
			fmt.Fprintf(st.err, "smtpkit help: unknown command %q (commands: %s)\n", strings.Join(args, " "), commandNames())
			return exitUsage
		}
		printUsage(st.out, c)
		return exitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(st.err, "smtpkit: unknown command %q (commands: %s; see smtpkit help)\n", name, commandNames())
		return exitUsage
	}
	fs := flag.NewFlagSet("smtpkit "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runCmd := c.setup(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(st.out, c)
			return exitOK
		}
		return usageError(st, c.name, "%v", err)
	}
	// SIGINT and SIGTERM cancel the context: send and bench stop and say
	// so, sink shuts down cleanly. A second signal kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return runCmd(ctx, st, fs.Args())
}

func commandNames() string {
	var names []string
	for _, c := range subcommands {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// usageError reports a usage error in one line and returns exitUsage.
func usageError(st stdio, cmd, format string, args ...any) int {
	fmt.Fprintf(st.err, "smtpkit %s: %s (see smtpkit help %s)\n", cmd, oneLine(fmt.Sprintf(format, args...)), cmd)
	return exitUsage
}

// failure reports an error in one line and returns exitFailed.
func failure(st stdio, cmd string, err error) int {
	fmt.Fprintf(st.err, "smtpkit %s: %s\n", cmd, errText(err))
	return exitFailed
}

// errText is an error as one line, without the package prefixes the
// library puts on its messages ("session: ", "transport: "), which say
// nothing to someone at a shell prompt.
func errText(err error) string {
	return oneLine(plainError(err))
}

// plainError is err's message without the library's package prefixes
// and without a dial error's repetition; usageError and errText make it
// one line.
func plainError(err error) string {
	flagAdvice(err)
	var parts []string
	for _, p := range strings.Split(err.Error(), ": ") {
		switch {
		case p == "session" || p == "transport" || p == "lmtp" || p == "command" || p == "fuzz":
		case len(parts) > 0 && p == parts[len(parts)-1] && strings.HasPrefix(p, "dial "):
			// A wrapped dial error repeats its "dial tcp host:port".
		default:
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}

// flagAdvice makes a certificate that did not verify, anywhere in err,
// say what to do in this command's flags (--ca, --insecure, --server)
// rather than in the library's (Options.TLSConfig.RootCAs), through the
// *transport.TLSError's Hint.
func flagAdvice(err error) {
	var te *transport.TLSError
	if !errors.As(err, &te) || !te.VerificationFailed() {
		return
	}
	const trust = "pass the CA that issued it with --ca FILE, or skip verification with --insecure (anyone on the path can then read and change the session)"
	var he x509.HostnameError
	if errors.As(te.Err, &he) {
		te.Hint = "the certificate does not name this host: give --server a name it lists; to trust another certificate, " + trust
		return
	}
	te.Hint = "the server's certificate did not verify: " + trust
}

// oneLine keeps an error on one line whatever a server put in its reply,
// and escapes what is not printable (ESC, a bare CR, C1, bidi controls,
// invalid UTF-8) so that it cannot drive the terminal.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return logsafe.Escape(strings.ReplaceAll(s, "\n", " | "))
}

func printMainUsage(w io.Writer) {
	fmt.Fprint(w, `smtpkit: send, probe, load and stand in for SMTP, ESMTP and LMTP servers.

usage: smtpkit COMMAND [flags]

commands:
`)
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help    smtpkit help COMMAND shows a command's flags

Flags are written --name value or --name=value. Exit status: 0 success,
1 failure (nothing accepted), 2 usage error, 3 partial success (some
recipients or messages refused).

With no --server, "smtpkit send --to you@example.org" sends to an embedded
sink on 127.0.0.1 and prints the transcript and what the sink received.
`)
}

// printUsage prints a subcommand's synopsis, description and flags.
func printUsage(w io.Writer, c *subcommand) {
	fmt.Fprintf(w, "usage: smtpkit %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.help))
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fs)
	fmt.Fprint(w, "\nflags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		usage = strings.ReplaceAll(usage, "\n", "\n        ")
		switch f.DefValue {
		case "", "false", "0", "0s", "[]":
		default:
			if strings.Contains(usage, "\n") {
				usage += "\n       "
			}
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "        %s\n", usage)
	})
}
