package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSink(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Maildir")
	sink := startSink(t, "--maildir", dir, "--refuse", "nobody@*", "--hostname", "sink.example")

	r := smtpkit(t, nil, "send", "--server", sink.Addr, "--from", "alice@example.org",
		"--to", "bob@example.org", "--to", "nobody@example.net", "--subject", "to the sink", "--json")
	r.want(t, exitPartial)
	rcpts := decode(t, r.stdout)["recipients"].([]any)
	if got := rcpts[1].(map[string]any); got["code"] != 550.0 || got["enhanced"] != "5.1.1" {
		t.Errorf("nobody@ = %v", got)
	}
	smtpkit(t, nil, "send", "--server", sink.Addr, "--from", "alice@example.org", "--to", "carol@example.org",
		"--pipelining", "off", "--chunking", "off").want(t, exitOK)

	lines := sink.waitLines(2)
	line1 := regexp.MustCompile(`^message 1 conn=1 from=<alice@example.org> to=<bob@example.org> size=\d+ tls=no body=BDAT subject="to the sink" file=(\S+)$`)
	m := line1.FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("first line: %q", lines[0])
	}
	if !strings.HasPrefix(lines[1], "message 2 conn=2 from=<alice@example.org> to=<carol@example.org> ") || !strings.Contains(lines[1], " body=DATA ") {
		t.Errorf("second line: %q", lines[1])
	}
	if filepath.Dir(m[1]) != filepath.Join(dir, "new") {
		t.Errorf("file %s is not in %s/new", m[1], dir)
	}
	data, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Return-Path: <alice@example.org>\nDelivered-To: bob@example.org\nDate: ", "\nSubject: to the sink\n", "\n\nThis is a test message sent by smtpkit.\n"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("maildir file lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(string(data), "\r") {
		t.Error("maildir file has CRs")
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "new")); len(files) != 2 {
		t.Errorf("%d files in new", len(files))
	}
	for _, sub := range []string{"tmp", "cur"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", sub, err)
		}
	}

	// probe sees what the issue asks the sink to announce.
	r = smtpkit(t, nil, "probe", "--server", sink.Addr, "--json")
	r.want(t, exitOK)
	var kws []string
	for _, e := range decode(t, r.stdout)["extensions"].([]any) {
		kws = append(kws, e.(map[string]any)["keyword"].(string))
	}
	if got := strings.Join(kws, " "); got != "PIPELINING SIZE 8BITMIME SMTPUTF8 DSN ENHANCEDSTATUSCODES CHUNKING" {
		t.Errorf("extensions: %s", got)
	}

	if code := sink.stop(); code != exitOK {
		t.Errorf("sink exit status %d after SIGTERM\n%s", code, sink.Stderr())
	}
	if !strings.Contains(sink.Stderr(), "stopped after 3 connection(s) and 2 message(s)") {
		t.Errorf("stderr:\n%s", sink.Stderr())
	}
}

// With --tls-cert the sink offers STARTTLS with that certificate, which
// the client verifies with --ca.
func TestSinkSTARTTLS(t *testing.T) {
	cert, key := writeCert(t, "sink.test")
	sink := startSink(t, "--tls-cert", cert, "--tls-key", key)

	r := smtpkit(t, nil, "probe", "--server", sink.Addr, "--ca", cert, "--json")
	r.want(t, exitOK)
	tls := decode(t, r.stdout)["tls"].(map[string]any)
	if tls["ok"] != true || tls["verified"] != true || tls["certificate"].(map[string]any)["subject"] != "CN=sink.test" {
		t.Errorf("tls = %v", tls)
	}
	r = smtpkit(t, nil, "send", "--server", sink.Addr, "--tls", "require", "--ca", cert, "--to", "bob@example.org", "--trace")
	r.want(t, exitOK)
	if !strings.Contains(r.stdout, "tls TLS 1.3") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	lines := sink.waitLines(1)
	if !strings.Contains(lines[0], " tls=yes ") {
		t.Errorf("line: %q", lines[0])
	}
	// Pipelined and chunked over TLS.
	r = smtpkit(t, nil, "bench", "--server", sink.Addr, "--tls", "require", "--ca", cert, "--messages", "50", "--connections", "2", "--json")
	r.want(t, exitOK)
	for _, l := range sink.waitLines(50) {
		if !strings.Contains(l, " tls=yes body=BDAT ") {
			t.Fatalf("line: %q", l)
		}
	}
	// The client does not trust a certificate it was not given.
	r = smtpkit(t, nil, "send", "--server", sink.Addr, "--to", "bob@example.org")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "certificate")

	if code := sink.stop(); code != exitOK {
		t.Errorf("exit status %d", code)
	}
}

// Commands sent in plaintext after STARTTLS, before the handshake, are
// dropped by the sink (RFC 3207 §5), not run inside the TLS session.
func TestSinkSTARTTLSInjection(t *testing.T) {
	certFile, keyFile := writeCert(t, "sink.test")
	sink := startSink(t, "--tls-cert", certFile, "--tls-key", keyFile)
	conn, err := net.Dial("tcp", sink.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	reply := func(r *bufio.Reader) string {
		t.Helper()
		var last string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v (after %q)", err, last)
			}
			if last = l; len(l) >= 4 && l[3] == ' ' {
				return l
			}
		}
	}
	reply(br)
	io.WriteString(conn, "EHLO client.example\r\n")
	reply(br)
	io.WriteString(conn, "STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n")
	if l := reply(br); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	pem, _ := os.ReadFile(certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tc := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := bufio.NewReader(tc)
	io.WriteString(tc, "EHLO client.example\r\n")
	reply(tr)
	io.WriteString(tc, "RCPT TO:<bob@example.org>\r\n")
	if l := reply(tr); !strings.HasPrefix(l, "503 ") {
		t.Errorf("RCPT after the injected MAIL: %q, want 503 (no transaction)", l)
	}
	io.WriteString(tc, "QUIT\r\n")
	reply(tr)
	sink.stop()
}

