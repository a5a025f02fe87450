package interop

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The package versions the smuggling expectations below were checked
// against (their changelogs, advisories and sources, and a run); another
// version makes TestSmuggle fail until someone checks it and updates them
// and the README's table.
const (
	smugglePostfixVersion  = "3.7.11-0+deb12u1"
	smuggleDovecotVersion  = "1:2.3.19.1+dfsg1-2.1+deb12u7"
	smuggleAiosmtpdVersion = "1.4.3-1.1+deb12u1"
)

// smuggleResult is one variant of smtpkit smuggle --json.
type smuggleResult struct {
	Name     string `json:"name"`
	Bytes    string `json:"bytes"`
	Verdict  string `json:"verdict"`
	Evidence string `json:"evidence"`
}

// lfEndsLines is the verdict of a server that ends a line at LF, dropping
// a CR before it, and the data at a line holding only ".": Postfix's
// smtpd with smtpd_forbid_bare_newline = no (CVE-2023-51764), and
// Dovecot's lib-smtp server, whose dot stream accepts "LF.LF, CRLF.LF,
// LF.CRLF" as the end of the text (its ISTREAM_DOT_LOOSE_EOT reading).
func lfEndsLines(lookalike string) string {
	if strings.Contains(strings.ReplaceAll(":"+lookalike+"M", "\r\n", "\n"), "\n.\n") {
		return "ends-data"
	}
	return "kept-as-data"
}

// hasBareLF reports whether s holds an LF without a CR before it.
func hasBareLF(s string) bool {
	for i := range len(s) {
		if s[i] == '\n' && (i == 0 || s[i-1] != '\r') {
			return true
		}
	}
	return false
}

// dpkgVersion is the installed version of a Debian package.
func dpkgVersion(t *testing.T, pkg string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		t.Fatalf("dpkg-query %s: %v", pkg, err)
	}
	return string(out)
}

// changelogMentions reports whether a package's Debian changelog names s.
func changelogMentions(t *testing.T, pkg, s string) bool {
	t.Helper()
	f, err := os.Open(filepath.Join("/usr/share/doc", pkg, "changelog.Debian.gz"))
	if err != nil {
		t.Fatalf("%s's changelog: %v", pkg, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(s))
}

// buildSmtpkit builds the smtpkit command for the test.
func buildSmtpkit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "smtpkit")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/smtpkit/smtpkit/cmd/smtpkit").CombinedOutput()
	if err != nil {
		t.Fatalf("building smtpkit: %v\n%s", err, out)
	}
	return bin
}

