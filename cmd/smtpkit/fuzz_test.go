package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/fuzz"
	"github.com/smtpkit/smtpkit/internal/testfixture"
)

// faultServer is a small SMTP server on 127.0.0.1 for smtpkit fuzz's
// tests, written apart from smtptest so that it can carry one planted
// fault. Without one it is conforming: every line gets one reply with a
// fixed text, data ends only at <CRLF>.<CRLF>, dots are unstuffed.
type faultServer struct {
	addr    string
	fault   string
	maildir string
	tls     *tls.Config // STARTTLS offered when set
	seq     atomic.Int64
}

// The planted faults.
const (
	faultNone        = ""
	faultShortGroup  = "short-group"  // a pipelined RCPT gets no reply
	faultQuotedSpace = "quoted-space" // a quoted local part with a space closes the connection
	faultCRDotCR     = "cr-dot-cr"    // <CR>.<CR> ends the data
	faultUnstuffed   = "unstuffed"    // data is stored with its dots still doubled
)

// quotedSpace is a path with a quoted local part that holds a space.
var quotedSpace = regexp.MustCompile(`<"[^"]* [^"]*"@`)

// startFaultServer starts a server with the planted fault; with tc, it
// offers STARTTLS. Everything it serves with is set before it accepts.
func startFaultServer(t *testing.T, fault, maildir string, tc *tls.Config) *faultServer {
	t.Helper()
	s := &faultServer{fault: fault, maildir: maildir, tls: tc}
	if maildir != "" {
		for _, sub := range []string{"tmp", "new", "cur"} {
			if err := os.MkdirAll(filepath.Join(maildir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.addr = testfixture.Serve(t, func(_ *testfixture.Server, c net.Conn) { s.serve(c) }).Addr
	return s
}

func (s *faultServer) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriter(c)
	secure := false
	say := func(reply string) {
		bw.WriteString(reply + "\r\n")
		bw.Flush()
	}
	say("220 fault.test ESMTP")
	inTx, rcpts := false, 0
	for {
		line, err := br.ReadString('\n')
		if err != nil || len(line) > 1000 {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			inTx = false
			if s.tls != nil && !secure {
				say("250-fault.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME")
			} else {
				say("250-fault.test\r\n250-PIPELINING\r\n250 8BITMIME")
			}
		case "STARTTLS":
			if s.tls == nil || secure || br.Buffered() > 0 {
				say("503 5.5.1 no TLS now")
				continue
			}
			say("220 2.0.0 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure, inTx = tc, true, false
			br, bw = bufio.NewReaderSize(c, 4096), bufio.NewWriter(c)
		case "HELO":
			inTx = false
			say("250 fault.test")
		case "MAIL":
			switch {
			case s.fault == faultQuotedSpace && quotedSpace.MatchString(line):
				return
			case inTx:
				say("503 5.5.1 nested MAIL")
			case !strings.HasPrefix(strings.ToUpper(line), "MAIL FROM:<"):
				say("501 5.5.4 syntax")
			default:
				inTx, rcpts = true, 0
				say("250 2.1.0 ok")
			}
		case "RCPT":
			switch {
			case s.fault == faultQuotedSpace && quotedSpace.MatchString(line):
				return
			case !inTx:
				say("503 5.5.1 need MAIL")
			case !strings.HasPrefix(strings.ToUpper(line), "RCPT TO:<"):
				say("501 5.5.4 syntax")
			case s.fault == faultShortGroup && br.Buffered() > 0:
				rcpts++ // pipelined: the reply is forgotten
			default:
				rcpts++
				say("250 2.1.5 ok")
			}
		case "DATA":
			if !inTx || rcpts == 0 {
				say("554 5.5.1 no valid recipients")
				continue
			}
			say("354 go ahead")
			data, err := s.readData(br)
			if err != nil {
				return
			}
			if err := s.store(data); err != nil {
				say("451 4.3.0 cannot store")
			} else {
				say("250 2.0.0 queued")
			}
			inTx = false
		case "RSET":
			inTx = false
			say("250 2.0.0 reset")
		case "NOOP":
			say("250 2.0.0 ok")
		case "VRFY":
			say("252 2.1.5 cannot verify")
		case "HELP":
			say("214 2.0.0 see RFC 5321")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("500 5.5.2 command unrecognized")
		}
	}
}

// readData reads message data up to its end, and unstuffs it (unless the
// fault is faultUnstuffed).
func (s *faultServer) readData(br *bufio.Reader) ([]byte, error) {
	raw := []byte("\r\n") // so that the end can be found at the start too
	for {
		b, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		raw = append(raw, b)
		if len(raw) > 1<<20 {
			return nil, errors.New("too much data")
		}
		if bytes.HasSuffix(raw, []byte("\r\n.\r\n")) {
			raw = raw[:len(raw)-3]
			break
		}
		if s.fault == faultCRDotCR && bytes.HasSuffix(raw, []byte("\r.\r")) {
			raw = append(raw[:len(raw)-3], '\r', '\n')
			break
		}
	}
	raw = raw[2:]
	if s.fault == faultUnstuffed {
		return raw, nil
	}
	var out []byte
	for i := 0; i < len(raw); i++ {
		if raw[i] == '.' && (i == 0 || i >= 2 && raw[i-2] == '\r' && raw[i-1] == '\n') {
			continue
		}
		out = append(out, raw[i])
	}
	return out, nil
}

func (s *faultServer) store(data []byte) error {
	if s.maildir == "" {
		return nil
	}
	name := filepath.Join(s.maildir, "new", fmt.Sprintf("%d.%d.fault", time.Now().UnixNano(), s.seq.Add(1)))
	return os.WriteFile(name, data, 0o644)
}

// readFinding reads the one finding smtpkit fuzz wrote under dir.
func readFinding(t *testing.T, dir string) (string, fuzzRecord) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "finding-*.json"))
	if len(files) != 1 {
		t.Fatalf("findings under --out: %q, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rec fuzzRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	return files[0], rec
}

// Each planted fault is found within 60 s from a fixed seed, as a finding
// of the kind the fault makes, in one file under --out; replaying the file
// finds it again; and the seed in the file finds it again.
func TestFuzzFindsPlantedFaults(t *testing.T) {
	for _, tc := range []struct {
		fault string
		kinds []fuzz.Kind // what the fault can show as
		store bool        // --maildir
	}{
		{faultShortGroup, []fuzz.Kind{fuzz.ReplyCount}, false},
		{faultQuotedSpace, []fuzz.Kind{fuzz.Dropped}, false},
		// Data ended early leaves the rest of the message to be read as
		// commands: replies nobody asked for, or one of them taken for
		// the reply to a command that cannot have it.
		{faultCRDotCR, []fuzz.Kind{fuzz.ReplyCount, fuzz.BadReply}, false},
		{faultUnstuffed, []fuzz.Kind{fuzz.Stored}, true},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := []string{"fuzz", "--seed", "1", "--duration", "20s", "--timeout", "500ms", "--out", dir}
			if tc.store {
				maildir := filepath.Join(dir, "maildir")
				args = append(args, "--maildir", maildir, "--wait", "500ms")
				defer func() { os.RemoveAll(maildir) }()
				srv := startFaultServer(t, tc.fault, maildir, nil)
				args = append(args, "--server", srv.addr)
			} else {
				srv := startFaultServer(t, tc.fault, "", nil)
				args = append(args, "--server", srv.addr)
			}
			start := time.Now()
			r := smtpkit(t, nil, args...)
			elapsed := time.Since(start)
			r.want(t, exitPartial)
			if elapsed >= 60*time.Second {
				t.Errorf("found in %v, want under 60s", elapsed)
			}
			file, rec := readFinding(t, dir)
			if !containsKind(tc.kinds, rec.Kind) {
				t.Fatalf("finding %s (%s), want one of %v\n%s", rec.Kind, rec.Detail, tc.kinds, r.stdout)
			}
			if !strings.Contains(r.stdout, "FOUND "+string(rec.Kind)) || len(rec.Transcript) == 0 || len(rec.Session.Groups) == 0 {
				t.Errorf("the report does not show the finding and its session:\n%s", r.stdout)
			}
			t.Logf("%s in %v: %s (%d commands)", rec.Kind, elapsed, rec.Detail, len(rec.Session.Steps()))

			// The file replays the finding.
			replayArgs := []string{"fuzz"}
			if tc.store {
				replayArgs = append(replayArgs, "--maildir", filepath.Join(dir, "maildir"), "--wait", "500ms")
			}
			rr := smtpkit(t, nil, append(replayArgs, "--timeout", "500ms", "replay", file)...)
			rr.want(t, exitPartial)
			if !strings.Contains(rr.stdout, "FOUND ") {
				t.Errorf("replay:\n%s", rr.stdout)
			}

			// The seed the file names finds it in the first batch.
			again := t.TempDir()
			args2 := append([]string(nil), args...)
			for i, a := range args2 {
				switch a {
				case "--seed":
					args2[i+1] = fmt.Sprint(rec.Seed)
				case "--out":
					args2[i+1] = again
				}
			}
			start = time.Now()
			smtpkit(t, nil, args2...).want(t, exitPartial)
			if _, rec2 := readFinding(t, again); !containsKind(tc.kinds, rec2.Kind) {
				t.Errorf("from seed %d: %s, want one of %v", rec.Seed, rec2.Kind, tc.kinds)
			}
			if elapsed := time.Since(start); elapsed >= 60*time.Second {
				t.Errorf("found again in %v, want under 60s", elapsed)
			}
		})
	}
}

func containsKind(kinds []fuzz.Kind, k fuzz.Kind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// A conforming server gives nothing to find: exit 0, no file; and a
// finding replayed against it passes.
func TestFuzzFindsNothingInAConformingServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	maildir := filepath.Join(dir, "maildir")
	srv := startFaultServer(t, faultNone, maildir, nil)
	r := smtpkit(t, nil, "fuzz", "--server", srv.addr, "--seed", "3", "--duration", "3s", "--timeout", "2s", "--out", dir, "--maildir", maildir)
	r.want(t, exitOK)
	if files, _ := filepath.Glob(filepath.Join(dir, "finding-*")); len(files) > 0 {
		t.Errorf("findings: %q", files)
	}
	if !regexp.MustCompile(`(?m)^[1-9][0-9]* sessions, 0 findings$`).MatchString(r.stdout) {
		t.Errorf("stdout:\n%s", r.stdout)
	}

	// A short-group finding, played against this server, passes.
	rec := fuzzRecord{Server: srv.addr, Kind: fuzz.ReplyCount, Session: fuzz.ClientSession{Groups: []fuzz.Group{
		{{Verb: "EHLO", Line: "EHLO a.example\r\n"}},
		{{Verb: "MAIL", Line: "MAIL FROM:<a@a.example>\r\n"}, {Verb: "RCPT", Line: "RCPT TO:<b@a.example>\r\n"}, {Verb: "DATA", Line: "DATA\r\n", Body: []byte("x\n")}},
		{{Verb: "QUIT", Line: "QUIT\r\n"}},
	}}}
	b, _ := json.Marshal(rec)
	file := filepath.Join(dir, "old.json")
	os.WriteFile(file, b, 0o644)
	rr := smtpkit(t, nil, "fuzz", "replay", file)
	rr.want(t, exitOK)
	if !strings.Contains(rr.stdout, "does not reproduce") {
		t.Errorf("replay:\n%s", rr.stdout)
	}
}

func TestFuzzUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no server", []string{"fuzz"}, exitUsage, "--server is required"},
		{"not loopback", []string{"fuzz", "--server", "192.0.2.1:25"}, exitUsage, "loopback"},
		{"maildir and check", []string{"fuzz", "--server", "127.0.0.1:25", "--maildir", "x", "--check", "y"}, exitUsage, "exclude"},
		{"replay without a file", []string{"fuzz", "replay"}, exitUsage, "one FILE"},
		{"nobody listening", []string{"fuzz", "--server", "127.0.0.1:1", "--duration", "2s"}, exitFailed, "smtpkit fuzz:"},
		{"a file that is not there", []string{"fuzz", "replay", "/nonexistent/finding.json"}, exitFailed, "smtpkit fuzz:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := smtpkit(t, nil, tc.args...)
			r.want(t, tc.code)
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q, want %q in it", r.stderr, tc.want)
			}
		})
	}
}

