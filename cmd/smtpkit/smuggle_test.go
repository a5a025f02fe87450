package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/command"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/smtptest"
	"github.com/smtpkit/smtpkit/transport"
)

// scanner returns a scan of s as smtpkit smuggle would run it, without
// --tls.
func scanner(t *testing.T, s *smtptest.Server, lmtp bool) *smuggleScan {
	t.Helper()
	addr, err := transport.ParseAddress(s.Addr, 25)
	if err != nil {
		t.Fatal(err)
	}
	return &smuggleScan{
		addr:    addr,
		mode:    session.TLSOff,
		from:    command.Mailbox{Local: "a", Domain: "example.org"},
		to:      command.Mailbox{Local: "b", Domain: "example.org"},
		helo:    "localhost",
		lmtp:    lmtp,
		timeout: 10 * time.Second,
		wait:    5 * time.Second,
		nonce:   "test",
	}
}

// expectedVerdict is what a server emulated by cfg must get for l: the
// data ends early when one of its endings is in the lookalike as sent
// (after ':' and before "MAIL"); a server refusing bare CR and LF refuses
// every lookalike (each holds one), but for an early end answered by a
// server that reads on (BareNewlineReject).
func expectedVerdict(cfg smtptest.Config, l smuggleLookalike) string {
	sent := ":" + l.bytes + "M"
	for _, e := range cfg.DataEndings {
		if strings.Contains(sent, e) && cfg.BareNewline != smtptest.BareNewlineDisconnect {
			return verdictEndsData
		}
	}
	if cfg.BareNewline != smtptest.BareNewlineData {
		return verdictRefused
	}
	return verdictKeptAsData
}

func checkVerdicts(t *testing.T, cfg smtptest.Config, got []smuggleVariant) {
	t.Helper()
	if len(got) != len(smuggleLookalikes) {
		t.Fatalf("%d variants, want %d", len(got), len(smuggleLookalikes))
	}
	for i, l := range smuggleLookalikes {
		v := got[i]
		if v.Name != l.name || v.Bytes != l.bytes {
			t.Errorf("variant %d is %q %q, want %q %q", i, v.Name, v.Bytes, l.name, l.bytes)
		}
		if want := expectedVerdict(cfg, l); v.Verdict != want {
			t.Errorf("%s: %s (%s), want %s", l.name, v.Verdict, v.Evidence, want)
		}
		if v.Evidence == "" {
			t.Errorf("%s: no evidence", l.name)
		}
	}
}

func TestSmuggleLookalikes(t *testing.T) {
	if len(smuggleLookalikes) != 21 {
		t.Fatalf("%d lookalikes, want 7 and each with a NUL and a space before the dot", len(smuggleLookalikes))
	}
	seen := map[string]bool{}
	for _, l := range smuggleLookalikes {
		if seen[l.bytes] || seen[l.name] {
			t.Errorf("%s %q twice", l.name, l.bytes)
		}
		seen[l.bytes], seen[l.name] = true, true
		if strings.Contains(l.bytes, "\r\n.\r\n") {
			t.Errorf("%s %q holds the real end of the data", l.name, l.bytes)
		}
		// Every lookalike holds a bare CR or LF, which is what the
		// refusing emulations refuse.
		if !strings.Contains(strings.ReplaceAll(l.bytes, "\r\n", ""), "\r") && !strings.Contains(strings.ReplaceAll(l.bytes, "\r\n", ""), "\n") {
			t.Errorf("%s %q has no bare CR or LF", l.name, l.bytes)
		}
	}
	for _, name := range []string{"LF.LF", "LF.CRLF", "CRLF.LF", "CR.CR", "CR.CRLF", "CRLF.CR", "LF.CR", "LF NUL.LF", "CRLF SP.LF"} {
		if !seen[name] {
			t.Errorf("no lookalike %s", name)
		}
	}
}

