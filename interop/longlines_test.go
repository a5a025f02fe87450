package interop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
)

// Issue 23: `smtpkit send` with 150 --to built one To line of about 3,500
// octets; go-smtp's server refused the message over DATA ("554 5.0.0 ...
// too long a line in input stream") and reset the connection over BDAT.
// These tests run the command against go-smtp, Postfix and aiosmtpd, over
// DATA and, where the server offers CHUNKING, BDAT.

// longLinePeer is a server the 150-recipient message goes to, and where
// it stores what it accepted.
type longLinePeer struct {
	name, addrVar, caVar string
	chunking             bool // it offers CHUNKING
	// stored returns what the server stored of the message with marker:
	// one file per recipient (Postfix's maildir) or one in all.
	stored func(t *testing.T, marker string) []storedMessage
}

// storedMessage is a stored message and the recipients it was for.
type storedMessage struct {
	data       []byte
	recipients []string
}

func longLinePeers() []longLinePeer {
	return []longLinePeer{
		{"gosmtp", "SMTPKIT_GOSMTP_ADDR", "", true, storedByEnvelope("SMTPKIT_GOSMTP_MAILDIR")},
		{"postfix", "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", true, storedInPostfixMaildir},
		{"aiosmtpd", "SMTPKIT_AIOSMTPD_ADDR", "SMTPKIT_AIOSMTPD_CA", false, storedByEnvelope("SMTPKIT_AIOSMTPD_MAILDIR")},
	}
}

// storedByEnvelope reads a store of NNNNNN.eml and NNNNNN.json (aiosmtpd's
// format, which the go-smtp peer shares).
func storedByEnvelope(dirVar string) func(*testing.T, string) []storedMessage {
	return func(t *testing.T, marker string) []storedMessage {
		dir := peerEnv(t, dirVar)
		var out []storedMessage
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !bytes.Contains(b, []byte(marker)) {
				continue
			}
			j, err := os.ReadFile(strings.TrimSuffix(f, ".eml") + ".json")
			var env aiosmtpdEnvelope
			if err != nil || json.Unmarshal(j, &env) != nil {
				t.Fatalf("%s: no envelope beside it", f)
			}
			out = append(out, storedMessage{data: b, recipients: env.RcptTos})
		}
		return out
	}
}

// storedInPostfixMaildir reads alice's maildir: Postfix delivers one copy
// per recipient (alice+N@example.org), naming it in X-Original-To, and
// turns CRLF into LF.
func storedInPostfixMaildir(t *testing.T, marker string) []storedMessage {
	dir := filepath.Join(peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR"), "example.org", "alice", "new")
	var out []storedMessage
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		m := storedMessage{data: bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))}
		for l := range strings.SplitSeq(string(b), "\n") {
			if rcpt, ok := strings.CutPrefix(l, "X-Original-To: "); ok {
				m.recipients = append(m.recipients, rcpt)
			}
		}
		out = append(out, m)
	}
	return out
}

// sendJSON is what `smtpkit send --json` prints that this test reads.
type sendJSON struct {
	Recipients []struct {
		Address  string `json:"address"`
		Accepted bool   `json:"accepted"`
	} `json:"recipients"`
	Data *struct {
		Code int `json:"code"`
	} `json:"data"`
	Error *string `json:"error"`
}

