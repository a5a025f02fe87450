package smtptest

import (
	"crypto/tls"
	"time"

	"github.com/smtpkit/smtpkit/response"
)

// startTLS runs after the 220 to STARTTLS.
func (c *conn) startTLS(response.Reply) error {
	c.out = append(c.out, c.faults.afterTLS...)
	if err := c.flush(); err != nil {
		return err
	}
	if n := c.br.Buffered(); n > 0 {
		// Plaintext sent after STARTTLS: dropped, never executed
		// (RFC 3207 §5).
		c.s.logf(c.id, "C: <%d octets after STARTTLS dropped>", n)
		c.br.Discard(n)
	}
	tc := tls.Server(c.raw, c.s.tlsConfig)
	c.io.c = tc
	if err := c.handshake(tc); err != nil {
		return err
	}
	c.s.logf(c.id, "TLS started")
	c.st.resetTx()
	c.st.helo, c.st.greeted, c.st.esmtp = "", false, false
	c.st.authed, c.st.authUser = false, ""
	c.st.tls = true
	return nil
}

// handshake runs the server side of a TLS handshake within
// Config.TLSHandshakeTimeout.
func (c *conn) handshake(tc *tls.Conn) error {
	if d := c.s.handshakeTimeout; d > 0 {
		c.raw.SetDeadline(time.Now().Add(d))
		defer func() {
			c.raw.SetDeadline(time.Time{})
			c.applied = time.Time{}
		}()
	}
	return tc.Handshake()
}