// TestSmuggleVerdictsForEachEmulation scans smtptest emulating each
// end-of-data behaviour and checks every variant's verdict.
func TestSmuggleVerdictsForEachEmulation(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  smtptest.Config
	}{
		{"RFC 5321: only CRLF.CRLF", smtptest.Config{}},
		{"bare LF is a line end (Postfix, smtpd_forbid_bare_newline = no)", smtptest.Config{DataEndings: []string{"\n.\n", "\n.\r\n"}}},
		{"bare CR and LF are line ends", smtptest.Config{DataEndings: []string{"\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", "\r\n.\r", "\n.\r", "\r.\n"}}},
		{"NULs dropped", smtptest.Config{DataEndings: []string{"\n\x00.\n", "\r\n\x00.\r\n"}}},
		{"bare CR or LF refused at the end", smtptest.Config{BareNewline: smtptest.BareNewlineReject}},
		{"bare CR or LF: 521 and close", smtptest.Config{BareNewline: smtptest.BareNewlineDisconnect}},
		{"refused, but bare LF ends the data", smtptest.Config{BareNewline: smtptest.BareNewlineReject, DataEndings: []string{"\n.\n"}}},
		{"521 and close, though bare LF ends the data", smtptest.Config{BareNewline: smtptest.BareNewlineDisconnect, DataEndings: []string{"\n.\n"}}},
		{"LMTP, only CRLF.CRLF", smtptest.Config{LMTP: true}},
		{"LMTP, bare LF is a line end", smtptest.Config{LMTP: true, DataEndings: []string{"\n.\n", "\n.\r\n"}}},
		{"LMTP, refused", smtptest.Config{LMTP: true, BareNewline: smtptest.BareNewlineReject}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.cfg)
			checkVerdicts(t, tt.cfg, scanner(t, s, tt.cfg.LMTP).scanAll(context.Background()))
		})
	}
}

// TestSmuggleVulnerableEmulationEndsDataForEachVariantItAccepts: a server
// that takes any one lookalike as the end of the data is reported
// ends-data for it, and for every other variant that holds it.
func TestSmuggleVulnerableEmulationEndsDataForEachVariantItAccepts(t *testing.T) {
	for _, l := range smuggleLookalikes {
		t.Run(l.name, func(t *testing.T) {
			cfg := smtptest.Config{DataEndings: []string{l.bytes}}
			s := newServer(t, cfg)
			got := scanner(t, s, false).scanAll(context.Background())
			checkVerdicts(t, cfg, got)
			for _, v := range got {
				if v.Name == l.name && (v.Verdict != verdictEndsData || !strings.Contains(v.Evidence, "354")) {
					t.Errorf("%s: %s (%s), want ends-data with the smuggled DATA's 354", l.name, v.Verdict, v.Evidence)
				}
			}
			if n := len(s.Messages()); n < 2 {
				t.Errorf("the server recorded %d messages, want the smuggled one too", n)
			}
		})
	}
}

// TestSmuggleRefusedReplies: refusals of the message, whatever their
// code, and a 421 that closes.
func TestSmuggleRefusedReplies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply response.Reply
		want  string
	}{
		{"554", response.New(554, "5.6.0 no"), "554 5.6.0 no"},
		{"451", response.New(451, "4.3.0 later"), "451 4.3.0 later"},
		{"421 closes", response.New(421, "4.3.2 bye"), "421 4.3.2 bye"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: smtptest.EndOfData, Reply: tt.reply}}})
			for _, v := range scanner(t, s, false).scanAll(context.Background()) {
				if v.Verdict != verdictRefused || !strings.Contains(v.Evidence, tt.want) {
					t.Errorf("%s: %s (%s), want refused with %q", v.Name, v.Verdict, v.Evidence, tt.want)
				}
			}
		})
	}
}

func TestSmuggleJudgeReplies(t *testing.T) {
	ok := response.New(250, "2.0.0 OK")
	for _, tt := range []struct {
		name    string
		replies []response.Reply
		quit    bool
		want    string
	}{
		{"one 2yz then 221", []response.Reply{ok}, true, verdictKeptAsData},
		{"one 2yz, closed without 221", []response.Reply{ok}, false, verdictUnknown},
		{"2yz, then a 421 that may answer QUIT", []response.Reply{ok, response.New(421, "bye")}, false, verdictUnknown},
		{"2yz, a smuggled reply, then 421", []response.Reply{ok, ok, response.New(421, "bye")}, false, verdictEndsData},
		{"two replies then 221", []response.Reply{ok, ok}, true, verdictEndsData},
		{"5yz then 221", []response.Reply{response.New(550, "no")}, true, verdictRefused},
		{"5yz and closed", []response.Reply{response.New(521, "bye")}, false, verdictRefused},
		{"354 to the end of the data", []response.Reply{response.New(354, "go on")}, true, verdictUnknown},
		{"nothing", nil, false, verdictUnknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, ev := judgeReplies(tt.replies, tt.quit, nil); got != tt.want {
				t.Errorf("%s (%s), want %s", got, ev, tt.want)
			}
		})
	}
}

