// Package interop runs the client against real mail servers that
// interop/start installs and starts on loopback (see the README).
package interop

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

// peerEnv returns an environment variable interop/start sets. When it is
// absent the test fails, unless SMTPKIT_INTEROP=off says to skip the
// real-server suite: a suite that needs a server never skips silently.
func peerEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv("SMTPKIT_INTEROP") == "off" {
		t.Skipf("SMTPKIT_INTEROP=off: real-server suite skipped (%s not set)", name)
	}
	t.Fatalf("%s is not set: run the tests through interop/run (see README), e.g. `interop/run go test -race ./...`, or set SMTPKIT_INTEROP=off to skip the real-server suite", name)
	return ""
}

func caPool(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", path)
	}
	return pool
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitDelivered waits for a file in the maildir tree under root whose
// content holds marker, and returns it.
func waitDelivered(t *testing.T, root, user, marker string) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var found []byte
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || found != nil || !strings.Contains(path, user) || filepath.Base(filepath.Dir(path)) != "new" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err == nil && strings.Contains(string(b), marker) {
				found = b
			}
			return nil
		})
		if found != nil {
			return found
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no message with %q delivered to %s under %s within 30s", marker, user, root)
	return nil
}

// dialPostfix connects to the listener named by the environment variable
// addrVar, trusting the CA named by caVar for the server name "localhost",
// and closes the client when the test ends.
func dialPostfix(t *testing.T, ctx context.Context, addrVar, caVar string, opts session.Options) *session.Client {
	t.Helper()
	addr := peerEnv(t, addrVar)
	opts.TLSConfig = &tls.Config{RootCAs: caPool(t, peerEnv(t, caVar)), ServerName: "localhost"}
	c, err := session.Dial(ctx, addr, &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestPostfixStartTLSSend(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR")
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA",
		session.Options{TLS: session.TLSRequired, LocalName: "client.example.org"})

	marker := fmt.Sprintf("<%d.starttls@smtpkit.test>", time.Now().UnixNano())
	body := "From: sender@example.net\r\nTo: alice@example.org\r\nMessage-ID: " + marker + "\r\nSubject: interop\r\n\r\n" +
		"line one\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line without newline"
	res, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org", "nobody@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	st, ok := c.TLS()
	if !ok || !st.HandshakeComplete {
		t.Fatal("not on TLS after Send in TLSRequired mode")
	}
	for _, want := range []string{"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN", "ENHANCEDSTATUSCODES", "CHUNKING"} {
		if !c.Extensions().Has(want) {
			t.Errorf("EHLO after STARTTLS lacks %s: %v", want, c.Extensions().Keywords())
		}
	}
	if limit, ok := c.Extensions().MaxSize(); !ok || limit != 10485760 {
		t.Errorf("SIZE = %d, %v", limit, ok)
	}
	refused := res.Refused()
	if len(refused) != 1 || refused[0].Address != "nobody@example.org" || refused[0].Reply.Code != 550 || refused[0].Reply.Enhanced.String() != "5.1.1" {
		t.Fatalf("refused = %+v, want nobody@example.org with 550 5.1.1", refused)
	}
	if !res.Recipients[0].Accepted || res.Data.Code != 250 {
		t.Fatalf("result %+v", res)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}

	// Postfix stores the message with LF line endings, after headers of its
	// own, with a final newline added; the dot-stuffing is undone.
	got := string(waitDelivered(t, maildir, "alice", marker))
	want := strings.ReplaceAll(body, "\r\n", "\n") + "\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("delivered message does not end with what was sent.\ngot:\n%s\nwant suffix:\n%s", got, want)
	}
}

func TestPostfixWrongCA(t *testing.T) {
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_WRONG_CA", session.Options{})
	_, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org"}, strings.NewReader("Subject: x\r\n\r\nx\r\n"))
	var te *transport.TLSError
	if !errors.As(err, &te) || !te.VerificationFailed() {
		t.Fatalf("err = %v, want a certificate verification *transport.TLSError", err)
	}
}

func TestPostfixImplicitTLS(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR")
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_TLS_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{TLS: session.TLSImplicit})
	marker := fmt.Sprintf("<%d.implicit@smtpkit.test>", time.Now().UnixNano())
	body := "Message-ID: " + marker + "\r\nSubject: implicit\r\n\r\nbody\r\n"
	if _, err := c.Send(ctx, "sender@example.net", []string{"bob@example.org"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	c.Quit(ctx)
	waitDelivered(t, maildir, "bob", marker)
}

func TestPostfixSMTPUTF8And8Bit(t *testing.T) {
	maildir := peerEnv(t, "SMTPKIT_POSTFIX_MAILDIR")
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{})
	marker := fmt.Sprintf("<%d.utf8@smtpkit.test>", time.Now().UnixNano())
	body := "From: jöran@example.net\r\nMessage-ID: " + marker + "\r\nSubject: café\r\n\r\nGrüße, 8-bit body\r\n"
	res, err := c.Send(ctx, "jöran@exämple.net", []string{"alice+utf8@example.org"}, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if res.Data.Code != 250 {
		t.Fatalf("data reply %v", res.Data)
	}
	c.Quit(ctx)
	got := string(waitDelivered(t, maildir, "alice", marker))
	if !strings.HasSuffix(got, strings.ReplaceAll(body, "\r\n", "\n")) {
		t.Errorf("delivered:\n%s", got)
	}
	if !strings.Contains(got, "jöran@") {
		t.Errorf("UTF-8 sender not in the delivered headers:\n%s", got)
	}
}

func TestPostfixSizeAndVrfy(t *testing.T) {
	ctx := ctxFor(t)
	c := dialPostfix(t, ctx, "SMTPKIT_POSTFIX_ADDR", "SMTPKIT_POSTFIX_CA", session.Options{})
	// One octet over Postfix's 10485760 (the final CRLF counts).
	big := strings.Repeat("x", 10485759)
	_, err := c.Send(ctx, "sender@example.net", []string{"alice@example.org"}, strings.NewReader(big))
	var tooBig *session.MessageTooLargeError
	if !errors.As(err, &tooBig) || tooBig.Limit != 10485760 || tooBig.Size != 10485761 {
		t.Fatalf("err = %v, want *MessageTooLargeError 10485761 > 10485760", err)
	}
	// The session is still usable, and Postfix's VRFY says who exists.
	r, err := c.Vrfy(ctx, "alice@example.org")
	if err != nil || r.Code/100 != 2 {
		t.Errorf("VRFY alice = %v, %v", r, err)
	}
	r, err = c.Vrfy(ctx, "nobody@example.org")
	if err == nil || r.Code != 550 {
		t.Errorf("VRFY nobody = %v, %v; want 550", r, err)
	}
	if _, err := c.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}
}
