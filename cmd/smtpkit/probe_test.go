package main

import (
	"strings"
	"testing"

	"github.com/smtpkit/smtpkit/response"
	"github.com/smtpkit/smtpkit/smtptest"
)

func TestProbeSTARTTLS(t *testing.T) {
	srv := newServer(t, smtptest.Config{
		Hostname:   "mx.example.org",
		Extensions: []string{"PIPELINING", "SIZE 35882577", "STARTTLS", "8BITMIME", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN"},
		Users:      map[string]string{"u": "p"},
	})
	ca := writeCA(t, srv)
	r := smtpkit(t, nil, "probe", "--server", srv.Addr, "--ca", ca, "--json")
	r.want(t, exitOK)
	v := decode(t, r.stdout)
	wantKeys(t, "the object", v, "server", "greeting", "hello", "esmtp", "extensions", "tls",
		"extensions_after_starttls", "auth", "size", "error")
	if g := v["greeting"].(map[string]any); g["code"] != 220.0 || g["message"] != "mx.example.org ESMTP smtptest" {
		t.Errorf("greeting = %v", g)
	}
	if v["esmtp"] != true || v["error"] != "" {
		t.Errorf("esmtp = %v, error = %v", v["esmtp"], v["error"])
	}
	exts := v["extensions"].([]any)
	if len(exts) != 6 {
		t.Fatalf("extensions = %v", exts)
	}
	if e := exts[1].(map[string]any); e["keyword"] != "SIZE" || e["params"] != "35882577" {
		t.Errorf("second extension = %v", e)
	}
	after := v["extensions_after_starttls"].([]any)
	for _, e := range after {
		if e.(map[string]any)["keyword"] == "STARTTLS" {
			t.Errorf("STARTTLS listed after TLS: %v", after)
		}
	}
	if len(after) != 5 {
		t.Errorf("extensions after STARTTLS = %v", after)
	}
	tls := v["tls"].(map[string]any)
	wantKeys(t, "tls", tls, "mode", "offered", "ok", "error", "version", "cipher_suite", "verified", "verify_error", "certificate")
	if tls["ok"] != true || tls["verified"] != true || tls["version"] != "TLS 1.3" || tls["cipher_suite"] == "" || tls["mode"] != "starttls" {
		t.Errorf("tls = %v", tls)
	}
	cert := tls["certificate"].(map[string]any)
	wantKeys(t, "certificate", cert, "subject", "issuer", "dns_names", "ip_addresses", "not_before", "not_after")
	if cert["subject"] != "CN=smtptest,O=smtptest" || cert["issuer"] != "CN=smtptest,O=smtptest" {
		t.Errorf("certificate = %v", cert)
	}
	if cert["not_after"] != srv.Certificate().NotAfter.UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Errorf("not_after = %v, want %v", cert["not_after"], srv.Certificate().NotAfter.UTC())
	}
	if a := v["auth"].([]any); len(a) != 2 || a[0] != "PLAIN" || a[1] != "LOGIN" {
		t.Errorf("auth = %v", a)
	}
	if v["size"] != 35882577.0 {
		t.Errorf("size = %v", v["size"])
	}

	// The text form says the same.
	r = smtpkit(t, nil, "probe", "--server", srv.Addr, "--ca", ca)
	r.want(t, exitOK)
	for _, want := range []string{
		"greeting:    220 mx.example.org ESMTP smtptest",
		"extensions before STARTTLS:\n  PIPELINING\n  SIZE 35882577\n  STARTTLS\n",
		"STARTTLS:    ok: TLS 1.3, ",
		"certificate: subject CN=smtptest,O=smtptest",
		"names   localhost, 127.0.0.1, ::1",
		"             verified\n",
		"AUTH:        PLAIN LOGIN",
		"SIZE:        35882577 octets",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	// Without the CA the certificate is shown, not verified; with --tls
	// require that is a failure.
	r = smtpkit(t, nil, "probe", "--server", srv.Addr, "--json")
	r.want(t, exitOK)
	tls = decode(t, r.stdout)["tls"].(map[string]any)
	if tls["ok"] != true || tls["verified"] != false || !strings.Contains(tls["verify_error"].(string), "unknown authority") {
		t.Errorf("tls = %v", tls)
	}
	r = smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "require")
	r.want(t, exitFailed)
	if !strings.Contains(r.stdout, "NOT verified") || !strings.Contains(r.stderr, "did not verify") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "require", "--insecure").want(t, exitOK)
	// --tls none: no handshake.
	r = smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "none", "--json")
	r.want(t, exitOK)
	if v := decode(t, r.stdout); v["tls"] != nil || v["extensions_after_starttls"] != nil {
		t.Errorf("tls = %v", v["tls"])
	}
}