// --check CMD finds the stored message by its token, $1: against a
// conforming server nothing is found; against one that keeps dots
// doubled, the stored message is.
func TestFuzzCheckCommand(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fault string
		code  int
	}{{faultNone, exitOK}, {faultUnstuffed, exitPartial}} {
		dir := t.TempDir()
		maildir := filepath.Join(dir, "maildir")
		srv := startFaultServer(t, tc.fault, maildir, nil)
		check := `grep -rlZ -- "$1" '` + filepath.Join(maildir, "new") + `' | xargs -0 -r cat`
		r := smtpkit(t, nil, "fuzz", "--server", srv.addr, "--seed", "1", "--duration", "4s", "--timeout", "2s", "--out", dir, "--check", check, "--wait", "1s")
		r.want(t, tc.code)
		if tc.code == exitPartial && !strings.Contains(r.stdout, "FOUND stored:") {
			t.Errorf("%s: stdout:\n%s", tc.fault, r.stdout)
		}
	}
}

// STARTTLS: in some sessions (--tls starttls), or first in every one
// (--tls require), with the server's certificate trusted through --ca;
// a conforming server over TLS gives nothing to find.
func TestFuzzSTARTTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile := writeCert(t, "fault.test")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"starttls", "require"} {
		srv := startFaultServer(t, faultNone, "", &tls.Config{Certificates: []tls.Certificate{cert}})
		r := smtpkit(t, nil, "fuzz", "--server", srv.addr, "--tls", mode, "--ca", certFile, "--seed", "5", "--duration", "3s", "--timeout", "2s", "--out", t.TempDir())
		r.want(t, exitOK)
		if !strings.Contains(r.stdout, "STARTTLS") {
			t.Errorf("--tls %s: the run does not say it uses STARTTLS:\n%s", mode, r.stdout)
		}
	}
	// Without --ca the certificate does not verify: the run fails and
	// says what to do.
	srv := startFaultServer(t, faultNone, "", &tls.Config{Certificates: []tls.Certificate{cert}})
	r := smtpkit(t, nil, "fuzz", "--server", srv.addr, "--tls", "require", "--seed", "5", "--duration", "3s", "--out", t.TempDir())
	r.want(t, exitFailed)
	if !strings.Contains(r.stderr, "--ca FILE") {
		t.Errorf("stderr: %s", r.stderr)
	}
}
