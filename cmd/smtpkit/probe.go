package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/lmtp"
	"github.com/smtpkit/smtpkit/session"
	"github.com/smtpkit/smtpkit/transport"
)

var probeCommand = &subcommand{
	name:     "probe",
	synopsis: "--server ADDR [--tls MODE] [--lmtp] [--json]",
	summary:  "show what a server offers: greeting, extensions, STARTTLS and its certificate, AUTH, SIZE",
	help: `
Connects, reads the greeting, sends EHLO (LHLO with --lmtp; HELO when EHLO is
refused), and, when STARTTLS is offered and --tls is not none, upgrades and
sends EHLO again. It prints the greeting, the extensions with their
parameters (before and after TLS), the TLS version, cipher suite and the
server certificate's subject, issuer, names and validity, whether the
certificate verified (against --ca, or the system's roots) and why not, the
AUTH mechanisms and the SIZE limit. Nothing else is sent: no MAIL, no AUTH.
What the server sent is printed with what is not printable escaped
("\x1b", "\u202e"), so that its text cannot drive the terminal.

A certificate that does not verify is shown either way. With --tls starttls
(the default) it is reported, not fatal, so that it can be looked at; with
--tls require or --tls implicit it makes the exit status 1 unless --insecure
is given. Exit status: 0 when the server greeted with 220 and answered
EHLO/LHLO (or HELO), and, with --tls require or implicit, the certificate
verified; 1 otherwise; 2 usage error.`,
	setup: setupProbe,
}

type probeFlags struct {
	fs      *flag.FlagSet
	server  string
	lmtp    bool
	helo    string
	tls     tlsFlags
	timeout time.Duration
	trace   bool
	json    bool
}

func setupProbe(fs *flag.FlagSet) func(context.Context, stdio, []string) int {
	f := &probeFlags{fs: fs}
	fs.StringVar(&f.server, "server", "", "`ADDR` to probe (required): host (port 25, or 465 with --tls implicit), host:port,\n[v6]:port, or /unix/socket/path")
	fs.BoolVar(&f.lmtp, "lmtp", false, "speak LMTP: LHLO instead of EHLO (a port or socket is required)")
	fs.StringVar(&f.helo, "helo", "", "`NAME` to send with EHLO/LHLO (default the host's FQDN, or its address literal)")
	f.tls.register(fs, "STARTTLS with a certificate that verifies (or --insecure), or exit 1", "showing the certificate whether it verifies or not")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "bound on the whole probe")
	fs.BoolVar(&f.trace, "trace", false, "write the protocol transcript to standard error")
	fs.BoolVar(&f.json, "json", false, "write one JSON object to standard output")
	return f.run
}

// probeReport is what probe found; it is also the --json output.
type probeReport struct {
	Server   string     `json:"server"`
	Greeting *replyJSON `json:"greeting"`
	// Hello is the reply to EHLO or LHLO (or HELO, when EHLO was refused).
	Hello *replyJSON `json:"hello"`
	ESMTP bool       `json:"esmtp"`
	// Extensions are those of the first EHLO, in plaintext (or over
	// implicit TLS).
	Extensions []extJSON `json:"extensions"`
	TLS        *tlsJSON  `json:"tls"`
	// ExtensionsTLS are those of the EHLO after STARTTLS; null without.
	ExtensionsTLS []extJSON `json:"extensions_after_starttls"`
	// Auth and Size are from the last extension list.
	Auth []string `json:"auth"`
	// Size is the SIZE limit: null when SIZE is not listed, 0 for no
	// fixed limit.
	Size *int64 `json:"size"`
	// Error is why the probe failed, "" when it did not.
	Error string `json:"error"`
}

type extJSON struct {
	Keyword string `json:"keyword"`
	Params  string `json:"params"`
}