func TestProbeFailures(t *testing.T) {
	refusing := newServer(t, smtptest.Config{Greeting: &response.Reply{Code: 554, Text: "5.7.1 go away"}})
	r := smtpkit(t, nil, "probe", "--server", refusing.Addr, "--json")
	r.want(t, exitFailed)
	if g := decode(t, r.stdout)["greeting"].(map[string]any); g["code"] != 554.0 {
		t.Errorf("greeting = %v", g)
	}
	r.oneErrorLine(t, "refused the session: 554 5.7.1 go away")

	noTLS := newServer(t, smtptest.Config{})
	r = smtpkit(t, nil, "probe", "--server", noTLS.Addr, "--tls", "require")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "STARTTLS is not offered")
	if !strings.Contains(r.stdout, "STARTTLS:    not offered") {
		t.Errorf("stdout:\n%s", r.stdout)
	}

	helo := newServer(t, smtptest.Config{DisableEHLO: true})
	r = smtpkit(t, nil, "probe", "--server", helo.Addr, "--json")
	r.want(t, exitOK)
	if v := decode(t, r.stdout); v["esmtp"] != false || v["size"] != nil {
		t.Errorf("esmtp = %v, size = %v", v["esmtp"], v["size"])
	}

	smtpkit(t, nil, "probe").want(t, exitUsage)
}

func TestProbeLMTPImplicitTLS(t *testing.T) {
	srv := newServer(t, smtptest.Config{LMTP: true, ImplicitTLS: true})
	r := smtpkit(t, nil, "probe", "--lmtp", "--server", srv.Addr, "--tls", "implicit", "--ca", writeCA(t, srv), "--json")
	r.want(t, exitOK)
	v := decode(t, r.stdout)
	tls := v["tls"].(map[string]any)
	if tls["mode"] != "implicit" || tls["verified"] != true || v["esmtp"] != true {
		t.Errorf("tls = %v, esmtp = %v", tls, v["esmtp"])
	}
	if !strings.Contains(v["greeting"].(map[string]any)["message"].(string), "LMTP") {
		t.Errorf("greeting = %v", v["greeting"])
	}
}

// TestProbeImplicitTLSVerifies: with --tls implicit, as with --tls
// require, a certificate that does not verify is shown and makes the
// exit status 1 unless --insecure is given; the help says so.
func TestProbeImplicitTLSVerifies(t *testing.T) {
	srv := newServer(t, smtptest.Config{ImplicitTLS: true})
	r := smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "implicit")
	r.want(t, exitFailed)
	r.oneErrorLine(t, "the certificate did not verify")
	for _, want := range []string{"TLS:         ok: TLS 1.3, ", "certificate: subject CN=smtptest", "NOT verified: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "implicit", "--json")
	r.want(t, exitFailed)
	v := decode(t, r.stdout)
	if tls := v["tls"].(map[string]any); tls["mode"] != "implicit" || tls["ok"] != true || tls["verified"] != false {
		t.Errorf("tls = %v", tls)
	}
	if e, _ := v["error"].(string); !strings.Contains(e, "did not verify") {
		t.Errorf("error = %v", v["error"])
	}
	smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "implicit", "--insecure").want(t, exitOK)
	smtpkit(t, nil, "probe", "--server", srv.Addr, "--tls", "implicit", "--ca", writeCA(t, srv)).want(t, exitOK)

	h := smtpkit(t, nil, "help", "probe")
	h.want(t, exitOK)
	if !strings.Contains(strings.Join(strings.Fields(h.stdout), " "), "with --tls require or --tls implicit it makes the exit status 1 unless --insecure") {
		t.Errorf("probe's help does not say an unverified certificate is fatal with --tls implicit:\n%s", h.stdout)
	}
}
