package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
)

// ClientTLSConfig returns the TLS configuration for a client connecting to
// host: a clone of base (or a new config when base is nil) with ServerName
// set to host when it is empty, and MinVersion raised to TLS 1.2 when it is
// lower (RFC 8996 retired TLS 1.0 and 1.1). Certificate
// verification stays on: an IP literal host is checked against the
// certificate's IP addresses, a name against its DNS names. A zone
// ("%eth0") and a trailing dot are dropped from the name. base is not
// modified.
func ClientTLSConfig(base *tls.Config, host string) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = new(tls.Config)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = serverName(host)
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// serverName is the name a certificate for host must carry.
func serverName(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.WithZone("").String()
	}
	if len(host) > 1 && host[len(host)-1] == '.' {
		return host[:len(host)-1]
	}
	return host
}

// StartTLS runs the TLS client handshake over conn and returns the TLS
// connection to use from then on. Call it after the server's 220 reply to
// STARTTLS (RFC 3207 §4), with a config from [ClientTLSConfig]: cfg must set
// ServerName (or, unwisely, InsecureSkipVerify), and is used as given.
//
// ctx bounds the handshake; without a deadline, [DefaultTimeout] does.
// StartTLS sets conn's deadline for the handshake and clears it after: the
// returned connection has no deadline set.
// The caller must make sure the server sent nothing between its reply and
// the handshake, and treat such bytes as a protocol error (the STARTTLS
// command-injection attacks, CVE-2011-0411 and its kin): bytes already
// buffered from conn are not part of TLS, and StartTLS cannot see them.
//
// On failure StartTLS closes conn (after a failed handshake it is no longer
// a usable SMTP connection, and nothing may fall back to plaintext on it)
// and returns a [*TLSError]. When the server's certificate did not verify,
// [TLSError.VerificationFailed] is true and the message tells how to fix it:
// pass the CA in cfg.RootCAs (see [LoadCertPool]), or turn TLS off.
func StartTLS(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	return clientHandshake(ctx, conn, cfg)
}

// clientHandshake is StartTLS, shared with the Dialer's implicit TLS.
func clientHandshake(ctx context.Context, conn net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	if cfg == nil || (cfg.ServerName == "" && !cfg.InsecureSkipVerify) {
		conn.Close()
		return nil, &TLSError{Err: ErrNoServerName}
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	tc := tls.Client(conn, cfg)
	// HandshakeContext closes conn if ctx ends first; the deadline also
	// bounds each read should a custom net.Conn ignore Close.
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &TLSError{Host: cfg.ServerName, Err: ctxErr(ctx, err)}
	}
	conn.SetDeadline(noDeadline)
	return tc, nil
}

// LoadCertPool reads the PEM file at path (a CA certificate, or several)
// and returns a pool of its certificates, for tls.Config.RootCAs: the
// way to trust a private CA or a self-signed server, such as a local
// Dovecot's or a test server's, without turning verification off.
//
//	pool, err := transport.LoadCertPool("/etc/ssl/private-ca.pem")
//	opts := &session.Options{TLSConfig: &tls.Config{RootCAs: pool}}
//
// The pool holds the file's certificates only, not the system's roots:
// with it as RootCAs, a server's certificate must chain to one of them.
// (To add them to the system's, append the file to x509.SystemCertPool
// instead.) Blocks other than CERTIFICATE (a private key kept in the same
// file) are skipped. It is an error if the file cannot be read, holds no
// CERTIFICATE block, or holds one that does not parse; a file that is not
// found matches fs.ErrNotExist with errors.Is.
func LoadCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("transport: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("transport: CA file %s: certificate %d: %w", quote(path), n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, fmt.Errorf("transport: CA file %s: %w", quote(path), errNoPEMCertificate)
	}
	return pool, nil
}

var errNoPEMCertificate = errors.New("no PEM CERTIFICATE block (\"-----BEGIN CERTIFICATE-----\")")