func TestSinkLMTP(t *testing.T) {
	sink := startSink(t, "--lmtp", "--refuse", "*@refused.example")
	r := smtpkit(t, nil, "send", "--lmtp", "--server", sink.Addr, "--json", "--to", "a@example.org", "--to", "b@refused.example")
	r.want(t, exitPartial)
	rcpts := decode(t, r.stdout)["recipients"].([]any)
	if d, _ := rcpts[0].(map[string]any)["data"].(map[string]any); d["code"] != 250.0 || d["message"] != "<a@example.org> OK" {
		t.Errorf("a@'s data = %v", rcpts[0])
	}
	if rcpts[1].(map[string]any)["data"] != nil {
		t.Errorf("b@'s data = %v", rcpts[1])
	}
	if l := sink.waitLines(1)[0]; !strings.Contains(l, "to=<a@example.org> ") {
		t.Errorf("line: %q", l)
	}
	sink.stop()
}

// On a Unix socket (an address starting with "/"), removed on exit.
func TestSinkUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "sk") // short: sun_path is about 100 octets
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sink.sock")
	sink := startSink(t, "--listen", sock)
	if sink.Addr != sock {
		t.Fatalf("listening on %s, want %s", sink.Addr, sock)
	}
	smtpkit(t, nil, "send", "--server", sock, "--to", "bob@example.org").want(t, exitOK)
	smtpkit(t, nil, "send", "--lmtp", "--server", sock, "--to", "bob@example.org").want(t, exitFailed) // LHLO to SMTP
	if l := sink.waitLines(1)[0]; !strings.HasPrefix(l, "message 1 conn=1 ") {
		t.Errorf("line: %q", l)
	}
	if code := sink.stop(); code != exitOK {
		t.Errorf("exit status %d", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there: %v", err)
	}
}

func TestSinkUsage(t *testing.T) {
	cert, _ := writeCert(t, "x")
	for _, args := range [][]string{
		{"sink", "--tls-cert", cert},
		{"sink", "--tls-cert", "/no/such", "--tls-key", "/no/such"},
		{"sink", "--refuse", "[a-"},
		{"sink", "extra"},
		{"sink", "--max-size", "0"},
		{"sink", "--max-messages-per-conn", "-1"},
		{"sink", "--max-connections", "0"},
		{"sink", "--max-recipients", "-1"},
		{"sink", "--idle-timeout", "0s"},
		{"sink", "--data-timeout", "-1s"},
	} {
		r := smtpkit(t, nil, args...)
		if r.code != exitUsage {
			t.Errorf("smtpkit %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}

// With --max-messages-per-conn the MAIL after the limit gets 421 and the
// connection closes; the next connection may deliver again.
func TestSinkMaxMessagesPerConn(t *testing.T) {
	sink := startSink(t, "--max-messages-per-conn", "1", "--hostname", "sink.example")
	session := func(wantLast string) {
		t.Helper()
		conn, err := net.Dial("tcp", sink.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(conn, "EHLO client.example\r\n"+
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 4 LAST\r\nhi\r\n"+
			"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n")
		all, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("reading until the sink closes: %v (after %q)", err, all)
		}
		lines := strings.Split(strings.TrimSuffix(string(all), "\r\n"), "\r\n")
		if last := lines[len(lines)-1]; last != wantLast {
			t.Errorf("last reply %q, want %q (all: %q)", last, wantLast, all)
		}
	}
	session("421 4.7.0 sink.example Too many messages in this connection")
	session("421 4.7.0 sink.example Too many messages in this connection")
	lines := sink.waitLines(2)
	if !strings.HasPrefix(lines[0], "message 1 conn=1 ") || !strings.HasPrefix(lines[1], "message 2 conn=2 ") {
		t.Errorf("lines %q", lines)
	}
	if code := sink.stop(); code != exitOK {
		t.Errorf("exit status %d", code)
	}
}

// With --max-connections the connection past the limit gets 421 and is
// closed; with --idle-timeout a connection that sends nothing gets 421
// 4.4.2 and is closed. The summary counts the refused connections.
func TestSinkMaxConnectionsIdleTimeout(t *testing.T) {
	sink := startSink(t, "--max-connections", "1", "--idle-timeout", "2s", "--hostname", "sink.example")
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := net.Dial("tcp", sink.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		return conn, bufio.NewReader(conn)
	}
	first, r1 := dial()
	if l, _ := r1.ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first connection: %q", l)
	}
	_, r2 := dial()
	if l, _ := r2.ReadString('\n'); l != "421 4.7.0 sink.example Too many connections\r\n" {
		t.Errorf("second connection: %q", l)
	}
	begin := time.Now()
	rest, err := io.ReadAll(r1)
	if string(rest) != "421 4.4.2 sink.example Timeout, closing connection\r\n" || err != nil {
		t.Errorf("the idle connection got %q, %v", rest, err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("closed after %v", d)
	}
	first.Close()
	if code := sink.stop(); code != exitOK {
		t.Errorf("exit status %d", code)
	}
	if !strings.Contains(sink.Stderr(), "1 connection(s) refused over --max-connections") {
		t.Errorf("stderr:\n%s", sink.Stderr())
	}
}