type tlsJSON struct {
	// Mode is "starttls" or "implicit".
	Mode string `json:"mode"`
	// Offered says STARTTLS was listed (always true for implicit TLS).
	Offered bool `json:"offered"`
	// OK says the handshake completed.
	OK          bool      `json:"ok"`
	Error       string    `json:"error"`
	Version     string    `json:"version"`
	CipherSuite string    `json:"cipher_suite"`
	Verified    bool      `json:"verified"`
	VerifyError string    `json:"verify_error"`
	Certificate *certJSON `json:"certificate"`
}

type certJSON struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	DNSNames  []string  `json:"dns_names"`
	IPs       []string  `json:"ip_addresses"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// verifier checks the server's certificate itself, so that the handshake
// goes through whether it verifies or not and probe can show it either
// way. Nothing but EHLO is sent over the connection.
type verifier struct {
	roots *x509.CertPool // nil: the system's
	name  string         // the name to check; "" for a Unix socket

	mu   sync.Mutex
	err  error
	done bool
}

func (v *verifier) config() *tls.Config {
	return &tls.Config{
		ServerName:         v.name,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			err := v.verify(cs)
			v.mu.Lock()
			v.err, v.done = err, true
			v.mu.Unlock()
			return nil
		},
	}
}

func (v *verifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		DNSName:       v.name,
		Roots:         v.roots,
		Intermediates: inter,
	})
	if err == nil && v.name == "" {
		return errors.New("chain verified, but a Unix socket gives no host name to check the certificate against")
	}
	return err
}

func (v *verifier) result() (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.done {
		return false, errors.New("no certificate was checked")
	}
	return v.err == nil, v.err
}

func (f *probeFlags) run(ctx context.Context, st stdio, args []string) int {
	const cmd = "probe"
	if len(args) > 0 {
		return usageError(st, cmd, "unexpected argument %q", args[0])
	}
	if f.server == "" {
		return usageError(st, cmd, "--server is required")
	}
	if err := checkLineSafe(f.fs, "server", "helo"); err != nil {
		return usageError(st, cmd, "%v", err)
	}
	mode, err := f.tls.sessionMode()
	if err != nil {
		return usageError(st, cmd, "%v", err)
	}
	if f.timeout <= 0 {
		return usageError(st, cmd, "--timeout must be positive")
	}
	var roots *x509.CertPool
	if f.tls.ca != "" {
		if roots, err = loadCA(f.tls.ca); err != nil {
			return usageError(st, cmd, "%v", err)
		}
	}
	f.tls.warnInsecure(st)
	port := transport.PortSMTP
	if mode == session.TLSImplicit {
		port = transport.PortSubmissions
	}
	v := &verifier{roots: roots}
	if a, err := transport.ParseAddress(f.server, port); err == nil && a.Network != "unix" {
		v.name = a.Host
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	rep := &probeReport{Server: f.server}
	err = f.probe(ctx, st, mode, v, rep)
	if err == nil && rep.TLS != nil && mode != session.TLSOpportunistic && !f.tls.insecure && !rep.TLS.Verified {
		err = fmt.Errorf("the certificate did not verify: %s (pass the CA that issued it with --ca FILE, or go on without verifying with --insecure)", rep.TLS.VerifyError)
	}
	if err != nil {
		rep.Error = errText(err)
	}
	if f.json {
		if werr := writeJSON(st.out, rep); werr != nil {
			return failure(st, cmd, werr)
		}
	} else {
		printProbe(st.out, rep)
	}
	if err != nil {
		return failure(st, cmd, err)
	}
	return exitOK
}

// probe fills in rep; the error is what makes the probe a failure.
func (f *probeFlags) probe(ctx context.Context, st stdio, mode session.TLSMode, v *verifier, rep *probeReport) error {
	opts := &session.Options{LocalName: f.helo, TLS: session.TLSOff, TLSConfig: v.config()}
	if mode == session.TLSImplicit {
		opts.TLS = session.TLSImplicit
	}
	if f.trace {
		opts.Trace = st.err
	}
	var c *session.Client
	var err error
	if f.lmtp {
		var lc *lmtp.Client
		if lc, err = lmtp.Dial(ctx, f.server, opts); err == nil {
			c = lc.Client
		}
	} else {
		c, err = session.Dial(ctx, f.server, opts)
	}
	if err != nil {
		var ce *session.ConnectError
		if errors.As(err, &ce) && ce.Reply.Code != 0 {
			rep.Greeting = replyOrNil(ce.Reply)
		}
		return err
	}
	defer c.Close()
	rep.Greeting = replyOrNil(c.Greeting())
	if cs, ok := c.TLS(); ok {
		rep.TLS = tlsReport("implicit", true, cs, v)
	}

	hello, err := c.Ehlo(ctx)
	var he *session.HelloError
	if err != nil && !f.lmtp && errors.As(err, &he) && (he.Reply.Code == 500 || he.Reply.Code == 502) {
		hello, err = c.Helo(ctx)
	}
	rep.Hello = replyOrNil(hello)
	if err != nil {
		return err
	}
	rep.ESMTP = c.ESMTP()
	ext := c.Extensions()
	rep.Extensions = extensions(ext)

	if mode != session.TLSOff && mode != session.TLSImplicit {
		if !ext.Has("STARTTLS") {
			rep.TLS = &tlsJSON{Mode: "starttls"}
			if mode == session.TLSRequired {
				rep.setLimits(ext)
				return errors.New("STARTTLS is not offered (--tls require)")
			}
		} else {
			terr := c.StartTLS(ctx, nil)
			cs, ok := c.TLS()
			rep.TLS = tlsReport("starttls", ok, cs, v)
			if terr != nil {
				rep.TLS.Error = errText(terr)
				rep.setLimits(ext)
				if mode == session.TLSRequired {
					return fmt.Errorf("STARTTLS failed: %w", terr)
				}
				return nil // the greeting and EHLO were answered
			}
			ext = c.Extensions()
			rep.ExtensionsTLS = extensions(ext)
		}
	}
	rep.setLimits(ext)
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	c.Quit(qctx)
	cancel()
	return nil
}

func (r *probeReport) setLimits(ext session.Extensions) {
	r.Auth = ext.AuthMechanisms()
	if r.Auth == nil {
		r.Auth = []string{}
	}
	if n, ok := ext.MaxSize(); ok {
		r.Size = &n
	}
}

func extensions(e session.Extensions) []extJSON {
	out := []extJSON{}
	for _, k := range e.Keywords() {
		p, _ := e.Param(k)
		out = append(out, extJSON{Keyword: k, Params: p})
	}
	return out
}

func tlsReport(mode string, ok bool, cs tls.ConnectionState, v *verifier) *tlsJSON {
	t := &tlsJSON{Mode: mode, Offered: true, OK: ok && cs.HandshakeComplete}
	if !t.OK {
		return t
	}
	t.Version = tls.VersionName(cs.Version)
	t.CipherSuite = tls.CipherSuiteName(cs.CipherSuite)
	var err error
	t.Verified, err = v.result()
	if err != nil {
		t.VerifyError = oneLine(err.Error())
	}
	if len(cs.PeerCertificates) > 0 {
		c := cs.PeerCertificates[0]
		cj := &certJSON{
			Subject:   c.Subject.String(),
			Issuer:    c.Issuer.String(),
			DNSNames:  append([]string{}, c.DNSNames...),
			IPs:       []string{},
			NotBefore: c.NotBefore.UTC(),
			NotAfter:  c.NotAfter.UTC(),
		}
		for _, ip := range c.IPAddresses {
			cj.IPs = append(cj.IPs, ip.String())
		}
		t.Certificate = cj
	}
	return t
}

// printProbe writes the report as text. Everything in it that the server
// sent (replies, extensions, AUTH mechanisms, the certificate's names and
// why it did not verify) goes through logsafe.Escape, so that no escape
// sequence, bare CR or bidi control in it reaches the terminal.
func printProbe(w io.Writer, r *probeReport) {
	esc := logsafe.Escape
	fmt.Fprintf(w, "server:      %s\n", esc(r.Server))
	if r.Greeting != nil {
		fmt.Fprintf(w, "greeting:    %s\n", showReply(r.Greeting))
	}
	if r.Hello != nil {
		kind := "HELO (no ESMTP)"
		if r.ESMTP {
			kind = "ESMTP"
		}
		first, _, _ := strings.Cut(r.Hello.Message, "\n")
		fmt.Fprintf(w, "hello:       %d %s (%s)\n", r.Hello.Code, esc(first), kind)
	}
	printExts := func(title string, exts []extJSON) {
		fmt.Fprintf(w, "%s\n", title)
		if len(exts) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for _, e := range exts {
			fmt.Fprintf(w, "  %s\n", esc(strings.TrimSpace(e.Keyword+" "+e.Params)))
		}
	}
	if r.Extensions != nil {
		title := "extensions:"
		if r.ExtensionsTLS != nil {
			title = "extensions before STARTTLS:"
		}
		printExts(title, r.Extensions)
	}
	if t := r.TLS; t != nil {
		switch {
		case !t.Offered:
			fmt.Fprintln(w, "STARTTLS:    not offered")
		case !t.OK:
			fmt.Fprintf(w, "%-12s failed: %s\n", tlsTitle(t)+":", esc(t.Error))
		default:
			fmt.Fprintf(w, "%-12s ok: %s, %s\n", tlsTitle(t)+":", t.Version, t.CipherSuite)
			if c := t.Certificate; c != nil {
				fmt.Fprintf(w, "certificate: subject %s\n", esc(c.Subject))
				fmt.Fprintf(w, "             issuer  %s\n", esc(c.Issuer))
				names := append(append([]string{}, c.DNSNames...), c.IPs...)
				if len(names) > 0 {
					fmt.Fprintf(w, "             names   %s\n", esc(strings.Join(names, ", ")))
				}
				left := time.Until(c.NotAfter).Round(time.Minute)
				expiry := fmt.Sprintf("expires in %s", left)
				if left < 0 {
					expiry = "EXPIRED"
				}
				fmt.Fprintf(w, "             valid   %s to %s (%s)\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), expiry)
			}
			if t.Verified {
				fmt.Fprintln(w, "             verified")
			} else {
				fmt.Fprintf(w, "             NOT verified: %s\n", esc(t.VerifyError))
			}
			if t.Error != "" {
				fmt.Fprintf(w, "             but then: %s\n", esc(t.Error))
			}
		}
	}
	if r.ExtensionsTLS != nil {
		printExts("extensions after STARTTLS:", r.ExtensionsTLS)
	}
	if r.Hello != nil {
		if len(r.Auth) == 0 {
			fmt.Fprintln(w, "AUTH:        not offered")
		} else {
			fmt.Fprintf(w, "AUTH:        %s\n", esc(strings.Join(r.Auth, " ")))
		}
		switch {
		case r.Size == nil:
			fmt.Fprintln(w, "SIZE:        not announced")
		case *r.Size == 0:
			fmt.Fprintln(w, "SIZE:        no fixed limit")
		default:
			fmt.Fprintf(w, "SIZE:        %d octets (%.1f MiB)\n", *r.Size, float64(*r.Size)/(1<<20))
		}
	}
}

func tlsTitle(t *tlsJSON) string {
	if t.Mode == "implicit" {
		return "TLS"
	}
	return "STARTTLS"
}

// showReply is a reply on one line, escaped.
func showReply(r *replyJSON) string {
	text := strings.TrimSpace(r.Enhanced + " " + strings.ReplaceAll(r.Message, "\n", " | "))
	return fmt.Sprintf("%d %s", r.Code, logsafe.Escape(text))
}
