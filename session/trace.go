package session

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/response"
)

// tracer writes the protocol exchange to Options.Trace and Options.Logger.
// It is off (and costs one branch) when neither is set.
type tracer struct {
	w   io.Writer
	log *slog.Logger
	// secret is set during an AUTH exchange: 334 challenges are hidden,
	// as what they carry (salts, nonces, OAuth errors) helps no reader of
	// a trace and some mechanisms echo what the client sent.
	secret bool
}

func (t *tracer) on() bool { return t.w != nil || t.log != nil }

// line writes one trace line. s is escaped first: reply text is the
// server's, and commands carry what callers took from messages and peers
// (addresses from a header, a HELO name), so an ESC sequence, a bare CR
// that would overwrite the line on a terminal, a bidi override or invalid
// UTF-8 reaches neither the writer nor the logger raw, whatever handler
// the logger has.
func (t *tracer) line(dir, s string) {
	s = logsafe.Escape(s)
	if t.w != nil {
		// One Write per line, so lines from several clients sharing a
		// writer do not interleave mid-line.
		io.WriteString(t.w, dir+": "+s+"\n")
	}
	if t.log != nil {
		t.log.LogAttrs(context.Background(), slog.LevelDebug, "smtp",
			slog.String("dir", dir), slog.String("line", s))
	}
}

// connLogger is the Options.Logger of one connection: every record it
// writes carries the server ("server": the address dialled, or the
// connection's remote address) and the connection ("conn": its local
// address and port, which the server's own logs show too, or, where there
// is none, as over a Unix socket, a random id of the Client's own), so
// that the records of concurrent sessions can be told apart. Nil when
// logger is nil.
func connLogger(logger *slog.Logger, conn net.Conn, server string) *slog.Logger {
	if logger == nil {
		return nil
	}
	return logger.With(slog.String("server", logsafe.Escape(server)), slog.String("conn", connID(conn)))
}

// connID names a connection in log records: its local "ip:port", or a
// random 16-digit hexadecimal id. No counter is kept: that would be state
// shared by every Client.
func connID(conn net.Conn) string {
	if la := conn.LocalAddr(); la != nil {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Port() != 0 {
			return ap.String()
		}
	}
	return strconv.FormatUint(rand.Uint64()|1<<63, 16)
}

// sent traces a command line (CRLF included in line) with any secret
// replaced.
func (t *tracer) sent(cmd command.Command, line []byte) {
	if !t.on() {
		return
	}
	t.line("C", redact(cmd, strings.TrimRight(string(line), "\r\n")))
}

func (t *tracer) reply(r response.Reply) {
	if !t.on() {
		return
	}
	if t.secret && r.Code == response.CodeAuthContinue {
		t.line("S", "334 "+redactedMark)
		return
	}
	n := r.LineCount()
	i := 0
	for l := range r.AllLines() {
		i++
		sep := "-"
		if i == n {
			sep = " "
		}
		t.line("S", strconv.Itoa(int(r.Code))+sep+l)
	}
}

// redactedMark replaces secrets in the trace.
const redactedMark = "[redacted]"

// redact hides what an AUTH command carries after its mechanism name: an
// initial response is a credential, whatever the mechanism (RFC 4954 §4).
// A raw command named AUTH keeps only its first word.
func redact(cmd command.Command, line string) string {
	if !strings.EqualFold(cmd.Verb(), "AUTH") {
		return line
	}
	f := strings.Fields(line)
	if len(f) <= 2 {
		return line
	}
	return f[0] + " " + f[1] + " " + redactedMark
}