// TestSmuggleUnknownWhenTheTransactionFails: a refused RCPT leaves
// nothing to judge.
func TestSmuggleUnknownWhenTheTransactionFails(t *testing.T) {
	s := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: response.New(550, "5.1.1 no such user")}}})
	for _, v := range scanner(t, s, false).scanAll(context.Background()) {
		if v.Verdict != verdictUnknown || !strings.Contains(v.Evidence, "RCPT refused: 550 5.1.1 no such user") {
			t.Errorf("%s: %s (%s), want unknown naming the RCPT reply", v.Name, v.Verdict, v.Evidence)
		}
	}
}

// TestSmuggleUnknownOnTimeout: a server that never answers the end of the
// data makes the variant unknown within --timeout.
func TestSmuggleUnknownOnTimeout(t *testing.T) {
	s := newServer(t, smtptest.Config{Faults: []smtptest.Fault{smtptest.StallAt(smtptest.EndOfData, time.Minute)}})
	sc := scanner(t, s, false)
	sc.timeout = 300 * time.Millisecond
	start := time.Now()
	v, ev := sc.scan(context.Background(), smuggleLookalikes[0], 0)
	if v != verdictUnknown || !strings.Contains(ev, "timeout") {
		t.Fatalf("verdict %s (%s), want unknown after a timeout", v, ev)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the scan took %v with a timeout of %v", d, sc.timeout)
	}
}

// storeServer is a server that writes each message it accepts into dir,
// one file each, as a delivery agent would.
func storeServer(t *testing.T, cfg smtptest.Config, dir string) *smtptest.Server {
	var n atomic.Int64
	cfg.OnMessage = func(m smtptest.Message) {
		name := filepath.Join(dir, fmt.Sprintf("%06d.eml", n.Add(1)))
		if err := os.WriteFile(name, m.Data, 0o600); err != nil {
			t.Error(err)
		}
	}
	return newServer(t, cfg)
}

// TestSmuggleStoreAgrees: with a store, kept-as-data is confirmed by the
// one message holding the smuggled commands, ends-data by the smuggled
// message stored on its own; refused looks once.
func TestSmuggleStoreAgrees(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cfg      smtptest.Config
		evidence string
	}{
		{"kept", smtptest.Config{}, "stored: one message with the smuggled commands inside it"},
		{"ends", smtptest.Config{DataEndings: []string{"\n.\n", "\n.\r\n"}}, "stored: the smuggled message as a message of its own"},
		{"refused", smtptest.Config{BareNewline: smtptest.BareNewlineReject}, "stored: no message holds the smuggled one"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := storeServer(t, tt.cfg, dir)
			sc := scanner(t, s, false)
			sc.store = maildirStore(dir)
			got := sc.scanAll(context.Background())
			checkVerdicts(t, tt.cfg, got)
			for _, v := range got {
				want := tt.evidence
				if v.Verdict == verdictKeptAsData {
					want = "stored: one message with the smuggled commands inside it"
				}
				if !strings.Contains(v.Evidence, want) {
					t.Errorf("%s: evidence %q, want %q", v.Name, v.Evidence, want)
				}
			}
		})
	}
}