// TestSend150RecipientsToRealServers is the "done when": the
// 150-recipient `smtpkit send` is accepted by each server, every recipient
// reported once, and what the server stored has no line over 998 octets
// and a To field that unfolds to the 150 addresses.
func TestSend150RecipientsToRealServers(t *testing.T) {
	bin := buildSmtpkit(t)
	for _, p := range longLinePeers() {
		for _, chunking := range []string{"off", "auto"} {
			if chunking == "auto" && !p.chunking {
				continue // DATA again: nothing new
			}
			t.Run(p.name+"/chunking="+chunking, func(t *testing.T) {
				marker := fmt.Sprintf("issue-23-%s-%s-%d", p.name, chunking, time.Now().UnixNano())
				var to []string
				args := []string{"send", "--server", peerEnv(t, p.addrVar), "--from", "sender@example.net",
					"--subject", "150 recipients " + marker, "--body", "marker " + marker, "--chunking", chunking, "--json"}
				if p.caVar != "" {
					args = append(args, "--ca", peerEnv(t, p.caVar))
				}
				for i := range 150 {
					to = append(to, fmt.Sprintf("alice+%s-%03d@example.org", chunking, i))
					args = append(args, "--to", to[i])
				}
				ctx := ctxFor(t)
				var stdout, stderr bytes.Buffer
				cmd := exec.CommandContext(ctx, bin, args...)
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var rep sendJSON
				if jerr := json.Unmarshal(stdout.Bytes(), &rep); err != nil || jerr != nil {
					t.Fatalf("smtpkit send: %v, %v\nstdout:\n%s\nstderr:\n%s", err, jerr, stdout.String(), stderr.String())
				}
				if rep.Error != nil || rep.Data == nil || rep.Data.Code != 250 || len(rep.Recipients) != 150 {
					t.Fatalf("report: %s", stdout.String())
				}
				for i, r := range rep.Recipients {
					if r.Address != to[i] || !r.Accepted {
						t.Errorf("recipient %d: %+v, want %s accepted", i, r, to[i])
					}
				}

				var stored []storedMessage
				deadline := time.Now().Add(30 * time.Second)
				for {
					stored = p.stored(t, marker)
					n := 0
					for _, m := range stored {
						n += len(m.recipients)
					}
					if n >= 150 || time.Now().After(deadline) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				var got []string
				for _, m := range stored {
					got = append(got, m.recipients...)
					checkStoredHeader(t, m.data, to)
				}
				slices.Sort(got)
				if !slices.Equal(got, to) {
					t.Errorf("%s stored the message for %d recipients, want each of the 150 once: %q", p.name, len(got), got)
				}
			})
		}
	}
}

// checkStoredHeader checks that no line of data is over 998 octets, the
// header's over 78, and that its To field unfolds to the addresses.
func checkStoredHeader(t *testing.T, data []byte, to []string) {
	t.Helper()
	header, _, _ := strings.Cut(string(data), "\r\n\r\n")
	for i, l := range strings.Split(string(data), "\r\n") {
		if len(l) > 998 {
			t.Errorf("line %d is %d octets long", i+1, len(l))
		}
	}
	// The fields send built (the servers add others, which are theirs).
	built := []string{"Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "User-Agent"}
	var name, field string
	for i, l := range strings.Split(header, "\r\n") {
		if !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t") {
			name, _, _ = strings.Cut(l, ":")
		}
		if slices.Contains(built, name) && len(l) > 78 {
			t.Errorf("header line %d is %d octets long: %.60q...", i+1, len(l), l)
		}
		if name == "To" {
			field += l // RFC 5322 §2.2.3: unfolding removes the CRLF only
		}
	}
	if want := "To: <" + strings.Join(to, ">, <") + ">"; field != want {
		t.Errorf("To unfolds to %q, want %q", field, want)
	}
}

// TestGoSMTPLongLinePolicies shows what the issue saw, on go-smtp itself:
// a message with a 3,500-octet line sent as it is (LongLinesSend, smtplib's
// way) is refused over DATA, and over BDAT not accepted; the default
// refuses it before MAIL and the session goes on; LongLinesFold gets it
// accepted, every line within 998 octets.
func TestGoSMTPLongLinePolicies(t *testing.T) {
	addr := peerEnv(t, "SMTPKIT_GOSMTP_ADDR")
	to := []string{"alice+policy@example.org"}
	body := func(marker string) string {
		return "Subject: " + marker + "\r\nTo: " + strings.Repeat("<someone@example.org>, ", 150) + "<last@example.org>\r\n\r\nbody\r\n"
	}
	for _, chunking := range []bool{false, true} {
		name := map[bool]string{false: "DATA", true: "BDAT"}[chunking]
		t.Run(name, func(t *testing.T) {
			ctx := ctxFor(t)
			dial := func(policy session.LongLines) *session.Client {
				c, err := session.Dial(ctx, addr, &session.Options{LongLines: policy, DisableChunking: !chunking, LocalName: "client.example.org"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			stored := storedByEnvelope("SMTPKIT_GOSMTP_MAILDIR")

			marker := fmt.Sprintf("as-is-%s-%d", name, time.Now().UnixNano())
			_, err := dial(session.LongLinesSend).Send(ctx, "sender@example.net", to, strings.NewReader(body(marker)))
			if err == nil {
				t.Fatal("go-smtp accepted a line of 3,500 octets")
			}
			// Over DATA go-smtp answers the end of data "554 ... too long a
			// line" and then, unasked, "500 5.4.0 Too long line, closing
			// connection", and closes. When both come in one read the
			// client cannot tell which reply answers the end of data and
			// reports the desynchronisation instead: either way, refused.
			var de *session.DataError
			var dse *session.DesyncError
			refused554 := errors.As(err, &de) && de.Reply.Code == 554 && strings.Contains(de.Reply.Text, "too long a line")
			if !chunking && !refused554 && !errors.As(err, &dse) {
				t.Errorf("over DATA: %v, want go-smtp's 554 too long a line, or a *DesyncError for the 500 it sends after it", err)
			}
			t.Logf("sent as is over %s: %v", name, err)
			if got := stored(t, marker); len(got) != 0 {
				t.Errorf("go-smtp stored the message it refused: %d copies", len(got))
			}

			c := dial(session.LongLinesRefuse)
			marker = fmt.Sprintf("refused-%s-%d", name, time.Now().UnixNano())
			_, err = c.Send(ctx, "sender@example.net", to, strings.NewReader(body(marker)))
			var le *session.LineTooLongError
			if !errors.As(err, &le) || le.Line != 2 {
				t.Fatalf("default policy: %v, want a *LineTooLongError for line 2", err)
			}
			if _, err := c.Noop(ctx); err != nil {
				t.Fatalf("NOOP after the refusal: %v", err)
			}

			marker = fmt.Sprintf("folded-%s-%d", name, time.Now().UnixNano())
			if _, err := dial(session.LongLinesFold).Send(ctx, "sender@example.net", to, strings.NewReader(body(marker))); err != nil {
				t.Fatalf("folded: %v", err)
			}
			var got []storedMessage
			for deadline := time.Now().Add(10 * time.Second); len(got) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				got = stored(t, marker)
			}
			if len(got) != 1 {
				t.Fatalf("go-smtp stored %d folded messages", len(got))
			}
			for l := range strings.SplitSeq(string(got[0].data), "\r\n") {
				if len(l) > 998 {
					t.Errorf("a stored line of %d octets", len(l))
				}
			}
			if unfolded := strings.ReplaceAll(string(got[0].data), "\r\n ", ""); unfolded != body(marker) {
				t.Errorf("the folded message, its folds removed, is not the message:\n%q", unfolded)
			}
		})
	}
}
