package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/smtpkit/smtpkit/internal/testfixture"
	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

// Text a hostile peer puts where smtpkit shows it: an OSC sequence that
// sets the terminal's title, a CSI that clears the screen, a bare CR that
// overwrites the line, the one-rune C1 CSI, a bidi override and a byte
// that is not UTF-8.
const (
	osc  = "\x1b]0;pwned\x07"
	csi  = "\x1b[2J"
	rlo  = "\u202e"
	c1   = "\u009b"
	junk = "\xff"
)

// checkTerminalSafe fails unless out is valid UTF-8 whose runes are
// printable, line feeds and tabs aside.
func checkTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s is not valid UTF-8:\n%q", what, out)
	}
	for _, r := range out {
		if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
			t.Errorf("%s holds %U raw:\n%q", what, r, out)
			return
		}
	}
}

// hostileCert is a self-signed certificate whose subject, issuer and
// names carry escape sequences and a bidi override.
func hostileCert(t *testing.T) *tls.Certificate {
	t.Helper()
	name := pkix.Name{CommonName: "evil" + osc + "cn", Organization: []string{"org" + rlo + "gnp.exe" + c1 + "x"}}
	c, err := testfixture.NewCertificate(name, "mx"+csi+".example", "ok\roverwritten.example")
	if err != nil {
		t.Fatal(err)
	}
	return &c.TLS
}

// TestProbeEscapesPeerText is the regression test for issue 17 item 3 in
// probe: the greeting, the EHLO reply and its extension parameters, the
// AUTH list, the certificate's subject, issuer and names, and the reason
// it did not verify were printed raw, so a server (or its certificate)
// could set the title, clear the screen or reverse text.
func TestProbeEscapesPeerText(t *testing.T) {
	greeting := response.New(220, "mx.example.org "+osc+" ESMTP "+rlo+"dliub"+junk)
	srv := newServer(t, smtptest.Config{
		Hostname: "mx.example.org",
		Greeting: &greeting,
		Extensions: []string{
			"PIPELINING",
			"X-EVIL " + osc + csi + " ok\rHIDDEN",
			"X-BIDI " + rlo + c1 + "31m" + junk,
			"AUTH PLAIN " + rlo + "NIGOL" + csi,
			"STARTTLS",
		},
		Certificate: hostileCert(t),
	})
	_, port, _ := net.SplitHostPort(srv.Addr)
	server := "localhost:" + port // so that the verify error names the certificate's names

	r := smtpkit(t, nil, "probe", "--server", server)
	r.want(t, exitOK)
	checkTerminalSafe(t, "probe's output", r.stdout)
	checkTerminalSafe(t, "probe's standard error", r.stderr)
	for _, want := range []string{
		`greeting:    220 mx.example.org \x1b]0;pwned\a ESMTP \u202edliub\xff`,
		`X-EVIL \x1b]0;pwned\a\x1b[2J ok\rHIDDEN`,
		`X-BIDI \u202e\u009b31m\xff`,
		`subject CN=evil\x1b]0\;pwned\acn`, // pkix writes ';' as '\;'

		`\u202egnp.exe\u009bx`,
		`names   mx\x1b[2J.example, ok\roverwritten.example`,
		`NOT verified: x509: certificate is valid for mx\x1b[2J.example, ok\roverwritten.example, not localhost`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("probe's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, `AUTH:        `) || strings.Contains(r.stdout, "AUTH:        not offered") {
		t.Errorf("no AUTH line:\n%s", r.stdout)
	}

	// --json: the values decode to what the server sent, and the output
	// itself is as safe on a terminal.
	r = smtpkit(t, nil, "probe", "--server", server, "--json")
	r.want(t, exitOK)
	checkTerminalSafe(t, "probe --json", r.stdout)
	var rep probeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("probe --json: %v\n%s", err, r.stdout)
	}
	if rep.Greeting == nil || !strings.Contains(rep.Greeting.Message, osc+" ESMTP "+rlo) {
		t.Errorf("greeting in the JSON = %+v, want the text as sent", rep.Greeting)
	}
	if rep.TLS == nil || rep.TLS.Certificate == nil || !strings.Contains(rep.TLS.Certificate.Subject, rlo+"gnp.exe"+c1) {
		t.Errorf("certificate in the JSON = %+v, want the subject as sent", rep.TLS)
	}
}

// TestSinkEscapesAddresses is the regression test for issue 17 item 3 in
// sink: the MAIL and RCPT addresses a client sent were printed raw. A
// UTF-8 address (RFC 6531) may hold a bidi override or a C1 control.
func TestSinkEscapesAddresses(t *testing.T) {
	sink := startSink(t)
	conn, err := net.DialTimeout("tcp", sink.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	expect := func(code string) {
		t.Helper()
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v", err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("got %q, want %s", line, code)
			}
			if len(line) < 4 || line[3] != '-' {
				return
			}
		}
	}
	send := func(line, code string) {
		t.Helper()
		fmt.Fprintf(conn, "%s\r\n", line)
		expect(code)
	}
	expect("220")
	send("EHLO client.example", "250")
	send("MAIL FROM:<alice"+rlo+"gnp.exe@example.org> SMTPUTF8", "250")
	send("RCPT TO:<bob"+c1+"31m@example.org>", "250")
	send("DATA", "354")
	send("Subject: hi "+rlo+"there\r\n\r\nbody\r\n.", "250")
	send("QUIT", "221")

	line := sink.waitLines(1)[0]
	checkTerminalSafe(t, "the sink's line", line)
	for _, want := range []string{`from=<alice\u202egnp.exe@example.org>`, `to=<bob\u009b31m@example.org>`, `subject="hi \u202ethere"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the sink's line lacks %q:\n%s", want, line)
		}
	}
}

// TestWriteJSONEscapes: what encoding/json leaves raw (C1 controls, bidi
// and other format characters, astral ones among them) is written as \u
// escapes, and the JSON still decodes to the same values.
func TestWriteJSONEscapes(t *testing.T) {
	in := map[string]string{"k" + rlo: "a" + osc + c1 + rlo + "\u2066\U000e0041 grüße 🙂\n" + junk}
	var b strings.Builder
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkTerminalSafe(t, "the JSON", out)
	for _, want := range []string{`"k\u202e"`, `\u009b\u202e\u2066\udb40\udc41 grüße 🙂\n\ufffd`} {
		if !strings.Contains(out, want) {
			t.Errorf("the JSON lacks %s:\n%s", want, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k" + rlo: strings.ToValidUTF8(in["k"+rlo], "\ufffd")}
	if back["k"+rlo] != want["k"+rlo] {
		t.Errorf("decoded %q, want %q", back, want)
	}
}
