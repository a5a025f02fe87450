package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"

	"github.com/smtpkit/smtpkit/deliver"
	"github.com/smtpkit/smtpkit/internal/logsafe"
	"github.com/smtpkit/smtpkit/session"
)

// mxFlags are send's flags for delivery to the recipients' MX hosts.
type mxFlags struct {
	on          bool
	dns         string
	port        int
	allowRemote bool
	noDANE      bool
	noMTASTS    bool
}

func (m *mxFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&m.on, "mx", false, "deliver to each recipient's domain's MX hosts, with DANE and MTA-STS, instead of --server")
	fs.StringVar(&m.dns, "dns", "", "with --mx: the validating resolver `ADDR` (ip:port) whose AD bit DANE trusts\n(default the first nameserver in /etc/resolv.conf)")
	fs.IntVar(&m.port, "mx-port", 25, "with --mx: the `PORT` MX hosts are reached on")
	fs.BoolVar(&m.allowRemote, "allow-remote", false, "with --mx: connect to MX hosts and MTA-STS policy servers that are not on a loopback address")
	fs.BoolVar(&m.noDANE, "no-dane", false, "with --mx: skip TLSA lookups")
	fs.BoolVar(&m.noMTASTS, "no-mta-sts", false, "with --mx: skip MTA-STS")
}

const mxHelp = `

With --mx there is no --server: the recipients are grouped by domain and
each domain's MX hosts are tried in preference order (the domain itself
when it has no MX; a null MX refuses its recipients), with the TLS policy
the domain publishes: DANE when its TLSA records are DNSSEC-authenticated
(as the --dns resolver's AD bit says: point it at a validating resolver you
trust), else MTA-STS, else STARTTLS when offered, unverified. --ca replaces
the roots MTA-STS verifies against. One line per recipient says what
happened, the MX host and address, the TLS policy applied and the reply:

  bob@example.net: delivered via mx2.example.net [192.0.2.2:25], tlsa, TLS 1.3 verified: 250 2.0.0 OK

Only loopback addresses are connected to (MX hosts and MTA-STS policy
servers) unless --allow-remote is given. --mx cannot go with --server,
--lmtp or --auth-user. Exit status: 0 every recipient delivered, 3 some
not, 1 none.`

func init() {
	sendCommand.help += mxHelp
	sendCommand.synopsis += " | --mx --to ADDR [--dns ADDR] [--allow-remote]"
}

var errNotLoopbackMX = errors.New("not a loopback address; pass --allow-remote to deliver beyond this machine")

// loopbackDial refuses addresses that are not loopback unless allowed,
// checking the IP that is dialled, so that no name resolves elsewhere.
func loopbackDial(allow bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		var d net.Dialer
		var lastErr error = fmt.Errorf("%s: %w", logsafe.Escape(addr), errNotLoopbackMX)
		for _, ip := range ips {
			if !allow && !ip.Unmap().IsLoopback() {
				continue
			}
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			lastErr = err
		}
		return nil, lastErr
	}
}

// mxJSON is one recipient in send --mx --json output.
type mxJSON struct {
	Address string     `json:"address"`
	Outcome string     `json:"outcome"`
	MX      string     `json:"mx"`
	IP      string     `json:"ip"`
	TLS     string     `json:"tls"`
	Reply   *replyJSON `json:"reply"`
	Error   *string    `json:"error"`
}

// sendMX delivers msg to the MX hosts of env's recipients.
func (f *sendFlags) sendMX(ctx context.Context, st stdio, set map[string]bool, env session.Envelope, msg []byte, tlsCfg *tls.Config) int {
	const cmd = "send"
	switch {
	case set["server"]:
		return usageError(st, cmd, "--mx finds the servers itself: leave out --server")
	case f.lmtp:
		return usageError(st, cmd, "--mx delivers over SMTP: leave out --lmtp")
	case f.auth.enabled():
		return usageError(st, cmd, "--mx does not authenticate to MX hosts: leave out --auth-user")
	case f.mx.port <= 0 || f.mx.port > 65535:
		return usageError(st, cmd, "--mx-port %d: want 1 to 65535", f.mx.port)
	}
	resolver := deliver.SystemDNSClient()
	if f.mx.dns != "" {
		ap, err := netip.ParseAddrPort(f.mx.dns)
		if err != nil {
			return usageError(st, cmd, "--dns %q: want ip:port", f.mx.dns)
		}
		resolver = &deliver.DNSClient{Server: ap.String()}
	}
	dial := loopbackDial(f.mx.allowRemote)
	var trace io.Writer
	if f.trace {
		trace = st.err
	}
	d := &deliver.Deliverer{
		Resolver:      resolver,
		Dial:          dial,
		Port:          f.mx.port,
		TLSConfig:     tlsCfg,
		DisableDANE:   f.mx.noDANE,
		DisableMTASTS: f.mx.noMTASTS,
		HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext:     dial,
			TLSClientConfig: tlsCfg,
		}},
		Session: session.Options{LocalName: f.helo, Trace: trace},
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	m := &deliver.Message{To: f.to, Data: msg, MailParams: env.MailParams, RequireTLS: f.requireTLS}
	if !env.From.IsNull() {
		m.From = env.From.String()
	}
	rep, err := d.DeliverMessage(ctx, m)
	if err != nil {
		return failure(st, cmd, err)
	}

	delivered := 0
	var out []mxJSON
	for _, r := range rep.Recipients {
		if r.Outcome == deliver.Delivered {
			delivered++
		}
		j := mxJSON{Address: r.Recipient, Outcome: r.Outcome.String(), MX: r.MX, IP: r.Address, TLS: r.TLS.String(), Reply: replyOrNil(r.Reply)}
		if r.Err != nil {
			e := plainError(r.Err)
			j.Error = &e
		}
		out = append(out, j)
		if f.json {
			continue
		}
		line := fmt.Sprintf("%s: %s", logsafe.Escape(r.Recipient), r.Outcome)
		if r.MX != "" {
			line += " via " + logsafe.Escape(r.MX)
			if r.Address != "" {
				line += " [" + r.Address + "]"
			}
			line += ", " + r.TLS.String()
		}
		if r.Reply.Code != 0 {
			line += ": " + r.Reply.String() // escaped by response
		} else if r.Err != nil {
			line += ": " + errText(r.Err)
		}
		fmt.Fprintln(st.out, line)
	}
	if f.json {
		if err := writeJSON(st.out, map[string]any{"recipients": out}); err != nil {
			return failure(st, cmd, err)
		}
	}
	switch {
	case delivered == len(rep.Recipients):
		return exitOK
	case delivered > 0:
		return exitPartial
	}
	return exitFailed
}