// TestSmuggleStoreDisagrees: replies that say kept-as-data with nothing
// stored are unknown after --wait; a smuggled message stored on its own
// is ends-data whatever the replies said.
func TestSmuggleStoreDisagrees(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, smtptest.Config{})
	sc := scanner(t, s, false)
	sc.store = maildirStore(dir)
	sc.wait = 200 * time.Millisecond
	if v, ev := sc.scan(context.Background(), smuggleLookalikes[0], 0); v != verdictUnknown || !strings.Contains(ev, "no stored message holds") {
		t.Errorf("nothing stored: %s (%s), want unknown", v, ev)
	}
	_, inner := sc.markers(1)
	if err := os.WriteFile(filepath.Join(dir, "planted"), []byte("X-Smtpkit-Smuggle: "+inner+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, ev := sc.scan(context.Background(), smuggleLookalikes[1], 1); v != verdictEndsData || !strings.Contains(ev, "as a message of its own") {
		t.Errorf("smuggled message stored: %s (%s), want ends-data", v, ev)
	}
}

// TestSmuggleExitStatus runs the command against emulations: 0 when no
// lookalike ends the data, 3 when one does, 1 when it cannot tell, 2 for
// usage errors.
func TestSmuggleExitStatus(t *testing.T) {
	strict := newServer(t, smtptest.Config{})
	vulnerable := newServer(t, smtptest.Config{DataEndings: []string{"\r\n.\n"}})
	refusing := newServer(t, smtptest.Config{BareNewline: smtptest.BareNewlineDisconnect})
	noRcpt := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: "RCPT", Reply: response.New(550, "5.1.1 no")}}})
	unix := newServer(t, smtptest.Config{UnixSocket: filepath.Join(t.TempDir(), "smtp.sock"), DataEndings: []string{"\n.\n"}})
	args := func(addr string, more ...string) []string {
		return append([]string{"smuggle", "--server", addr, "--from", "a@example.org", "--to", "Bob <b@example.org>"}, more...)
	}
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"kept as data", args(strict.Addr), exitOK, "no lookalike ends the data", ""},
		{"ends data", args(vulnerable.Addr), exitPartial, "VULNERABLE: the server ends the data at CRLF.LF\n", ""},
		{"ends data over a Unix socket", args(unix.Addr), exitPartial, "VULNERABLE: the server ends the data at LF.LF, CRLF.LF\n", ""},
		{"refused", args(refusing.Addr), exitOK, "refused       the message was refused", ""},
		{"cannot tell", args(noRcpt.Addr), exitFailed, "unknown       RCPT refused: 550 5.1.1 no", "no verdict for 21 of the 21 lookalikes"},
		{"not loopback", args("192.0.2.1:25"), exitUsage, "", "--allow-remote"},
		{"missing --to", []string{"smuggle", "--server", strict.Addr, "--from", "a@example.org"}, exitUsage, "", "--from and --to are required"},
		{"store twice", args(strict.Addr, "--maildir", "x", "--check", "true"), exitUsage, "", "exclude each other"},
		{"header injection", args(strict.Addr, "--helo", "a\r\nRCPT TO:<x@example.org>"), exitUsage, "", "--helo"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := smtpkit(t, nil, tt.args...)
			r.want(t, tt.code)
			if !strings.Contains(r.stdout, tt.stdout) || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stdout:\n%s\nstderr:\n%s\nwant %q and %q in them", r.stdout, r.stderr, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestSmuggleJSON checks the shape of --json: the server, and per
// lookalike its name, the lookalike itself as a JSON string, the verdict
// and the evidence.
func TestSmuggleJSON(t *testing.T) {
	s := newServer(t, smtptest.Config{DataEndings: []string{"\n.\n", "\n.\r\n"}})
	r := smtpkit(t, nil, "smuggle", "--server", s.Addr, "--from", "a@example.org", "--to", "b@example.org", "--json")
	r.want(t, exitPartial)
	v := decode(t, r.stdout)
	wantKeys(t, "the object", v, "server", "variants")
	if v["server"] != s.Addr {
		t.Errorf("server %v, want %s", v["server"], s.Addr)
	}
	variants := v["variants"].([]any)
	if len(variants) != len(smuggleLookalikes) {
		t.Fatalf("%d variants, want %d", len(variants), len(smuggleLookalikes))
	}
	for i, x := range variants {
		m := x.(map[string]any)
		wantKeys(t, "a variant", m, "name", "bytes", "verdict", "evidence")
		l := smuggleLookalikes[i]
		want := expectedVerdict(smtptest.Config{DataEndings: []string{"\n.\n", "\n.\r\n"}}, l)
		if m["name"] != l.name || m["bytes"] != l.bytes || m["verdict"] != want || m["evidence"] == "" {
			t.Errorf("variant %d = %v, want %s %q %s", i, m, l.name, l.bytes, want)
		}
	}
	if !strings.Contains(r.stdout, `"bytes": "\n.\n"`) || !strings.Contains(r.stdout, `"bytes": "\n\u0000.\n"`) {
		t.Errorf("bytes are not JSON strings of the lookalikes:\n%s", r.stdout)
	}
}

// TestSmuggleCheckCommand: --check runs a command that prints the stored
// messages holding the marker.
func TestSmuggleCheckCommand(t *testing.T) {
	dir := t.TempDir()
	s := storeServer(t, smtptest.Config{DataEndings: []string{"\n.\n"}}, dir)
	check := fmt.Sprintf(`grep -rlF -- "$1" %s | xargs -r cat`, dir)
	r := smtpkit(t, nil, "smuggle", "--server", s.Addr, "--from", "a@example.org", "--to", "b@example.org", "--check", check, "--json")
	r.want(t, exitPartial)
	for _, x := range decode(t, r.stdout)["variants"].([]any) {
		m := x.(map[string]any)
		want := "stored: one message with the smuggled commands inside it"
		if m["verdict"] == verdictEndsData {
			want = "stored: the smuggled message as a message of its own"
		}
		if !strings.Contains(m["evidence"].(string), want) {
			t.Errorf("%s: evidence %q, want %q", m["name"], m["evidence"], want)
		}
	}
}

// TestSmuggleEscapesEvidence: a reply with escape sequences and a bidi
// override reaches the terminal escaped.
func TestSmuggleEscapesEvidence(t *testing.T) {
	s := newServer(t, smtptest.Config{Overrides: []smtptest.Override{{Verb: smtptest.EndOfData, Reply: response.New(554, "no "+osc+csi+rlo+c1+junk)}}})
	r := smtpkit(t, nil, "smuggle", "--server", s.Addr, "--from", "a@example.org", "--to", "b@example.org")
	r.want(t, exitOK)
	checkTerminalSafe(t, "the output", r.stdout)
	if !strings.Contains(r.stdout, `554 no \x1b]0;pwned\a`) && !strings.Contains(r.stdout, `554 no \x1b]0;pwned\x07`) {
		t.Errorf("the reply is not shown escaped:\n%s", r.stdout)
	}
}

// TestSmuggleSTARTTLS: the scan upgrades when STARTTLS is offered and
// verifies the certificate; --tls require fails without it.
func TestSmuggleSTARTTLS(t *testing.T) {
	exts := append(smtptest.DefaultExtensions(), "STARTTLS")
	s := newServer(t, smtptest.Config{Extensions: exts, DataEndings: []string{"\n.\n"}})
	ca := writeCA(t, s)
	r := smtpkit(t, nil, "smuggle", "--server", s.Addr, "--from", "a@example.org", "--to", "b@example.org", "--ca", ca, "--tls", "require")
	r.want(t, exitPartial)
	for _, m := range s.Messages() {
		if !m.TLS {
			t.Errorf("message over plaintext: %+v", m)
		}
	}
	if len(s.Messages()) == 0 {
		t.Error("no message")
	}
	r = smtpkit(t, nil, "smuggle", "--server", s.Addr, "--from", "a@example.org", "--to", "b@example.org")
	r.want(t, exitFailed)
	if !strings.Contains(r.stdout, "--ca FILE") {
		t.Errorf("an unverified certificate does not say what to do:\n%s", r.stdout)
	}
	plain := newServer(t, smtptest.Config{})
	r = smtpkit(t, nil, "smuggle", "--server", plain.Addr, "--from", "a@example.org", "--to", "b@example.org", "--tls", "require")
	r.want(t, exitFailed)
	if !strings.Contains(r.stdout, "STARTTLS is not offered") {
		t.Errorf("--tls require without STARTTLS:\n%s", r.stdout)
	}
}