// TestSmuggle runs smtpkit smuggle against every real server and checks
// each variant's verdict, confirmed by the server's store, against what
// the installed versions are documented to do:
//
//   - Postfix 3.7.11 as configured (smtpd_forbid_bare_newline = no, the
//     default before 3.9): a bare LF ends a line, so LF.LF, LF.CRLF and
//     CRLF.LF end the data (CVE-2023-51764; Debian's changelog: "Addresses
//     CVE-2023-51764, requires configuration change").
//   - The same with smtpd_forbid_bare_newline = yes, which since 3.7.10 is
//     "normalize": only <CRLF>.<CRLF> ends the data, every lookalike is
//     data. (3.7.9's "yes" disconnected instead.)
//   - With = reject (3.7.10 on): a message with a bare LF gets 550
//     "Error: bare <LF> received"; lookalikes with only bare CRs are data.
//   - Dovecot 2.3.19.1's LMTP (TCP and Unix socket): LF.LF, LF.CRLF and
//     CRLF.LF end the data; its changelog lists no fix of the server side
//     (CVE-2026-33604, in this package, is its client's dot-stuffing).
//   - aiosmtpd 1.4.3 with Debian's fix of CVE-2024-27305 (deb12u1): only
//     <CRLF>.<CRLF> ends the data.
func TestSmuggle(t *testing.T) {
	postfix := dpkgVersion(t, "postfix")
	dovecot := dpkgVersion(t, "dovecot-lmtpd")
	aiosmtpd := dpkgVersion(t, "python3-aiosmtpd")
	t.Logf("installed: postfix %s, dovecot-lmtpd %s, python3-aiosmtpd %s", postfix, dovecot, aiosmtpd)
	for _, v := range []struct{ pkg, got, want string }{
		{"postfix", postfix, smugglePostfixVersion},
		{"dovecot-lmtpd", dovecot, smuggleDovecotVersion},
		{"python3-aiosmtpd", aiosmtpd, smuggleAiosmtpdVersion},
	} {
		if v.got != v.want {
			t.Errorf("%s is %s; the expectations were checked for %s: read its changelog and advisories, and update them and interop/README.md's table", v.pkg, v.got, v.want)
		}
	}
	if !changelogMentions(t, "python3-aiosmtpd", "CVE-2024-27305") {
		t.Errorf("python3-aiosmtpd %s does not list the CVE-2024-27305 fix the expectations assume", aiosmtpd)
	}
	if t.Failed() {
		return
	}
	bin := buildSmtpkit(t)
	kept := func(string) string { return "kept-as-data" }
	bareLFRefused := func(l string) string {
		if hasBareLF(l) {
			return "refused"
		}
		return "kept-as-data"
	}
	ca := peerEnv(t, "SMTPKIT_POSTFIX_CA")
	postfixAlice := filepath.Join(peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR"), "example.org", "alice")
	dovecotAlice := filepath.Join(peerEnv(t, "SMTPKIT_DOVECOT_MAILDIR"), "alice")
	for _, tt := range []struct {
		name    string
		addrVar string
		args    []string
		want    func(lookalike string) string
	}{
		{"postfix", "SMTPKIT_POSTFIX_ADDR", []string{"--ca", ca, "--maildir", postfixAlice}, lfEndsLines},
		{"postfix-bare-newline-yes", "SMTPKIT_POSTFIX_BARE_NEWLINE_YES_ADDR", []string{"--tls", "none", "--maildir", postfixAlice}, kept},
		{"postfix-bare-newline-reject", "SMTPKIT_POSTFIX_BARE_NEWLINE_REJECT_ADDR", []string{"--tls", "none", "--maildir", postfixAlice}, bareLFRefused},
		{"dovecot-lmtp-tcp", "SMTPKIT_DOVECOT_LMTP_ADDR", []string{"--lmtp", "--ca", ca, "--maildir", dovecotAlice}, lfEndsLines},
		{"dovecot-lmtp-unix", "SMTPKIT_DOVECOT_LMTP_SOCKET", []string{"--lmtp", "--tls", "none", "--maildir", dovecotAlice}, lfEndsLines},
		{"aiosmtpd", "SMTPKIT_AIOSMTPD_ADDR", []string{"--ca", ca, "--maildir", peerEnv(t, "SMTPKIT_AIOSMTPD_MAILDIR")}, kept},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := peerEnv(t, tt.addrVar)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			args := append([]string{"smuggle", "--server", addr, "--from", "smuggler@example.org", "--to", "alice@example.org", "--json", "--wait", "60s"}, tt.args...)
			cmd := exec.CommandContext(ctx, bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			var rep struct {
				Server   string          `json:"server"`
				Variants []smuggleResult `json:"variants"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("smtpkit %s: exit %d, not JSON: %v\n%s\n%s", strings.Join(args, " "), code, err, stdout.String(), stderr.String())
			}
			if len(rep.Variants) != 21 {
				t.Fatalf("%d variants, want 21", len(rep.Variants))
			}
			wantCode := 0
			for _, v := range rep.Variants {
				want := tt.want(v.Bytes)
				if want == "ends-data" {
					wantCode = 3
				}
				if v.Verdict != want {
					t.Errorf("%s %q: %s, want %s (%s)", v.Name, v.Bytes, v.Verdict, want, v.Evidence)
				}
				if !strings.Contains(v.Evidence, "stored: ") {
					t.Errorf("%s: the store did not confirm the verdict: %s", v.Name, v.Evidence)
				}
				t.Logf("%-12s %-13s %s", v.Name, v.Verdict, v.Evidence)
			}
			if code != wantCode {
				t.Errorf("exit status %d, want %d\n%s", code, wantCode, stderr.String())
			}
		})
	}
}
